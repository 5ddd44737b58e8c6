// Invariants the mutation runs (npm run mutation, docs/development.md
// "Mutation testing") found unguarded: each test states one rule a surviving
// mutant broke without any test noticing. The comment above a test names the
// mutants it kills (file:line, original → mutant).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  canonicalJson, computeRevision, describeBundleReadError, generateKeyPair, readBundle, serializeBundle, signBundle, validateBundle, verifyBundleSignature, type Bundle,
} from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore } from "../runtime/index.ts";

// bundle/canonical.ts:21 `typeof value === "number" && !Number.isFinite(value)` → false / `typeof value === ""`;
// bundle/canonical.ts:23 `out === undefined` → false.
test("canonical JSON has no form for non-finite numbers or for values JSON cannot carry: it throws instead of writing null or nothing", () => {
  for (const v of [NaN, Infinity, -Infinity]) assert.throws(() => canonicalJson(v), /non-finite numbers have no JSON form/);
  for (const v of [undefined, () => 1, Symbol("s")]) assert.throws(() => canonicalJson(v), /value has no JSON form/);
  assert.equal(canonicalJson(0), "0");
  assert.equal(canonicalJson(null), "null");
});

// bundle/catalog.ts: `outputs`, `primary`, the category values and the output types of the
// context, language, domain, jailbreak, header, metadata, reask, feedback and complexity signals
// (each emptied or changed, e.g. `outputs: {}`, `primary: ""`, `values: {}`, `fromConfig: ""`,
// `type: ""`): the compiler reads the catalog to check conditions, so each is a fact of the language.
test("every output the catalog declares can be written in a condition, typed as declared; the primary output is what `sig == x` compares; category values are closed", () => {
  const signals = `package p
model m { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
signal context long { min_tokens: 8000 }
signal language lang { languages: ["en", "de"] }
signal domain topic { classes: [billing, code] }
signal jailbreak jb { threshold: 0.9 }
signal header tenant { name: "x-tenant", values: ["acme", "internal"] }
signal metadata tier { key: "tier", values: ["gold"] }
signal reask again { window: 3 }
signal feedback fb { negative: ["wrong"] }
signal complexity hard { threshold: 0.7 }
default { use m }
`;
  const errors = (cond: string) => compile(memoryHost({ "p.route": `${signals}route r priority 1 { when ${cond}; use m }\n` }), ["p.route"])
    .diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  const valid = [
    'long.tokens > 100', 'lang == "en"', 'lang.code == "de"', 'topic == "billing"', 'topic.label == "code"', 'jb.score > 0.3',
    'tenant == "acme"', 'tenant.value == "internal"', 'tier == "gold"', 'tier.value == "gold"', 'again.count >= 2',
    'fb == "negative"', 'fb.label == "positive"', 'fb == "none"', 'hard.score > 0.5',
  ];
  for (const cond of valid) assert.deepEqual(errors(cond), [], cond);
  const invalid: [string, RegExp][] = [
    ['lang == "english"', /RP0403 `lang.code` is never "english"/],
    ['topic == "nope"', /RP0403 `topic.label` is never "nope"/],
    ['tenant == "other"', /RP0403 `tenant.value` is never "other"/],
    ['tier == "silver"', /RP0403 `tier.value` is never "silver"/],
    ['fb == "bogus"', /RP0403 `fb.label` is never "bogus"/],
    ['long.tokens == "x"', /RP0402 `long.tokens` is a number/],
    ['jb.score == "x"', /RP0402 `jb.score` is a number/],
    ['again.count == "x"', /RP0402 `again.count` is a number/],
    ['hard.score == "x"', /RP0402 `hard.score` is a number/],
    ['fb.label > 1', /RP0402 `fb.label` is a category/],
    ['topic.label > 1', /RP0402 `topic.label` is a category/],
    ['tenant.value > 1', /RP0402 `tenant.value` is a category/],
    ['tier.value > 1', /RP0402 `tier.value` is a category/],
    ['lang.code > 1', /RP0402 `lang.code` is a category/],
  ];
  for (const [cond, why] of invalid) assert.match(errors(cond).join("\n"), why, cond);
});

const POLICY = `package kills
model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
signal keyword urgent { any: ["urgent"] }
default { use local }
`;

function bundleOf(text = POLICY): Bundle {
  const r = compile(memoryHost({ "p.route": text }), ["p.route"]);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  return r.bundle;
}

// bundle/bundle-file.ts:9 `canonicalJson(bundle) + "\n"` → `+ ""`.
test("a bundle file is its canonical JSON and exactly one newline; without the newline it is not canonical", () => {
  const b = bundleOf();
  const text = serializeBundle(b);
  assert.equal(text, canonicalJson(b) + "\n");
  const read = readBundle(text.slice(0, -1));
  assert.equal(read.ok, false);
  if (!read.ok) assert.equal(read.error.kind, "not-canonical");
});

// bundle/bundle-file.ts:32 `{ kind: "schema", errors }` → `{}` / `kind: ""`; :35 and :39 the details → "";
// :44-48 describeBundleReadError (no test reached it: the schema case and the detail case).
test("readBundle says which check failed, and describeBundleReadError says it to an operator: schema errors with their pointers (ten at most), not canonical, revision mismatch", () => {
  const b = bundleOf();
  const broken = structuredClone(b) as unknown as { policy: { routes: unknown }; manifest: { revision: string } };
  broken.policy.routes = "none";
  const schema = readBundle(canonicalJson(broken) + "\n");
  assert.equal(schema.ok, false);
  if (!schema.ok) {
    assert.equal(schema.error.kind, "schema");
    assert.ok(schema.error.kind === "schema" && schema.error.errors.some((e) => e.path === "/policy/routes"));
    assert.match(describeBundleReadError(schema.error), /^the bundle does not match its schema:\n {2}\/policy\/routes: must be array$/m);
  }
  const many = { kind: "schema" as const, errors: Array.from({ length: 12 }, (_, i) => ({ path: `/x/${i}`, message: `m${i}` })) };
  assert.equal(describeBundleReadError(many), "the bundle does not match its schema:\n" + many.errors.slice(0, 10).map((e) => `  ${e.path}: ${e.message}`).join("\n"));

  const spaced = readBundle(JSON.stringify(b, null, 2) + "\n");
  assert.equal(spaced.ok, false);
  if (!spaced.ok) assert.match(describeBundleReadError(spaced.error), /not in canonical form .*edited after it was written/);

  const edited = structuredClone(b);
  edited.manifest.revision = "sha256:" + "0".repeat(64);
  const mismatch = readBundle(serializeBundle(edited));
  assert.equal(mismatch.ok, false);
  if (!mismatch.ok) {
    assert.equal(mismatch.error.kind, "revision-mismatch");
    assert.equal(describeBundleReadError(mismatch.error), `manifest says sha256:${"0".repeat(64)} but the content hashes to ${b.manifest.revision}`);
  }
  assert.equal(describeBundleReadError({ kind: "not-json", detail: "Unexpected token" }), "Unexpected token");
});

// bundle/validate.ts:19 `e.instancePath || "/"` → `|| ""` and `e.message ?? e.keyword` → `e.message && e.keyword`.
test("schema errors point at the root as '/' and carry ajv's message, not its keyword", () => {
  const r = validateBundle(42);
  assert.equal(r.ok, false);
  if (!r.ok) assert.deepEqual(r.errors, [{ path: "/", message: "must be object" }]);
});

// bundle/sign.ts:37 `key.asymmetricKeyType !== "ed25519"` → false.
test("signBundle refuses a private key that is not Ed25519", () => {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const pem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  assert.throws(() => signBundle(bundleOf(), pem), /expected an Ed25519 private key, got ec/);
});

// bundle/sign.ts:40 `.filter((s) => s.keyId !== keyId)` → removed / `true`; :41 `.sort(by keyId)` → removed / `() => undefined`.
test("signatures: re-signing with a key replaces its signature, and the list is ordered by key id, so the bytes do not depend on the order of signing", () => {
  const b = bundleOf();
  const keys = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
  const once = signBundle(b, keys[0].privateKeyPem);
  assert.equal(signBundle(once, keys[0].privateKeyPem).signatures.length, 1);
  const orders = [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]];
  const texts = orders.map((order) => serializeBundle(order.reduce((acc, i) => signBundle(acc, keys[i].privateKeyPem), b)));
  for (const t of texts) assert.equal(t, texts[0]);
  const ids = (JSON.parse(texts[0]) as Bundle).signatures.map((s) => s.keyId);
  assert.deepEqual(ids, keys.map((k) => k.keyId).sort());
});

// bundle/sign.ts:78-79: the unknown-key detail (the signers' ids joined by ", ", the trusted ids, "none").
test("an unknown-key rejection names the keys that signed and the keys that are trusted", () => {
  const [a, b, trusted] = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
  const signed = signBundle(signBundle(bundleOf(), a.privateKeyPem), b.privateKeyPem);
  const signers = [a.keyId, b.keyId].sort().join(", ");
  assert.deepEqual(verifyBundleSignature(signed, [trusted.publicKeyPem]), {
    ok: false, reason: "unknown-key", detail: `signed by key ${signers}, which is not among the trusted keys (${trusted.keyId})`,
  });
  const none = verifyBundleSignature(signed, []);
  assert.ok(!none.ok && none.detail.endsWith("which is not among the trusted keys (none)"), JSON.stringify(none));
});

// ---------------------------------------------------------------- runtime/sidecar/bundle-store.ts

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "routeplane-kills-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const keys = generateKeyPair();
/** A signed bundle's text; `n` changes the content (and so the revision). */
function signedText(n: number, serial: number, options: { rollback?: boolean; policyName?: string } = {}): string {
  const text = POLICY.replace('"urgent"', `"urgent${n}"`);
  const r = compile(memoryHost({ "p.route": text }), ["p.route"], { serial, ...options });
  assert.ok(r.bundle);
  return serializeBundle(signBundle(r.bundle, keys.privateKeyPem));
}

// bundle-store.ts:94 `trustedKeys.length === 0` → false (the reason would be "unknown key" instead).
test("a store with no trusted key refuses every signed bundle and says that no key is configured", async () => {
  const store = new BundleStore({ trustedKeys: [] });
  assert.match((await store.offer(signedText(1, 1), "b"))!, /^no trusted public key is configured \(--public-key\)/);
  assert.equal(store.current, null);
});

// bundle-store.ts:99 the pinned-policy hint → "".
test("a policy pinned by the first bundle says so when another policy's bundle is refused", async () => {
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  assert.equal(await store.offer(signedText(1, 1), "first"), null);
  assert.match((await store.offer(signedText(2, 2, { policyName: "billing" }), "other"))!, /serves policy "kills" \(pinned by the first bundle it activated; start a fresh sidecar, or give --expect-policy, to serve another\)$/);
});

// bundle-store.ts:102 `active && this.active?.signed` → `active || …`; :127 `if (requireSignature)` → true (an in-process bundle would pin the policy and be persisted).
test("a policy compiled in process is neither ordered, nor pinned, nor kept as the last known good", async () => {
  const dir = tempDir();
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });
  assert.equal(await store.offer(signedText(1, 50, { policyName: "local" }), "in process", { requireSignature: false }), null);
  assert.equal(store.current?.signed, false);
  assert.equal(existsSync(path.join(dir, "last-known-good.bundle.json")), false, "an unsigned bundle is never the last known good");
  assert.equal(await store.offer(signedText(2, 1), "signed, lower serial, another policy"), null);
  assert.equal(store.current?.bundle.manifest.policy, "kills");
  assert.equal(existsSync(path.join(dir, "last-known-good.bundle.json")), true);
});

// bundle-store.ts:103 `active.rollback === manifest.rollback` → true (a rollback of the same content would be taken as no change).
test("a signed rollback with the same content as the active bundle still takes its place, and the bundle it rolled back cannot be replayed", async () => {
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  assert.equal(await store.offer(signedText(1, 20), "v20"), null);
  assert.equal(await store.offer(signedText(1, 20, { rollback: true }), "v20 rollback, same content"), null);
  assert.equal(store.current?.bundle.manifest.rollback, true);
  assert.match((await store.offer(signedText(1, 20), "v20 replayed"))!, /does not come after the active bundle \(serial 20 rollback/);
});

// bundle-store.ts:108 `this.active?.bundle.manifest.revision === manifest.revision` → false (the same in-process policy would be loaded and announced again).
test("offering the active in-process policy again changes nothing: no reload, no change event", async () => {
  const changes: unknown[] = [];
  const store = new BundleStore({ trustedKeys: [], onChange: (a) => changes.push(a) });
  const text = serializeBundle(bundleOf());
  assert.equal(await store.offer(text, "a", { requireSignature: false }), null);
  const first = store.current;
  assert.equal(await store.offer(text, "again", { requireSignature: false }), null);
  assert.equal(changes.length, 1);
  assert.equal(store.current, first);
});

// bundle-store.ts:111 and :113 `.join(", ")` → `.join("")` in the guarantee lists.
test("refusals name every failed or unproved guarantee, comma-separated", async () => {
  const store = new BundleStore({ trustedKeys: [] });
  const withRecords = (statuses: ("failed" | "unchecked")[]) => {
    const b = bundleOf();
    b.verification.guarantees = statuses.map((status, i) => ({ name: `g${i}`, status, detail: "…" }));
    b.manifest.revision = computeRevision(b.policy, b.verification);
    return serializeBundle(b);
  };
  assert.match((await store.offer(withRecords(["failed", "failed"]), "f", { requireSignature: false }))!, /failed guarantees \("g0", "g1"\)/);
  assert.match((await store.offer(withRecords(["unchecked", "unchecked"]), "u", { requireSignature: false }))!, /unproved guarantees \("g0", "g1": compiled/);
});

// bundle-store.ts:125 `if (policy.default)` → true.
test("the actions of a policy without a default have no 'default' entry", async () => {
  const store = new BundleStore({ trustedKeys: [] });
  const noDefault = compile(memoryHost({ "p.route": POLICY.replace("default { use local }", "route r priority 1 { when urgent; use local }") }), ["p.route"]).bundle!;
  assert.equal(noDefault.policy.default, null);
  assert.equal(await store.offer(serializeBundle(noDefault), "p", { requireSignature: false }), null);
  assert.deepEqual([...store.current!.actions.keys()], ["r"]);
});

// bundle-store.ts:137 `if (!this.options.stateDir)` → false / `return false` → true; :141-142 the catch → removed / `return true`.
test("restoreLastGood without a state directory, or with none saved yet, activates nothing and rejects nothing", async () => {
  const bare = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  assert.equal(await bare.restoreLastGood(), false);
  const empty = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: tempDir() });
  assert.equal(await empty.restoreLastGood(), false);
  assert.equal(empty.rejections, 0);
  assert.equal(empty.current, null);
});

// bundle-store.ts:154 (no test reached it): a bundle file that cannot be read is a rejection naming the error code.
test("watching a bundle file that does not exist is a rejection, not a crash", async () => {
  const dir = tempDir();
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
  const file = path.join(dir, "missing.bundle.json");
  await store.watchFile(file);
  store.close();
  assert.equal(store.rejections, 1);
  assert.deepEqual([store.rejection?.source, store.rejection?.reason], [file, "cannot read the bundle file: ENOENT"]);
});

// bundle-store.ts:175 `this.watcher?.close()` → `this.watcher.close()`.
test("closing a store that never watched a file is fine", () => {
  new BundleStore({ trustedKeys: [] }).close();
});

// bundle-store.ts:197 `onPersistError?.(…)` → `onPersistError(…)`: without a listener a persist failure would throw out of offer.
test("an unusable state directory without an onPersistError listener is still not fatal", async () => {
  const dir = tempDir();
  writeFileSync(path.join(dir, "file"), "");
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: path.join(dir, "file", "state") });
  assert.equal(await store.offer(signedText(1, 1), "b"), null);
  assert.equal(store.persistFailures, 1);
  assert.equal(store.current?.bundle.manifest.serial, 1);
});
