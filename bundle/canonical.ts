// Canonical JSON (RFC 8785, JCS): the one byte form that is hashed and signed.
// JCS is JSON.stringify with object keys sorted by UTF-16 code units (JCS and
// ECMAScript serialize numbers and strings identically), so the native
// serializer does the work; test/bundle.test.ts checks the result against the
// `canonicalize` reference implementation.
import { createHash } from "node:crypto";

function sortKeys(_key: string, value: unknown): unknown {
  // JSON.stringify would write NaN and ±Infinity as null: a value that was never signed.
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("non-finite numbers have no JSON form");
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  let sorted = true;
  for (let i = 1; i < keys.length; i++) if (keys[i - 1] > keys[i]) { sorted = false; break; }
  if (sorted) return value;
  const out: Record<string, unknown> = {};
  for (const k of keys.sort()) out[k] = obj[k];
  return out;
}

export function canonicalJson(value: unknown): string {
  if (typeof value === "number" && !Number.isFinite(value)) throw new TypeError("non-finite numbers have no JSON form");
  const out = JSON.stringify(value, sortKeys);
  if (out === undefined) throw new TypeError("value has no JSON form");
  return out;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}
