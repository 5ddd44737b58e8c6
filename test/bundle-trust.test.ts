// Issue 11, "trust under hostile input", for bundles: a bundle is activated
// only if it is exactly what was signed, current, of the policy this sidecar
// serves, and loadable by the engine; the compiler never signs an unproved
// guarantee unless told to.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  computeRevision, generateKeyPair, readBundle, serializeBundle, signBundle, verifyBundleSignature, type Bundle,
} from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore } from "../runtime/index.ts";

const cleanups: (() => void)[] = [];
after(() => {
  for (const c of cleanups.reverse()) c();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "routeplane-trust-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

const POLICY = `package trust

model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1", tags: [onprem] }
model cloud { provider: openai_compatible, endpoint: "http://127.0.0.1:9/v1" }
signal keyword urgent { any: ["urgent"] }
signal regex ticket { pattern: "T-[0-9]+" }
route fast priority 10 { when urgent or ticket; use cloud }
default { use local }
`;

function compileText(text: string, options: Parameters<typeof compile>[2] = {}): Bundle {
  const r = compile(memoryHost({ "p.route": text }), ["p.route"], options);
  assert.ok(r.bundle, r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return r.bundle;
}

/** Recomputes the revision after an edit, as a signer with the key would before signing. */
function resealed(bundle: Bundle, edit: (b: Bundle) => void): Bundle {
  const copy = structuredClone(bundle);
  edit(copy);
  copy.manifest.revision = computeRevision(copy.policy, copy.verification);
  copy.signatures = [];
  return copy;
}

test("a signature whose base64 text was changed in its last character does not verify", () => {
  const keys = generateKeyPair();
  const signed = signBundle(compileText(POLICY), keys.privateKeyPem);
  const value = signed.signatures[0].value;
  assert.match(value, /==$/);
  // An Ed25519 signature is 64 bytes: 86 base64 digits and "==". The last digit carries 4 bits that decoding drops.
  const last = value[85];
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const sibling = alphabet[alphabet.indexOf(last) ^ 1];
  assert.deepEqual(Buffer.from(value.slice(0, 85) + sibling + "==", "base64"), Buffer.from(value, "base64"), "the sibling digit decodes to the same bytes");
  for (const changed of [value.slice(0, 85) + sibling + "==", value.slice(0, -2), value + "\n", " " + value, value.replace(/==$/, "")]) {
    const edited: Bundle = { ...signed, signatures: [{ ...signed.signatures[0], value: changed }] };
    // Both layers refuse it: the schema (canonical Ed25519 base64 only) and the signature check itself.
    assert.equal(readBundle(serializeBundle(edited)).ok, false, `signature text ${JSON.stringify(changed)} passed the schema`);
    assert.equal(verifyBundleSignature(edited, [keys.publicKeyPem]).ok, false, `signature text ${JSON.stringify(changed)} verified`);
  }
  assert.equal(verifyBundleSignature(signed, [keys.publicKeyPem]).ok, true);
});

test("the signature covers every part of the bundle, the manifest included: any changed value fails verification", () => {
  const keys = generateKeyPair();
  const signed = signBundle(compileText(POLICY, { serial: 7 }), keys.privateKeyPem);
  // Every leaf outside `signatures`, each changed in turn (strings, numbers, booleans, nulls).
  const leaves: (string | number)[][] = [];
  const walk = (v: unknown, at: (string | number)[]) => {
    if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) walk(child, [...at, Array.isArray(v) ? Number(k) : k]);
    } else leaves.push(at);
  };
  const { signatures: _s, ...payload } = signed;
  walk(payload, []);
  const manifestLeaves = leaves.filter((p) => p[0] === "manifest").map((p) => p.join("."));
  for (const field of ["manifest.policy", "manifest.package", "manifest.revision", "manifest.serial", "manifest.rollback", "manifest.compiler.version", "manifest.sources.0.sha256", "format"]) {
    assert.ok(manifestLeaves.includes(field) || field === "format", `${field} is walked`);
  }
  assert.ok(leaves.length > 40, `${leaves.length} leaves`);
  for (const at of leaves) {
    const edited = structuredClone(signed) as unknown as Record<string | number, unknown>;
    let parent = edited;
    for (const k of at.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const key = at.at(-1)!;
    const v = parent[key];
    parent[key] = typeof v === "string" ? v + "x" : typeof v === "number" ? v + 1 : typeof v === "boolean" ? !v : 0;
    assert.equal(verifyBundleSignature(edited as unknown as Bundle, [keys.publicKeyPem]).ok, false, `a change to ${at.join(".")} is not covered by the signature`);
  }
  // Fields the revision does not hash (the manifest) pass readBundle when changed, so only the signature catches them.
  const renamed = structuredClone(signed);
  renamed.manifest.policy = "another";
  renamed.manifest.serial = 8;
  const read = readBundle(serializeBundle(renamed));
  assert.ok(read.ok, "a manifest edit keeps the bundle readable");
  assert.match(JSON.stringify(verifyBundleSignature(renamed, [keys.publicKeyPem])), /bad-signature/);
});

/** A bundle the schema accepts but the decision engine cannot build, validly signed. */
function unloadable(keys: { privateKeyPem: string }, how: "undefined-signal" | "invalid-regex", serial = 5): Bundle {
  return signBundle(resealed(compileText(POLICY, { serial }), (b) => {
    if (how === "undefined-signal") b.policy.routes[0].when = { op: "signal", signal: "nowhere" };
    else b.policy.signals.find((s) => s.name === "ticket")!.config.pattern = "T-[0-9";
  }), keys.privateKeyPem);
}

test("a validly signed bundle the engine cannot load is rejected and counted, never a crash: on offer, at start-up, on reload", async () => {
  const keys = generateKeyPair();
  const dir = tempDir();
  const good = signBundle(compileText(POLICY, { serial: 1 }), keys.privateKeyPem);
  for (const how of ["undefined-signal", "invalid-regex"] as const) {
    const bad = unloadable(keys, how);
    assert.ok(readBundle(serializeBundle(bad)).ok, "schema, form and revision pass");
    assert.equal(verifyBundleSignature(bad, [keys.publicKeyPem]).ok, true);
    const store = new BundleStore({ trustedKeys: [keys.publicKeyPem] });
    assert.equal(await store.offer(serializeBundle(good), "good"), null);
    const reason = await store.offer(serializeBundle(bad), how);
    assert.match(reason ?? "", /the decision engine cannot load the bundle/);
    assert.equal(store.rejections, 1);
    assert.equal(store.current?.bundle.manifest.revision, good.manifest.revision, "the last good bundle stays active");
  }

  // Start-up: an unloadable last-known-good copy and an unloadable bundle file are rejections; nothing is active, nothing throws.
  const file = path.join(dir, "bundle.json");
  writeFileSync(file, serializeBundle(unloadable(keys, "invalid-regex")));
  const restarted = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });
  writeFileSync(path.join(dir, "last-known-good.bundle.json"), serializeBundle(unloadable(keys, "undefined-signal")));
  assert.equal(await restarted.restoreLastGood(), false);
  await restarted.watchFile(file);
  cleanups.push(() => restarted.close());
  assert.equal(restarted.current as unknown, null);
  assert.equal(restarted.rejections, 2);

  // Reload: the watcher's reload of an unloadable bundle settles (no unhandled rejection) and keeps the active bundle.
  writeFileSync(file, serializeBundle(good));
  await waitFor(() => restarted.current !== null);
  await restarted.settled();
  writeFileSync(file, serializeBundle(unloadable(keys, "invalid-regex", 9)));
  await waitFor(() => restarted.rejections >= 3);
  await restarted.settled();
  assert.equal(restarted.current?.bundle.manifest.revision, good.manifest.revision);
});

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("the last known good is best effort: an unusable state directory is reported and counted, and the bundle is active all the same", async () => {
  const keys = generateKeyPair();
  const dir = tempDir();
  const notADir = path.join(dir, "file");
  writeFileSync(notADir, "a file where the state directory should be");
  const errors: string[] = [];
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: path.join(notADir, "state"), onPersistError: (e) => errors.push(e) });
  const v1 = signBundle(compileText(POLICY, { serial: 1 }), keys.privateKeyPem);
  assert.equal(await store.offer(serializeBundle(v1), "v1"), null);
  assert.equal(store.current?.bundle.manifest.revision, v1.manifest.revision);
  assert.equal(store.persistFailures, 1);
  assert.equal(store.rejections, 0);
  assert.match(errors[0], /cannot keep the last known good bundle in .*state\/last-known-good\.bundle\.json: ENOTDIR/);

  // On a hot reload too: the reload settles, the new bundle is active.
  const file = path.join(dir, "bundle.json");
  writeFileSync(file, serializeBundle(v1));
  await store.watchFile(file);
  cleanups.push(() => store.close());
  const v2 = signBundle(compileText(POLICY.replace("T-[0-9]+", "TICKET-[0-9]+"), { serial: 2 }), keys.privateKeyPem);
  writeFileSync(file, serializeBundle(v2));
  await waitFor(() => store.current?.bundle.manifest.revision === v2.manifest.revision);
  await store.settled();
  assert.equal(store.persistFailures, 2);
});

test("restoring the last known good re-verifies it: a state file not signed by a trusted key, or edited, is not activated", async () => {
  const keys = generateKeyPair();
  const stranger = generateKeyPair();
  const dir = tempDir();
  const lkg = path.join(dir, "last-known-good.bundle.json");
  const bundle = compileText(POLICY, { serial: 3 });
  const cases: [string, string, RegExp][] = [
    ["unsigned", serializeBundle(bundle), /no signature/],
    ["signed by an untrusted key", serializeBundle(signBundle(bundle, stranger.privateKeyPem)), /not among the trusted keys/],
    ["edited after signing", serializeBundle(signBundle(bundle, keys.privateKeyPem)).replace('"serial":3', '"serial":4'), /does not match the bundle's content/],
  ];
  for (const [what, text, why] of cases) {
    writeFileSync(lkg, text);
    const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });
    assert.equal(await store.restoreLastGood(), false, what);
    assert.equal(store.current, null, what);
    assert.match(store.rejection?.reason ?? "", why, what);
    assert.match(store.rejection?.source ?? "", /last known good/);
  }
  writeFileSync(lkg, serializeBundle(signBundle(bundle, keys.privateKeyPem)));
  const store = new BundleStore({ trustedKeys: [keys.publicKeyPem], stateDir: dir });
  assert.equal(await store.restoreLastGood(), true);
  assert.equal(readFileSync(lkg, "utf8"), serializeBundle(signBundle(bundle, keys.privateKeyPem)));
});
