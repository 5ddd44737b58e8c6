// `routeplane verify` judges a bundle as a sidecar would: besides form and
// signature, a failed guarantee is refused, and an unproved one (compiled
// with --allow-unproved) unless `--allow-unproved` is given here too.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO } from "./support/golden.ts";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function rp(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, [path.join(REPO, "cli/main.ts"), ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("verify refuses what a sidecar refuses: an unproved guarantee unless --allow-unproved, and says which", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-verify-"));
  dirs.push(dir);
  copyFileSync(path.join(REPO, "test/diagnostics/cases/RP1017-guarantee-not-proved.route"), path.join(dir, "p.route"));
  assert.equal(rp(["keygen", "--out", "k"], dir).code, 0);
  const compiled = rp(["compile", "p.route", "-o", "b.json", "--key", "k.key", "--allow-unproved"], dir);
  assert.equal(compiled.code, 0, compiled.stderr);
  const refused = rp(["verify", "b.json", "--pub", "k.pub"], dir);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /signature ok .*but sidecars refuse it: unproved guarantees "/);
  const allowed = rp(["verify", "b.json", "--pub", "k.pub", "--allow-unproved"], dir);
  assert.equal(allowed.code, 0, allowed.stderr);
  assert.match(allowed.stdout, /ok, revision sha256:[0-9a-f]{64}, policy \w+, serial \d+, signed by [0-9a-f]{16}; 0 guarantees proved, 1 unproved \(allowed\)/);
});
