// Golden files: expected output kept in the repository and reviewed as
// diffs. `npm run goldens:accept` rewrites them; CI never does.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../", import.meta.url));

export function checkGolden(file: string, actual: string): void {
  if (process.env.ROUTEPLANE_ACCEPT_GOLDENS === "1") {
    if (process.env.CI) throw new Error("CI never writes golden files");
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  const rel = path.relative(REPO, file);
  if (!existsSync(file)) assert.fail(`missing golden file ${rel}: run \`npm run goldens:accept\` and review it`);
  assert.equal(actual, readFileSync(file, "utf8"), `${rel} differs from the output; if the change is intended, run \`npm run goldens:accept\` and review the diff`);
}
