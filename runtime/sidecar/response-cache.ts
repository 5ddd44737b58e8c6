// The `cache` plugin's store: answers a route gave before, kept per bundle
// revision, route, plugin and tenant (the tenant header's value and the
// client's credential), least recently used out first, within an entry
// count per plugin and one byte budget for the sidecar. A hit is the same
// request exactly, or — with `similarity` — the same conversation whose last
// user message embeds close enough to a cached one's. Requests with personal
// data are never read from or written to it (request-path.ts).
import { createHash } from "node:crypto";
import { canonicalJson, type JsonObject, type JsonValue } from "../../bundle/index.ts";
import { cosine } from "./semantic.ts";

export interface CachedAnswer {
  text: string;
  contentType: string;
  model: string;
}

interface Entry extends CachedAnswer {
  expires: number;
  /** scope + conversation without its last user message: where similar answers are looked for. */
  context: string;
  vector: number[] | null;
  bytes: number;
}

/** Where a request's answer is kept and looked for. */
export interface CacheSlot {
  /** The plugin's own table: its entry count is per plugin. */
  table: string;
  key: string;
  context: string;
  maxEntries: number;
  ttlMs: number;
}

export type CacheOutcome = "exact" | "similar" | "miss" | "skipped";

/** The whole store's bytes (answer text at 2 a UTF-16 unit, vectors at 8 a component) at most, by default 64 MiB. */
export const RESPONSE_CACHE_BYTES = 64 * 1024 * 1024;

/** Answers one similarity lookup compares at most: the most recent of its conversation context. */
export const SIMILAR_SCAN = 256;

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

export class ResponseCache {
  private readonly tables = new Map<string, Map<string, Entry>>();
  private readonly byContext = new Map<string, Set<string>>();
  private bytes = 0;
  readonly outcomes: Record<CacheOutcome, number> = { exact: 0, similar: 0, miss: 0, skipped: 0 };

  private readonly maxBytes: number;

  constructor(maxBytes = RESPONSE_CACHE_BYTES) {
    this.maxBytes = maxBytes;
  }

  /**
   * The slot of one request: the scope (revision, route, plugin, tenant, credential) and the
   * request's body as it goes upstream, canonical (key order does not matter), without `stream`.
   */
  static slot(scope: { revision: string; route: string; plugin: string; tenant: string; credential: string }, body: JsonObject, config: JsonObject): CacheSlot {
    const table = `${scope.revision}\u0000${scope.route}\u0000${scope.plugin}`;
    const who = sha(`${scope.tenant}\u0000${scope.credential}`);
    const { stream: _stream, ...rest } = body;
    const context = withoutLastUser(rest);
    return {
      table,
      key: sha(`${who}\u0000${canonicalJson(rest as JsonValue)}`),
      context: sha(`${table}\u0000${who}\u0000${canonicalJson(context as JsonValue)}`),
      maxEntries: (config.max_entries as number | undefined) ?? 1000,
      ttlMs: ((config.ttl_s as number | undefined) ?? 300) * 1000,
    };
  }

  get(slot: CacheSlot, now: number): CachedAnswer | null {
    const t = this.tables.get(slot.table);
    const e = t?.get(slot.key);
    if (!t || !e) return null;
    if (e.expires <= now) {
      this.drop(slot.table, slot.key);
      return null;
    }
    // Recently used last.
    t.delete(slot.key);
    t.set(slot.key, e);
    return e;
  }

  /**
   * The closest unexpired answer in the same conversation context whose vector reaches `threshold`,
   * among its SIMILAR_SCAN most recent answers (a lookup's CPU is bounded whatever the cache holds).
   */
  similar(slot: CacheSlot, vector: readonly number[], threshold: number, now: number): CachedAnswer | null {
    const keys = this.byContext.get(slot.context);
    const t = this.tables.get(slot.table);
    if (!keys || !t) return null;
    let best: Entry | null = null;
    let bestScore = -Infinity;
    // At most SIMILAR_SCAN keys (put keeps the set that short); copied, as drop() may change it.
    for (const k of [...keys]) {
      const e = t.get(k);
      if (!e || e.expires <= now) {
        this.drop(slot.table, k);
        continue;
      }
      if (e.vector === null || e.vector.length !== vector.length) continue;
      const s = cosine(vector, e.vector);
      if (s >= threshold && s > bestScore) {
        best = e;
        bestScore = s;
      }
    }
    return best;
  }

  put(slot: CacheSlot, answer: CachedAnswer, vector: number[] | null, now: number): void {
    // Text at 2 bytes a UTF-16 unit, vectors at 8 a component, and per entry its two 64-character keys, the
    // entry object and its places in two maps: 25,000 tiny answers counted as 16 MiB grew the heap by 11.7 MiB.
    const bytes = 2 * (answer.text.length + answer.contentType.length + answer.model.length) + 8 * (vector?.length ?? 0) + 600;
    if (bytes > this.maxBytes) return;
    this.drop(slot.table, slot.key);
    let t = this.tables.get(slot.table);
    if (!t) this.tables.set(slot.table, (t = new Map()));
    t.set(slot.key, { ...answer, expires: now + slot.ttlMs, context: slot.context, vector, bytes });
    // A context remembers its SIMILAR_SCAN most recent answers for similarity (older ones stay exact hits).
    const keys = this.byContext.get(slot.context) ?? this.byContext.set(slot.context, new Set()).get(slot.context)!;
    keys.add(slot.key);
    if (keys.size > SIMILAR_SCAN) keys.delete(keys.values().next().value!);
    this.bytes += bytes;
    while (t.size > slot.maxEntries) this.drop(slot.table, t.keys().next().value!);
    // Over the byte budget: the least recently used of the largest table first.
    while (this.bytes > this.maxBytes) {
      const largest = [...this.tables].sort((a, b) => b[1].size - a[1].size)[0];
      this.drop(largest[0], largest[1].keys().next().value!);
    }
  }

  get stats(): { entries: number; bytes: number } {
    let entries = 0;
    for (const t of this.tables.values()) entries += t.size;
    return { entries, bytes: this.bytes };
  }

  private drop(table: string, key: string): void {
    const t = this.tables.get(table);
    const e = t?.get(key);
    if (!t || !e) return;
    t.delete(key);
    if (t.size === 0) this.tables.delete(table);
    this.bytes -= e.bytes;
    const keys = this.byContext.get(e.context);
    keys?.delete(key);
    if (keys?.size === 0) this.byContext.delete(e.context);
  }
}

/** The body with its last user message's content left out: what two similar requests must share. */
function withoutLastUser(body: JsonObject): JsonObject {
  if (!Array.isArray(body.messages)) return body;
  const messages = body.messages.slice();
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m !== null && typeof m === "object" && !Array.isArray(m) && m.role === "user") {
      // Only its text may differ: images, audio and files stay part of the context (the same question about another image is another request).
      const content = Array.isArray(m.content) ? m.content.map((part) => (part !== null && typeof part === "object" && !Array.isArray(part) && part.type === "text" ? { type: "text" } : part)) : null;
      messages[i] = { ...m, content };
      break;
    }
  }
  return { ...body, messages };
}
