// Ed25519 signatures over the canonical bundle payload. The payload is the
// bundle without its `signatures`, so a bundle can carry several signatures
// and adding one never changes what the others signed.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from "node:crypto";
import { canonicalJson, sha256Hex } from "./canonical.ts";
import type { Bundle, Signature } from "./types.ts";

export interface KeyPairPem {
  privateKeyPem: string;
  publicKeyPem: string;
  keyId: string;
}

/** A key's id: the first 16 hex digits of the SHA-256 of its public key (SPKI DER). */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === "private" ? createPublicKey(key) : key;
  return sha256Hex(pub.export({ type: "spki", format: "der" })).slice(0, 16);
}

export function generateKeyPair(): KeyPairPem {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    keyId: keyIdOf(publicKey),
  };
}

export function signingPayload(bundle: Bundle): string {
  const { signatures: _ignored, ...payload } = bundle;
  return canonicalJson(payload);
}

/** Returns a copy of the bundle with a signature by `privateKeyPem` added (replacing one by the same key). */
export function signBundle(bundle: Bundle, privateKeyPem: string): Bundle {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== "ed25519") throw new TypeError(`expected an Ed25519 private key, got ${key.asymmetricKeyType}`);
  const keyId = keyIdOf(key);
  const value = sign(null, Buffer.from(signingPayload(bundle)), key).toString("base64");
  const others = bundle.signatures.filter((s) => s.keyId !== keyId);
  const signatures: Signature[] = [...others, { algorithm: "ed25519" as const, keyId, value }].sort((a, b) => a.keyId.localeCompare(b.keyId));
  return { ...bundle, signatures };
}

export type VerifyResult =
  | { ok: true; keyId: string }
  | { ok: false; reason: "unsigned" | "unknown-key" | "bad-signature"; detail: string };

/**
 * The signature's bytes, only when its text is their one canonical base64
 * form. Node's decoder is lenient (it ignores the unused low bits of the last
 * digit, missing padding, whitespace and stray characters), so several texts
 * decode to the same signature; accepting only the text that re-encodes to
 * itself keeps ADR 2's promise that any changed byte fails verification.
 */
function canonicalSignatureBytes(text: string): Buffer | null {
  const bytes = Buffer.from(text, "base64");
  return bytes.length > 0 && bytes.toString("base64") === text ? bytes : null;
}

/** True when some signature on the bundle verifies against one of the trusted public keys. */
export function verifyBundleSignature(bundle: Bundle, trustedPublicKeysPem: string[]): VerifyResult {
  if (bundle.signatures.length === 0) return { ok: false, reason: "unsigned", detail: "the bundle carries no signature" };
  const trusted = new Map(trustedPublicKeysPem.map((pem) => {
    const key = createPublicKey(pem);
    return [keyIdOf(key), key] as const;
  }));
  const payload = Buffer.from(signingPayload(bundle));
  let sawTrusted = false;
  for (const sig of bundle.signatures) {
    const key = trusted.get(sig.keyId);
    if (!key) continue;
    sawTrusted = true;
    const bytes = canonicalSignatureBytes(sig.value);
    if (bytes && verify(null, payload, key, bytes)) return { ok: true, keyId: sig.keyId };
  }
  if (!sawTrusted) {
    const ids = bundle.signatures.map((s) => s.keyId).join(", ");
    return { ok: false, reason: "unknown-key", detail: `signed by key ${ids}, which is not among the trusted keys (${[...trusted.keys()].join(", ") || "none"})` };
  }
  return { ok: false, reason: "bad-signature", detail: "the signature does not match the bundle's content: it was changed after signing" };
}
