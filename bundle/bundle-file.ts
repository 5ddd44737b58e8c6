// A bundle's on-disk form is its canonical JSON plus a newline, so every byte
// is accounted for: a changed byte either breaks canonical form or changes
// the signed payload.
import { canonicalJson, sha256Hex } from "./canonical.ts";
import { validateBundle, type SchemaError } from "./validate.ts";
import type { Bundle, LoweredPolicy, Verification } from "./types.ts";

export function serializeBundle(bundle: Bundle): string {
  return canonicalJson(bundle) + "\n";
}

/** The content hash that names a policy revision. */
export function computeRevision(policy: LoweredPolicy, verification: Verification): string {
  return "sha256:" + sha256Hex(canonicalJson({ policy, verification }));
}

export type BundleReadError =
  | { kind: "not-json"; detail: string }
  | { kind: "not-canonical"; detail: string }
  | { kind: "schema"; errors: SchemaError[] }
  | { kind: "revision-mismatch"; detail: string };

/** Parses bundle bytes and checks form, schema and revision; signatures are checked separately. */
export function readBundle(text: string): { ok: true; bundle: Bundle } | { ok: false; error: BundleReadError } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: { kind: "not-json", detail: (err as Error).message } };
  }
  const checked = validateBundle(value);
  if (!checked.ok) return { ok: false, error: { kind: "schema", errors: checked.errors } };
  const bundle = checked.bundle;
  if (text !== serializeBundle(bundle)) {
    return { ok: false, error: { kind: "not-canonical", detail: "the file is not in canonical form (RFC 8785 JSON and one trailing newline): it was edited after it was written" } };
  }
  const revision = computeRevision(bundle.policy, bundle.verification);
  if (revision !== bundle.manifest.revision) {
    return { ok: false, error: { kind: "revision-mismatch", detail: `manifest says ${bundle.manifest.revision} but the content hashes to ${revision}` } };
  }
  return { ok: true, bundle };
}

export function describeBundleReadError(error: BundleReadError): string {
  switch (error.kind) {
    case "schema":
      return "the bundle does not match its schema:\n" + error.errors.slice(0, 10).map((e) => `  ${e.path}: ${e.message}`).join("\n");
    default:
      return error.detail;
  }
}
