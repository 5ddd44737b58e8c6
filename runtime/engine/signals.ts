// Signal extraction. Each signal spec is compiled once per bundle into an
// extractor; per request, extractors run lazily (only when a condition asks)
// and their results are memoized, so a signal costs nothing until needed.
import { RE2JS } from "re2js";
// The tokenizer's own pre-tokenization pattern (a small module of regexes; the BPE tables load with Engine.load).
import { O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/esm/encodingParams/constants";
import { conversationMatches, inBand, memberConfidence, partitionWinner, scoreValue, type JsonObject, type JsonValue, type ScoreConfig, type SignalSpec } from "../../bundle/index.ts";
import { conversationShape } from "./conversation.ts";
import { AhoCorasick } from "./aho-corasick.ts";
import {
  DEFAULT_NEGATIVE, DEFAULT_POSITIVE, complexityScore, factCheckScore, knowledgeValue, countTokens, detectLanguage, feedbackLabel, findPii,
  jailbreakScore, piiTypeSet, wordSet, wordSimilarity, SIMILARITY_TEXT_MAX, reaskCount, type LanguageGuess, type PiiMatch,
} from "./detectors.ts";
import { textOf, type Request } from "./request.ts";
import { FIELD_JOIN, messageTextFields, requestTextFields, roleOf } from "./text-fields.ts";

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
  private _lastUserWords?: ReadonlySet<string>;
  private _allText?: string;
  private _scanText?: string;
  private _tokens?: TokenCount;
  private _language?: LanguageGuess;
  private _keywordHits?: number[];
  private _keywordHitsCs?: number[];
  private _bytes?: number;
  private _jailbreak?: number;
  private _pii?: Map<string, PiiMatch[]>;

  /** Whether the caller gave any signal values (most requests give none). */
  readonly hasGiven: boolean;

  /**
   * Another signal's value for this request, computed (once) by the engine's evaluation: what a
   * derived score or a partition reads. Null outside an evaluation.
   */
  signalValue: ((signal: string) => SignalValue) | null = null;

  private readonly keywords: KeywordIndex | null;

  constructor(request: Request, keywords: KeywordIndex | null = null) {
    this.request = request;
    this.keywords = keywords;
    let given = false;
    for (const _ in request.signals) {
      given = true;
      break;
    }
    this.hasGiven = given;
  }

  /** The last user message: what most signals judge. */
  /** The words of the last user message's first SIMILARITY_TEXT_MAX units: what the offline similarity stand-ins compare, once per request. */
  get lastUserWords(): ReadonlySet<string> {
    return (this._lastUserWords ??= wordSet(this.lastUser.slice(0, SIMILARITY_TEXT_MAX)));
  }

  get lastUser(): string {
    if (this._lastUser === undefined) {
      const msgs = this.request.messages;
      let text = "";
      for (let i = msgs.length - 1; i >= 0; i--) {
        if (msgs[i].role === "user" || roleOf(msgs[i].role) === "user") {
          text = textOf(msgs[i].content);
          break;
        }
      }
      this._lastUser = text;
    }
    return this._lastUser;
  }
  /** Every message's text: PII and token counts look at the whole prompt. */
  get allText(): string {
    if (this._allText === undefined) {
      const msgs = this.request.messages;
      this._allText = msgs.length === 1 ? textOf(msgs[0].content) : msgs.map((m) => textOf(m.content)).join("\n");
    }
    return this._allText;
  }
  /**
   * Every text field of the request (text-fields.ts: content parts, names,
   * tool-call arguments, …, and the body's `prompt`, `suffix` and `user`
   * when the request came from a body), joined by newlines: what the pii
   * and jailbreak signals scan, and what redaction covers.
   */
  get scanText(): string {
    if (this._scanText === undefined) {
      const { messages: msgs, body } = this.request;
      // The common shape, one message with string content and nothing else, needs no walk.
      const only = msgs.length === 1 ? msgs[0] : undefined;
      const plain = only && typeof only.content === "string" && Object.keys(only).length === 2 && (body === undefined || (body.messages === msgs && body.prompt === undefined && body.suffix === undefined && body.user === undefined));
      const fields = plain ? null : body && (body.messages === msgs || body.messages === undefined) ? requestTextFields(body) : messageTextFields(msgs);
      this._scanText = fields === null ? (only!.content as string) : fields.map((f) => f.text).join(FIELD_JOIN);
    }
    return this._scanText;
  }
  /**
   * The prompt's o200k token count: exact when counting it fits the
   * tokenizer budget (TOKEN_BUDGET), otherwise an estimate kept inside sound
   * bounds (tokenCount), so every band and comparison those bounds settle is
   * decided exactly.
   */
  get tokens(): number {
    return this.tokenCount.value;
  }
  /** The count with its bounds (lo ≤ true count ≤ hi; exact when lo = hi). */
  get tokenCount(): TokenCount {
    return (this._tokens ??= countTokensBounded(this.allText));
  }
  /** Whether the exact token count is already known (then bounds are not needed). */
  get tokensKnown(): boolean {
    return this._tokens !== undefined;
  }
  /**
   * UTF-8 bytes of the prompt: an upper bound on its token count (every BPE
   * token is at least one byte), which settles most context checks on short
   * prompts without running the tokenizer.
   */
  get bytes(): number {
    return (this._bytes ??= Buffer.byteLength(this.allText, "utf8"));
  }
  get language(): LanguageGuess {
    return (this._language ??= detectLanguage(this.lastUser));
  }
  /** PII of the given types in every text field of the prompt; shared by pii signals and pii_redact plugins. */
  pii(types: ReadonlySet<string>, key: string): PiiMatch[] {
    this._pii ??= new Map();
    let found = this._pii.get(key);
    if (found === undefined) {
      found = findPii(this.scanText, types);
      this._pii.set(key, found);
    }
    return found;
  }
  /** Jailbreak score of every text field of every message, whatever its role (normalized: detectors.ts). */
  get jailbreak(): number {
    return (this._jailbreak ??= jailbreakScore(this.scanText));
  }
  /** Ids of the phrases found in the last user message (usually very few). */
  keywordHits(kw: KeywordIndex, caseSensitive: boolean): number[] {
    if (caseSensitive) return (this._keywordHitsCs ??= kw.scan(this.lastUser, true));
    return (this._keywordHits ??= kw.scan(this.lastUser, false));
  }
}

// ---------------------------------------------------------------- bounded token counts

/**
 * o200k's longest token, in UTF-8 bytes (a run of 128 spaces;
 * test/sidecar-hostile.test.ts checks it against the library's table). Every
 * token decodes to between 1 and this many bytes of the text, so a text of
 * b bytes has between ⌈b / 128⌉ and b tokens: the only sound byte bounds (an
 * "average" bytes-per-token ratio is not a bound — a run of spaces packs 128
 * bytes into one token, random punctuation almost one byte per token).
 */
export const MAX_TOKEN_BYTES = 128;

/**
 * The tokenizer work one request may cost, in token-equivalents: each token
 * counted costs 1 (≤ 2.8 µs on the reference VM, random punctuation being
 * the slowest text), each pre-token piece of m bytes also m²/1000 (the
 * library merges a piece in quadratic time: a 100 KB run of spaces took
 * 6.6 s) and m/256 for the scan. About 90 ms at worst (docs/sidecar.md).
 */
export const TOKEN_BUDGET = 32_768;
/** Pieces are counted in groups of about this many UTF-16 units (one tokenizer call each). */
const GROUP_UNITS = 8192;
/**
 * The pre-tokenizer pattern runs over at most this many UTF-16 units of a
 * prompt (it is linear, but a 10 MB run of emoji is one piece and took
 * ~250 ms to match): the rest is bounded by its bytes.
 */
export const SCAN_UNITS = 1 << 20;

export interface TokenCount {
  /** The exact count, or an estimate within [lo, hi]. */
  value: number;
  lo: number;
  hi: number;
  exact: boolean;
}

export interface TokenCountOptions {
  budget?: number;
  scanUnits?: number;
  groupUnits?: number;
}

const SPLIT = new RegExp(O200K_TOKEN_SPLIT_REGEX.source, "gu");

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

const isAsciiAlnum = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);

/**
 * The last place p ≤ cut (0 < p < text.length) where every o200k pre-token
 * piece ends whatever follows p + 1, or 0: after a line break followed by
 * neither whitespace nor `/` (no pattern alternative continues a line break
 * into such a character, and none starts with one), or between an ASCII
 * letter or digit and a space (letters, digits and the contraction suffixes
 * stop at a space, and a space only ever starts a piece). Matching the text
 * before p examines no character after p, so the pieces up to p are the
 * same in the text cut at p. Looks back at most 64 Ki units.
 */
export function pieceBoundaryBefore(text: string, cut: number): number {
  const stop = Math.max(1, cut - 65_536);
  for (let p = Math.min(cut, text.length - 1); p >= stop; p--) {
    const c = text.charCodeAt(p);
    const b = text.charCodeAt(p - 1);
    if ((b === 10 || b === 13) && !isSpace(c) && c !== 47) return p;
    if (c === 32 && isAsciiAlnum(b)) return p;
  }
  return 0;
}

/**
 * Counts o200k tokens within a budget of tokenizer work (TOKEN_BUDGET). The
 * count is additive over the tokenizer's pre-token pieces (BPE never merges
 * across them), so the text is walked piece by piece with the library's own
 * pattern and counted in groups; a group may end after any piece except a
 * whitespace piece without a line break (the pattern's `\s+(?!\S)` looks past
 * it, so a cut there could change how the text before it splits). What the
 * budget or the scan does not reach — the rest of the text, single pieces
 * too costly to merge — is bounded by its bytes (⌈bytes/128⌉ ≤ tokens ≤
 * bytes), and the value is then an estimate at the rate of the counted part
 * (4 bytes a token when nothing was counted), clamped to the bounds.
 */
export function countTokensBounded(text: string, options: TokenCountOptions = {}): TokenCount {
  if (text.length === 0) return { value: 0, lo: 0, hi: 0, exact: true };
  const budget = options.budget ?? TOKEN_BUDGET;
  const groupUnits = options.groupUnits ?? GROUP_UNITS;
  const maxPieceCost = budget / 8;
  // The scan ends at a place where pieces end anyway, so the pieces before it are the text's own.
  const scanEnd = text.length <= (options.scanUnits ?? SCAN_UNITS) ? text.length : pieceBoundaryBefore(text, options.scanUnits ?? SCAN_UNITS);
  const scanned = scanEnd === text.length ? text : text.slice(0, scanEnd);
  let counted = 0; // tokens in the counted groups
  let countedBytes = 0;
  let spent = 0;
  let groupStart = 0; // start of the group being collected
  let safeEnd = 0; // the last place in it where a group may end
  let skippedBytes = 0; // bytes of pieces bounded instead of counted
  let exhausted = false;
  const flush = (end: number) => {
    if (end > groupStart) {
      const group = scanned.slice(groupStart, end);
      const n = countTokens(group);
      counted += n;
      countedBytes += Buffer.byteLength(group, "utf8");
      spent += n;
    }
  };
  SPLIT.lastIndex = 0;
  for (let m = SPLIT.exec(scanned); m !== null; m = SPLIT.exec(scanned)) {
    const piece = m[0];
    const end = m.index + piece.length;
    let cost = 0;
    if (piece.length > 16) {
      const bytes = Buffer.byteLength(piece, "utf8");
      cost = (bytes * bytes) / 1000 + bytes / 256;
      if (cost > maxPieceCost) {
        // Too costly to merge: count what precedes it (up to a safe end), bound the rest of the group and this piece.
        flush(safeEnd);
        skippedBytes += Buffer.byteLength(scanned.slice(safeEnd, end), "utf8");
        spent += bytes / 256;
        groupStart = safeEnd = end;
        if (spent >= budget) {
          exhausted = true;
          break;
        }
        continue;
      }
    }
    spent += cost;
    const last = scanned.charCodeAt(end - 1);
    if (!isSpace(last) || last === 10 || last === 13) safeEnd = end;
    if (end - groupStart >= groupUnits && safeEnd > groupStart) {
      flush(safeEnd);
      groupStart = safeEnd;
    }
    if (spent >= budget) {
      exhausted = true;
      break;
    }
  }
  SPLIT.lastIndex = 0;
  if (!exhausted) safeEnd = scanned.length;
  flush(safeEnd);
  const unknownBytes = skippedBytes + (safeEnd < text.length ? Buffer.byteLength(text.slice(safeEnd), "utf8") : 0);
  if (unknownBytes === 0) return { value: counted, lo: counted, hi: counted, exact: true };
  const lo = counted + Math.ceil(unknownBytes / MAX_TOKEN_BYTES);
  const hi = counted + unknownBytes;
  const rate = countedBytes > 0 && counted > 0 ? counted / countedBytes : 0.25;
  const value = Math.min(hi, Math.max(lo, Math.round(counted + unknownBytes * rate)));
  return { value, lo, hi, exact: false };
}

function isWordChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c > 127;
}

/**
 * Every phrase of every keyword signal, in two automata (case-folded and
 * exact), plus the required literals of regex signals and the jailbreak
 * detector's hint words (folded): one pass over the text serves them all.
 */
export class KeywordIndex {
  private readonly folded: string[] = [];
  private readonly exact: string[] = [];
  private readonly wholeWord: boolean[][] = [[], []];
  /** For each phrase, the signal it can make true (-1 for `none` phrases, which only veto). */
  private readonly owners: number[][] = [[], []];
  private acFolded: AhoCorasick | null = null;
  private acExact: AhoCorasick | null = null;

  /** Registers a phrase; returns its id within its automaton. */
  add(phrase: string, caseSensitive: boolean, wholeWord: boolean, owner: number): number {
    const list = caseSensitive ? this.exact : this.folded;
    const p = caseSensitive ? phrase : phrase.toLowerCase();
    list.push(p);
    this.wholeWord[caseSensitive ? 1 : 0].push(wholeWord);
    this.owners[caseSensitive ? 1 : 0].push(owner);
    return list.length - 1;
  }

  /** Signals that some phrase can make true: when none of their phrases occurs, they are false. */
  indexedSignals(): Set<number> {
    return new Set([...this.owners[0], ...this.owners[1]].filter((o) => o >= 0));
  }

  /** Stamps the owners of the phrases found in the text as possibly true for this request. */
  markPossible(hits: number[], caseSensitive: boolean, possible: Uint32Array, epoch: number, marked: number[]): void {
    const owners = this.owners[caseSensitive ? 1 : 0];
    for (let i = 0; i < hits.length; i++) {
      const owner = owners[hits[i]];
      if (owner >= 0 && possible[owner] !== epoch) {
        possible[owner] = epoch;
        marked.push(owner);
      }
    }
  }

  has(caseSensitive: boolean): boolean {
    return (caseSensitive ? this.exact : this.folded).length > 0;
  }

  scan(text: string, caseSensitive: boolean): number[] {
    const list = caseSensitive ? this.exact : this.folded;
    const whole = this.wholeWord[caseSensitive ? 1 : 0];
    const ac = caseSensitive ? (this.acExact ??= new AhoCorasick(list)) : (this.acFolded ??= new AhoCorasick(list, true));
    const hits: number[] = [];
    ac.search(text, (id, start, end) => {
      if (whole[id] && ((start > 0 && isWordChar(text.charCodeAt(start - 1))) || (end < text.length && isWordChar(text.charCodeAt(end))))) return;
      if (!hits.includes(id)) hits.push(id);
    });
    return hits;
  }
}

export type Extractor = (ctx: RequestContext) => SignalValue;

const str = (v: JsonValue | undefined): string[] => (Array.isArray(v) ? (v as string[]) : []);

// Shared results for the common negative cases, so most signal evaluations allocate nothing.
const NO_KEYWORD: SignalValue = Object.freeze({ matched: false, outputs: Object.freeze({ count: 0 }), source: "computed" }) as SignalValue;
const NO_MATCH: SignalValue = Object.freeze({ matched: false, outputs: Object.freeze({}), source: "computed" }) as SignalValue;
const MATCH: SignalValue = Object.freeze({ matched: true, outputs: Object.freeze({}), source: "computed" }) as SignalValue;

/**
 * The longest literal run at the start of a regex that every match must
 * contain (RE2 syntax), or null when there is none worth testing. It is only
 * ever a fast "cannot match"; a text that contains it still goes to RE2.
 */
export function requiredLiteral(pattern: string): string | null {
  if (/[|]/.test(pattern.replace(/\\./g, "").replace(/\[[^\]]*\]/g, ""))) return null; // alternation: no single literal
  let i = pattern.startsWith("^") ? 1 : 0;
  let lit = "";
  for (; i < pattern.length; i++) {
    const ch = pattern[i];
    if ("\\.[](){}*+?|$^".includes(ch)) break;
    lit += ch;
  }
  // A quantifier after the run applies to its last character, which may then be absent.
  if (i < pattern.length && "*?{".includes(pattern[i])) lit = lit.slice(0, -1);
  return lit.length >= 2 ? lit : null;
}

/**
 * Whether the folded keyword automaton may stand in for RE2 on this literal:
 * printable ASCII only, and — when RE2 folds case — no `k` or `s`, whose RE2
 * case orbits hold non-ASCII letters (U+212A KELVIN SIGN, U+017F LONG S) that
 * lower-casing does not map to them. Otherwise the prefilter could say "cannot
 * match" where RE2 matches.
 */
export function prefilterSound(literal: string, caseInsensitive: boolean): boolean {
  return /^[\x20-\x7e]+$/.test(literal) && !(caseInsensitive && /[ks]/i.test(literal));
}

/** Compiles a signal spec into its extractor. Given values (tests, model servers) always win. */
export function compileSignal(spec: SignalSpec, keywords: KeywordIndex, index: number): Extractor {
  const computed = compileComputed(spec, keywords, index);
  const name = spec.name;
  return (ctx) => {
    if (ctx.hasGiven) {
      // Own keys only: a signal named `constructor` is not given by every object's prototype.
      const given = Object.hasOwn(ctx.request.signals, name) ? ctx.request.signals[name] : undefined;
      if (given !== undefined) return fromGiven(spec, given);
    }
    return computed(ctx);
  };
}

function compileComputed(spec: SignalSpec, keywords: KeywordIndex, index: number): Extractor {
  const c: JsonObject = spec.config;
  switch (spec.type) {
    case "keyword": {
      const cs = c.case_sensitive === true;
      const whole = c.whole_word !== false;
      const ids = (list: string[], owner: number) => list.map((p) => keywords.add(p, cs, whole, owner));
      const any = ids(str(c.any), index);
      const all = ids(str(c.all), index);
      const none = ids(str(c.none), -1);
      return (ctx) => {
        const hits = ctx.keywordHits(keywords, cs);
        // No phrase found anywhere (the common case): every keyword signal is false.
        if (hits.length === 0) return NO_KEYWORD;
        let count = 0;
        let anyHit = any.length === 0;
        for (const id of any) if (hits.includes(id)) { anyHit = true; count++; }
        let allHit = true;
        for (const id of all) if (hits.includes(id)) count++; else allHit = false;
        let noneHit = false;
        for (const id of none) if (hits.includes(id)) noneHit = true;
        if (count === 0 && !noneHit) return NO_KEYWORD;
        return { matched: anyHit && allHit && !noneHit, outputs: { count }, source: "computed" };
      };
    }
    case "regex": {
      const insensitive = c.case_sensitive === false;
      const re = RE2JS.compile(c.pattern as string, insensitive ? RE2JS.CASE_INSENSITIVE : 0);
      // A literal every match must contain joins the (case-folded) keyword
      // automaton, so the one pass over the text tells most regex signals they
      // cannot match; folding only widens the test, so it stays sound. ASCII
      // only: there, lower-casing and RE2's case folding agree.
      const literal = requiredLiteral(c.pattern as string);
      const id = literal !== null && prefilterSound(literal, insensitive) ? keywords.add(literal, false, false, index) : -1;
      return (ctx) => {
        if (id >= 0 && !ctx.keywordHits(keywords, false).includes(id)) return NO_MATCH;
        return re.test(ctx.lastUser) ? MATCH : NO_MATCH;
      };
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
      const candidates = str(c.candidates).map(wordSet);
      const threshold = c.threshold as number;
      const agg = (c.aggregation as string | undefined) ?? "max";
      return (ctx) => {
        const sims = candidates.map((cand) => wordSimilarity(ctx.lastUserWords, cand));
        // The match is decided on the score conditions see (rounded), so `e` and `e.score >= t` agree.
        const score = round(agg === "mean" ? sims.reduce((a, b) => a + b, 0) / sims.length : Math.max(...sims));
        return { matched: agg === "any" ? sims.some((s) => s >= threshold) : score >= threshold, outputs: { score }, source: "offline" };
      };
    }
    case "domain": {
      // No classifier in process: every class scores 0 and no label is chosen.
      const classes = str(c.classes);
      return () => ({ matched: false, outputs: { label: "", ...Object.fromEntries(classes.map((k) => [k, 0])) }, source: "offline" });
    }
    case "pii": {
      const { set: types, key } = piiTypeSet(str(c.types));
      return (ctx) => {
        const found = ctx.pii(types, key);
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
        ? (ctx: RequestContext) => (Object.hasOwn(ctx.request.headers, key) ? ctx.request.headers[key] : undefined)
        : (ctx: RequestContext) => {
            const v = Object.hasOwn(ctx.request.metadata, key) ? ctx.request.metadata[key] : undefined;
            return v === undefined || v === null ? undefined : typeof v === "string" ? v : JSON.stringify(v);
          };
      // An empty value is an absent one: conditions see "" either way, so presence must agree.
      return (ctx) => {
        const v = read(ctx);
        return { matched: v !== undefined && v !== "" && (values === null || values.has(v)), outputs: { value: v ?? "" }, source: "computed" };
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
    case "conversation":
      return (ctx) => {
        const shape = conversationShape(ctx.request);
        return { matched: conversationMatches(c, shape as unknown as Record<string, unknown>), outputs: { ...shape }, source: "computed" };
      };
    case "reask": {
      const window = (c.window as number | undefined) ?? 3;
      const similarity = (c.similarity as number | undefined) ?? 0.6;
      return (ctx) => {
        const turns = ctx.request.messages.filter((m) => roleOf(m.role) === "user").map((m) => textOf(m.content));
        const count = reaskCount(turns, window, similarity);
        return { matched: count > 0, outputs: { count }, source: "computed" };
      };
    }
    case "feedback": {
      const negative = (c.negative ? str(c.negative) : DEFAULT_NEGATIVE).map((s) => s.toLowerCase());
      const positive = (c.positive ? str(c.positive) : DEFAULT_POSITIVE).map((s) => s.toLowerCase());
      // With `classifier: embeddings` the phrase match is the stand-in until the sidecar's endpoint answers.
      const source = c.classifier === "embeddings" ? "offline" : "computed";
      return (ctx) => {
        const label = feedbackLabel(ctx.lastUser, negative, positive);
        return { matched: label !== "none", outputs: { label }, source };
      };
    }
    case "knowledge": {
      const entries = c.entries as Record<string, string[]>;
      const words = new Map(Object.values(entries).flat().map((t) => [t, wordSet(t)]));
      const threshold = (c.threshold as number | undefined) ?? 0.5;
      return (ctx) => {
        const v = knowledgeValue(entries, threshold, (text) => wordSimilarity(ctx.lastUserWords, words.get(text)!));
        return { matched: v.matched, outputs: { label: v.label, score: v.score }, source: "offline" };
      };
    }
    case "fact_check": {
      const threshold = (c.threshold as number | undefined) ?? 0.5;
      return (ctx) => {
        const score = factCheckScore(ctx.lastUser);
        return { matched: score >= threshold, outputs: { score }, source: "offline" };
      };
    }
    case "complexity": {
      const threshold = (c.threshold as number | undefined) ?? 0.5;
      const levels = Object.entries((c.levels as Record<string, { min?: number; max?: number }> | undefined) ?? {});
      return (ctx) => {
        const score = complexityScore(ctx.lastUser, ctx.tokens);
        const outputs: Record<string, OutputValue> = { score };
        for (const [level, band] of levels) outputs[level] = inBand(score, band);
        return { matched: score >= threshold, outputs, source: "computed" };
      };
    }
    case "score": {
      const config = c as unknown as ScoreConfig;
      return (ctx) => scoreSignal(config, scoreValue(config, (signal, output) => ctx.signalValue?.(signal).outputs[output]), "computed");
    }
    case "partition": {
      const members = c.members as string[];
      const fallback = c.default as string | undefined;
      return (ctx) => partitionSignal(members, partitionWinner(members, fallback, (m) => {
        const v = ctx.signalValue?.(m);
        return v ? { matched: v.matched, confidence: memberConfidence(v.outputs) } : { matched: false, confidence: 0 };
      }), "computed");
    }
    default:
      throw new Error(`bundle names unknown signal type ${spec.type}; the schema should have rejected it`);
  }
}

/** Signals whose match is exactly `score >= threshold` (the analysis relies on it). */
const THRESHOLDED = new Set(["embedding", "jailbreak", "complexity", "fact_check"]);

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * A given value: `true`/`false`; a number (the score, or for domain the
 * top class's score); a string (a label or value); or `{ output: value }`.
 */
/**
 * A given value as a signal value. A non-finite number (NaN, ±Infinity: from
 * a caller or a broken model server, never from JSON) is read as 0, so every
 * comparison decides (NaN would make both `>= t` and `< t` false, which no
 * analysis models).
 */
/** A derived score's signal value: `value`, each band, a match at the threshold (default 0.5). */
function scoreSignal(c: ScoreConfig, value: number, source: SignalValue["source"]): SignalValue {
  const outputs: Record<string, OutputValue> = { value };
  for (const band in c.bands) outputs[band] = inBand(value, c.bands[band]);
  return { matched: value >= (c.threshold ?? 0.5), outputs, source };
}

/** A partition's signal value: `winner`, one boolean per member, a match when some member won. */
function partitionSignal(members: readonly string[], winner: string, source: SignalValue["source"]): SignalValue {
  const outputs: Record<string, OutputValue> = { winner };
  for (const m of members) outputs[m] = m === winner;
  return { matched: winner !== "none", outputs, source };
}

function fromGiven(spec: SignalSpec, given: JsonValue): SignalValue {
  const v = givenValue(spec, given);
  // A complexity signal's levels follow from its score, as the analysis reads them.
  if (spec.type === "complexity" && spec.config.levels) {
    const score = typeof v.outputs.score === "number" ? v.outputs.score : 0;
    const outputs: Record<string, OutputValue> = { ...v.outputs, score };
    for (const [level, band] of Object.entries(spec.config.levels as Record<string, { min?: number; max?: number }>)) outputs[level] = inBand(score, band);
    return { ...v, outputs };
  }
  return v;
}

function givenValue(spec: SignalSpec, given: JsonValue): SignalValue {
  const c = spec.config;
  if (spec.type === "knowledge") {
    // A similarity (a number, `{ score }`), or a label alone (similarity 1); the label follows from
    // the similarity as when computed: a given label that is an entry's is kept, else the first entry's.
    const entries = Object.keys(c.entries as object);
    const o = given !== null && typeof given === "object" && !Array.isArray(given) ? given : null;
    const raw = typeof given === "number" ? given : typeof given === "string" ? (entries.includes(given) ? 1 : 0) : typeof o?.score === "number" ? o.score : typeof o?.label === "string" && entries.includes(o.label) ? 1 : 0;
    const named = typeof given === "string" ? given : typeof o?.label === "string" ? o.label : "";
    const v = knowledgeValue({ [entries.includes(named) ? named : entries[0]]: [""] }, (c.threshold as number | undefined) ?? 0.5, () => (Number.isFinite(raw) ? raw : 0));
    return { matched: v.matched, outputs: { label: v.label, score: v.score }, source: "given" };
  }
  if (spec.type === "partition") {
    // A pinned winner (a member's name, or `{ winner }`); anything else is "none".
    const members = c.members as string[];
    const w = typeof given === "string" ? given : given !== null && typeof given === "object" && !Array.isArray(given) ? given.winner : undefined;
    return partitionSignal(members, typeof w === "string" && members.includes(w) ? w : "none", "given");
  }
  if (spec.type === "score") {
    // A pinned score: its value (a number, or `{ value }`); its bands and match follow from it.
    const v = typeof given === "number" ? given : given !== null && typeof given === "object" && !Array.isArray(given) ? given.value : undefined;
    return scoreSignal(c as unknown as ScoreConfig, typeof v === "number" && Number.isFinite(v) ? v : 0, "given");
  }
  if (spec.type === "conversation" && given !== null && typeof given === "object" && !Array.isArray(given)) {
    // Pinned counts (`{ tool_calls: 3 }`): the match follows from them, as the analysis reads it, unless pinned too.
    const outputs: Record<string, OutputValue> = { messages: 0, user_turns: 0, tools: 0, tool_calls: 0, tool_repeats: 0, system: false, response_format: "none" };
    for (const [k, v] of Object.entries(given)) if (k !== "matched" && (typeof v === "number" || typeof v === "string" || typeof v === "boolean")) outputs[k] = typeof v === "number" && !Number.isFinite(v) ? 0 : v;
    return { matched: typeof given.matched === "boolean" ? given.matched : conversationMatches(c, outputs), outputs, source: "given" };
  }
  const threshold = (c.threshold as number | undefined) ?? 0.5;
  const finite = (x: number) => (Number.isFinite(x) ? x : 0);
  if (typeof given === "boolean") return { matched: given, outputs: {}, source: "given" };
  if (typeof given === "number") {
    const score = finite(given);
    return { matched: score >= threshold, outputs: { score }, source: "given" };
  }
  if (typeof given === "string") {
    const key = spec.type === "language" ? "code" : spec.type === "domain" || spec.type === "feedback" ? "label" : "value";
    return { matched: given !== "" && given !== "none", outputs: { [key]: given }, source: "given" };
  }
  if (given !== null && typeof given === "object" && !Array.isArray(given)) {
    const outputs: Record<string, OutputValue> = {};
    for (const [k, v] of Object.entries(given)) if (typeof v === "number" || typeof v === "string" || typeof v === "boolean") outputs[k] = typeof v === "number" ? finite(v) : v;
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
    // A thresholded score decides the match (a model server's rounding cannot make them disagree).
    if (typeof outputs.score === "number" && THRESHOLDED.has(spec.type) && c.aggregation !== "any") matched = outputs.score >= threshold;
    if (typeof outputs.score === "number") matched ??= outputs.score >= threshold;
    delete outputs.matched;
    return { matched: matched ?? true, outputs, source: "given" };
  }
  return { matched: false, outputs: {}, source: "given" };
}
