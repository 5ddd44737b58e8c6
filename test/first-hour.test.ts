// What a new user meets in the first hour (issue 14): a closed pipe ends a
// command quietly, and `fmt --check` says what it found.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { REPO } from "./support/golden.ts";

const MAIN = path.join(REPO, "cli/main.ts");

test("a reader that closes the pipe early ends the command quietly (no EPIPE crash)", async () => {
  // The reader never reads and closes at once, as `| head -0` would.
  const child = spawn(process.execPath, [MAIN, "lint", "examples/support", "--format", "github"], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.destroy();
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.doesNotMatch(stderr, /EPIPE|Unhandled 'error' event|\n\s+at /, stderr);
  assert.equal(code, 0, stderr);
});

test("fmt --check prints a one-line summary on success", () => {
  const r = spawnSync(process.execPath, [MAIN, "fmt", "--check", "examples"], { cwd: REPO, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^fmt: 4 files, 0 not formatted, 4 already formatted$/m);
});

test("keygen writes the private key with mode 0600, even over a readable file, and says to keep it out of git", async () => {
  const { mkdtempSync, rmSync, statSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-keygen-"));
  try {
    writeFileSync(path.join(dir, "team.key"), "old", { mode: 0o644 });
    const r = spawnSync(process.execPath, [MAIN, "keygen", "--out", "team", "--force"], { cwd: dir, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(statSync(path.join(dir, "team.key")).mode & 0o777, 0o600);
    assert.match(r.stderr, /keep it out of git/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("notes belong to lint: check counts them in one line, --notes and lint show them", () => {
  const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { cwd: REPO, encoding: "utf8" });
  const check = run(["check", "examples/support"]);
  assert.equal(check.status, 0, check.stderr);
  assert.doesNotMatch(check.stderr, /info\[RP1014\]/);
  assert.match(check.stderr, /^\(5 notes not shown: `routeplane lint` or --notes shows them\)$/m);
  assert.match(run(["check", "examples/support", "--notes"]).stderr, /info\[RP1014\]/);
  assert.match(run(["lint", "examples/support"]).stderr, /info\[RP1014\]/);
});
