// `routeplane serve` and `routeplane controller` run with their Node flags
// (cli/node-flags.ts): they re-execute themselves with them unless given.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CONTROLLER_NODE_FLAGS, SIDECAR_NODE_FLAGS, nodeFlagsCommandLine } from "../cli/index.ts";
import { REPO } from "./support/golden.ts";

const MAIN = path.join(REPO, "cli/main.ts");

test("serve and the controller get their flags unless they are given; other commands never", () => {
  assert.deepEqual(SIDECAR_NODE_FLAGS, ["--max-semi-space-size=16"]);
  const argv = ["/usr/bin/node", "/app/cli/main.js", "serve", "--bundle", "b.json"];
  assert.deepEqual(nodeFlagsCommandLine(argv, [], undefined), ["/usr/bin/node", "--max-semi-space-size=16", "/app/cli/main.js", "serve", "--bundle", "b.json"]);
  // node's own flags are kept, before the script.
  assert.deepEqual(nodeFlagsCommandLine(argv, ["--enable-source-maps"], ""), ["/usr/bin/node", "--enable-source-maps", "--max-semi-space-size=16", "/app/cli/main.js", "serve", "--bundle", "b.json"]);
  // Given already, in any spelling V8 takes: left alone (this is how to choose another size, or V8's own with =0).
  for (const [execArgv, nodeOptions] of [[["--max-semi-space-size=64"], undefined], [["--max_semi_space_size=8"], undefined], [[], "--max-semi-space-size=0"], [[], "--inspect --max_semi_space_size=4"]] as const) {
    assert.equal(nodeFlagsCommandLine(argv, [...execArgv], nodeOptions), null, `${execArgv} ${nodeOptions}`);
  }
  assert.equal(nodeFlagsCommandLine(["/usr/bin/node", "/app/cli/main.js", "compile", "p", "-o", "b.json"], [], undefined), null);
  assert.equal(nodeFlagsCommandLine(["/usr/bin/node", "/app/cli/main.js", "serve", "--help"], [], undefined), null);
  assert.equal(nodeFlagsCommandLine(["/usr/bin/node", "/app/cli/main.js"], [], undefined), null);
  // The controller: both flags, or the missing one; --no-optimize-for-size opts out.
  assert.deepEqual(CONTROLLER_NODE_FLAGS, ["--max-semi-space-size=2", "--optimize-for-size"]);
  const controller = ["/usr/bin/node", "/app/cli/main.js", "controller", "--namespace", "x"];
  assert.deepEqual(nodeFlagsCommandLine(controller, [], undefined), ["/usr/bin/node", "--max-semi-space-size=2", "--optimize-for-size", ...controller.slice(1)]);
  assert.deepEqual(nodeFlagsCommandLine(controller, [], "--max-semi-space-size=4"), ["/usr/bin/node", "--optimize-for-size", ...controller.slice(1)]);
  assert.equal(nodeFlagsCommandLine(controller, ["--no-optimize-for-size", "--max_semi_space_size=8"], undefined), null);
  assert.equal(nodeFlagsCommandLine([...controller, "--help"], [], undefined), null);
});

test("a serve process runs with the flags, as the same process: it listens, and SIGTERM stops it", { skip: typeof process.execve !== "function" }, async () => {
  const env = { ...process.env, NODE_OPTIONS: "" };
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-flags-"));
  const args = [MAIN, "serve", "--policy", path.join(REPO, "examples/support"), "--upstream", "http://127.0.0.1:1/v1", "--listen", "127.0.0.1:0", "--telemetry", path.join(dir, "t.jsonl")];
  const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  try {
    for (let i = 0; i < 300 && !/listening on/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(err, /listening on/);
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, "utf8").split("\0");
    assert.deepEqual(cmdline.slice(1, 3), ["--max-semi-space-size=16", MAIN], cmdline.join(" "));
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0, err);
  } finally {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});
