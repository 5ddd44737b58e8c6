// Signal extraction. Each signal spec is compiled once per bundle into an
// extractor; per request, extractors run lazily (only when a condition asks)
// and their results are memoized, so a signal costs nothing until needed.
import { RE2JS } from "re2js";
import type { JsonObject, JsonValue, SignalSpec } from "../../bundle/index.ts";
import { AhoCorasick } from "./aho-corasick.ts";
import {
  DEFAULT_NEGATIVE, DEFAULT_POSITIVE, complexityScore, countTokens, detectLanguage, feedbackLabel, findPii,
  jailbreakScore, lexicalSimilarity, reaskCount, type LanguageGuess,
} from "./detectors.ts";
import { textOf, type Request } from "./request.ts";

export type OutputValue = number | string | boolean;

export interface SignalValue {
  matched: boolean;
  outputs: Record<string, OutputValue>;
  /** "computed" in process, "given" by the caller, or "offline" (a stand-in for a model server). */
  source: "computed" | "given" | "offline";
}

/** Per-request state shared by all extractors: derived text, computed once. */
export class RequestContext {
  readonly request: Request;
  private _lastUser?: string;
  private _lastUserLower?: string;
  private _allText?: string;
  private _tokens?: number;
  private _language?: LanguageGuess;
  private _keywordHits?: Uint8Array;
  private _keywordHitsCs?: Uint8Array;
  private _jailbreak?: number;

  constructor(request: Request) {
    this.request = request;
  }

  /** The last user message: what most signals judge. */
  get lastUser(): string {
    if (this._lastUser === undefined) {
      const msgs = this.request.messages;
      let text = "";
      for (let i = msgs.length - 1; i >= 0; i--) {
        if (msgs[i].role === "user") {
          text = textOf(msgs[i].content);
          break;
        }
      }
      this._lastUser = text;
    }
    return this._lastUser;
  }
  get lastUserLower(): string {
    return (this._lastUserLower ??= this.lastUser.toLowerCase());
  }
  /** Every message's text: PII and token counts look at the whole prompt. */
  get allText(): string {
    return (this._allText ??= this.request.messages.map((m) => textOf(m.content)).join("\n"));
  }
  get tokens(): number {
    return (this._tokens ??= countTokens(this.allText));
  }
  get language(): LanguageGuess {
    return (this._language ??= detectLanguage(this.lastUser));
  }
  get jailbreak(): number {
    return (this._jailbreak ??= jailbreakScore(this.lastUser));
  }
  keywordHits(kw: KeywordIndex, caseSensitive: boolean): Uint8Array {
    if (caseSensitive) return (this._keywordHitsCs ??= kw.scan(this.lastUser, true));
    return (this._keywordHits ??= kw.scan(this.lastUserLower, false));
  }
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
}

/** Every phrase of every keyword signal, in two automata (case-folded and exact). */
export class KeywordIndex {
  private readonly folded: string[] = [];
  private readonly exact: string[] = [];
  private readonly wholeWord: boolean[][] = [[], []];
  private acFolded: AhoCorasick | null = null;
  private acExact: AhoCorasick | null = null;

  /** Registers a phrase; returns its id within its automaton. */
  add(phrase: string, caseSensitive: boolean, wholeWord: boolean): number {
    const list = caseSensitive ? this.exact : this.folded;
    const p = caseSensitive ? phrase : phrase.toLowerCase();
    list.push(p);
    this.wholeWord[caseSensitive ? 1 : 0].push(wholeWord);
    return list.length - 1;
  }

  scan(text: string, caseSensitive: boolean): Uint8Array {
    const list = caseSensitive ? this.exact : this.folded;
    const whole = this.wholeWord[caseSensitive ? 1 : 0];
    const ac = caseSensitive ? (this.acExact ??= new AhoCorasick(list)) : (this.acFolded ??= new AhoCorasick(list));
    const hits = new Uint8Array(list.length);
    ac.search(text, (id, start, end) => {
      if (whole[id] && ((start > 0 && isWordChar(text.charCodeAt(start - 1))) || (end < text.length && isWordChar(text.charCodeAt(end))))) return;
      hits[id] = 1;
    });
    return hits;
  }
}

export type Extractor = (ctx: RequestContext) => SignalValue;

const str = (v: JsonValue | undefined): string[] => (Array.isArray(v) ? (v as string[]) : []);

/** Compiles a signal spec into its extractor. Given values (tests, model servers) always win. */
export function compileSignal(spec: SignalSpec, keywords: KeywordIndex): Extractor {
  const computed = compileComputed(spec, keywords);
  const name = spec.name;
  return (ctx) => {
    const given = ctx.request.signals[name];
    return given === undefined ? computed(ctx) : fromGiven(spec, given);
  };
}

function compileComputed(spec: SignalSpec, keywords: KeywordIndex): Extractor {
  const c: JsonObject = spec.config;
  switch (spec.type) {
    case "keyword": {
      const cs = c.case_sensitive === true;
      const whole = c.whole_word !== false;
      const ids = (list: string[]) => list.map((p) => keywords.add(p, cs, whole));
      const any = ids(str(c.any));
      const all = ids(str(c.all));
      const none = ids(str(c.none));
      return (ctx) => {
        const hits = ctx.keywordHits(keywords, cs);
        let count = 0;
        let anyHit = any.length === 0;
        for (const id of any) if (hits[id]) { anyHit = true; count++; }
        let allHit = true;
        for (const id of all) if (hits[id]) count++; else allHit = false;
        let noneHit = false;
        for (const id of none) if (hits[id]) noneHit = true;
        return { matched: anyHit && allHit && !noneHit, outputs: { count }, source: "computed" };
      };
    }
    case "regex": {
      const re = RE2JS.compile(c.pattern as string, c.case_sensitive === false ? RE2JS.CASE_INSENSITIVE : 0);
      return (ctx) => ({ matched: re.matcher(ctx.lastUser).find(), outputs: {}, source: "computed" });
    }
    case "context": {
      const min = (c.min_tokens as number | undefined) ?? 0;
      const max = (c.max_tokens as number | undefined) ?? Infinity;
      return (ctx) => {
        const tokens = ctx.tokens;
        return { matched: tokens >= min && tokens <= max, outputs: { tokens }, source: "computed" };
      };
    }
    case "language": {
      const langs = c.languages ? new Set(str(c.languages)) : null;
      const minConf = (c.min_confidence as number | undefined) ?? 0.5;
      return (ctx) => {
        const { code, confidence } = ctx.language;
        const matched = confidence >= minConf && code !== "und" && (langs === null || langs.has(code));
        return { matched, outputs: { code, confidence }, source: "computed" };
      };
    }
    case "embedding": {
      const candidates = str(c.candidates);
      const threshold = c.threshold as number;
      const agg = (c.aggregation as string | undefined) ?? "max";
      return (ctx) => {
        const sims = candidates.map((cand) => lexicalSimilarity(ctx.lastUser, cand));
        const score = agg === "mean" ? sims.reduce((a, b) => a + b, 0) / sims.length : Math.max(...sims);
        return { matched: agg === "any" ? sims.some((s) => s >= threshold) : score >= threshold, outputs: { score: round(score) }, source: "offline" };
      };
    }
    case "domain": {
      // No classifier in process: every class scores 0 and no label is chosen.
      const classes = str(c.classes);
      return () => ({ matched: false, outputs: { label: "", ...Object.fromEntries(classes.map((k) => [k, 0])) }, source: "offline" });
    }
    case "pii": {
      const types = new Set(str(c.types));
      return (ctx) => {
        const found = findPii(ctx.allText, types);
        const outputs: Record<string, OutputValue> = { count: found.length };
        for (const t of types) outputs[t] = found.some((f) => f.type === t);
        return { matched: found.length > 0, outputs, source: "computed" };
      };
    }
    case "jailbreak": {
      const threshold = (c.threshold as number | undefined) ?? 0.5;
      return (ctx) => {
        const score = ctx.jailbreak;
        return { matched: score >= threshold, outputs: { score }, source: "computed" };
      };
    }
    case "header":
    case "metadata": {
      const values = c.values ? new Set(str(c.values)) : null;
      const key = spec.type === "header" ? (c.name as string).toLowerCase() : (c.key as string);
      const read = spec.type === "header"
        ? (ctx: RequestContext) => ctx.request.headers[key]
        : (ctx: RequestContext) => {
            const v = ctx.request.metadata[key];
            return v === undefined || v === null ? undefined : typeof v === "string" ? v : JSON.stringify(v);
          };
      return (ctx) => {
        const v = read(ctx);
        return { matched: v !== undefined && (values === null || values.has(v)), outputs: { value: v ?? "" }, source: "computed" };
      };
    }
    case "modality": {
      const types = str(c.types);
      return (ctx) => {
        const present = { image: false, audio: false, file: false };
        for (const m of ctx.request.messages) {
          if (!Array.isArray(m.content)) continue;
          for (const part of m.content) {
            if (part.type === "image_url" || part.type === "input_image") present.image = true;
            else if (part.type === "input_audio") present.audio = true;
            else if (part.type === "file") present.file = true;
          }
        }
        return { matched: types.some((t) => present[t as keyof typeof present]), outputs: present, source: "computed" };
      };
    }
    case "reask": {
      const window = (c.window as number | undefined) ?? 3;
      const similarity = (c.similarity as number | undefined) ?? 0.6;
      return (ctx) => {
        const turns = ctx.request.messages.filter((m) => m.role === "user").map((m) => textOf(m.content));
        const count = reaskCount(turns, window, similarity);
        return { matched: count > 0, outputs: { count }, source: "computed" };
      };
    }
    case "feedback": {
      const negative = (c.negative ? str(c.negative) : DEFAULT_NEGATIVE).map((s) => s.toLowerCase());
      const positive = (c.positive ? str(c.positive) : DEFAULT_POSITIVE).map((s) => s.toLowerCase());
      return (ctx) => {
        const label = feedbackLabel(ctx.lastUser, negative, positive);
        return { matched: label !== "none", outputs: { label }, source: "computed" };
      };
    }
    case "complexity": {
      const threshold = (c.threshold as number | undefined) ?? 0.5;
      return (ctx) => {
        const score = complexityScore(ctx.lastUser, ctx.tokens);
        return { matched: score >= threshold, outputs: { score }, source: "computed" };
      };
    }
    default:
      throw new Error(`bundle names unknown signal type ${spec.type}; the schema should have rejected it`);
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * A given value: `true`/`false`; a number (the score, or for domain the
 * top class's score); a string (a label or value); or `{ output: value }`.
 */
function fromGiven(spec: SignalSpec, given: JsonValue): SignalValue {
  const c = spec.config;
  const threshold = (c.threshold as number | undefined) ?? 0.5;
  if (typeof given === "boolean") return { matched: given, outputs: {}, source: "given" };
  if (typeof given === "number") {
    return { matched: given >= threshold, outputs: { score: given }, source: "given" };
  }
  if (typeof given === "string") {
    const key = spec.type === "language" ? "code" : spec.type === "domain" || spec.type === "feedback" ? "label" : "value";
    return { matched: given !== "" && given !== "none", outputs: { [key]: given }, source: "given" };
  }
  if (given !== null && typeof given === "object" && !Array.isArray(given)) {
    const outputs: Record<string, OutputValue> = {};
    for (const [k, v] of Object.entries(given)) if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") outputs[k] = v;
    let matched = typeof given.matched === "boolean" ? given.matched : undefined;
    if (spec.type === "domain") {
      // The label is the best-scoring class unless given.
      let best = "";
      let bestScore = -1;
      for (const cls of str(c.classes)) {
        const s = typeof outputs[cls] === "number" ? (outputs[cls] as number) : 0;
        outputs[cls] = s;
        if (s > bestScore) { best = cls; bestScore = s; }
      }
      if (typeof outputs.label !== "string") outputs.label = bestScore > 0 ? best : "";
      matched ??= bestScore >= threshold;
    }
    if (typeof outputs.score === "number") matched ??= outputs.score >= threshold;
    delete outputs.matched;
    return { matched: matched ?? true, outputs, source: "given" };
  }
  return { matched: false, outputs: {}, source: "given" };
}
