// Model-backed signals through an OpenAI-compatible embeddings endpoint:
// the last user message and the policy's phrases (embedding candidates,
// domain class names, knowledge-base entries, fact-check questions, feedback
// examples) are embedded, and cosine similarity gives the scores. Phrase vectors and recent messages are cached, bounded by count
// and by bytes, and texts over 8 KiB are never cached; every call has a time
// budget, and when it is exceeded or the endpoint fails — an error status, a
// malformed answer, a vector that is not finite numbers of one dimension —
// the engine's offline stand-ins decide instead (counted in the metrics).
import { OriginPool } from "./http-client.ts";
import type { Bundle, JsonObject, JsonValue, SignalSpec } from "../../bundle/index.ts";
import { ALL_PII_TYPES, DEFAULT_FACT_CHECK, DEFAULT_NEGATIVE, DEFAULT_POSITIVE, knowledgeValue } from "../engine/detectors.ts";
import { redactText } from "./plugins.ts";

export interface SemanticOptions {
  /** OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (POST {url}/embeddings). */
  url: string;
  model: string;
  apiKey?: string;
  /** Most time one request may spend waiting for embeddings, in ms. */
  budgetMs?: number;
  /** Texts whose vectors are kept. */
  cacheSize?: number;
  /** Bytes of cached texts (2 a UTF-16 unit) and vectors (8 a component) kept, all entries together. */
  cacheBytes?: number;
  /** Texts larger than this (in bytes, 2 a UTF-16 unit) are embedded but never cached. */
  cacheTextMaxBytes?: number;
}

/** Defaults: 10,000 texts, 16 MiB of texts and vectors, texts up to 8 KiB cached. */
export const SEMANTIC_CACHE_DEFAULTS = { cacheSize: 10_000, cacheBytes: 16 * 1024 * 1024, cacheTextMaxBytes: 8 * 1024 };

/** What one cache entry counts for: its key's UTF-16 bytes, its vector's doubles, and a fixed overhead. */
export const cacheEntryBytes = (text: string, vector: readonly number[]): number => 2 * text.length + 8 * vector.length + 64;

export type SemanticOutcome = "ok" | "timeout" | "error";

export class SemanticSignals {
  private pool: OriginPool | null = null;
  private readonly base: URL;
  private readonly options: Required<Omit<SemanticOptions, "apiKey">> & { apiKey?: string };
  private readonly cache = new Map<string, number[]>();
  private cachedBytes = 0;
  outcomes: Record<SemanticOutcome, number> = { ok: 0, timeout: 0, error: 0 };

  constructor(options: SemanticOptions) {
    this.options = { budgetMs: 50, ...SEMANTIC_CACHE_DEFAULTS, ...options };
    this.base = new URL(options.url);
  }

  /**
   * The policy's model-backed signals, as given values for the engine; {} when out of budget or failing.
   * The text leaves the process only redacted: every PII type the detectors know becomes `[EMAIL]`, `[CREDIT_CARD]`, …
   * whatever the policy says, since the endpoint (by default a cloud API) is not a model the policy routes to.
   */
  async valuesFor(bundle: Bundle, raw: string, wanted: ReadonlySet<string>): Promise<JsonObject> {
    const text = redactText(raw, ALL_PII_TYPES, "redact", {});
    const signals = bundle.policy.signals.filter((s) => wanted.has(s.name) && phrasesOf(s) !== null);
    if (signals.length === 0) return {};
    const phrases = signals.flatMap((s) => phrasesOf(s)!);
    let timer: NodeJS.Timeout | undefined;
    // Out of budget: answer without the endpoint, and cancel the call so it holds no connection.
    const abort = new AbortController();
    const budget = new Promise<"timeout">((resolve) => (timer = setTimeout(() => {
      abort.abort();
      resolve("timeout");
    }, this.options.budgetMs)));
    try {
      const vectors = await Promise.race([this.embed([text, ...phrases], abort.signal), budget]);
      if (vectors === "timeout") {
        this.outcomes.timeout++;
        return {};
      }
      const [query] = vectors;
      const byText = new Map(phrases.map((p, i) => [p, vectors[i + 1]]));
      const out: JsonObject = {};
      const similarity = (phrase: string) => clamp(cosine(query, byText.get(phrase)!));
      for (const s of signals) out[s.name] = scored(s, similarity);
      this.outcomes.ok++;
      return out;
    } catch {
      this.outcomes.error++;
      return {};
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * One text's vector within the time budget (the response cache's similarity), or null when out
   * of budget or failing; the text is sent redacted, as for signals.
   */
  async vectorFor(raw: string): Promise<number[] | null> {
    const text = redactText(raw, ALL_PII_TYPES, "redact", {});
    const abort = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<null>((resolve) => (timer = setTimeout(() => {
      abort.abort();
      resolve(null);
    }, this.options.budgetMs)));
    try {
      const v = await Promise.race([this.embed([text], abort.signal), budget]);
      if (v === null) this.outcomes.timeout++;
      else this.outcomes.ok++;
      return v === null ? null : v[0];
    } catch {
      this.outcomes.error++;
      return null;
    } finally {
      clearTimeout(timer);
    }
  }

  /** The cache's size: entries, and bytes as cacheEntryBytes counts them. */
  get cacheStats(): { entries: number; bytes: number } {
    return { entries: this.cache.size, bytes: this.cachedBytes };
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  private async embed(texts: string[], signal: AbortSignal): Promise<number[][]> {
    const fetched = new Map<string, number[]>();
    for (const t of texts) {
      const v = this.cache.get(t);
      if (v === undefined) continue;
      // Recently used last: what a request needs (the policy's phrases) is not pushed out by other requests' messages.
      this.cache.delete(t);
      this.cache.set(t, v);
      fetched.set(t, v);
    }
    const missing = [...new Set(texts.filter((t) => !fetched.has(t)))];
    if (missing.length > 0) {
      this.pool ??= new OriginPool(this.base.origin, { connections: 16, keepAliveMs: 30_000 });
      const res = await this.pool.request({
        method: "POST",
        path: this.base.pathname.replace(/\/$/, "") + "/embeddings",
        headers: { "content-type": "application/json", ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}) },
        body: JSON.stringify({ model: this.options.model, input: missing }),
        // The budget is enforced by the signal; these only bound a call nobody cancels.
        headersTimeoutMs: 30_000,
        bodyTimeoutMs: 30_000,
        signal,
      });
      if (res.statusCode !== 200) {
        res.body.destroy();
        throw new Error(`embeddings endpoint answered ${res.statusCode}`);
      }
      const body = (await res.body.json()) as { data?: unknown } | null;
      const data = body !== null && typeof body === "object" ? body.data : undefined;
      if (!Array.isArray(data)) throw new Error("embeddings endpoint answered without data");
      const got = new Map<string, number[]>();
      for (const d of data as { index?: unknown; embedding?: unknown }[]) {
        const i = d !== null && typeof d === "object" ? d.index : undefined;
        if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= missing.length) throw new Error("embeddings endpoint answered an index out of range");
        got.set(missing[i], vectorOf(d.embedding));
      }
      for (const t of missing) {
        const v = got.get(t);
        if (v === undefined) throw new Error("embeddings endpoint answered too few vectors");
        fetched.set(t, v);
      }
    }
    const vectors = texts.map((t) => fetched.get(t)!);
    // One model, one dimension: vectors of another dimension (the endpoint's model changed) would make cosine NaN.
    if (vectors.some((v) => v.length !== vectors[0].length)) {
      this.cache.clear();
      this.cachedBytes = 0;
      throw new Error("embeddings endpoint answered vectors of different dimensions");
    }
    for (const t of missing) this.remember(t, fetched.get(t)!);
    return vectors;
  }

  private remember(text: string, vector: number[]): void {
    const size = cacheEntryBytes(text, vector);
    // A large text (a long message) is embedded each time, never kept.
    if (2 * text.length > this.options.cacheTextMaxBytes || size > this.options.cacheBytes) return;
    const old = this.cache.get(text);
    if (old !== undefined) {
      this.cache.delete(text);
      this.cachedBytes -= cacheEntryBytes(text, old);
    }
    this.cache.set(text, vector);
    this.cachedBytes += size;
    // Least recently used first out: a Map iterates in insertion order.
    while (this.cache.size > this.options.cacheSize || this.cachedBytes > this.options.cacheBytes) {
      const [k, v] = this.cache.entries().next().value!;
      this.cache.delete(k);
      this.cachedBytes -= cacheEntryBytes(k, v);
    }
  }
}

/** The phrases a model-backed signal is scored against, or null for a signal the endpoint does not score. */
function phrasesOf(s: SignalSpec): string[] | null {
  const c = s.config;
  switch (s.type) {
    case "embedding":
      return c.candidates as string[];
    case "domain":
      return (c.classes as string[]).map(className);
    case "knowledge":
      return Object.values(c.entries as Record<string, string[]>).flat();
    case "fact_check":
      return (c.candidates as string[] | undefined) ?? DEFAULT_FACT_CHECK;
    case "feedback":
      return c.classifier === "embeddings" ? [...feedbackPhrases(c, "negative"), ...feedbackPhrases(c, "positive")] : null;
    default:
      return null;
  }
}

const feedbackPhrases = (c: JsonObject, side: "negative" | "positive") => (c[side] as string[] | undefined) ?? (side === "negative" ? DEFAULT_NEGATIVE : DEFAULT_POSITIVE);

/** One signal's values from its phrases' similarities to the message, as given values for the engine. */
function scored(s: SignalSpec, similarity: (phrase: string) => number): JsonValue {
  const c = s.config;
  const threshold = (c.threshold as number | undefined) ?? 0.5;
  switch (s.type) {
    case "embedding": {
      const sims = (c.candidates as string[]).map(similarity);
      const agg = (c.aggregation as string | undefined) ?? "max";
      const score = agg === "mean" ? sims.reduce((a, b) => a + b, 0) / sims.length : Math.max(...sims);
      return { score: round(score), matched: agg === "any" ? sims.some((x) => x >= threshold) : score >= threshold };
    }
    case "domain":
      return Object.fromEntries((c.classes as string[]).map((k) => [k, round(similarity(className(k)))]));
    case "knowledge": {
      const v = knowledgeValue(c.entries as Record<string, string[]>, threshold, similarity);
      return { label: v.label, score: v.score };
    }
    case "fact_check":
      return { score: round(Math.max(...((c.candidates as string[] | undefined) ?? DEFAULT_FACT_CHECK).map(similarity))) };
    default: {
      // feedback: the closer side, when its best example reaches the threshold (default 0.5); ties are negative.
      const neg = Math.max(...feedbackPhrases(c, "negative").map(similarity));
      const pos = Math.max(...feedbackPhrases(c, "positive").map(similarity));
      return neg >= pos && neg >= threshold ? "negative" : pos >= threshold ? "positive" : "none";
    }
  }
}

/** An embedding as the endpoint must give it: a non-empty array of finite numbers; anything else is an endpoint error. */
function vectorOf(v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0) throw new Error("embeddings endpoint answered a vector that is not an array of numbers");
  for (const x of v) if (typeof x !== "number" || !Number.isFinite(x)) throw new Error("embeddings endpoint answered a vector with a non-finite or non-number component");
  return v as number[];
}

/** A class name as a phrase: `billing_question` → "billing question". */
const className = (c: string) => c.replace(/_/g, " ");
const clamp = (x: number) => Math.max(0, Math.min(1, x));
const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Cosine similarity of two finite vectors of one dimension, each scaled by
 * its largest component first (cosine does not change), so no sum of squares
 * overflows to Infinity or underflows to 0; always a finite number.
 */
export function cosine(a: readonly number[], b: readonly number[]): number {
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < a.length; i++) {
    ma = Math.max(ma, Math.abs(a[i]));
    mb = Math.max(mb, Math.abs(b[i]));
  }
  if (ma === 0 || mb === 0) return 0;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] / ma;
    const y = b[i] / mb;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  const c = dot / Math.sqrt(na * nb);
  return Number.isFinite(c) ? c : 0;
}
