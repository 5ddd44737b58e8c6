// Security review findings against docs/security.md, fixed on branch fix-wire:
// a policy cannot put framing headers on the upstream request (smuggling) nor
// touch the model's key; a `.route` symlink to another file in the checkout is
// refused and never printed; a signed bundle with a dangling reference is a
// counted rejection, not a sidecar that answers 500 to everything.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { computeRevision, generateKeyPair, serializeBundle, signBundle, sidecarOwnedHeader, type Bundle } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore, Engine, UpstreamError, Upstreams, forwardAllowList, requestFromChat } from "../runtime/index.ts";
import { fsHost } from "../cli/files.ts";
import { REPO } from "./support/golden.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "routeplane-attack-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

// ---- 1. headers the sidecar owns: framing, hop-by-hop, the model's key

const OWNED = ["host", "Content-Length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "proxy-connection", "expect", "authorization"];

test("sidecarOwnedHeader: framing, hop-by-hop and authorization are the sidecar's, in any case; ordinary headers are not", () => {
  for (const h of OWNED) assert.notEqual(sidecarOwnedHeader(h), null, h);
  for (const h of ["HOST", "Transfer-Encoding", "Authorization"]) assert.notEqual(sidecarOwnedHeader(h), null, h);
  for (const h of ["x-team", "x-api-version", "openai-organization", "content-type-x", "hosts"]) assert.equal(sidecarOwnedHeader(h), null, h);
});

test("the compiler refuses setting or removing a framing, hop-by-hop or authorization header, in declarations and overrides (RP0307)", () => {
  const src = `package p
model m { provider: openai_compatible, endpoint: "http://m.local/v1" }
signal keyword k { any: ["hello"] }
plugin header_mutation frame { set: { "content-length": "0", "host": "admin.internal", "x-ok": "1" } }
plugin header_mutation hop { set: { "Transfer-Encoding": "chunked", "connection": "x-team" }, remove: ["authorization", "x-old"] }
plugin header_mutation fine { set: { "x-team": "a" } }
route r priority 1 { when k; use m; apply fine { set: { "Authorization": "Bearer policy-key", "te": "trailers" } } }
default { use m; apply frame, hop }
`;
  const r = compile(memoryHost({ "p.route": src }), ["p.route"]);
  const got = r.diagnostics.filter((d) => d.code === "RP0307").map((d) => `${d.span.start.line}: ${d.message.replace(/: .*/, "")}`);
  assert.deepEqual(got, [
    '4: a policy cannot set header "content-length"',
    '4: a policy cannot set header "host"',
    '5: a policy cannot set header "Transfer-Encoding"',
    '5: a policy cannot set header "connection"',
    '5: a policy cannot remove header "authorization"',
    '7: a policy cannot set header "Authorization"',
    '7: a policy cannot set header "te"',
  ]);
  assert.equal(r.bundle, null);
});

/** The review's policy compiled with a harmless header, then the header rewritten by hand and signed, as a signing key holder's tooling could. */
function framingBundle(upstream: string, config: Record<string, unknown>): Bundle {
  const r = compile(memoryHost({ "p.route": `package smuggle
model m { provider: openai_compatible, endpoint: "${upstream}/v1" }
plugin header_mutation frame { set: { "x-a": "placeholder" } }
default { use m; apply frame }
` }), ["p.route"]);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const bundle = structuredClone(r.bundle);
  bundle.policy.plugins[0].config = config as Bundle["policy"]["plugins"][0]["config"];
  bundle.policy.default!.plugins[0].config = config as Bundle["policy"]["plugins"][0]["config"];
  bundle.manifest.revision = computeRevision(bundle.policy, bundle.verification);
  return bundle;
}

/** A raw TCP model server that records the exact bytes of every request head it receives and answers 200. */
async function rawModelServer(): Promise<{ url: string; heads: string[] }> {
  const heads: string[] = [];
  const server = net.createServer((s) => {
    let got = Buffer.alloc(0);
    s.on("data", (d) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf("\r\n\r\n");
      if (end < 0) return;
      heads.push(got.subarray(0, end).toString("latin1"));
      got = Buffer.alloc(0);
      const body = '{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}';
      s.end(`HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    });
    s.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, heads };
}

test("a signed bundle whose header_mutation sets or removes host, content-length, transfer-encoding or authorization is refused by Engine.load and is a counted rejection", async () => {
  const keys = generateKeyPair();
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ set: { "content-length": "0", host: "admin.internal" } }, /bundle refused: plugin `frame` sets header "content-length": `content-length` is a hop-by-hop or framing header/],
    [{ set: { "Transfer-Encoding": "chunked" } }, /sets header "Transfer-Encoding"/],
    [{ set: { connection: "x-team" } }, /sets header "connection"/],
    [{ set: { authorization: "Bearer policy-key" } }, /sets header "authorization": `authorization` carries the model's key/],
    [{ remove: ["Authorization"] }, /removes header "Authorization"/],
    [{ remove: ["host"] }, /removes header "host"/],
  ];
  for (const [config, message] of cases) {
    const bundle = signBundle(framingBundle("http://127.0.0.1:9", config), keys.privateKeyPem);
    await assert.rejects(Engine.load(bundle), message, JSON.stringify(config));
    const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
    await store.offer(serializeBundle(bundle), "test").then(() => {}, () => {});
    assert.equal(store.current, null, JSON.stringify(config));
    assert.equal(store.rejections, 1, JSON.stringify(config));
    assert.match(store.rejection?.reason ?? "", message);
  }
});

test("the upstream client refuses framing, hop-by-hop and authorization headers in a call: nothing reaches the wire; a clean call carries one host, one content-length and the key", async () => {
  const model = await rawModelServer();
  const upstreams = new Upstreams({ headersTimeoutMs: 2000 });
  cleanups.push(() => upstreams.close());
  const spec = { name: "m", provider: "openai_compatible", endpoint: `${model.url}/v1`, served_name: "m", cost: null, context_window: null, tags: [], latency_ms: null, quality: null, api_key_env: null };
  const call = (headers: Record<string, string>) => upstreams.send({ model: spec, path: "/chat/completions", body: '{"a":1}', headers, key: "sidecar-key" });
  for (const h of OWNED) {
    await assert.rejects(call({ [h]: h === "authorization" ? "Bearer policy-key" : "0" }), (err: unknown) => {
      assert.ok(err instanceof UpstreamError, h);
      assert.match(err.message, /refused to send a request to m: `[a-z-]+` (is a hop-by-hop or framing header|carries the model's key)/, h);
      assert.doesNotMatch(err.message, /policy-key|sidecar-key/);
      return true;
    });
  }
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(model.heads.length, 0, model.heads.join("\n---\n"));
  const ok = await call({ "x-a": "fine" });
  await ok.body.text();
  assert.equal(model.heads.length, 1);
  const lines = model.heads[0].split("\r\n").slice(1).map((l) => l.toLowerCase());
  assert.equal(lines.filter((l) => l.startsWith("host:")).length, 1, model.heads[0]);
  assert.deepEqual(lines.filter((l) => l.startsWith("content-length:")), ["content-length: 7"]);
  assert.deepEqual(lines.filter((l) => l.startsWith("authorization:")), ["authorization: bearer sidecar-key"]);
  assert.equal(upstreams.circuitState("m"), "closed");
});

test("the operator's forwarded-header list cannot name a framing or hop-by-hop header", () => {
  for (const h of ["host", "Content-Length", "transfer-encoding", "connection", "te", "upgrade"]) {
    assert.throws(() => forwardAllowList([h]), new RegExp(`\`${h}\` is a hop-by-hop or framing header`), h);
  }
  assert.deepEqual([...forwardAllowList(["traceparent", "x-team"])], ["traceparent", "x-team"]);
});

// ---- 2. a symlink named *.route to another file in the checkout is refused, and never printed

const NPM_TOKEN = "npm_S3cr3tT0kenFromCI";

/** The review's checkout: a policy, a CI-written .npmrc, and symlinks named .route to it and to .git/config. */
function leakyCheckout(): string {
  const repo = tempDir();
  assert.equal(spawnSync("git", ["init", "-q", "."], { cwd: repo }).status, 0);
  assert.equal(spawnSync("git", ["config", "http.https://github.com/.extraheader", "AUTHORIZATION: basic c2VjcmV0"], { cwd: repo }).status, 0);
  mkdirSync(path.join(repo, "policy"));
  writeFileSync(path.join(repo, "policy/main.route"), 'package leak\nmodel m { provider: openai, endpoint: "https://api.example.com/v1" }\ndefault { use m }\n');
  writeFileSync(path.join(repo, ".npmrc"), `//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n`);
  symlinkSync("../.npmrc", path.join(repo, "policy/npmrc.route"));
  symlinkSync("../.git/config", path.join(repo, "policy/gitconfig.route"));
  return repo;
}

function rp(args: string[], cwd: string): { code: number; out: string } {
  const r = spawnSync(process.execPath, [path.join(REPO, "cli/main.ts"), ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 60_000 });
  return { code: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

test("fsHost refuses a file named .route whose real path is not a .route file, inside the root too", () => {
  const repo = leakyCheckout();
  assert.deepEqual(fsHost.readFile(path.join(repo, "policy/npmrc.route"), repo), { refused: "link-not-route" });
  assert.deepEqual(fsHost.readFile(path.join(repo, "policy/gitconfig.route"), repo), { refused: "link-not-route" });
  symlinkSync("main.route", path.join(repo, "policy/alias.route"));
  assert.equal(typeof fsHost.readFile(path.join(repo, "policy/alias.route"), repo), "string", "a link to a .route file is still read");
});

test("lint, check, compile and fmt refuse a *.route symlink to .npmrc or .git/config (RP0108) and never print a line of it; an import of one is refused the same way", () => {
  const repo = leakyCheckout();
  for (const args of [["lint", "policy"], ["check", "policy"], ["compile", "policy", "-o", "b.json"], ["lint", "policy", "--format", "json"], ["fmt", "policy", "--check"]]) {
    const r = rp(args, repo);
    assert.notEqual(r.code, 0, `${args.join(" ")}: ${r.out}`);
    assert.match(r.out, /RP0108/, args.join(" "));
    assert.match(r.out, /`policy\/npmrc\.route` is a link to a file that is not a \.route file/, args.join(" "));
    assert.ok(!r.out.includes(NPM_TOKEN) && !r.out.includes("_authToken") && !r.out.includes("[core]") && !r.out.includes("extraheader"), `${args.join(" ")} printed the file:\n${r.out}`);
  }
  assert.equal(readFileSync(path.join(repo, ".npmrc"), "utf8"), `//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n`);
  rmSync(path.join(repo, "policy/gitconfig.route"));
  rmSync(path.join(repo, "policy/npmrc.route"));
  writeFileSync(path.join(repo, "policy/main.route"), 'package leak\nimport "creds.route"\nmodel m { provider: openai, endpoint: "https://api.example.com/v1" }\ndefault { use m }\n');
  symlinkSync("../.npmrc", path.join(repo, "policy/creds.route"));
  const r = rp(["check", "policy/main.route"], repo);
  assert.equal(r.code, 1, r.out);
  assert.match(r.out, /RP0108\]: (import|policy file) `(policy\/)?creds\.route` is a link to a file that is not a \.route file/);
  assert.ok(!r.out.includes(NPM_TOKEN), r.out);
});

// ---- 3. a signed bundle with a dangling reference is a counted rejection, not a sidecar that answers 500

const GOOD = `package ghost
model m { provider: openai, endpoint: "https://api.example.com/v1" }
model n { provider: openai, endpoint: "https://api2.example.com/v1" }
signal keyword k { any: ["hello"] }
signal language lang { languages: ["en", "de"] }
plugin pii_redact redact { types: [email] }
plugin header_mutation tag { set: { "x-team": "a" } }
route r priority 1 { when k and lang == "en"; use m fallback n; apply redact, tag }
default { use m }
`;

function goodBundle(serial: number): Bundle {
  const r = compile(memoryHost({ "main.route": GOOD }), ["main.route"], { serial });
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  return r.bundle;
}

/** The good bundle, changed by `edit` as broken tooling with the signing key could, with its revision recomputed. */
function tampered(edit: (b: Bundle) => void, serial = 2): Bundle {
  const b = structuredClone(goodBundle(serial));
  edit(b);
  b.manifest.revision = computeRevision(b.policy, b.verification);
  return b;
}

const DANGLING: [string, (b: Bundle) => void, RegExp][] = [
  ["the review's bundle: the default uses an undefined model", (b) => { b.policy.default = { select: { algorithm: "use", models: ["ghost"] }, plugins: [] }; }, /the default selects undefined model `ghost`/],
  ["a route's fallback is undefined", (b) => { b.policy.routes[0].action.select.models = ["m", "ghost"]; }, /route `r` selects undefined model `ghost`/],
  ["weights do not match the models", (b) => { b.policy.routes[0].action.select = { algorithm: "weighted", models: ["m", "n"], weights: [1] }; }, /route `r` has 1 weights for 2 models/],
  ["a plugin use names an undeclared plugin", (b) => { b.policy.routes[0].action.plugins[0].plugin = "nothing"; }, /route `r` applies undefined plugin `nothing`/],
  ["a plugin use of another type than declared", (b) => { b.policy.routes[0].action.plugins[1].type = "system_prompt"; b.policy.routes[0].action.plugins[1].config = { text: "x" }; }, /applies plugin `tag` as type system_prompt, but it is declared as header_mutation/],
  ["a malformed pii_redact use", (b) => { b.policy.routes[0].action.plugins[0].config = { types: ["nope"] }; }, /schema:\s+\/policy\/routes\/0\/action\/plugins\/0\/config\/types\/0/],
  ["a malformed header_mutation use", (b) => { b.policy.routes[0].action.plugins[1].config = { set: "x-team" }; }, /schema:\s+\/policy\/routes\/0\/action\/plugins\/1\/config\/set/],
  ["a condition names an undefined signal", (b) => { b.policy.routes[0].when = { op: "signal", signal: "ghost" }; }, /condition names undefined signal ghost/],
  ["two models with one name", (b) => { b.policy.models.push({ ...b.policy.models[0], endpoint: "https://evil.example.com/v1" }); }, /model `m` is defined twice/],
  ["a route named default", (b) => { b.policy.routes[0].name = "default"; }, /a route is named `default`/],
];

test("Engine.load refuses a bundle whose references do not resolve: models of routes, fallbacks and the default, weights, plugin uses and their configs, signals, duplicate names", async () => {
  await Engine.load(goodBundle(1));
  for (const [what, edit, message] of DANGLING) {
    await assert.rejects(Engine.load(tampered(edit)), (err: Error) => {
      assert.match(err.message, /^bundle (refused: |condition names)/, what);
      assert.match(err.message, message, what);
      return true;
    }, what);
  }
});

test("the review's signed bundle with a default naming an undefined model is a counted rejection: the good bundle keeps serving and stays the last known good", async () => {
  const keys = generateKeyPair();
  const state = tempDir();
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: state });
  const good = signBundle(goodBundle(1), keys.privateKeyPem);
  assert.equal(await store.offer(serializeBundle(good), "bundle.json"), null);
  for (const [i, [what, edit, message]] of DANGLING.entries()) {
    const bad = signBundle(tampered(edit, 2 + i), keys.privateKeyPem);
    const reason = await store.offer(serializeBundle(bad), "bundle.json");
    // The schema (readBundle) catches a malformed plugin use first; Engine.load catches the rest, and both again.
    assert.match(reason ?? "", /the decision engine cannot load the bundle: bundle (refused: |condition names)|the bundle does not match its schema/, what);
    assert.match(reason ?? "", message, what);
    assert.equal(store.current?.bundle.manifest.revision, good.manifest.revision, what);
  }
  assert.equal(store.rejections, DANGLING.length);
  assert.equal(readFileSync(path.join(state, "last-known-good.bundle.json"), "utf8"), serializeBundle(good));
  const decision = store.current!.engine.decide(requestFromChat({ messages: [{ role: "user", content: "hi" }] }));
  assert.equal(decision.model, "m");
  assert.ok(store.current!.models.has(decision.model!));
});
