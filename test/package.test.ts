// The installable package (issue 14, "Installable package"): `npm pack` builds
// dist/ (prepack) and packs only what runs; the tarball installs into a fresh
// prefix like `npm install -g`, and the installed `routeplane` works far from
// the repository: Node does not strip types under node_modules, so everything
// it loads must be compiled JavaScript that the package itself holds.
//
// npm resolves the runtime dependencies from its cache (warm from the
// project's own install) with --prefer-offline.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { REPO } from "./support/golden.ts";

const VERSION = (JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as { version: string }).version;

let dir = "";
let prefix = "";
let work = "";
let files: string[] = [];
let packed = { filename: "", size: 0, entryCount: 0, files: [] as { path: string }[] };

/**
 * The environment for npm and the installed command: this test's Node first on
 * PATH (npm, prepack's build and the `#!/usr/bin/env node` of the installed bin
 * all run on it), and no npm_* variables from an enclosing `npm test` (its
 * prefix, lifecycle event, …), except the cache it uses.
 */
function env(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) || k === "npm_config_cache") out[k] = v;
  out.PATH = [path.join(prefix, "bin"), path.dirname(process.execPath), process.env.PATH].join(path.delimiter);
  delete out.INIT_CWD;
  return out;
}

function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  const r = spawnSync("npm", args, { cwd, env: env(), encoding: "utf8", timeout: 180_000 });
  assert.equal(r.status, 0, `npm ${args.join(" ")}: ${r.error ?? ""}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** The installed command, run from a directory outside the repository. */
function routeplane(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(path.join(prefix, "bin", "routeplane"), args, { cwd: work, env: env(), encoding: "utf8", timeout: 60_000 });
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), "routeplane-package-"));
  prefix = path.join(dir, "prefix");
  work = path.join(dir, "work");
  const pack = npm(["pack", "--json", "--pack-destination", dir], REPO);
  // --json prints an array; a lifecycle script may print lines before it.
  const json = JSON.parse(pack.stdout.slice(pack.stdout.indexOf("[\n"))) as { filename: string; size: number; entryCount: number; files: { path: string }[] }[];
  packed = json[0];
  files = packed.files.map((f) => f.path);
  npm(["install", "--global", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", path.join(dir, packed.filename)], dir);
  // The user's policies: a copy of the examples, far from the repository and its git tree.
  for (const p of ["support", "shared"]) cpSync(path.join(REPO, "examples", p), path.join(work, "examples", p), { recursive: true });
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("the tarball holds the compiled command and nothing from tests, benchmarks, scripts or sources", () => {
  assert.equal(packed.filename, `routeplane-${VERSION}.tgz`);
  for (const f of ["package.json", "README.md", "dist/cli/main.js", "dist/grammar/policy.generated.js", "dist/bundle/validate.generated.js",
    "dist/compiler/fields.generated.js", "dist/examples/support/main.route", "dist/examples/shared/models.route"]) {
    assert.ok(files.includes(f), `${f} is not in the tarball`);
  }
  const stray = files.filter((f) => !/^(package\.json|README\.md|LICENSE(\.\w+)?|dist\/.+)$/.test(f) || /^(bench|test|e2e|scripts|docs)\//.test(f) || /\.[cm]?ts$/.test(f));
  assert.deepEqual(stray, [], "files that do not run");
  assert.ok(!files.some((f) => f.startsWith("dist/examples/") && !/^dist\/examples\/(support|shared)\//.test(f)), "only the demo policy is shipped");
});

test("the installed package has a runnable bin and only runtime dependencies", () => {
  const installed = path.join(prefix, "lib", "node_modules", "routeplane");
  const pkg = JSON.parse(readFileSync(path.join(installed, "package.json"), "utf8")) as { bin: Record<string, string>; private?: boolean; engines: { node: string } };
  assert.equal(pkg.bin.routeplane, "dist/cli/main.js");
  assert.equal(pkg.engines.node, ">=22.19");
  assert.equal(pkg.private, undefined);
  assert.equal(realpathSync(path.join(prefix, "bin", "routeplane")), realpathSync(path.join(installed, "dist/cli/main.js")));
  assert.match(readFileSync(path.join(installed, "dist/cli/main.js"), "utf8"), /^#!\/usr\/bin\/env node\n/);
  // Development-only packages stay out: the benchmark's gateway, the compiler, the linter, the test tools.
  for (const dev of ["@portkey-ai/gateway", "typescript", "eslint", "@stryker-mutator/core", "logic-solver", "node"]) {
    assert.ok(!existsSync(path.join(installed, "node_modules", dev)), `${dev} was installed`);
  }
});

test("routeplane --help and --version, from the installed bin", () => {
  const help = routeplane("--help");
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, new RegExp(`^routeplane ${VERSION.replace(/\./g, "\\.")}: routing policies for LLM traffic`));
  assert.match(help.stdout, /^usage: routeplane <command> \[options\]$/m);
  assert.match(help.stdout, /^ {2}serve /m);
  const version = routeplane("--version");
  assert.equal(version.status, 0, version.stderr);
  assert.equal(version.stdout.trim(), VERSION);
});

test("routeplane check and lint on a policy outside the repository", () => {
  const check = routeplane("check", "examples/support");
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /^ok: 2 file\(s\), 6 routes, 10 signals, 5 models, 6 tests$/m);
  const lint = routeplane("lint", "examples/support");
  assert.equal(lint.status, 0, lint.stderr);
  assert.match(lint.stdout, /^lint: clean \(6 routes, analysis complete, 5 notes\)$/m);
  assert.match(lint.stderr, /info\[RP1014\]/);
});

test("routeplane serve --help", () => {
  const r = routeplane("serve", "--help");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: routeplane serve /m);
  assert.match(r.stdout, /--policy/);
});

test("routeplane controller --help, and a bad flag of it, from the installed bin (the controller and client-node are in the package)", () => {
  const r = routeplane("controller", "--help");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^usage: routeplane controller /m);
  const bad = routeplane("controller", "--webhook-failure-policy", "Maybe");
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--webhook-failure-policy is Fail or Ignore, not Maybe/);
});

test("the installed package reads its own files: the embedded demo policy, the lazily loaded detectors, the bundle schema", () => {
  const demo = routeplane("demo");
  assert.equal(demo.status, 0, demo.stderr);
  assert.match(demo.stdout, /^routeplane demo: compiled policy `support` from 2 file\(s\)/m);
  // The policy's tests run the engine's detectors (tokenizer and language models load on first use).
  const t = routeplane("test", "examples/support");
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /^6 passed, 0 failed$/m);
  // A signed bundle, verified as a sidecar would (the precompiled bundle validator), with the package's version in its manifest.
  assert.equal(routeplane("keygen", "--out", "team").status, 0);
  const compile = routeplane("compile", "examples/support", "-o", "support.bundle.json", "--key", "team.key", "--serial", "1");
  assert.equal(compile.status, 0, compile.stderr);
  const manifest = (JSON.parse(readFileSync(path.join(work, "support.bundle.json"), "utf8")) as { manifest: { compiler: { name: string; version: string } } }).manifest;
  assert.deepEqual(manifest.compiler, { name: "routeplane", version: VERSION });
  const verify = routeplane("verify", "support.bundle.json", "--pub", "team.pub");
  assert.equal(verify.status, 0, verify.stderr);
});
