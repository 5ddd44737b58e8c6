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
// gateway in front of the sidecar may set), anything else is left out. A row
// may map most of a construct exactly and say, per field or value, what is
// approximate or has no counterpart (a conversation signal's sources): those
// are notes of the one signal, with its source line.
import { BareName } from "./route-text.ts";

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
  /** When set, a condition's reference to the signal tests the negation (a NOR keyword list, `no_fact_check_needed`). */
  negate?: boolean;
  /** The routeplane signal type, when it is not the row's (a conversation count of images is a `modality` signal). */
  type?: string;
  /** Set when this signal has no counterpart after all (a conversation source routeplane does not count): why. */
  dropped?: string;
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
const obj = (v: unknown): Record<string, unknown> | undefined => (v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined);

/**
 * The complexity levels vLLM-SR names (`complexity("x:hard")`), as bands over
 * routeplane's heuristic score. vLLM-SR decides a level by comparing the
 * prompt with hard and easy candidates (their similarity margin against its
 * threshold); routeplane has no candidates, so the bands split the score in
 * thirds.
 */
export const COMPLEXITY_LEVELS: Record<"easy" | "medium" | "hard", { min?: number; max?: number }> = {
  easy: { max: 0.33 },
  medium: { min: 0.33, max: 0.66 },
  hard: { min: 0.66 },
};

/**
 * Example follow-ups for each label of vLLM-SR's user-feedback classifier, the
 * side of routeplane's feedback label it stands for, and what a `feedback`
 * signal with `classifier: embeddings` compares the last user turn with (the
 * other side keeps routeplane's default phrases).
 */
export const FEEDBACK_EXAMPLES: Record<string, { label: "negative" | "positive"; examples: string[] }> = {
  satisfied: { label: "positive", examples: ["thanks, that is exactly what I needed", "perfect, that works", "great answer, thank you"] },
  wrong_answer: { label: "negative", examples: ["that's wrong", "this answer is incorrect", "no, that is not right"] },
  need_clarification: { label: "negative", examples: ["I don't understand", "can you explain that more clearly", "what do you mean by that"] },
  want_different: { label: "negative", examples: ["give me a different answer", "try another approach", "can you suggest something else"] },
};

/** The whole-number counts a vLLM-SR numeric predicate admits: `gt: 10` is 11 and up. `max` null: no bound. */
export function countRange(pred: Record<string, unknown> | undefined): { min: number; max: number | null } {
  let min = 0;
  let max: number | null = null;
  const n = (k: string) => num(pred?.[k]);
  if (n("gt") !== undefined) min = Math.max(min, Math.floor(n("gt")!) + 1);
  if (n("gte") !== undefined) min = Math.max(min, Math.ceil(n("gte")!));
  if (n("lt") !== undefined) max = Math.ceil(n("lt")!) - 1;
  if (n("lte") !== undefined) max = max === null ? Math.floor(n("lte")!) : Math.min(max, Math.floor(n("lte")!));
  return { min, max };
}

/** A conversation signal's bounds on one count: `min_<out>`/`max_<out>` (a range no count is in: `min 1, max 0`). */
function bounds(out: string, r: { min: number; max: number | null }): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  if (r.max !== null && r.max < 0) return { [`min_${out}`]: 1, [`max_${out}`]: 0 };
  if (r.min > 0) fields[`min_${out}`] = r.min;
  if (r.max !== null) fields[`max_${out}`] = r.max;
  return fields;
}

/** Conversation sources (`type`, or `message:<role>`) that routeplane counts, exactly or nearly. */
const CONVERSATION_COUNTED = new Set(["message", "message:user", "message:system", "message:developer", "message:tool", "tool_definition", "assistant_tool_call", "assistant_tool_cycle", "image_content"]);

/** Conversation sources that routeplane does not count, and why (a `metadata` stand-in where conditions test them). */
const CONVERSATION_NOT_COUNTED: Record<string, string> = {
  "message:assistant": "routeplane does not count assistant messages",
  "message:non_user": "routeplane does not count messages other than the user's (a derived `score` of `messages - user_turns` is the nearest thing to write by hand)",
  tool_choice_required: "routeplane's conversation signal does not read `tool_choice`",
  tool_choice_none: "routeplane's conversation signal does not read `tool_choice`",
  active_tool_loop: "routeplane does not look at which message is last (an open tool call, or a tool result not yet answered)",
  flow_tool_state: "routeplane does not look at which message is last",
};

/** A vLLM-SR conversation signal (`feature: { type, source: { type, role } }`, `predicate`) as routeplane's conversation signal. */
function conversationBody(s: SignalInput): SignalBody {
  const feature = obj(s.field("feature"));
  // Without a `feature` block there is nothing to count: never "always matches" (a `source` written beside it is a common slip).
  if (!feature) return { fields: {}, notes: [], dropped: `no \`feature\` block${s.field("source") !== undefined ? " (`source` belongs inside it)" : ""}: a conversation signal is \`feature: { type: "count" | "exists", source: { type, role } }\` with a \`predicate\`` };
  const source = obj(feature?.source);
  const ftype = str(feature?.type) ?? "count";
  const stype = str(source?.type) ?? "message";
  const role = stype === "message" ? str(source?.role) ?? "" : "";
  const notes = leftover(s, otherFields(s, ["feature", "predicate"]), []);
  if (ftype !== "count" && ftype !== "exists") notes.push(`\`feature.type: "${ftype}"\` is unknown; read as \`count\``);
  const pred = obj(s.field("predicate"));
  // `exists` ignores the predicate, as vLLM-SR does; a `count` without one always matches.
  const range = ftype === "exists" ? { min: 1, max: null } : countRange(pred);
  if (ftype === "exists" && pred) notes.push("`exists` ignores the `predicate`, in vLLM-SR too");
  const key = role ? `${stype}:${role}` : stype;
  if (!CONVERSATION_COUNTED.has(key) && !CONVERSATION_NOT_COUNTED[key]) return { fields: {}, notes, dropped: `unknown \`source.type: "${stype}"\`${role ? ` (role \`${role}\`)` : ""}` };
  // A predicate every count meets (a `count` without one): the signal always matches, as in vLLM-SR, whatever it counts.
  if (range.min === 0 && range.max === null) return { fields: { min_messages: 0 }, notes };
  if (CONVERSATION_NOT_COUNTED[key]) return { fields: {}, notes, dropped: `\`source: ${role ? `message, role ${role}` : stype}\`: ${CONVERSATION_NOT_COUNTED[key]}` };
  switch (key) {
    case "message":
      return { fields: bounds("messages", range), notes: [...notes, "every message is counted (`messages`), but vLLM-SR counts any number of developer messages as one"] };
    case "message:user":
      return { fields: bounds("user_turns", range), notes };
    case "message:system":
    case "message:developer": {
      const why = `routeplane's \`system\` is whether there is a system or developer message; vLLM-SR counts ${role} messages alone`;
      if (range.max === 0) return { fields: { system: false }, notes: [...notes, why] };
      if (range.min >= 1) return { fields: { system: true }, notes: [...notes, range.min > 1 || range.max !== null ? `${why}, and routeplane cannot count them: read as "at least one"` : why] };
      return { fields: { min_messages: 0 }, notes: [...notes, `${why}; this predicate (at most ${range.max}) holds for none and for one, which routeplane cannot tell from more: read as always`] };
    }
    case "message:tool":
      return { fields: bounds("tool_calls", range), notes: [...notes, "tool messages are counted as the tool calls in the history (`tool_calls`): in a well-formed history each call has one result, but a call whose result has not come yet counts too"] };
    case "tool_definition":
      return { fields: bounds("tools", range), notes };
    case "assistant_tool_call":
      return { fields: bounds("tool_calls", range), notes };
    case "assistant_tool_cycle":
      return { fields: bounds("tool_calls", range), notes: [...notes, "vLLM-SR counts completed tool cycles (tool results); routeplane's `tool_calls` counts the calls, answered or not. `tool_repeats` (one call repeated with the same arguments) is not what vLLM-SR counts here"] };
    case "image_content":
      if (range.max === 0) return { fields: { types: ["image"] }, notes, negate: true, type: "modality" };
      return { fields: { types: ["image"] }, notes: range.min > 1 || range.max !== null ? [...notes, "routeplane's `modality` says whether there are images, not how many: read as \"at least one\""] : notes, type: "modality" };
    default:
      return { fields: {}, notes, dropped: `unknown \`source.type: "${stype}"\`${role ? ` (role \`${role}\`)` : ""}` };
  }
}

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
    why: "every vLLM-SR domain becomes one class of a single multi-label routeplane `domain` signal (`domains`), and `domain(\"math\")` becomes `domains has \"math\"`: every class whose score reaches the threshold holds, as vLLM-SR reports every domain over its classifier threshold (only the top one when the classifier is confident). That threshold is config.yaml's and is not read (routeplane's is 0.5); the classifier is the sidecar's. Members of a partition, and equal-priority routes that each test one domain, test the label instead (`domains == \"math\"`: the most confident class); `description`, `mmlu_categories` and `model_scores` are the classifier's concern and are not carried",
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
    why: "levels `easy`, `medium` and `hard` over routeplane's complexity score (`levels: { easy: { max: 0.33 }, medium: { min: 0.33, max: 0.66 }, hard: { min: 0.66 } }`), and `complexity(\"x:hard\")` becomes `x.hard`; a bare `complexity(\"x\")` becomes `x` (the score at 0.5). vLLM-SR decides the level by comparing the prompt with its hard and easy candidates (the similarity margin against its `threshold`); routeplane's score is a heuristic (length, code, questions, demanding verbs), so the candidates, the threshold (a margin, not a score) and `composer` are not carried",
    scoreOutput: "score",
    body: (s) => ({ fields: { levels: COMPLEXITY_LEVELS }, notes: leftover(s, otherFields(s, ["threshold", "hard", "easy", "composer"]), []) }),
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
    why: "a routeplane `feedback` signal with `classifier: embeddings`, its examples those of the vLLM-SR label it is named for (FEEDBACK_EXAMPLES in importer/vllm-sr-tables.ts): `user_feedback(\"wrong_answer\")` becomes `wrong_answer == \"negative\"` (`satisfied` tests \"positive\"). vLLM-SR's classifier picks one of its four labels (satisfied, wrong_answer, need_clarification, want_different); routeplane's label is negative, positive or none by similarity to the examples, per signal, so two negative signals can hold at once",
    scoreOutput: null,
    body: (s) => {
      const known = FEEDBACK_EXAMPLES[s.name];
      const notes = leftover(s, otherFields(s, []), []);
      if (!known) notes.push(`vLLM-SR's classifier labels satisfied, wrong_answer, need_clarification and want_different, and only a signal named for one of them matches: \`${s.name}\` is read as negative feedback, with routeplane's default examples`);
      const fields: Record<string, unknown> = { classifier: new BareName("embeddings") };
      if (known) fields[known.label] = known.examples;
      return { fields, notes };
    },
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
    routeplane: "knowledge",
    why: "every preference becomes an entry of one routeplane `knowledge` signal (`preferences`), its `examples` the entry's texts (its description when it has none), and `preference(\"concise\")` becomes `preferences == \"concise\"`: the closest preference wins, as vLLM-SR's classifier picks one. The similarity is the sidecar's embeddings (vLLM-SR's contrastive prototype scoring is not carried), and the preferences' thresholds become one, the lowest",
    scoreOutput: null,
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
  fact_check: {
    status: "approximate",
    routeplane: "fact_check",
    why: "a routeplane `fact_check` signal: similarity to fact-seeking questions through the sidecar's embeddings (offline, a heuristic), where vLLM-SR runs a fact-check classifier at config.yaml's threshold (not read; routeplane's is 0.5). vLLM-SR's classifier says `needs_fact_check` or `no_fact_check_needed`, and a signal matches when named for the answer: `fact_check(\"no_fact_check_needed\")` tests `not` the signal",
    scoreOutput: "score",
    body: (s) => {
      const notes = leftover(s, otherFields(s, []), []);
      const negate = s.name === "no_fact_check_needed";
      if (!negate && s.name !== "needs_fact_check") notes.push(`only signals named \`needs_fact_check\` or \`no_fact_check_needed\` match in vLLM-SR: \`${s.name}\` is read as \`needs_fact_check\``);
      return { fields: {}, notes, negate };
    },
  },
  kb: {
    status: "approximate",
    routeplane: "knowledge",
    why: "a knowledge base of config.yaml (`global.model_catalog.kbs`) becomes a routeplane `knowledge` signal named for it: its labels.json labels are the entries (their exemplars the texts, at most 32 labels of 32 texts) and its `threshold` the threshold. `target: { kind: label, value: x }` tests `<kb> == \"x\"`, `kind: group` tests `<kb> in [the group's labels]`: the best label, as `match: best` does. Per-label thresholds (`label_thresholds`) and prototype scoring are not carried, and `match: threshold` (every label over its threshold) is read as the best label. Without the KB's labels.json (no --config, or a file it cannot read inside config.yaml's directory) the signal is a `metadata` stand-in, and IMPORT.md names the file to write its entries from",
    scoreOutput: null,
  },
  structure: dropped("routeplane has no text-structure signals (counts, densities and sequences of regex or keyword matches in the prompt); its `conversation` signal counts messages and tools, not features of the text"),
  conversation: {
    status: "exact",
    routeplane: "conversation",
    why: "`feature` over a `source` with a `predicate` becomes the bounds of a routeplane `conversation` signal: `role: user` messages → `user_turns`, `tool_definition` → `tools`, `assistant_tool_call` → `tool_calls`; `exists` is at least 1, and since counts are whole numbers `gt: 10` is `min_…: 11`. Approximate: all messages → `messages` (vLLM-SR counts developer messages as one); `role: system` or `developer` → `system` (either role, present or not); `role: tool` and `assistant_tool_cycle` (completed tool calls) → `tool_calls` (calls, answered or not; routeplane's `tool_repeats`, one call repeated, has no vLLM-SR source); `image_content` → a `modality` signal. No counterpart (stand-ins): `role: assistant` or `non_user`, `tool_choice_required`/`tool_choice_none`, `active_tool_loop`, `flow_tool_state`",
    scoreOutput: null,
    body: conversationBody,
  },
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
  /**
   * A routeplane plugin type; `params`: per-use model parameters of the
   * route's models (`request_params`), no plugin; `none`: nothing to apply,
   * the notes say why.
   */
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
const unknownFields = (keys: string[], known: string[]) => keys.filter((k) => !known.includes(k)).map((k) => `field \`${k}\` has no routeplane counterpart`);

/** vLLM-SR's response cache (`semantic_cache` is its earlier name) as routeplane's `cache`. */
function cacheBody(f: (key: string) => unknown, keys: string[]): PluginBody | null {
  if (f("enabled") === false) return null;
  const mode = str(f("mode")) ?? "semantic";
  const notes = unknownFields(keys, ["enabled", "mode", "semantic", "similarity_threshold", "ttl_seconds"]);
  const fields: Record<string, unknown> = {};
  const ttl = num(f("ttl_seconds"));
  if (ttl !== undefined) {
    const t = Math.min(7 * 24 * 3600, Math.max(1, Math.round(ttl)));
    fields.ttl_s = t;
    if (t !== ttl) notes.push(`\`ttl_seconds: ${ttl}\` is outside routeplane's 1 s to 7 days: \`ttl_s: ${t}\``);
  }
  const similarity = num(obj(f("semantic"))?.similarity_threshold) ?? num(f("similarity_threshold"));
  if (mode === "exact") {
    if (similarity !== undefined) notes.push("`mode: exact`: the similarity threshold is not used, in vLLM-SR too");
  } else if (similarity !== undefined && similarity > 0 && similarity <= 1) {
    fields.similarity = similarity;
  } else {
    if (!["semantic", "exact_then_semantic"].includes(mode)) notes.push(`\`mode: "${mode}"\` is unknown`);
    notes.push("no similarity threshold in (0, 1]: vLLM-SR's router-wide one (config.yaml) is not read, so routeplane caches identical requests only; set `similarity`");
  }
  return { type: "cache", fields, notes };
}

/** vLLM-SR's `tools` plugin as routeplane's `tools_filter`. */
function toolsBody(f: (key: string) => unknown, keys: string[]): PluginBody | null {
  if (f("enabled") === false) return null;
  const mode = str(f("mode")) ?? "passthrough";
  const notes = unknownFields(keys, ["enabled", "mode", "allow_tools", "block_tools", "strip_tool_history", "semantic_selection", "strategy", "dynamic_retrieval"]);
  const fields: Record<string, unknown> = {};
  const allow = strings(f("allow_tools")) ?? [];
  const block = strings(f("block_tools")) ?? [];
  if (f("semantic_selection") === true || f("dynamic_retrieval") !== undefined || f("strategy") !== undefined) notes.push("semantic tool selection (`semantic_selection`, `strategy`, `dynamic_retrieval`) has no counterpart: routeplane does not choose tools by similarity");
  if (mode === "none") {
    fields.none = true;
    if (f("strip_tool_history") === true) fields.strip_history = true;
  } else if (mode === "filtered") {
    if (allow.length) fields.allow = [...new Set(allow)];
    if (block.length) notes.push("`block_tools` has no counterpart: routeplane keeps an allow-list (list the tools to keep in `allow`)");
  } else if (mode !== "passthrough") notes.push(`\`mode: "${mode}"\` is unknown; read as passthrough`);
  if (mode !== "none" && f("strip_tool_history") === true) notes.push("`strip_tool_history` applies with `mode: none` only, in vLLM-SR too");
  if (mode !== "filtered" && (allow.length || block.length)) notes.push("`allow_tools`/`block_tools` apply with `mode: filtered` only, in vLLM-SR too");
  if (Object.keys(fields).length === 0) return { type: "none", fields, notes: [mode === "filtered" ? "nothing routeplane can filter with (an allow-list)" : `\`mode: ${mode}\` keeps the client's tools`, ...notes] };
  return { type: "tools_filter", fields, notes };
}

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
  semantic_cache: {
    status: "approximate",
    routeplane: "cache",
    why: "routeplane's `cache`: `ttl_seconds` → `ttl_s`, the similarity threshold (`semantic.similarity_threshold`, or the flat `similarity_threshold`) → `similarity` unless `mode: exact`. routeplane keeps answers per bundle revision, route, tenant header and credential, never for requests with personal data or streams; a similar answer is one for the same conversation with a similar last user message; request controls, `scope`, `personalized` and revisions are not carried",
    body: cacheBody,
  },
  response_cache: {
    status: "approximate",
    routeplane: "cache",
    why: "as `semantic_cache` (its later name)",
    body: cacheBody,
  },
  tools: {
    status: "exact",
    routeplane: "tools_filter",
    why: "routeplane's `tools_filter`: `mode: none` → `none: true` (and `strip_tool_history` → `strip_history`), `mode: filtered` with `allow_tools` → `allow`. `block_tools` and semantic tool selection (`semantic_selection`, `strategy`, `dynamic_retrieval`) have no counterpart",
    body: toolsBody,
  },
  tool_selection: droppedPlugin("vLLM-SR selects the most relevant tools by similarity (`top_k`, thresholds, a tools database); routeplane's `tools_filter` keeps a named allow-list, not the tools most like the request"),
  router_replay: {
    status: "approximate",
    routeplane: "capture",
    why: "routeplane's `capture` records the route's decisions (every one: `sample: 1`) with every signal value, for `routeplane replay`; request and response bodies and tool traces are not captured, and the number kept is the telemetry pipeline's, not `max_records`",
    body: (f, keys) => {
      if (f("enabled") === false) return null;
      const notes = unknownFields(keys, ["enabled", "max_records", "capture_request_body", "capture_response_body", "max_body_bytes", "max_tool_trace_bytes", "max_tool_trace_steps"]);
      return { type: "capture", fields: { sample: 1 }, notes };
    },
  },
  hallucination: droppedPlugin("routeplane has no hallucination detection"),
  memory: droppedPlugin("routeplane has no memory plugin"),
  rag: droppedPlugin("routeplane has no retrieval plugin"),
  shadow_dispatch: droppedPlugin("routeplane does not send shadow copies of requests"),
  fast_response: droppedPlugin("routeplane has no canned-answer plugin (its blocking plugins answer with an error)"),
  request_params: {
    status: "approximate",
    routeplane: "params",
    why: "per-use model parameters on every model of the route: `max_tokens_limit` (or, without it, `default_max_tokens`) → `max_tokens`, a cap that also fills in a missing value (vLLM-SR fills in only `default_max_tokens`, and caps at `max_tokens_limit`); `blocked_params`, `max_n` and `strip_unknown` have no counterpart",
    body: (f, keys) => {
      const notes = unknownFields(keys, ["max_tokens_limit", "default_max_tokens", "blocked_params", "max_n", "strip_unknown"]);
      const limit = num(f("max_tokens_limit"));
      const dflt = num(f("default_max_tokens"));
      const cap = limit ?? dflt;
      const fields: Record<string, unknown> = {};
      if (cap !== undefined && Number.isInteger(cap) && cap >= 1 && cap <= 10_000_000) fields.max_tokens = cap;
      else if (cap !== undefined) notes.push(`\`${limit !== undefined ? "max_tokens_limit" : "default_max_tokens"}: ${cap}\` is not a whole number from 1 to 10,000,000`);
      if (limit !== undefined && dflt !== undefined && dflt !== limit) notes.push(`\`default_max_tokens: ${dflt}\`: a client without a max_tokens gets the cap, ${limit}`);
      for (const k of ["blocked_params", "max_n", "strip_unknown"]) if (f(k) !== undefined && f(k) !== false) notes.push(`\`${k}\` has no counterpart: routeplane does not strip or bound other request parameters`);
      if (Object.keys(fields).length === 0) return null;
      return { type: "params", fields, notes };
    },
  },
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
  routeplane: "static" | "weighted" | "cheapest" | "fastest" | "adaptive" | "cascade" | "use";
  why: string;
  /**
   * The `select` block's fields built from the ALGORITHM's (besides `models`);
   * `read` are the fields it used or reported, so they are not listed as dropped.
   */
  fields?: (field: (key: string) => unknown, models: string[]) => { fields: Record<string, unknown>; notes: string[]; read: string[] };
}

const learned = (what: string): AlgorithmRow => ({
  status: "approximate",
  routeplane: "adaptive",
  why: `${what}; routeplane's \`adaptive\` learns the split from ratings, cost and latency within bounds (objective \`quality - 0.1 * cost_usd\`, explore 0.05)`,
});
const noCounterpart = (what: string): AlgorithmRow => ({
  status: "approximate",
  routeplane: "use",
  why: `${what}: routeplane has no counterpart (its cascades and hedges take one model's answer, never a combination or a judge's pick), so the first model serves and the others are its fallbacks`,
});

/** vLLM-SR's default confidence threshold (a mean token log-probability). */
const DEFAULT_LOGPROB_THRESHOLD = -1.0;
const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** A confidence ALGORITHM's fields as a cascade's: the threshold as a probability, and a verifier for self-verification. */
function cascadeFields(f: (key: string) => unknown, models: string[]): { fields: Record<string, unknown>; notes: string[]; read: string[] } {
  const method = str(f("confidence_method")) ?? "avg_logprob";
  const t = num(f("threshold"));
  const notes: string[] = [];
  const fields: Record<string, unknown> = {};
  const fromLogprob = (lp: number, said: string) => {
    if (lp >= 0) {
      fields.min_confidence = 1;
      notes.push(`${said}: a mean log-probability is at most 0, so in vLLM-SR no answer reaches it and the last model always answers; \`min_confidence: 1\` takes an earlier answer only when every token of it is certain`);
      return;
    }
    const p = round3(Math.exp(lp));
    fields.min_confidence = p;
    notes.push(`${said}: \`min_confidence: ${p}\` is e^(${lp}), the mean token probability at that mean log-probability${Math.exp(lp) !== p ? " (rounded to 3 places)" : ""}`);
  };
  switch (method) {
    case "avg_logprob":
      fromLogprob(t ?? DEFAULT_LOGPROB_THRESHOLD, t === undefined ? `no \`threshold\`: vLLM-SR's default, ${DEFAULT_LOGPROB_THRESHOLD}` : `\`threshold: ${t}\` (a mean log-probability)`);
      break;
    case "self_verify":
      fields.min_confidence = t !== undefined && t >= 0 && t <= 1 ? t : 0.5;
      fields.verifier = new BareName(models[0]);
      notes.push(`\`self_verify\`: each model grades its own answer in vLLM-SR; routeplane's cascade has one verifier, here the first model (\`${models[0]}\`)${t === undefined || t < 0 || t > 1 ? "; no threshold in [0, 1]: 0.5" : ""}`);
      break;
    case "hybrid":
      fields.min_confidence = t !== undefined && t >= 0 && t <= 1 ? t : 0.5;
      notes.push("`hybrid` weighs the log-probability with the margin between the top two tokens; routeplane's confidence is the log-probability alone, compared with the same threshold");
      break;
    default:
      fromLogprob(DEFAULT_LOGPROB_THRESHOLD, `\`confidence_method: "${method}"\` has no counterpart (routeplane's confidence is the mean token probability, or a verifier's grade); vLLM-SR's default log-probability threshold, ${DEFAULT_LOGPROB_THRESHOLD}, is used`);
  }
  const other = ["on_error", "cost_quality_tradeoff", "token_filter", "hybrid_weights", "verifier_server_url", "verifier_timeout_seconds", "max_response_bytes"].filter((k) => f(k) !== undefined);
  if (other.length) notes.push(`${other.map((k) => `\`${k}\``).join(", ")}: no counterpart in routeplane's cascade`);
  if (f("escalation_order") !== undefined) notes.push(`\`escalation_order: ${JSON.stringify(f("escalation_order"))}\`: the cascade asks the models in the order listed`);
  return { fields, notes, read: ["confidence_method", "threshold", "escalation_order", ...other] };
}

export const ALGORITHM_TABLE: Record<string, AlgorithmRow> = {
  static: { status: "exact", routeplane: "static", why: "the first model, the rest as fallbacks" },
  random: { status: "approximate", routeplane: "weighted", why: "equal weights; routeplane's weighted choice is stable per request id rather than random per request" },
  latency_aware: { status: "approximate", routeplane: "fastest", why: "lowest observed latency (EWMA); TTFT/TPOT percentiles are not carried" },
  elo: learned("Elo ratings from feedback"),
  router_dc: learned("dual-contrastive query–model matching"),
  automix: learned("a learned prediction of which model's answer would pass self-verification (chosen before any call)"),
  hybrid: learned("a blend of Elo, RouterDC and AutoMix"),
  knn: learned("a trained kNN selector"),
  kmeans: learned("a trained k-means selector"),
  mlp: learned("a trained MLP selector"),
  svm: learned("a trained SVM selector"),
  rl_driven: learned("reinforcement-learned selection"),
  gmtrouter: learned("a graph-based learned selector"),
  multi_factor: learned("a weighted multi-factor score"),
  confidence: {
    status: "approximate",
    routeplane: "cascade",
    why: "a routeplane `cascade`: each model but the last answers, and its answer is taken when its confidence reaches `min_confidence`. `confidence_method: avg_logprob` (the default) compares the mean token log-probability with `threshold`, which is exactly the mean token probability against e^threshold; `self_verify` becomes a verifier (the first model); `margin`, `hybrid` and `automix_entailment` have no counterpart. vLLM-SR orders the models by `escalation_order` (by default their `param_size`, smallest first); the cascade asks them in the order listed",
    fields: cascadeFields,
  },
  ratings: noCounterpart("parallel calls rated by a judge"),
  remom: noCounterpart("multi-round mixture of models"),
  fusion: noCounterpart("answers of several models fused by another"),
  workflows: noCounterpart("multi-step workflows over several models"),
  prompt: noCounterpart("a model chosen by prompting another model"),
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
  "MODEL reasoning/effort/lora": { status: "exact", why: "per-use model parameters where the route names the model (`use large { reasoning: true, effort: high }`, or a `select`'s `params`): `reasoning` → `reasoning`, `effort` (minimal, low, medium, high) → `effort`, `lora` → `lora`, the adapter's served name, which is the model name vLLM-SR sends too" },
  "MODEL param_size/mode": { status: "dropped", why: "`param_size` orders vLLM-SR's size-based selection and cascades, and `mode`, `reasoning_family` and `reasoning_description` its reasoning syntax: routeplane models have no size, and the sidecar writes each provider's reasoning parameters itself" },
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
  "RECIPE": { status: "exact", why: "a `profile` of the one package, in a file of its own (`recipes/<profile>.route`): its routes (`route x in <profile>`), catch-all (`default in <profile>`), signals, plugins and tests, analysed on their own as vLLM-SR compiles each recipe on its own; a name that the top level or an earlier recipe also declares gets the profile's name before it (`speed_chatty`, listed in IMPORT.md), an identical signal or plugin is declared once; the models are declared once, as vLLM-SR's catalog is shared" },
  "ENTRYPOINT": { status: "exact", why: "its request-facing model names (`model_names`; `name` and `aliases` in later DSLs) become the `models` of the profile its recipe became (the recipe of its rule without matches, when it has `rules`): a request naming one gets that recipe's routes, as in vLLM-SR. An entrypoint of `default` (the top-level program) needs no profile: the policy's own routes take every request that no profile claims" },
  "ENTRYPOINT path match": { status: "approximate", why: "a rule's `path: { prefix }` (or `exact`) becomes the `path_prefix` of its recipe's profile; routeplane tries the path before the model name, so the profile takes every request on that path whatever model it names, where vLLM-SR first needs one of the entrypoint's names; a profile has one path prefix, and the path is the part before `/v1/…`" },
  "ENTRYPOINT claim match": { status: "dropped", why: "routeplane selects a profile by path and model name, not by a claim of the caller's credentials: the match is left out" },
  "ENTRYPOINT assignments": { status: "dropped", why: "the models an entrypoint assigns to its recipe's decisions are not read: each route keeps its own MODEL (or the default model), so set the models in the routes by hand" },
  "ENTRYPOINT api": { status: "dropped", why: "routeplane serves the OpenAI-compatible chat and completions endpoints; an entrypoint of another API (`systemone`) has no counterpart, and only `chat` (the default) maps" },
  "ROUTING strategy": { status: "approximate", why: "`priority` is routeplane's order; `confidence` (the most confident matching route wins) has no counterpart beyond partitions" },
  "GLOBAL default_model": { status: "exact", why: "the `default` route's model" },
  "GLOBAL (other fields)": { status: "dropped", why: "router-wide settings (observability, prompt guard, model selection, …) are the sidecar's flags in routeplane" },
  "BACKEND vllm_endpoint": { status: "exact", why: "the endpoint (`http://address:port/v1`) of the models it serves" },
  "BACKEND provider_profile": { status: "exact", why: "`base_url` and `type` give the provider and endpoint of the models that name the profile" },
  "BACKEND (other types)": { status: "dropped", why: "embedding models, caches, memory and response stores are not part of a routeplane policy" },
  "catch-all route": { status: "exact", why: "a route without WHEN (or an ELSE branch) becomes the `default`" },
};
