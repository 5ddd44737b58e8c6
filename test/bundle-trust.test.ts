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
    const text = serializeBundle({ ...signed, signatures: [{ ...signed.signatures[0], value: changed }] });
    const read = readBundle(text);
    const verified = read.ok ? verifyBundleSignature(read.bundle, [keys.publicKeyPem]) : { ok: false };
    assert.equal(verified.ok, false, `signature text ${JSON.stringify(changed)} verified`);
  }
  assert.equal(verifyBundleSignature(signed, [keys.publicKeyPem]).ok, true);
});
