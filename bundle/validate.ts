// Checks a parsed bundle against its JSON Schema with ajv. The validator is
// ajv standalone code generated at build time (scripts/build-schema.ts), so
// no schema is compiled when a sidecar or the CLI starts.
import type { ErrorObject } from "ajv";
import validate from "./validate.generated.js";
import type { Bundle } from "./types.ts";

export interface SchemaError {
  path: string; // JSON pointer into the bundle
  message: string;
}

export function validateBundle(value: unknown): { ok: true; bundle: Bundle } | { ok: false; errors: SchemaError[] } {
  if (validate(value)) return { ok: true, bundle: value as Bundle };
  return { ok: false, errors: (validate.errors ?? []).map(toSchemaError) };
}

function toSchemaError(e: ErrorObject): SchemaError {
  return { path: e.instancePath || "/", message: e.message ?? e.keyword };
}
