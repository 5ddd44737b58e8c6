// The bundle's JSON Schema, built from the catalog so the two cannot drift.
// `npm run build:schema` writes it to bundle.schema.json for other tools;
// a test fails when that file is stale.
import { BUNDLE_FORMAT, BUNDLE_SCHEMA_ID } from "./types.ts";
import { MAX_CASCADE_MODELS, MODEL_PARAMS_SCHEMA, MODEL_SCHEMA, PROFILE_SCHEMA, PLUGIN_TYPES, SIGNAL_TYPES, type JsonSchema } from "./catalog.ts";
import { MAX_CONTEXT_SIGNALS } from "./adaptation.ts";

const name = { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" };
const names = { type: "array", items: name };
const unit = { type: "number", minimum: 0, maximum: 1 };

function closed(properties: Record<string, JsonSchema>, required: string[] = Object.keys(properties)): JsonSchema {
  return { type: "object", properties, required, additionalProperties: false };
}

/** `{ type: T, config: <T's schema> }` for every type in a catalog. */
function typedConfigs(catalog: Record<string, { schema: JsonSchema }>): JsonSchema {
  // The discriminator makes ajv check only the branch named by `type`.
  return {
    type: "object",
    required: ["type"],
    discriminator: { propertyName: "type" },
    oneOf: Object.entries(catalog).map(([type, info]) => closed({ name, type: { const: type }, config: info.schema })),
  };
}

const selection: JsonSchema = {
  type: "object",
  required: ["algorithm"],
  discriminator: { propertyName: "algorithm" },
  oneOf: [
    closed({ algorithm: { enum: ["use", "static", "cheapest", "fastest"] }, models: { ...names, minItems: 1 } }),
    closed({ algorithm: { const: "weighted" }, models: { ...names, minItems: 1 }, weights: { type: "array", items: { type: "number", minimum: 0 } } }),
    closed({ algorithm: { const: "cascade" }, models: { ...names, minItems: 2, maxItems: MAX_CASCADE_MODELS }, min_confidence: unit, verifier: name }, ["algorithm", "models", "min_confidence"]),
    closed({ algorithm: { const: "hedge" }, models: { ...names, minItems: 2, maxItems: MAX_CASCADE_MODELS }, after_ms: { type: "integer", minimum: 1, maximum: 60_000 } }),
    closed({
      algorithm: { const: "adaptive" },
      models: { ...names, minItems: 2 },
      objective: closed({ quality: { type: "number" }, cost_usd: { type: "number" }, latency_ms: { type: "number" } }),
      explore: unit,
      floor: unit,
      context: { type: "array", items: name, minItems: 1, maxItems: MAX_CONTEXT_SIGNALS, uniqueItems: true },
    }, ["algorithm", "models", "objective", "explore", "floor"]),
  ],
};

/** A plugin as a route applies it: its config (the declaration's fields with the route's overrides) is checked as a declaration's is. */
const pluginUse: JsonSchema = {
  type: "object",
  required: ["type"],
  discriminator: { propertyName: "type" },
  oneOf: Object.entries(PLUGIN_TYPES).map(([type, info]) => closed({ plugin: name, type: { const: type }, config: info.schema })),
};
/** Parameters per model the route uses (`use qwen { reasoning: false }`); each key is one of `select.models` (checked when the bundle is loaded). */
const params = { type: "object", propertyNames: name, additionalProperties: MODEL_PARAMS_SCHEMA, minProperties: 1 };
const action = closed({ select: { $ref: "#/$defs/selection" }, plugins: { type: "array", items: pluginUse }, params }, ["select", "plugins"]);

const condition: JsonSchema = {
  type: "object",
  required: ["op"],
  discriminator: { propertyName: "op" },
  oneOf: [
    closed({ op: { enum: ["true", "false"] } }),
    closed({ op: { const: "signal" }, signal: name, output: name }, ["op", "signal"]),
    closed({ op: { const: "not" }, arg: { $ref: "#/$defs/condition" } }),
    closed({ op: { enum: ["and", "or"] }, args: { type: "array", items: { $ref: "#/$defs/condition" }, minItems: 2 } }),
    closed({
      op: { const: "cmp" }, signal: name, output: name,
      cmp: { enum: ["==", "!=", ">", ">=", "<", "<="] },
      value: { type: ["number", "string"] },
    }),
    closed({ op: { const: "in" }, signal: name, output: name, values: { type: "array", items: { type: "string" } } }),
  ],
};

const model = closed(
  {
    name,
    ...(MODEL_SCHEMA.properties as Record<string, JsonSchema>),
    served_name: { type: "string" },
    cost: { oneOf: [{ type: "null" }, (MODEL_SCHEMA.properties as Record<string, JsonSchema>).cost] },
    context_window: { type: ["integer", "null"], minimum: 1 },
    tags: names,
    latency_ms: { type: ["number", "null"], minimum: 0 },
    quality: { type: ["number", "null"], minimum: 0, maximum: 1 },
    api_key_env: { type: ["string", "null"] },
  },
);

export const BUNDLE_SCHEMA: JsonSchema = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: BUNDLE_SCHEMA_ID,
  title: "routeplane policy bundle",
  ...closed({
    format: { const: BUNDLE_FORMAT },
    manifest: closed({
      policy: { type: "string", minLength: 1 },
      package: { type: "string", minLength: 1 },
      revision: { type: "string", pattern: "^sha256:[0-9a-f]{64}$" },
      compiler: closed({ name: { const: "routeplane" }, version: { type: "string" } }),
      sources: { type: "array", items: closed({ path: { type: "string" }, sha256: { type: "string", pattern: "^[0-9a-f]{64}$" } }) },
      serial: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
      rollback: { type: "boolean" },
      adaptation: { enum: ["off", "observe", "on"] },
    }, ["policy", "package", "revision", "compiler", "sources", "serial", "rollback"]),
    policy: closed({
      signals: { type: "array", items: typedConfigs(SIGNAL_TYPES) },
      models: { type: "array", items: model },
      plugins: { type: "array", items: typedConfigs(PLUGIN_TYPES) },
      routes: {
        type: "array",
        items: closed({ name, profile: name, priority: { type: "integer" }, when: { $ref: "#/$defs/condition" }, action: { $ref: "#/$defs/action" } }, ["name", "priority", "when", "action"]),
      },
      default: { oneOf: [{ type: "null" }, { $ref: "#/$defs/action" }] },
      profiles: {
        type: "array",
        items: closed({
          name,
          // A profile may be selected by its path prefix alone: no model names.
          models: { ...(PROFILE_SCHEMA.properties as Record<string, JsonSchema>).models, minItems: 0 },
          path_prefix: { oneOf: [{ type: "null" }, (PROFILE_SCHEMA.properties as Record<string, JsonSchema>).path_prefix] },
          default: { oneOf: [{ type: "null" }, { $ref: "#/$defs/action" }] },
        }),
      },
    }, ["signals", "models", "plugins", "routes", "default"]),
    verification: closed({
      checks: { type: "array", items: closed({ name: { type: "string" }, status: { enum: ["passed", "failed", "unchecked"] }, detail: { type: "string" } }, ["name", "status"]) },
      guarantees: { type: "array", items: closed({ name: { type: "string" }, status: { enum: ["proved", "failed", "unchecked"] }, detail: { type: "string" } }, ["name", "status"]) },
    }),
    signatures: {
      type: "array",
      items: closed({ algorithm: { const: "ed25519" }, keyId: { type: "string", pattern: "^[0-9a-f]{16}$" }, value: { type: "string", contentEncoding: "base64", pattern: "^[A-Za-z0-9+/]{85}[AQgw]==$" } }),
    },
  }),
  $defs: { condition, selection, action },
};
