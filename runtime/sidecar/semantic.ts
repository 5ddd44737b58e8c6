// Embedding and domain signals through an OpenAI-compatible embeddings
// endpoint: the last user message and the policy's phrases (embedding
// candidates, domain class names) are embedded, and cosine similarity gives
// the scores. Phrase vectors and recent messages are cached; every call has a
// time budget, and when it is exceeded or the endpoint fails the engine's
// offline stand-ins decide instead (counted in the metrics).
import { OriginPool } from "./http-client.ts";
import type { Bundle, JsonObject } from "../../bundle/index.ts";
import { ALL_PII_TYPES } from "../engine/detectors.ts";
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
}

export type SemanticOutcome = "ok" | "timeout" | "error";

export class SemanticSignals {
  private pool: OriginPool | null = null;
  private readonly base: URL;
  private readonly options: Required<Omit<SemanticOptions, "apiKey">> & { apiKey?: string };
  private readonly cache = new Map<string, number[]>();
  outcomes: Record<SemanticOutcome, number> = { ok: 0, timeout: 0, error: 0 };

  constructor(options: SemanticOptions) {
    this.options = { budgetMs: 50, cacheSize: 10_000, ...options };
    this.base = new URL(options.url);
  }

  /**
   * The policy's embedding and domain signals, as given values for the engine; {} when out of budget or failing.
   * The text leaves the process only redacted: every PII type the detectors know becomes `[EMAIL]`, `[CREDIT_CARD]`, …
   * whatever the policy says, since the endpoint (by default a cloud API) is not a model the policy routes to.
   */
  async valuesFor(bundle: Bundle, raw: string, wanted: ReadonlySet<string>): Promise<JsonObject> {
    const text = redactText(raw, ALL_PII_TYPES, "redact", {});
    const signals = bundle.policy.signals.filter((s) => wanted.has(s.name) && (s.type === "embedding" || s.type === "domain"));
    if (signals.length === 0) return {};
    const phrases = signals.flatMap((s) => (s.type === "embedding" ? (s.config.candidates as string[]) : (s.config.classes as string[]).map(className)));
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
      this.outcomes.ok++;
      const [query] = vectors;
      const byText = new Map(phrases.map((p, i) => [p, vectors[i + 1]]));
      const out: JsonObject = {};
      for (const s of signals) {
        if (s.type === "embedding") {
          const sims = (s.config.candidates as string[]).map((c) => clamp(cosine(query, byText.get(c)!)));
          const agg = (s.config.aggregation as string | undefined) ?? "max";
          const score = agg === "mean" ? sims.reduce((a, b) => a + b, 0) / sims.length : Math.max(...sims);
          const threshold = s.config.threshold as number;
          out[s.name] = { score: round(score), matched: agg === "any" ? sims.some((x) => x >= threshold) : score >= threshold };
        } else {
          out[s.name] = Object.fromEntries((s.config.classes as string[]).map((c) => [c, round(clamp(cosine(query, byText.get(className(c))!)))]));
        }
      }
      return out;
    } catch {
      this.outcomes.error++;
      return {};
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }

  private async embed(texts: string[], signal: AbortSignal): Promise<number[][]> {
    const missing = [...new Set(texts.filter((t) => !this.cache.has(t)))];
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
      const body = (await res.body.json()) as { data: { index: number; embedding: number[] }[] };
      for (const d of body.data) this.remember(missing[d.index], d.embedding);
    }
    return texts.map((t) => this.cache.get(t)!);
  }

  private remember(text: string, vector: number[]): void {
    this.cache.set(text, vector);
    // Oldest first out: a Map iterates in insertion order.
    if (this.cache.size > this.options.cacheSize) this.cache.delete(this.cache.keys().next().value!);
  }
}

/** A class name as a phrase: `billing_question` → "billing question". */
const className = (c: string) => c.replace(/_/g, " ");
const clamp = (x: number) => Math.max(0, Math.min(1, x));
const round = (x: number) => Math.round(x * 1000) / 1000;

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na && nb ? dot / Math.sqrt(na * nb) : 0;
}
