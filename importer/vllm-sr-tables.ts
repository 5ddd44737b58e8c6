// What each vLLM Semantic Router construct becomes in routeplane, as data:
// one table for signals, one for plugins, one for selection algorithms (and
// one for the rest of the grammar's constructs, for IMPORT.md and the docs).
// Each entry says exact, approximate (and why) or dropped (and why). When
// routeplane gains a construct, its row changes and nothing else: the
// translation (vllm-sr-import.ts) only reads these tables.
//
// "exact" means routeplane decides the same way from the same configuration
// (the models behind classifiers and embeddings are the sidecar's, as in
// vLLM-SR they are the router's); "approximate" means the nearest routeplane
// construct, with the difference stated; "dropped" means no counterpart: a
// signal that conditions still test becomes a `metadata` stand-in (a key a
// gateway in front of the sidecar may set), anything else is left out.

export type Status = "exact" | "approximate" | "dropped";

/** What the importer reads from a vLLM-SR signal's fields. */
export interface SignalInput {
  name: string;
  /** The fields written, in order. */
  keys: string[];
  field(key: string): unknown;
}

/** A routeplane signal body built from a vLLM-SR signal, with what did not carry over. */
export interface SignalBody {
  fields: Record<string, unknown>;
  /** Fields that had no counterpart (reported with the signal's line). */
  notes: string[];
  /** When set, a condition's reference to the signal tests the negation (a NOR keyword list). */
  negate?: boolean;
}

export interface SignalRow {
  status: Status;
  /** The routeplane signal type; null when dropped (a metadata stand-in is declared if a condition tests it). */
  routeplane: string | null;
  why: string;
  /** Builds the routeplane fields; absent for dropped rows. */
  body?: (s: SignalInput) => SignalBody;
  /** The numeric output a PROJECTION score reads from it; null when it has none. */
  scoreOutput: string | null;
}

const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === "string") ? (v as string[]) : undefined);
const unit = (v: unknown): number | undefined => {
  const n = num(v);
  return n !== undefined && n >= 0 && n <= 1 ? n : undefined;
};

/** Fields that only describe (kept as comments by the translation, never a mapping loss). */
export const DESCRIPTIVE_FIELDS = new Set(["description"]);

/** Notes for every field of `s` not in `used` (and not descriptive). */
function leftover(s: SignalInput, fields: string[], used: string[]): string[] {
  return fields.filter((f) => !used.includes(f) && !DESCRIPTIVE_FIELDS.has(f) && s.field(f) !== undefined).map((f) => `field \`${f}\` has no routeplane counterpart`);
}

/** vLLM-SR context sizes: a number, or a string with an optional K/M suffix ("8K" = 8000). */
export function tokenCount(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0) return v;
  if (typeof v !== "string") return undefined;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)\s*$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] === "" ? 1 : m[2].toLowerCase() === "k" ? 1000 : 1_000_000);
  return Number.isSafeInteger(Math.round(n)) ? Math.round(n) : undefined;
}

/** vLLM-SR's PII entity names and routeplane's PII types. */
export const PII_ENTITIES: Record<string, string> = {
  EMAIL_ADDRESS: "email",
  PHONE_NUMBER: "phone",
  CREDIT_CARD: "credit_card",
  IBAN_CODE: "iban",
  US_SSN: "ssn",
  IP_ADDRESS: "ip_address",
};

/** Feedback labels of vLLM-SR's user_feedback classifier, as routeplane's feedback label. */
export const FEEDBACK_LABELS: Record<string, "positive" | "negative"> = {
  satisfied: "positive",
  positive: "positive",
  wrong_answer: "negative",
  need_clarification: "negative",
  want_different: "negative",
  negative: "negative",
};

const LANGUAGE_NAMES: Record<string, string> = {
  english: "en", chinese: "zh", spanish: "es", french: "fr", german: "de", japanese: "ja", korean: "ko", russian: "ru", portuguese: "pt", italian: "it", arabic: "ar",
};

/** The ISO 639-1 code a vLLM-SR language signal stands for (its name is the language), or undefined. */
export function languageCode(name: string): string | undefined {
  const n = name.toLowerCase();
  if (/^[a-z]{2}$/.test(n)) return n;
  return LANGUAGE_NAMES[n];
}

const dropped = (why: string): SignalRow => ({ status: "dropped", routeplane: null, why, scoreOutput: null });

export const SIGNAL_TABLE: Record<string, SignalRow> = {
  keyword: {
    status: "exact",
    routeplane: "keyword",
    why: "keyword lists: `operator: OR` → `any`, `AND` → `all`, `NOR` → `any` tested with `not`; `case_sensitive` kept. Approximate when `method` is `bm25`, `ngram` or fuzzy matching: routeplane matches the phrases exactly",
    scoreOutput: "count",
    body: (s) => {
      const op = (str(s.field("operator")) ?? "OR").toUpperCase();
      const words = strings(s.field("keywords")) ?? [];
      const fields: Record<string, unknown> = op === "AND" ? { all: words } : { any: words };
      const cs = s.field("case_sensitive");
      if (typeof cs === "boolean") fields.case_sensitive = cs;
      const notes = leftover(s, otherFields(s, ["operator", "keywords", "case_sensitive", "method", "fuzzy_match", "fuzzy_threshold", "bm25_threshold", "ngram_threshold", "ngram_arity"]), []);
      const method = str(s.field("method"));
      if (method && method !== "exact" && method !== "regex") notes.unshift(`\`method: "${method}"\` is scored matching; routeplane matches the phrases exactly (approximate)`);
      if (s.field("fuzzy_match") === true) notes.unshift("`fuzzy_match` is dropped: routeplane matches the phrases exactly (approximate)");
      if (!["OR", "AND", "NOR"].includes(op)) notes.unshift(`\`operator: "${op}"\` is unknown; read as OR`);
      return { fields, notes: dedupe(notes), negate: op === "NOR" };
    },
  },
  embedding: {
    status: "exact",
    routeplane: "embedding",
    why: "`candidates`, `threshold` and `aggregation_method` (max, mean, any) carry over; the embedding model is the sidecar's (`serve --embeddings`)",
    scoreOutput: "score",
    body: (s) => {
      const fields: Record<string, unknown> = { candidates: strings(s.field("candidates")) ?? [], threshold: unit(s.field("threshold")) ?? 0.5 };
      const agg = str(s.field("aggregation_method"));
      const notes = leftover(s, otherFields(s, ["candidates", "threshold", "aggregation_method"]), []);
      if (agg && ["max", "mean", "any"].includes(agg)) fields.aggregation = agg;
      else if (agg) notes.push(`\`aggregation_method: "${agg}"\` has no counterpart; routeplane's default (max) is used`);
      if (unit(s.field("threshold")) === undefined) notes.push("no `threshold` in [0, 1]: 0.5 is used");
      return { fields, notes };
    },
  },
  domain: {
    status: "approximate",
    routeplane: "domain",
    why: "every vLLM-SR domain becomes one class of a single routeplane `domain` signal (`domains`), and `domain(\"math\")` becomes `domains == \"math\"`: one label per request (routeplane has no multi-label domains); `description`, `mmlu_categories` and `model_scores` are the classifier's concern and are not carried",
    scoreOutput: "class",
  },
  language: {
    status: "exact",
    routeplane: "language",
    why: "a language signal is named for its language (`en`, `zh`): `languages: [en]`; `threshold` → `min_confidence`",
    scoreOutput: "confidence",
    body: (s) => {
      const code = languageCode(s.name);
      const fields: Record<string, unknown> = code ? { languages: [code] } : {};
      const t = unit(s.field("threshold"));
      if (t !== undefined) fields.min_confidence = t;
      return { fields, notes: leftover(s, otherFields(s, ["threshold"]), []) };
    },
  },
  context: {
    status: "exact",
    routeplane: "context",
    why: "`min_tokens`/`max_tokens` (`\"8K\"` = 8000) carry over; routeplane counts o200k tokens",
    scoreOutput: null,
    body: (s) => {
      const fields: Record<string, unknown> = {};
      const min = tokenCount(s.field("min_tokens"));
      const max = tokenCount(s.field("max_tokens"));
      const notes = leftover(s, otherFields(s, ["min_tokens", "max_tokens"]), []);
      if (min !== undefined && min > 0) fields.min_tokens = min;
      if (max !== undefined) fields.max_tokens = max;
      if (s.field("min_tokens") !== undefined && min === undefined) notes.push("`min_tokens` is not a token count");
      if (s.field("max_tokens") !== undefined && max === undefined) notes.push("`max_tokens` is not a token count");
      if (Object.keys(fields).length === 0) fields.min_tokens = 0;
      return { fields, notes };
    },
  },
  complexity: {
    status: "approximate",
    routeplane: "complexity",
    why: "vLLM-SR compares the prompt with hard and easy candidate phrases; routeplane's complexity is a heuristic score in [0, 1]. `complexity(\"x:hard\")` becomes `x.score >= 0.66`, `:medium` `0.33 ≤ x.score < 0.66`, `:easy` `x.score < 0.33`, and a bare `complexity(\"x\")` `x`; `hard`/`easy` candidates, `composer` and the vLLM-SR threshold (a margin, not a score) are not carried",
    scoreOutput: "score",
    body: (s) => ({ fields: {}, notes: leftover(s, otherFields(s, ["threshold", "hard", "easy", "composer"]), []) }),
  },
  jailbreak: {
    status: "approximate",
    routeplane: "jailbreak",
    why: "vLLM-SR runs a classifier; routeplane scores jailbreak attempts with in-process heuristics. `threshold` carries over; `method`, `include_history` and custom pattern lists do not",
    scoreOutput: "score",
    body: (s) => {
      const t = unit(s.field("threshold"));
      return { fields: t === undefined ? {} : { threshold: t }, notes: leftover(s, otherFields(s, ["threshold", "method", "include_history", "jailbreak_patterns", "benign_patterns"]), []) };
    },
  },
  pii: {
    status: "approximate",
    routeplane: "pii",
    why: "vLLM-SR's classifier finds many entity types (PERSON, LOCATION, …); routeplane detects e-mail, phone, credit card, IBAN, SSN and IP address (validated). The types are routeplane's six minus `pii_types_allowed`; `threshold` does not carry",
    scoreOutput: "count",
    body: (s) => {
      const allowed = new Set((strings(s.field("pii_types_allowed")) ?? []).map((t) => PII_ENTITIES[t.toUpperCase()]).filter((t) => t !== undefined));
      const types = Object.values(PII_ENTITIES).filter((t) => !allowed.has(t));
      const notes = leftover(s, otherFields(s, ["pii_types_allowed", "threshold"]), []);
      return { fields: { types: types.length ? types : Object.values(PII_ENTITIES) }, notes };
    },
  },
  user_feedback: {
    status: "approximate",
    routeplane: "feedback",
    why: "vLLM-SR classifies the follow-up (satisfied, wrong_answer, need_clarification, want_different); routeplane's feedback is negative/positive/none from phrases: `user_feedback(\"wrong_answer\")` becomes `wrong_answer == \"negative\"` (`satisfied` tests \"positive\")",
    scoreOutput: null,
    body: (s) => ({ fields: {}, notes: leftover(s, otherFields(s, []), []) }),
  },
  reask: {
    status: "approximate",
    routeplane: "reask",
    why: "`lookback_turns` → `window`, `threshold` → `similarity`; the similarity measure is routeplane's",
    scoreOutput: "count",
    body: (s) => {
      const fields: Record<string, unknown> = {};
      const w = num(s.field("lookback_turns"));
      if (w !== undefined && Number.isInteger(w) && w >= 1 && w <= 50) fields.window = w;
      const t = unit(s.field("threshold"));
      if (t !== undefined) fields.similarity = t;
      return { fields, notes: leftover(s, otherFields(s, ["lookback_turns", "threshold"]), []) };
    },
  },
  preference: {
    status: "approximate",
    routeplane: "embedding",
    why: "a preference is matched by similarity to its `examples` (an `embedding` signal over them); vLLM-SR's preference classifier is not",
    scoreOutput: "score",
    body: (s) => {
      const t = unit(s.field("threshold"));
      const examples = strings(s.field("examples")) ?? [];
      const notes = leftover(s, otherFields(s, ["examples", "threshold"]), []);
      if (examples.length === 0) notes.push("no `examples`: the signal's description is its only candidate");
      const description = str(s.field("description"));
      return { fields: { candidates: examples.length ? examples : [description ?? s.name], threshold: t ?? 0.5 }, notes };
    },
  },
  input_modality: {
    status: "approximate",
    routeplane: "modality",
    why: "input content parts: `modality` with `types: [image]` (and audio or file when named)",
    scoreOutput: null,
    body: (s) => {
      const wanted = (strings(s.field("modalities")) ?? strings(s.field("types")) ?? []).map((m) => m.toLowerCase());
      const types = ["image", "audio", "file"].filter((t) => wanted.includes(t));
      return { fields: { types: types.length ? types : ["image"] }, notes: leftover(s, otherFields(s, ["modalities", "types"]), []) };
    },
  },
  metadata: {
    status: "approximate",
    routeplane: "metadata",
    why: "a key of the request body's `metadata` object: `key` (or the signal's name) and `values` carry over; other matching rules do not",
    scoreOutput: null,
    body: (s) => {
      const fields: Record<string, unknown> = { key: str(s.field("key")) ?? s.name };
      const values = strings(s.field("values"));
      if (values && values.length) fields.values = values;
      return { fields, notes: leftover(s, otherFields(s, ["key", "values"]), []) };
    },
  },
  modality: dropped("vLLM-SR's modality signal detects the wanted output (text, image generation); routeplane's modality is about input content parts and has no output-modality detector"),
  fact_check: dropped("routeplane has no fact-check signal"),
  kb: dropped("routeplane has no knowledge-base signals"),
  structure: dropped("routeplane has no structure signals (question counts, sequences, densities)"),
  conversation: dropped("routeplane has no conversation signals (message and turn counts, tools)"),
  event: dropped("routeplane has no event signals"),
  authz: dropped("routeplane has no role bindings; a `header` signal on the identity header is the nearest thing to write by hand"),
  safety: dropped("routeplane has no safety classifier signal (its jailbreak signal is heuristic)"),
  hallucination: dropped("routeplane has no hallucination signal"),
  classifier: dropped("routeplane has no custom classifier signals"),
  decision: dropped("routeplane has no decision-model signal"),
  agentic_facts: dropped("routeplane has no agentic-facts signal"),
};

/** Field names of `s` besides `known`. */
function otherFields(s: SignalInput, known: string[]): string[] {
  return s.keys.filter((f) => !known.includes(f));
}

function dedupe(xs: string[]): string[] {
  return [...new Set(xs)];
}

// ---- plugins

export interface PluginBody {
  type: string;
  fields: Record<string, unknown>;
  notes: string[];
}

export interface PluginRow {
  status: Status;
  routeplane: string | null;
  why: string;
  /** Builds the routeplane plugin; null when nothing is left (`enabled: false`). */
  body?: (field: (key: string) => unknown, keys: string[]) => PluginBody | null;
}

const droppedPlugin = (why: string): PluginRow => ({ status: "dropped", routeplane: null, why });

export const PLUGIN_TABLE: Record<string, PluginRow> = {
  system_prompt: {
    status: "exact",
    routeplane: "system_prompt",
    why: "`system_prompt` → `text`; `mode: replace` → `position: replace`, `insert` → `prepend`",
    body: (f, keys) => {
      if (f("enabled") === false) return null;
      const text = str(f("system_prompt")) ?? str(f("text")) ?? "";
      const mode = str(f("mode"));
      const fields: Record<string, unknown> = { text };
      const notes = keys.filter((k) => !["system_prompt", "text", "mode", "enabled"].includes(k)).map((k) => `field \`${k}\` has no routeplane counterpart`);
      if (mode === "replace") fields.position = "replace";
      else if (mode === "insert" || mode === "prepend") fields.position = "prepend";
      else if (mode === "append") fields.position = "append";
      else if (mode !== undefined) notes.push(`\`mode: "${mode}"\` is unknown; routeplane prepends`);
      if (text === "") return null;
      return { type: "system_prompt", fields, notes };
    },
  },
  header_mutation: {
    status: "exact",
    routeplane: "header_mutation",
    why: "`add` and `update` → `set`, `delete` → `remove`; headers the sidecar owns (framing, hop-by-hop, authorization) are left out",
    body: (f, keys) => {
      const set: Record<string, string> = {};
      for (const k of ["add", "update"]) {
        const pairs = f(k);
        if (!Array.isArray(pairs)) continue;
        for (const p of pairs) {
          if (p && typeof p === "object" && typeof (p as Record<string, unknown>).name === "string" && typeof (p as Record<string, unknown>).value === "string") {
            set[(p as Record<string, string>).name] = (p as Record<string, string>).value;
          }
        }
      }
      const remove = strings(f("delete")) ?? [];
      const fields: Record<string, unknown> = {};
      if (Object.keys(set).length) fields.set = set;
      if (remove.length) fields.remove = remove;
      if (Object.keys(fields).length === 0) return null;
      return { type: "header_mutation", fields, notes: keys.filter((k) => !["add", "update", "delete"].includes(k)).map((k) => `field \`${k}\` has no routeplane counterpart`) };
    },
  },
  pii: {
    status: "approximate",
    routeplane: "pii_redact",
    why: "the early DSL's PII plugin refused requests with PII not in `pii_types_allowed`: `pii_redact` with `mode: block` over routeplane's six types minus the allowed ones",
    body: (f) => {
      if (f("enabled") === false) return null;
      const allowed = new Set((strings(f("pii_types_allowed")) ?? []).map((t) => PII_ENTITIES[t.toUpperCase()]).filter((t) => t !== undefined));
      const types = Object.values(PII_ENTITIES).filter((t) => !allowed.has(t));
      return { type: "pii_redact", fields: { types: types.length ? types : Object.values(PII_ENTITIES), mode: "block" }, notes: [] };
    },
  },
  jailbreak: {
    status: "approximate",
    routeplane: "jailbreak_guard",
    why: "the early DSL's jailbreak plugin refused jailbreak attempts: `jailbreak_guard` (`threshold` carries over; routeplane's detector is heuristic)",
    body: (f) => {
      if (f("enabled") === false) return null;
      const t = unit(f("threshold"));
      return { type: "jailbreak_guard", fields: t === undefined ? { action: "block" } : { action: "block", threshold: t }, notes: [] };
    },
  },
  semantic_cache: droppedPlugin("routeplane has no cache plugin"),
  response_cache: droppedPlugin("routeplane has no cache plugin"),
  tools: droppedPlugin("routeplane has no tools-filter plugin"),
  tool_selection: droppedPlugin("routeplane has no tools-filter plugin"),
  router_replay: droppedPlugin("routeplane's telemetry records every decision (docs/sidecar.md); request and response bodies are not captured"),
  hallucination: droppedPlugin("routeplane has no hallucination detection"),
  memory: droppedPlugin("routeplane has no memory plugin"),
  rag: droppedPlugin("routeplane has no retrieval plugin"),
  shadow_dispatch: droppedPlugin("routeplane does not send shadow copies of requests"),
  fast_response: droppedPlugin("routeplane has no canned-answer plugin (its blocking plugins answer with an error)"),
  request_params: droppedPlugin("routeplane does not rewrite request parameters (per-use model parameters are not in the language yet)"),
  context_compression: droppedPlugin("routeplane does not compress context"),
  response_jailbreak: droppedPlugin("routeplane's jailbreak guard checks requests, not answers"),
  image_gen: droppedPlugin("routeplane does not generate images"),
};

/** Plugin type spellings the DSL accepts as the same plugin. */
export const PLUGIN_ALIASES: Record<string, string> = {
  "semantic-cache": "semantic_cache",
  "response-cache": "response_cache",
  "context-compression": "context_compression",
  "system-prompt": "system_prompt",
  "header-mutation": "header_mutation",
  "router-replay": "router_replay",
  "shadow-dispatch": "shadow_dispatch",
  "fast-response": "fast_response",
  "request-params": "request_params",
  "response-jailbreak": "response_jailbreak",
};

// ---- selection algorithms

export interface AlgorithmRow {
  status: Status;
  /** The routeplane selection: a `select` algorithm, or `use` (the first model, the rest as fallbacks). */
  routeplane: "static" | "weighted" | "cheapest" | "fastest" | "adaptive" | "use";
  why: string;
}

const learned = (what: string): AlgorithmRow => ({
  status: "approximate",
  routeplane: "adaptive",
  why: `${what}; routeplane's \`adaptive\` learns the split from ratings, cost and latency within bounds (objective \`quality - 0.1 * cost_usd\`, explore 0.05)`,
});
const cascade = (what: string): AlgorithmRow => ({
  status: "approximate",
  routeplane: "use",
  why: `${what}: routeplane has no cascades or hedging; the first model serves and the others are its fallbacks`,
});

export const ALGORITHM_TABLE: Record<string, AlgorithmRow> = {
  static: { status: "exact", routeplane: "static", why: "the first model, the rest as fallbacks" },
  random: { status: "approximate", routeplane: "weighted", why: "equal weights; routeplane's weighted choice is stable per request id rather than random per request" },
  latency_aware: { status: "approximate", routeplane: "fastest", why: "lowest observed latency (EWMA); TTFT/TPOT percentiles are not carried" },
  elo: learned("Elo ratings from feedback"),
  router_dc: learned("dual-contrastive query–model matching"),
  automix: learned("self-verification and escalation"),
  hybrid: learned("a blend of Elo, RouterDC and AutoMix"),
  knn: learned("a trained kNN selector"),
  kmeans: learned("a trained k-means selector"),
  mlp: learned("a trained MLP selector"),
  svm: learned("a trained SVM selector"),
  rl_driven: learned("reinforcement-learned selection"),
  gmtrouter: learned("a graph-based learned selector"),
  multi_factor: learned("a weighted multi-factor score"),
  confidence: cascade("a confidence cascade (small model first, escalate on low confidence)"),
  ratings: cascade("parallel calls rated by a judge"),
  remom: cascade("multi-round mixture of models"),
  fusion: cascade("answers of several models fused by another"),
  workflows: cascade("multi-step workflows over several models"),
  prompt: cascade("a model chosen by prompting another model"),
};

// ---- the rest of the grammar

export interface ConstructRow {
  status: Status;
  why: string;
}

/** Every other construct of the DSL and what it becomes (IMPORT.md and docs/migrating-from-vllm-sr.md quote these). */
export const CONSTRUCT_TABLE: Record<string, ConstructRow> = {
  "ROUTE": { status: "exact", why: "a `route`; its name made a routeplane name when it is not one" },
  "ROUTE description": { status: "exact", why: "a comment above the route" },
  "ROUTE on_unknown": { status: "dropped", why: "routeplane has no per-route handling of unknown signals" },
  "PRIORITY": { status: "exact", why: "the route's `priority` (negative ones move up to 0, keeping the order)" },
  "TIER": { status: "exact", why: "tiers come before priorities in vLLM-SR: each tier gets its own band of routeplane priorities, so the order is the same" },
  "equal priority": { status: "approximate", why: "vLLM-SR lets the most confident of equal-priority routes win at run time; routeplane orders them in writing (ADR 21): routes that each test one signal become members of a `partition`, others are ordered by name with `before`, as vLLM-SR does when confidences tie" },
  "WHEN": { status: "exact", why: "`when`, node for node: AND/OR/NOT become and/or/not, each signal reference the routeplane signal (or its output) it maps to" },
  "MODEL (route)": { status: "exact", why: "`use` for one model; several models are a `select` (or `use … fallback …`) per ALGORITHM" },
  "MODEL weight": { status: "exact", why: "weights make a `select weighted`" },
  "MODEL reasoning/effort/lora/param_size/mode": { status: "dropped", why: "routeplane has no per-use model parameters yet" },
  "ALGORITHM": { status: "exact", why: "a `select` strategy, per the algorithm table" },
  "PLUGIN (route)": { status: "exact", why: "`apply`, with field overrides, per the plugin table" },
  "PLUGIN (template)": { status: "exact", why: "a `plugin` declaration, per the plugin table" },
  "DESCRIPTION": { status: "exact", why: "a comment above the route" },
  "ACTION": { status: "dropped", why: "routeplane routes have no actions besides selecting a model" },
  "FOR … IN": { status: "dropped", why: "routeplane has no candidate iteration" },
  "EMIT": { status: "dropped", why: "routeplane has no retention directives" },
  "MODEL (declaration)": { status: "exact", why: "a `model`: `context_window_size` → `context_window`, `quality_score` → `quality`, `tags` and `capabilities` → `tags` (made names), the DSL's name → `served_name`; endpoint, provider and cost from BACKEND or --config" },
  "PROJECTION partition": { status: "exact", why: "a `partition` signal; references to a member test `<partition>.<member>` (its `temperature` does not change the winner). Over domain classes: the domain's label is already exclusive" },
  "SIGNAL_GROUP": { status: "exact", why: "as PROJECTION partition (its earlier name)" },
  "PROJECTION score": { status: "approximate", why: "a derived `score` signal over the inputs' numeric outputs (a score, a count, a class score): vLLM-SR adds each input's match/miss value or confidence, routeplane the numeric output; inputs without one are left out, and at most 16 (the largest weights) are kept" },
  "PROJECTION mapping": { status: "exact", why: "bands of the score it maps: `gte`/`lt` exactly, `gt`/`lte` as min/max (differing only at the boundary value); `projection(\"band\")` tests `<score>.<band>`; calibration only changes vLLM-SR's reported confidence" },
  "DECISION_TREE": { status: "exact", why: "its branches become routes of decreasing priority, the ELSE branch the default" },
  "TEST": { status: "approximate", why: "a `test` per query expecting the route; signals that need a model server use offline stand-ins in `routeplane test`, so pin them (`signals:`) for the test to be meaningful" },
  "RECIPE": { status: "approximate", why: "each recipe becomes a policy of its own (a directory of `.route` files with its own package); models are copied into each" },
  "ENTRYPOINT": { status: "dropped", why: "routeplane does not choose a policy by the requested model name: deploy each recipe's policy for the model names it served" },
  "ROUTING strategy": { status: "approximate", why: "`priority` is routeplane's order; `confidence` (the most confident matching route wins) has no counterpart beyond partitions" },
  "GLOBAL default_model": { status: "exact", why: "the `default` route's model" },
  "GLOBAL (other fields)": { status: "dropped", why: "router-wide settings (observability, prompt guard, model selection, …) are the sidecar's flags in routeplane" },
  "BACKEND vllm_endpoint": { status: "exact", why: "the endpoint (`http://address:port/v1`) of the models it serves" },
  "BACKEND provider_profile": { status: "exact", why: "`base_url` and `type` give the provider and endpoint of the models that name the profile" },
  "BACKEND (other types)": { status: "dropped", why: "embedding models, caches, memory and response stores are not part of a routeplane policy" },
  "catch-all route": { status: "exact", why: "a route without WHEN (or an ELSE branch) becomes the `default`" },
};
