// Canonical JSON (RFC 8785, JCS): the one byte form that is hashed and signed.
import canonicalizeLib from "canonicalize";
import { createHash } from "node:crypto";

const canonicalizeFn = canonicalizeLib as unknown as (value: unknown) => string | undefined;

export function canonicalJson(value: unknown): string {
  const out = canonicalizeFn(value);
  if (out === undefined) throw new TypeError("value has no JSON form");
  return out;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
