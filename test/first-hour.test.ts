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
  assert.match(r.stdout, /^fmt: 5 files, 0 not formatted, 5 already formatted$/m);
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

test("diff shows a request explain can read, which both versions decide as the change says; --exit-code fails on a change; a revision is never an option", async () => {
  const { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-diff-"));
  try {
    for (const side of ["a", "b"]) cpSync(path.join(REPO, "examples/support"), path.join(dir, side, "support"), { recursive: true });
    cpSync(path.join(REPO, "examples/shared"), path.join(dir, "a/shared"), { recursive: true });
    cpSync(path.join(REPO, "examples/shared"), path.join(dir, "b/shared"), { recursive: true });
    const after = path.join(dir, "b/support/main.route");
    writeFileSync(after, readFileSync(after, "utf8").replace("when urgent\n", 'when urgent or tenant == "vip"\n'));
    const run = (args: string[]) => spawnSync(process.execPath, [MAIN, ...args], { cwd: dir, encoding: "utf8" });
    const d = run(["diff", "a/support", "b/support"]);
    assert.equal(d.status, 0, d.stderr);
    const line = /e\.g\. request: (.*)$/m.exec(d.stdout);
    assert.ok(line, d.stdout);
    writeFileSync(path.join(dir, "req.json"), line[1]);
    // The request, pasted into explain, goes where the diff says: the default before, escalate after.
    assert.match(run(["explain", "a/support", "--request", "req.json"]).stdout, /default/);
    assert.match(run(["explain", "b/support", "--request", "req.json"]).stdout, /escalate/);
    assert.equal(run(["diff", "a/support", "b/support", "--exit-code"]).status, 1);
    assert.equal(run(["diff", "a/support", "a/support", "--exit-code"]).status, 0);
    const opt = spawnSync(process.execPath, [MAIN, "diff", "--", "--output=/tmp/x..HEAD", "examples"], { cwd: REPO, encoding: "utf8" });
    assert.equal(opt.status, 2, opt.stderr);
    assert.match(opt.stderr, /`--output=\/tmp\/x` is not a revision/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
