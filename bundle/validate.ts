// Checks a parsed bundle against its JSON Schema with ajv. The validator is
// compiled once per process.
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import { BUNDLE_SCHEMA } from "./schema.ts";
import type { Bundle } from "./types.ts";

let validator: ValidateFunction | null = null;

export interface SchemaError {
  path: string; // JSON pointer into the bundle
  message: string;
}

export function validateBundle(value: unknown): { ok: true; bundle: Bundle } | { ok: false; errors: SchemaError[] } {
  validator ??= new Ajv2020({ allErrors: true, strict: false }).compile(BUNDLE_SCHEMA);
  if (validator(value)) return { ok: true, bundle: value as Bundle };
  return { ok: false, errors: (validator.errors ?? []).map(toSchemaError) };
}

function toSchemaError(e: ErrorObject): SchemaError {
  return { path: e.instancePath || "/", message: e.message ?? e.keyword };
}
