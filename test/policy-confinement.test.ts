// Issue 11, "Trust under hostile input": a policy cannot reach outside
// itself. Imports stay inside the policy root and never echo what they were
// refused; what a policy puts on the wire (headers, endpoints) cannot split
// the upstream request; inputs built to blow the stack get a diagnostic with
// the limit instead.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { computeRevision, generateKeyPair, serializeBundle, signBundle, type Bundle, type Condition } from "../bundle/index.ts";
import { compile, formatFile, insideRoot, memoryHost } from "../compiler/index.ts";
import { parseFile, PARSE_LIMITS } from "../grammar/index.ts";
import { BundleStore, Engine, UpstreamError, Upstreams, createSidecar, requestFromSignals } from "../runtime/index.ts";
import { MAX_CONDITION_DEPTH } from "../runtime/engine/engine.ts";
import { fsHost, policyRoot } from "../cli/files.ts";
import { REPO } from "./support/golden.ts";

const MAIN = path.join(REPO, "cli/main.ts");
const CANARY = "routeplane-canary-7f3a9c1e";
const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "routeplane-confine-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** The CLI with a secret in its environment, as in a CI job. */
function rp(args: string[], cwd: string): { code: number; out: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1", ROUTEPLANE_TEST_SECRET: CANARY }, timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

const HEAD = 'package p\nmodel m { provider: openai, endpoint: "http://m.local/v1" }\nsignal keyword k { any: ["hello"] }\ndefault { use m }\n';
/** Enough `..` to reach `/` from any temp directory. */
const UP = "../".repeat(30);

// ---- 1. imports resolve only inside the policy root

test("an import of /proc/self/environ through `..` is refused (RP0107) by check, compile and diff, and the environment is never printed", () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, "main.route"), `${HEAD}import "${UP}proc/self/environ"\n`);
  for (const args of [["check", "main.route"], ["check", "."], ["compile", "main.route", "-o", "b.json"], ["diff", "main.route", "main.route"]]) {
    const r = rp(args, dir);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}`);
    assert.match(r.out, /error\[RP0107\]: import `(\.\.\/)+proc\/self\/environ` is outside the policy root `\.`/);
    assert.ok(!r.out.includes(CANARY), `${args.join(" ")} printed the environment`);
  }
});

test("absolute imports, symlinks leaving the root, non-.route files, binary and oversized files are refused without their content", () => {
  const outside = tempDir();
  writeFileSync(path.join(outside, "secret.route"), `package p\nsignal keyword s { any: ["${CANARY}"] }\n${CANARY}\n`);
  const dir = tempDir();
  symlinkSync(path.join(outside, "secret.route"), path.join(dir, "link.route"));
  symlinkSync("/proc/self/environ", path.join(dir, "environ.route"));
  writeFileSync(path.join(dir, "notes.txt"), `${CANARY}\n`);
  writeFileSync(path.join(dir, "binary.route"), Buffer.from([0x70, 0x61, 0xff, 0xfe, 0x0a, ...Buffer.from(CANARY)]));
  writeFileSync(path.join(dir, "nul.route"), `package p\0${CANARY}\n`);
  writeFileSync(path.join(dir, "big.route"), Buffer.alloc(PARSE_LIMITS.maxSourceChars + 1, 0x20));
  mkdirSync(path.join(dir, "folder.route"));
  const imports = [`${path.join(outside, "secret.route")}`, "link.route", "environ.route", "notes.txt", "binary.route", "nul.route", "big.route", "folder.route"];
  writeFileSync(path.join(dir, "main.route"), HEAD + imports.map((i) => `import "${i}"\n`).join(""));
  const r = rp(["check", "main.route"], dir);
  assert.equal(r.code, 1, r.out);
  assert.ok(!r.out.includes(CANARY), r.out);
  for (const line of [
    /RP0107\]: import `\/.*secret\.route` is an absolute path/,
    /RP0107\]: import `link\.route` is outside the policy root/,
    /RP0107\]: import `environ\.route` is outside the policy root/,
    /RP0108\]: import `notes\.txt` is not a \.route file/,
    /RP0108\]: import `binary\.route` is not UTF-8 text/,
    /RP0108\]: import `nul\.route` is not UTF-8 text/,
    new RegExp(`RP0108\\]: import \`big\\.route\` is larger than the limit of ${PARSE_LIMITS.maxSourceChars} bytes`),
    /RP0108\]: import `folder\.route` is not a regular file/,
  ]) assert.match(r.out, line);

  // Named directly or found by walking a directory, a symlink out of the root is refused the same way.
  const walked = rp(["check", "."], dir);
  assert.match(walked.out, /RP0107\]: policy file `link\.route` is outside the policy root/);
  assert.match(walked.out, /RP0107\]: policy file `environ\.route` is outside the policy root/);
  assert.ok(!walked.out.includes(CANARY), walked.out);
});

test("the policy root: the git working tree holding the named paths; outside one, the working directory if it holds them, else the closest directory holding them all", () => {
  const dir = tempDir();
  mkdirSync(path.join(dir, "a/b"), { recursive: true });
  writeFileSync(path.join(dir, "a/b/x.route"), "package p\n");
  assert.equal(policyRoot(["a/b/x.route"], dir), ".");
  assert.equal(policyRoot(["a/b"], dir), ".");
  assert.equal(policyRoot([path.join(dir, "a/b/x.route")], path.join(dir, "a")), ".");
  assert.equal(policyRoot([path.join(dir, "a/b/x.route")], "/nowhere/else"), path.relative("/nowhere/else", path.join(dir, "a/b")));
  assert.equal(policyRoot([path.join(dir, "a/b")], "/nowhere/else"), path.relative("/nowhere/else", path.join(dir, "a/b")));
  assert.equal(policyRoot([path.join(dir, "a/b/x.route"), path.join(dir, "a")], "/nowhere/else"), path.relative("/nowhere/else", path.join(dir, "a")));
  // In a repository, wherever routeplane runs from: the repository.
  mkdirSync(path.join(dir, ".git"));
  assert.equal(policyRoot(["b/x.route"], path.join(dir, "a")), "..");
  assert.equal(policyRoot([path.join(dir, "a/b")], "/nowhere/else"), path.relative("/nowhere/else", dir));

  // The platform example imports ../shared: fine in the repository from anywhere, ...
  assert.equal(rp(["check", "examples/platform"], REPO).code, 0);
  assert.equal(rp(["check", path.join(REPO, "examples/platform")], tempDir()).code, 0);
  // ... and outside a repository, from the directory that holds both, but not when named from elsewhere.
  const copy = tempDir();
  cpSync(path.join(REPO, "examples"), path.join(copy, "examples"), { recursive: true });
  assert.equal(rp(["check", "examples/platform"], copy).code, 0);
  const elsewhere = rp(["check", path.join(copy, "examples/platform")], tempDir());
  assert.equal(elsewhere.code, 1);
  assert.match(elsewhere.out, /RP0107\]: import `\.\.\/shared\/models\.route` is outside the policy root/);
});

test("fmt neither reads nor rewrites a file through a symlink that leaves the root", () => {
  const outside = tempDir();
  const target = path.join(outside, "victim.route");
  writeFileSync(target, "package    p\n");
  const dir = tempDir();
  symlinkSync(target, path.join(dir, "link.route"));
  const r = rp(["fmt", "."], dir);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /RP0107\]: policy file `link\.route` is outside the policy root/);
  assert.equal(readFileSync(target, "utf8"), "package    p\n");
});

test("insideRoot is about path segments, not prefixes", () => {
  assert.ok(insideRoot("/a/b", "/a/b"));
  assert.ok(insideRoot("/a/b", "/a/b/..c.route"));
  assert.ok(!insideRoot("/a/b", "/a/bc/x.route"));
  assert.ok(!insideRoot("/a/b", "/a/b/../x.route"));
  assert.ok(insideRoot(".", "x/../y.route"));
  assert.ok(!insideRoot(".", "x/../../y.route"));
});

test("the filesystem host refuses a real path outside the root even when the path given is inside it", () => {
  const outside = tempDir();
  writeFileSync(path.join(outside, "o.route"), "package p\n");
  const dir = tempDir();
  symlinkSync(outside, path.join(dir, "sub"));
  assert.deepEqual(fsHost.readFile(path.join(dir, "sub/o.route"), dir), { refused: "outside-root" });
  assert.equal(fsHost.readFile(path.join(outside, "o.route"), outside), "package p\n");
});

test("diff <rev>..<rev> reads each revision confined to its own tree: no environ, no symlink out, no path outside the repository", () => {
  const repo = tempDir();
  const git = (...args: string[]) => spawnSync("git", args, { cwd: repo, encoding: "utf8", env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" } });
  mkdirSync(path.join(repo, "policy"));
  writeFileSync(path.join(repo, "policy/main.route"), HEAD);
  assert.equal(git("init", "-q", "-b", "main").status, 0);
  assert.equal(git("add", "-A").status, 0);
  assert.equal(git("commit", "-qm", "policy").status, 0);
  writeFileSync(path.join(repo, "policy/main.route"), `${HEAD}import "${UP}proc/self/environ"\nimport "link.route"\n`);
  symlinkSync("/proc/self/environ", path.join(repo, "policy/link.route"));
  assert.equal(git("add", "-A").status, 0);
  assert.equal(git("commit", "-qm", "hostile").status, 0);

  const r = rp(["diff", "HEAD~1..HEAD", "policy", "--format", "markdown"], repo);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /RP0107\]: import `(\.\.\/)+proc\/self\/environ` is outside the policy root/);
  assert.match(r.out, /RP0107\]: (import|policy file) `link\.route` is outside the policy root/);
  assert.ok(!r.out.includes(CANARY), r.out);
  const escape = rp(["diff", "HEAD~1..HEAD", "../.."], repo);
  assert.equal(escape.code, 2, escape.out);
  assert.match(escape.out, /must be relative and inside the repository/);
});

// ---- 2. nothing a policy puts on the wire can split the upstream request

const SMUGGLE = "a\r\nx-end: 1\r\n\r\nGET /smuggled HTTP/1.1\r\nhost: m\r\nx-tail: ";

test("the compiler refuses header names and values that could split a request, in declarations and overrides, and unsafe endpoints (RP0307)", () => {
  const src = `package p
model m { provider: openai, endpoint: "http://m.local/v1" }
model e { provider: openai, endpoint: "http://e.local/v1\\r\\nx: 1" }
model u { provider: openai, endpoint: "http://user:pw@e.local/v1" }
signal keyword k { any: ["hello"] }
plugin header_mutation h { set: { "x-a": ${JSON.stringify(SMUGGLE)} }, remove: ["bad header"] }
plugin header_mutation ok { set: { "x-a": "fine" } }
route r priority 1 { when k; use m; apply ok { set: { "x-b\\n": "v", "x-c": "v\\u0000" } } }
default { use m }
`;
  const r = compile(memoryHost({ "p.route": src }), ["p.route"]);
  const got = r.diagnostics.filter((d) => d.code === "RP0307").map((d) => `${d.span.start.line}: ${d.message}`);
  assert.deepEqual(got, [
    "3: the endpoint contains whitespace or a control character",
    "4: the endpoint has credentials in it",
    "6: the value of header `x-a` contains a line break or control character",
    '6: "bad header" is not a valid HTTP header name',
    '8: "x-b\\n" is not a valid HTTP header name',
    "8: the value of header `x-c` contains a line break or control character",
  ]);
  assert.equal(r.bundle, null);
});

/** A compiled bundle whose header_mutation value is then rewritten by hand, as an attacker with a signing key could. */
function smugglingBundle(upstreamUrl: string): Bundle {
  const r = compile(memoryHost({ "p.route": `package p
model m { provider: openai_compatible, endpoint: "${upstreamUrl}/v1" }
plugin header_mutation h { set: { "x-a": "placeholder" } }
default { use m; apply h }
` }), ["p.route"]);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const bundle = structuredClone(r.bundle);
  bundle.policy.plugins[0].config = { set: { "x-a": SMUGGLE } };
  bundle.policy.default!.plugins[0].config = { set: { "x-a": SMUGGLE } };
  bundle.manifest.revision = computeRevision(bundle.policy, bundle.verification);
  return bundle;
}

/** A real model server that records every request it parses off the wire. */
async function fakeModelServer(): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on("end", () => {
      const body = JSON.stringify({ id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: "ok" }, finish_reason: "stop" }] });
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test("a signed bundle that sets a header value with CR/LF is refused by Engine.load and the bundle store; the smuggled request never reaches the model server", async () => {
  const model = await fakeModelServer();
  const keys = generateKeyPair();
  const bundle = signBundle(smugglingBundle(model.url), keys.privateKeyPem);
  await assert.rejects(Engine.load(bundle), /bundle refused: plugin `h` sets header `x-a` to a value with a line break or control character/);

  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  const outcome = await store.offer(serializeBundle(bundle), "test").then((r) => r, (e: Error) => e);
  assert.notEqual(outcome, null, "the store must not activate the bundle");
  assert.equal(store.current, null);
  const sidecar = createSidecar({ store, telemetry: { emit() {}, stats: () => ({ sent: 0, dropped: 0, queued: 0, failures: 0 }), async close() {} } });
  const { port } = await sidecar.listen(0);
  cleanups.push(() => sidecar.close());
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer real-key" },
    body: JSON.stringify({ model: "m", messages: [{ role: "user", content: "hello" }] }),
  });
  await res.text();
  assert.equal(res.status, 503);
  assert.deepEqual(model.seen, []);
});

test("upstream.ts refuses to write a header with CR/LF or an invalid name: nothing reaches the model server", async () => {
  const model = await fakeModelServer();
  const upstreams = new Upstreams({ headersTimeoutMs: 2000 });
  cleanups.push(() => upstreams.close());
  const spec = { name: "m", provider: "openai_compatible", endpoint: `${model.url}/v1`, served_name: "m", cost: null, context_window: null, tags: [], latency_ms: null, quality: null, api_key_env: null };
  const call = (headers: Record<string, string>) => upstreams.send({ model: spec, path: "/chat/completions", body: "{}", headers });
  await assert.rejects(upstreams.send({ model: spec, path: "/chat/completions", body: "{}", headers: { "x-a": SMUGGLE }, key: "real-key" }), (err: unknown) => {
    assert.ok(err instanceof UpstreamError);
    assert.match(err.message, /refused to send a request to m: the value of header `x-a` contains a line break or control character/);
    assert.doesNotMatch(err.message, /smuggled|real-key/);
    return true;
  });
  await assert.rejects(call({ "x-a\r\nGET /smuggled HTTP/1.1\r\nx": "1" }), /invalid header name/);
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(model.seen, []);
  // A clean request still goes through, and only it arrives.
  const ok = await call({ "x-a": "fine" });
  await ok.body.text();
  assert.deepEqual(model.seen, ["POST /v1/chat/completions"]);
  assert.equal(upstreams.circuitState("m"), "closed", "a refused header is not the model's failure");
});

// ---- 3. inputs that would blow the stack get a diagnostic with the limit

const POLICY = (when: string) => `package p
model m { provider: openai, endpoint: "http://m.local/v1" }
signal keyword k { any: ["hello"] }
route r priority 1 { when ${when}; use m }
default { use m }
`;

test("10,000-deep parentheses, 100,000 chained `and`s, 10,000 `not`s and deep value brackets: RP0005 with the limit, from parse, format and compile", () => {
  const cases: [string, string, RegExp][] = [
    ["parentheses", POLICY(`${"(".repeat(10_000)}k${")".repeat(10_000)}`), /more than 64 brackets open at once/],
    ["and chain", POLICY(`k${" and k".repeat(100_000)}`), /more than 1000 operators/],
    ["not chain", POLICY(`${"not ".repeat(10_000)}k`), /more than 1000 operators/],
    ["value brackets", POLICY("k") + `signal keyword deep { any: ${"[".repeat(10_000)}"x"${"]".repeat(10_000)} }\n`, /more than 64 brackets open at once/],
    ["8 MB of brackets, one per line", POLICY(`${"(\n".repeat(4_000_000)}k`), /more than 64 brackets open at once/],
    ["arithmetic", POLICY("k") + `route a priority 2 { when k; select adaptive { models: [m, m], objective: quality${" + quality".repeat(5_000)} } }\n`, /more than 1000 operators/],
  ];
  for (const [name, src, limit] of cases) {
    const parsed = parseFile("p.route", src);
    assert.equal(parsed.problems.length, 1, name);
    assert.equal(parsed.problems[0].kind, "limit", name);
    assert.doesNotThrow(() => formatFile(parsed), name);
    const r = compile(memoryHost({ "p.route": src }), ["p.route"]);
    const d = r.diagnostics.find((x) => x.code === "RP0005");
    assert.ok(d, `${name}: ${r.diagnostics.map((x) => x.message).join("; ")}`);
    assert.match(d.message, limit, name);
    assert.ok(d.help, name);
  }
});

test("a 50 MB string literal and a 2 MB line: refused with the limit (RP0108 / RP0005), not a stack overflow in the lexer", () => {
  const huge = POLICY("k") + `signal keyword q { any: ["${"a".repeat(50_000_000)}"] }\n`;
  const parsed = parseFile("p.route", huge);
  assert.match(parsed.problems[0]?.found ?? "", new RegExp(`more than the limit of ${PARSE_LIMITS.maxSourceChars}`));
  assert.equal(parsed.source, "", "the text is not kept to be echoed");
  const r = compile(memoryHost({ "p.route": huge }), ["p.route"]);
  assert.deepEqual(r.diagnostics.map((d) => d.code), ["RP0108"]);
  assert.match(r.diagnostics[0].message, /larger than the limit of 8388608 bytes/);

  const longLine = POLICY("k") + `signal keyword q { any: ["${"a".repeat(2_000_000)}"] }\n`;
  const l = compile(memoryHost({ "p.route": longLine }), ["p.route"]);
  assert.deepEqual(l.diagnostics.map((d) => `${d.code} ${d.message}`), [`RP0005 line 6 has 2000030 characters, more than the limit of ${PARSE_LIMITS.maxLineChars}`]);

  const dir = tempDir();
  writeFileSync(path.join(dir, "big.route"), huge);
  const cli = rp(["check", "big.route"], dir);
  assert.equal(cli.code, 1);
  assert.match(cli.out, /RP0108\]: policy file `big\.route` is larger than the limit/);
  assert.doesNotMatch(cli.out, /Maximum call stack|aaaaaaaaaa/);
});

test("at the limits every stage still works: lowering, analysis, emit, formatter, Engine.load and a decision", async () => {
  const deepest = [
    `${"(".repeat(PARSE_LIMITS.maxNesting - 1)}k${")".repeat(PARSE_LIMITS.maxNesting - 1)}`,
    `k${" and k".repeat(PARSE_LIMITS.maxOperators)}`,
    `${"not ".repeat(MAX_CONDITION_DEPTH - 1)}k`,
    `${"(not k or ".repeat(PARSE_LIMITS.maxNesting - 1)}k${")".repeat(PARSE_LIMITS.maxNesting - 1)}${" and not k".repeat((PARSE_LIMITS.maxOperators - 2 * PARSE_LIMITS.maxNesting) / 2)}`,
  ];
  for (const when of deepest) {
    const src = POLICY(when);
    const parsed = parseFile("p.route", src);
    assert.deepEqual(parsed.problems, []);
    assert.ok(formatFile(parsed).includes("route r"));
    const r = compile(memoryHost({ "p.route": src }), ["p.route"]);
    assert.ok(r.bundle, r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
    assert.ok(r.analysis);
    const engine = await Engine.load(r.bundle);
    assert.ok(["r", "default"].includes(engine.decide(requestFromSignals({ k: true })).route!));
  }
});

test("a condition that lowers deeper than the engine takes (1,000 `not`s) is refused by the compiler with the limit (RP0005)", () => {
  const r = compile(memoryHost({ "p.route": POLICY(`${"not ".repeat(PARSE_LIMITS.maxOperators)}k`) }), ["p.route"]);
  assert.deepEqual(r.diagnostics.map((d) => `${d.code} ${d.message}`), [`RP0005 the condition nests \`not\`, \`and\` and \`or\` more than ${MAX_CONDITION_DEPTH} levels deep`]);
  assert.equal(r.bundle, null);
});

function nested(depth: number): Condition {
  let c: Condition = { op: "signal", signal: "k" };
  for (let i = 0; i < depth; i++) c = i % 2 ? { op: "not", arg: c } : { op: "and", args: [c, { op: "true" }] };
  return c;
}

test("a hand-made bundle with a 100,000-deep condition is refused by Engine.load with the limit; a signed one over the limit is refused by the store", async () => {
  const r = compile(memoryHost({ "p.route": POLICY("k") }), ["p.route"]);
  assert.ok(r.bundle);
  const deep = structuredClone(r.bundle);
  deep.policy.routes[0].when = nested(100_000);
  await assert.rejects(Engine.load(deep), new RegExp(`bundle refused: the condition of route \`r\` is nested more than ${MAX_CONDITION_DEPTH} levels deep`));
  assert.throws(() => new Engine(deep), /nested more than/);

  // Deep enough to exceed the engine's limit, shallow enough for the bundle tooling to sign and read.
  const over = structuredClone(r.bundle);
  over.policy.routes[0].when = nested(MAX_CONDITION_DEPTH + 10);
  over.manifest.revision = computeRevision(over.policy, over.verification);
  const keys = generateKeyPair();
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  const outcome = await store.offer(serializeBundle(signBundle(over, keys.privateKeyPem)), "test").then((x) => x, (e: Error) => e.message);
  assert.match(String(outcome), new RegExp(`nested more than ${MAX_CONDITION_DEPTH} levels`));
  assert.equal(store.current, null);
});
