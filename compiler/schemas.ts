// Every field schema the compiler validates against, by key. The validators
// are ajv standalone code generated from this table at build time
// (compiler/fields.generated.js, `npm run build:schema`), so no schema is
// compiled while a policy is checked.
import { MODEL_PARAMS_SCHEMA, MODEL_SCHEMA, PROFILE_SCHEMA, PLUGIN_TYPES, SELECT_SCHEMAS, SIGNAL_TYPES, type JsonSchema } from "../bundle/index.ts";

/** A plugin's schema with nothing required: what a per-route override may set. */
function overrideSchema(schema: JsonSchema): JsonSchema {
  const { anyOf: _anyOf, ...rest } = schema;
  return { ...rest, required: [] };
}

export const FIELD_SCHEMAS: Record<string, JsonSchema> = {
  model: MODEL_SCHEMA,
  params: MODEL_PARAMS_SCHEMA,
  profile: PROFILE_SCHEMA,
  ...Object.fromEntries(Object.entries(SIGNAL_TYPES).map(([t, info]) => [`signal.${t}`, info.schema])),
  ...Object.fromEntries(Object.entries(PLUGIN_TYPES).map(([t, info]) => [`plugin.${t}`, info.schema])),
  ...Object.fromEntries(Object.entries(PLUGIN_TYPES).map(([t, info]) => [`override.${t}`, overrideSchema(info.schema)])),
  ...Object.fromEntries(Object.entries(SELECT_SCHEMAS).map(([a, schema]) => [`select.${a}`, schema])),
};

export type SchemaKey = string;
