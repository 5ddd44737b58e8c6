// What each signal, plugin and selection type is configured with and what it
// exposes to conditions. Both sides of the contract read this one table: the
// compiler validates source fields against these schemas, the bundle schema
// embeds them, and the runtime relies on the shapes they guarantee.

import { MAX_CONTEXT_SIGNALS } from "./adaptation.ts";

export type JsonSchema = Record<string, unknown>;

/** A value a signal exposes to conditions. */
export type Output =
  | { type: "bool" }
  | { type: "number"; min: number; max: number | null; /** Whole numbers only (counts). */ integer?: boolean }
  | { type: "category"; values: "open" | "languages" | { fromConfig: string } | string[] };

export interface SignalTypeInfo {
  summary: string;
  schema: JsonSchema;
  /** Named outputs, `sig.name` in conditions. The bare name `sig` is always the signal's boolean. */
  outputs: Record<string, Output>;
  /** The output compared in `sig == "x"` and `sig in [...]`, when the type has one. */
  primary: string | null;
  /** Deterministic signals run in the sidecar; the others call a model server. */
  deterministic: boolean;
}

export const PII_TYPES = ["email", "phone", "credit_card", "iban", "ssn", "ip_address"] as const;

/**
 * The order in which the engine looks for PII types; an item that overlaps
 * one found earlier is not reported (`555-123-4567@example.com` is an e-mail,
 * not also a phone number). So what a detector of some types reports for
 * type `t` depends on which of the types before `t` it also looks for, and
 * the analysis shares "t present" only between detectors that agree on those
 * (compiler/analysis/model.ts, piiKey). The engine's order is tested against this.
 */
export const PII_DETECTION_ORDER = ["email", "credit_card", "iban", "ssn", "phone", "ip_address"] as const;
export const MODALITIES = ["image", "audio", "file"] as const;

/** A conversation's `response_format`: absent (`none`), one of OpenAI's types, or anything else (`other`). */
export const RESPONSE_FORMATS = ["none", "text", "json_object", "json_schema", "other"] as const;

/** The bounds a conversation signal's fields set, as the engine and the analysis both read them. */
export const CONVERSATION_BOUNDS = [
  ["messages", "min_messages", "max_messages"],
  ["user_turns", "min_user_turns", "max_user_turns"],
  ["tools", "min_tools", "max_tools"],
  ["tool_calls", "min_tool_calls", "max_tool_calls"],
  ["tool_repeats", "min_tool_repeats", "max_tool_repeats"],
] as const;

/** Whether a shape meets a conversation signal's fields: every bound given, `system`, and `response_format` (one of the listed). */
export function conversationMatches(config: Record<string, unknown>, shape: Readonly<Record<string, unknown>>): boolean {
  for (const [out, min, max] of CONVERSATION_BOUNDS) {
    const v = typeof shape[out] === "number" ? (shape[out] as number) : 0;
    if (typeof config[min] === "number" && v < config[min]) return false;
    if (typeof config[max] === "number" && v > config[max]) return false;
  }
  if (typeof config.system === "boolean" && (shape.system === true) !== config.system) return false;
  if (Array.isArray(config.response_format) && !config.response_format.includes(shape.response_format ?? "none")) return false;
  return true;
}


const stringList = { type: "array", items: { type: "string", minLength: 1 } };
const unit = { type: "number", minimum: 0, maximum: 1 };
const count = { type: "integer", minimum: 0 };

function obj(properties: Record<string, JsonSchema>, required: string[] = [], extra: JsonSchema = {}): JsonSchema {
  return { type: "object", properties, required, additionalProperties: false, ...extra };
}

/** A knowledge base in a policy: labels, and example texts per label, at most (1,024 texts, each embedded once and cached). */
export const MAX_KNOWLEDGE_LABELS = 32;
export const MAX_KNOWLEDGE_TEXTS = 32;

/** Answers one cache plugin keeps at most (per sidecar; each at most the sidecar's response buffer). */
export const MAX_CACHE_ENTRIES = 100_000;

/** Members of one partition at most. */
export const MAX_PARTITION_MEMBERS = 32;

/** Inputs of one derived score, and its bands, at most; and the largest weight and constant (no sum overflows). */
export const MAX_SCORE_TERMS = 16;
export const MAX_SCORE_BANDS = 16;
export const MAX_SCORE_WEIGHT = 1e6;

/** Named bands over a score (`{ low: { max: 0.3 }, high: { min: 0.7 } }`), each a boolean output; `reserved` are the type's own outputs. */
function bandsSchema(reserved: string[]): JsonSchema {
  return {
    type: "object",
    maxProperties: MAX_SCORE_BANDS,
    propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]*$", not: { enum: reserved } },
    additionalProperties: obj({ min: { type: "number" }, max: { type: "number" } }),
  };
}

export const SIGNAL_TYPES: Record<string, SignalTypeInfo> = {
  keyword: {
    summary: "matches when the last user message contains the listed words or phrases",
    schema: obj(
      {
        any: { ...stringList, minItems: 1 },
        all: { ...stringList, minItems: 1 },
        none: { ...stringList, minItems: 1 },
        case_sensitive: { type: "boolean" },
        whole_word: { type: "boolean" },
      },
      [],
      { anyOf: [{ required: ["any"] }, { required: ["all"] }] },
    ),
    outputs: { count: { type: "number", min: 0, max: null } },
    primary: null,
    deterministic: true,
  },
  regex: {
    summary: "matches when the last user message matches a regular expression (linear-time RE2 syntax)",
    schema: obj({ pattern: { type: "string", minLength: 1 }, case_sensitive: { type: "boolean" } }, ["pattern"]),
    outputs: {},
    primary: null,
    deterministic: true,
  },
  context: {
    summary: "matches when the prompt's token count lies in a band",
    schema: obj({ min_tokens: count, max_tokens: count }, [], { anyOf: [{ required: ["min_tokens"] }, { required: ["max_tokens"] }] }),
    outputs: { tokens: { type: "number", min: 0, max: null } },
    primary: null,
    deterministic: true,
  },
  language: {
    summary: "detects the language of the last user message (ISO 639-1 code)",
    schema: obj({ languages: { type: "array", items: { type: "string", pattern: "^[a-z]{2}$" }, minItems: 1 }, min_confidence: unit }),
    outputs: {
      code: { type: "category", values: "languages" },
      confidence: { type: "number", min: 0, max: 1 },
    },
    primary: "code",
    deterministic: true,
  },
  embedding: {
    summary: "semantic similarity of the last user message to candidate phrases",
    schema: obj(
      { candidates: { ...stringList, minItems: 1 }, threshold: unit, aggregation: { enum: ["max", "mean", "any"] } },
      ["candidates", "threshold"],
    ),
    outputs: { score: { type: "number", min: 0, max: 1 } },
    primary: null,
    deterministic: false,
  },
  domain: {
    summary: "classifies the last user message into one of the listed classes, with a score per class",
    schema: obj(
      { classes: { type: "array", items: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }, minItems: 1, uniqueItems: true }, threshold: unit, multi_label: { type: "boolean" } },
      ["classes"],
    ),
    outputs: { label: { type: "category", values: { fromConfig: "classes" } } },
    primary: "label",
    deterministic: false,
  },
  pii: {
    summary: "detects personal data in the request (validated: Luhn for cards, checksum for IBAN)",
    schema: obj({ types: { type: "array", items: { enum: [...PII_TYPES] }, minItems: 1, uniqueItems: true } }, ["types"]),
    outputs: {
      count: { type: "number", min: 0, max: null },
      ...Object.fromEntries(PII_TYPES.map((t) => [t, { type: "bool" } as Output])),
    },
    primary: null,
    deterministic: true,
  },
  jailbreak: {
    summary: "scores how much the request looks like a prompt-injection or jailbreak attempt",
    schema: obj({ threshold: unit }),
    outputs: { score: { type: "number", min: 0, max: 1 } },
    primary: null,
    deterministic: true,
  },
  knowledge: {
    summary: "the knowledge-base entry most similar to the last user message: its label and similarity",
    schema: obj(
      {
        entries: {
          type: "object",
          minProperties: 1,
          maxProperties: MAX_KNOWLEDGE_LABELS,
          propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]*$", not: { const: "__proto__" } },
          additionalProperties: { ...stringList, minItems: 1, maxItems: MAX_KNOWLEDGE_TEXTS },
        },
        threshold: unit,
      },
      ["entries"],
    ),
    // `label` is the best entry's label when its similarity reaches the threshold, else "".
    outputs: { label: { type: "category", values: { fromConfig: "entries" } }, score: { type: "number", min: 0, max: 1 } },
    primary: "label",
    deterministic: false,
  },
  fact_check: {
    summary: "how much the last user message asks for facts worth checking (similarity to fact-seeking questions)",
    schema: obj({ threshold: unit, candidates: { ...stringList, minItems: 1 } }),
    outputs: { score: { type: "number", min: 0, max: 1 } },
    primary: null,
    deterministic: false,
  },
  header: {
    summary: "an HTTP request header: presence, equality, membership",
    schema: obj({ name: { type: "string", pattern: "^[A-Za-z0-9-]+$" }, values: { ...stringList, minItems: 1 } }, ["name"]),
    outputs: { value: { type: "category", values: { fromConfig: "values" } } },
    primary: "value",
    deterministic: true,
  },
  metadata: {
    summary: "a key of the request body's `metadata` object: presence, equality, membership",
    schema: obj({ key: { type: "string", minLength: 1 }, values: { ...stringList, minItems: 1 } }, ["key"]),
    outputs: { value: { type: "category", values: { fromConfig: "values" } } },
    primary: "value",
    deterministic: true,
  },
  modality: {
    summary: "matches when the request carries images, audio or files",
    schema: obj({ types: { type: "array", items: { enum: [...MODALITIES] }, minItems: 1, uniqueItems: true } }, ["types"]),
    outputs: Object.fromEntries(MODALITIES.map((t) => [t, { type: "bool" } as Output])),
    primary: null,
    deterministic: true,
  },
  reask: {
    summary: "matches when the user asks again what an earlier turn asked (multi-turn)",
    schema: obj({ window: { type: "integer", minimum: 1, maximum: 50 }, similarity: unit }),
    outputs: { count: { type: "number", min: 0, max: null } },
    primary: null,
    deterministic: true,
  },
  feedback: {
    summary: "user feedback in the last turn: negative (\"that's wrong\") or positive (\"thanks, perfect\")",
    // `classifier: embeddings`: the phrases are examples, scored by similarity through the embeddings endpoint.
    schema: obj({ negative: { ...stringList, minItems: 1 }, positive: { ...stringList, minItems: 1 }, classifier: { enum: ["phrases", "embeddings"] }, threshold: unit }),
    outputs: { label: { type: "category", values: ["negative", "positive", "none"] } },
    primary: "label",
    deterministic: true,
  },
  conversation: {
    summary: "the conversation's shape: messages, user turns, tools offered and called, one tool call repeated, a system prompt, the response format",
    schema: obj(
      {
        ...Object.fromEntries(CONVERSATION_BOUNDS.flatMap(([, min, max]) => [[min, count], [max, count]])),
        system: { type: "boolean" },
        response_format: { type: "array", items: { enum: [...RESPONSE_FORMATS] }, minItems: 1, uniqueItems: true },
      },
      [],
      { minProperties: 1 },
    ),
    outputs: {
      ...Object.fromEntries(CONVERSATION_BOUNDS.map(([out]) => [out, { type: "number", min: 0, max: null, integer: true } as Output])),
      system: { type: "bool" },
      response_format: { type: "category", values: [...RESPONSE_FORMATS] },
    },
    primary: null,
    deterministic: true,
  },
  complexity: {
    summary: "a heuristic score of how demanding the request is (length, code, constraints, steps), with named levels",
    // Each level is a boolean output: the score in its band.
    schema: obj({ threshold: unit, levels: bandsSchema(["score", "matched"]) }),
    outputs: { score: { type: "number", min: 0, max: 1 } },
    primary: null,
    deterministic: true,
  },
  score: {
    summary: "a derived score: a weighted sum of other signals' numeric outputs plus a constant, clamped to [min, max], with named bands",
    // In source, `value: 0.6 * jb.score + 0.4 * topic.code + 0.1`; the compiler lowers it to `terms` and `constant`.
    schema: obj(
      {
        terms: {
          type: "array",
          minItems: 1,
          maxItems: MAX_SCORE_TERMS,
          items: obj({ signal: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }, output: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }, weight: { type: "number", minimum: -MAX_SCORE_WEIGHT, maximum: MAX_SCORE_WEIGHT } }, ["signal", "output", "weight"]),
        },
        constant: { type: "number", minimum: -MAX_SCORE_WEIGHT, maximum: MAX_SCORE_WEIGHT },
        min: { type: "number" },
        max: { type: "number" },
        threshold: { type: "number" },
        bands: bandsSchema(["value", "matched"]),
      },
      ["terms"],
    ),
    // `value`'s range is the score's own (scoreRange); each band is a boolean output too.
    outputs: { value: { type: "number", min: Number.NEGATIVE_INFINITY, max: null } },
    primary: null,
    deterministic: true,
  },
  partition: {
    summary: "an exclusive group: of its member signals that match, the one with the highest score wins (ties: the first listed); at most one wins",
    schema: obj(
      {
        members: { type: "array", items: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$", not: { enum: ["winner", "matched", "none"] } }, minItems: 2, maxItems: MAX_PARTITION_MEMBERS, uniqueItems: true },
        default: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" },
      },
      ["members"],
    ),
    // `winner` is one of the members or "none"; each member is a boolean output (it won).
    outputs: { winner: { type: "category", values: "open" } },
    primary: "winner",
    deterministic: true,
  },
};

/**
 * A partition's winner, as the engine decides it: of the members that match, the one with the
 * highest confidence (its `score`, or a derived score's `value`; 1 for a member without either),
 * the first listed among equals; with none matching, `default` when given, else "none".
 */
export function partitionWinner(members: readonly string[], fallback: string | undefined, member: (name: string) => { matched: boolean; confidence: number }): string {
  let best = "none";
  let bestScore = -Infinity;
  for (const m of members) {
    const v = member(m);
    if (v.matched && v.confidence > bestScore) {
      best = m;
      bestScore = v.confidence;
    }
  }
  return best === "none" && fallback !== undefined ? fallback : best;
}

/** A member's confidence in a partition: its `score`, else its `value`, else 1. */
export function memberConfidence(outputs: Readonly<Record<string, unknown>>): number {
  for (const k of ["score", "value"]) {
    const x = outputs[k];
    if (typeof x === "number" && Number.isFinite(x)) return x;
  }
  return 1;
}

/** One input of a derived score: `weight × signal.output`. */
export interface ScoreTerm {
  signal: string;
  output: string;
  weight: number;
}

/** A score signal's config as the bundle holds it. */
export interface ScoreConfig {
  terms: ScoreTerm[];
  constant?: number;
  min?: number;
  max?: number;
  threshold?: number;
  bands?: Record<string, { min?: number; max?: number }>;
}

/**
 * A derived score's value, as the engine computes it: the constant plus each weight times its
 * input (an input that is absent or not a finite number counts 0), in the order written, then
 * clamped to [min, max]; a sum that is not a number (∞ − ∞, from given inputs near 1e308) counts 0.
 */
export function scoreValue(c: ScoreConfig, input: (signal: string, output: string) => unknown): number {
  let v = c.constant ?? 0;
  for (const t of c.terms) {
    const x = input(t.signal, t.output);
    v += t.weight * (typeof x === "number" && Number.isFinite(x) ? x : 0);
  }
  // Only inputs far outside what signals compute (given values near 1e308) can overflow: such a sum counts 0.
  if (Number.isNaN(v)) v = 0;
  if (c.min !== undefined && v < c.min) v = c.min;
  if (c.max !== undefined && v > c.max) v = c.max;
  return v;
}

/** Whether a score value is in a band: at least its `min` (when given) and below its `max` (when given). */
export function inBand(v: number, band: { min?: number; max?: number }): boolean {
  return (band.min === undefined || v >= band.min) && (band.max === undefined || v < band.max);
}

export interface PluginTypeInfo {
  summary: string;
  schema: JsonSchema;
  /** Whether the plugin can end a request with an error instead of forwarding it. */
  canBlock: boolean;
}

export const PLUGIN_TYPES: Record<string, PluginTypeInfo> = {
  pii_redact: {
    summary: "redacts, masks or blocks personal data before the request leaves",
    schema: obj({
      types: { type: "array", items: { enum: [...PII_TYPES] }, minItems: 1, uniqueItems: true },
      mode: { enum: ["redact", "mask", "block"] },
      on_response: { type: "boolean" },
    }, ["types"]),
    canBlock: true,
  },
  jailbreak_guard: {
    summary: "rejects requests that look like jailbreak attempts with a 4xx error",
    schema: obj({
      action: { enum: ["block", "flag"] },
      status: { type: "integer", minimum: 400, maximum: 499 },
      threshold: unit,
      message: { type: "string" },
    }),
    canBlock: true,
  },
  system_prompt: {
    summary: "injects a system prompt",
    schema: obj({ text: { type: "string", minLength: 1 }, position: { enum: ["prepend", "append", "replace"] } }, ["text"]),
    canBlock: false,
  },
  tools_filter: {
    summary: "limits the tools a model is offered: an allow-list, none at all, or the tool calls stripped from the history",
    schema: obj(
      { allow: { type: "array", items: { type: "string", minLength: 1 }, uniqueItems: true }, none: { type: "boolean" }, strip_history: { type: "boolean" } },
      [],
      { minProperties: 1 },
    ),
    canBlock: false,
  },
  cache: {
    summary: "answers a request the route answered before from a cache: the same request (exact), or with a similar last message (similarity), per tenant, never with personal data",
    schema: obj({
      ttl_s: { type: "integer", minimum: 1, maximum: 7 * 24 * 3600 },
      max_entries: { type: "integer", minimum: 1, maximum: MAX_CACHE_ENTRIES },
      similarity: { type: "number", exclusiveMinimum: 0, maximum: 1 },
      tenant_header: { type: "string", pattern: "^[A-Za-z0-9-]+$" },
    }),
    canBlock: false,
  },
  capture: {
    summary: "records a sample of the route's decisions with every signal value, for `routeplane replay` to decide them again under another policy",
    schema: obj({ sample: { type: "number", exclusiveMinimum: 0, maximum: 1 } }),
    canBlock: false,
  },
  header_mutation: {
    summary: "sets or removes headers on the upstream request",
    schema: obj(
      { set: { type: "object", additionalProperties: { type: "string" } }, remove: { ...stringList, minItems: 1 } },
      [],
      { anyOf: [{ required: ["set"] }, { required: ["remove"] }] },
    ),
    canBlock: false,
  },
};

export const PROVIDERS = ["openai_compatible", "openai", "anthropic", "azure_openai", "vllm", "ollama"] as const;

export const MODEL_SCHEMA: JsonSchema = obj(
  {
    provider: { enum: [...PROVIDERS] },
    endpoint: { type: "string", pattern: "^https?://" },
    served_name: { type: "string", minLength: 1 },
    cost: obj({ input: { type: "number", minimum: 0 }, output: { type: "number", minimum: 0 } }, ["input", "output"]),
    context_window: { type: "integer", minimum: 1 },
    tags: { type: "array", items: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }, uniqueItems: true },
    latency_ms: { type: "number", minimum: 0 },
    quality: unit,
    api_key_env: { type: "string", pattern: "^[A-Z_][A-Z0-9_]*$" },
  },
  ["provider", "endpoint"],
);

/**
 * A request-facing profile (`profile coding { models: ["coding-assistant"], path_prefix: "/coding" }`):
 * requests for these model names (the body's `model`) or under this path prefix get the profile's
 * routes and default.
 */
export const PROFILE_SCHEMA: JsonSchema = obj(
  {
    models: { type: "array", items: { type: "string", minLength: 1, maxLength: 256, pattern: "^[\\x21-\\x7e]+$" }, minItems: 1, uniqueItems: true },
    // Segments of letters, digits and `._~-`, none starting with a dot (no `.` or `..`: a prefix matches paths as sent, unnormalised).
    path_prefix: { type: "string", maxLength: 256, pattern: "^(/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)+$" },
  },
  [],
  { anyOf: [{ required: ["models"] }, { required: ["path_prefix"] }] },
);

/**
 * Whether a request path is one proxies may read otherwise than the sidecar: a `.` or `..` segment,
 * an encoded dot, slash or backslash, an empty segment, a backslash. Such a path selects no profile
 * (a front proxy matching the normalised path while forwarding the raw one would disagree with it).
 */
export function ambiguousPath(path: string): boolean {
  return /(^|\/)\.{1,2}(\/|$)|%2e|%2f|%5c|\/\/|\\/i.test(path);
}

/** Reasoning effort levels a route may ask of a model (`effort: high`). */
export const EFFORTS = ["minimal", "low", "medium", "high"] as const;

/** Most tokens a `max_tokens` cap may name (no model's window is larger). */
export const MAX_TOKENS_CAP = 10_000_000;

/**
 * Parameters a route sets where it uses a model (`use qwen { reasoning: false, max_tokens: 1024 }`),
 * instead of declaring the model twice. `max_tokens` and `temperature` are caps: the sidecar lowers
 * a client's larger value to them and sets them when the client gave none (docs/sidecar.md, "Per-use
 * model parameters", for what each becomes on each provider).
 */
export const MODEL_PARAMS_SCHEMA: JsonSchema = obj(
  {
    reasoning: { type: "boolean" },
    effort: { enum: [...EFFORTS] },
    // A LoRA adapter is the name the model server serves it under (vLLM `--lora-modules name=path`).
    lora: { type: "string", pattern: "^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$" },
    max_tokens: { type: "integer", minimum: 1, maximum: MAX_TOKENS_CAP },
    temperature: { type: "number", minimum: 0, maximum: 2 },
  },
  [],
  { minProperties: 1 },
);

/** A route's parameters for one model, as the bundle holds them. */
export interface ModelParams {
  reasoning?: boolean;
  effort?: (typeof EFFORTS)[number];
  lora?: string;
  max_tokens?: number;
  temperature?: number;
}

/** Per-model parameters in `select { params: { model: { ... } } }`. */
const paramsByModel = { type: "object", propertyNames: { pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }, additionalProperties: MODEL_PARAMS_SCHEMA, minProperties: 1 };

/** Models one cascade or hedge asks at most: every one of them may be called for one request. */
export const MAX_CASCADE_MODELS = 6;

/** Metrics an adaptive objective may weigh. */
export const OBJECTIVE_METRICS = ["quality", "cost_usd", "latency_ms"] as const;

const modelList = { type: "array", items: { type: "string" }, minItems: 1, uniqueItems: true };

/** Fields of `select <algorithm> { ... }` in source. `objective` arrives already lowered. */
export const SELECT_SCHEMAS: Record<string, JsonSchema> = {
  static: obj({ models: modelList, params: paramsByModel }, ["models"]),
  weighted: obj({ models: modelList, weights: { type: "array", items: { type: "number", minimum: 0 }, minItems: 1 }, params: paramsByModel }, ["models", "weights"]),
  cheapest: obj({ models: modelList, params: paramsByModel }, ["models"]),
  fastest: obj({ models: modelList, params: paramsByModel }, ["models"]),
  // Ask the first model; take its answer when its confidence (mean token log-probability, or a
  // verifier model's grade) reaches min_confidence, else ask the next. Guarantees cover every model and the verifier.
  cascade: obj(
    { models: { ...modelList, minItems: 2, maxItems: MAX_CASCADE_MODELS }, min_confidence: unit, verifier: { type: "string" }, params: paramsByModel },
    ["models", "min_confidence"],
  ),
  // Ask the first model; when it has not answered after after_ms, ask the next too; the first answer wins, the rest are cancelled.
  hedge: obj({ models: { ...modelList, minItems: 2, maxItems: MAX_CASCADE_MODELS }, after_ms: { type: "integer", minimum: 1, maximum: 60_000 }, params: paramsByModel }, ["models", "after_ms"]),
  adaptive: obj(
    {
      models: { ...modelList, minItems: 2 },
      objective: obj(Object.fromEntries(OBJECTIVE_METRICS.map((m) => [m, { type: "number" }])), []),
      explore: unit,
      floor: unit,
      context: { type: "array", items: { type: "string" }, minItems: 1, maxItems: MAX_CONTEXT_SIGNALS, uniqueItems: true },
      params: paramsByModel,
    },
    ["models", "objective"],
  ),
};
