// Generated documentation stays in step with its sources.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { renderDiagnosticsDoc } from "../scripts/diagnostics-doc.ts";
import { REPO } from "./support/golden.ts";
import { CATALOG } from "../compiler/index.ts";

test("docs/diagnostics.md is up to date (npm run build:docs)", () => {
  assert.equal(readFileSync(path.join(REPO, "docs/diagnostics.md"), "utf8"), renderDiagnosticsDoc());
});

test("docs/language.md mentions every signal type, plugin type and selection algorithm", async () => {
  const { SIGNAL_TYPES, PLUGIN_TYPES, SELECT_SCHEMAS } = await import("../bundle/index.ts");
  const doc = readFileSync(path.join(REPO, "docs/language.md"), "utf8");
  for (const name of [...Object.keys(SIGNAL_TYPES), ...Object.keys(PLUGIN_TYPES), ...Object.keys(SELECT_SCHEMAS)]) {
    assert.ok(doc.includes(`\`${name}\``), `docs/language.md does not document \`${name}\``);
  }
  assert.ok(Object.keys(CATALOG).length > 40);
});
