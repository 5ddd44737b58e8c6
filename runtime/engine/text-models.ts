// The two text models the detectors use, held compactly. A sidecar runs beside
// every pod, so its memory is multiplied by the fleet (docs/performance.md,
// "Sidecar footprint"):
//
// - Token counts: o200k_base byte-pair encoding, the same counts as
//   gpt-tokenizer's countTokens, quirks included (test/text-models.test.ts
//   compares them), from the rank table the package ships
//   (data/o200k_base.tiktoken) held in three typed arrays, ~4 MB. The
//   library's own encoder builds a map of 200,000 strings and a merge cache
//   of up to 100,000 pieces: ~65 MB of RSS, and more under load.
// - Language: eld's detector (its own code, unchanged) over its "small" n-gram
//   database, read from the package's data file into sorted typed arrays,
//   ~1.5 MB, and served to the detector through a read-only view. Importing
//   the database as the package does evaluates a 1.6 MB object literal of
//   81,000 little objects: ~150 MB of RSS, ~45 MB of it for good.
//
// Both read files inside their packages (resolved through the packages' own
// entry points); a file that no longer has the expected form fails the load
// loudly, never counts or detects differently.
import { readFileSync } from "node:fs";
import { O200K_TOKEN_SPLIT_REGEX } from "gpt-tokenizer/esm/encodingParams/constants";

// ---------------------------------------------------------------- o200k token counts

/** Base64 digit values (-1: not a digit). */
const BASE64 = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) BASE64["ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".charCodeAt(i)] = i;

const NO_RANK = 0x7fffffff;
/** The merge cache: at most this many pieces of at most this many UTF-16 units (~1 MB at most). */
const MERGE_CACHE_SIZE = 8192;
const MERGE_CACHE_KEY = 48;

/** FNV-1a over bytes[start, end). */
function hashBytes(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return h >>> 0;
}

/** Whether bytes[start, end) are UTF-8, by gpt-tokenizer's rules (isValidUTF8). */
function isUtf8(bytes: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end) {
    const b = bytes[i];
    let n: number;
    let cp: number;
    if (b <= 0x7f) {
      i++;
      continue;
    } else if ((b & 0xe0) === 0xc0) {
      if (b <= 0xc1) return false;
      n = 2;
      cp = b & 0x1f;
    } else if ((b & 0xf0) === 0xe0) {
      n = 3;
      cp = b & 0x0f;
    } else if ((b & 0xf8) === 0xf0) {
      if (b > 0xf4) return false;
      n = 4;
      cp = b & 0x07;
    } else return false;
    if (i + n > end) return false;
    for (let j = 1; j < n; j++) {
      const c = bytes[i + j];
      if ((c & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (c & 0x3f);
    }
    if ((n === 3 && cp < 0x800) || (n === 4 && cp < 0x10000) || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) return false;
    i += n;
  }
  return true;
}

/**
 * Counts o200k tokens exactly as gpt-tokenizer's countTokens (with special
 * tokens counted as text): the text is split into pieces by the library's
 * own pattern; a piece that is a token counts 1; any other is merged as the
 * library merges it (the adjacent pair whose joined bytes have the lowest
 * rank, leftmost first, until no pair is a token) and counts its parts.
 */
export class TokenCounter {
  /** Every token's bytes, by rank: rank r is tokenBytes[starts[r], starts[r + 1]). */
  private readonly tokenBytes: Uint8Array;
  private readonly starts: Uint32Array;
  /** Open addressing on the bytes' hash: rank + 1, 0 where empty. */
  private readonly slots: Int32Array;
  private readonly mask: number;
  /** Parts of recently merged pieces (a common word that is not a token recurs); oldest out first. */
  private readonly merged = new Map<string, number>();
  private readonly decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  private readonly split = new RegExp(O200K_TOKEN_SPLIT_REGEX.source, "gu");
  // Scratch space for one piece: its UTF-8 bytes, and the merge's part starts and pair ranks.
  private buf = new Uint8Array(256);
  private parts = new Int32Array(257);
  private ranks = new Int32Array(257);

  constructor(tokenBytes: Uint8Array, starts: Uint32Array) {
    this.tokenBytes = tokenBytes;
    this.starts = starts;
    const n = starts.length - 1;
    let size = 1;
    while (size < 2 * n) size *= 2;
    this.slots = new Int32Array(size);
    this.mask = size - 1;
    for (let r = 0; r < n; r++) {
      const s = starts[r];
      const e = starts[r + 1];
      if (e === s) throw new Error(`o200k rank table: token ${r} is empty`);
      for (let i = hashBytes(tokenBytes, s, e) & this.mask; ; i = (i + 1) & this.mask) {
        const at = this.slots[i];
        if (at === 0) {
          this.slots[i] = r + 1;
          break;
        }
        if (this.equals(at - 1, tokenBytes, s, e)) throw new Error(`o200k rank table: tokens ${at - 1} and ${r} are the same bytes`);
      }
    }
  }

  /** Number of tokens in the table. */
  get size(): number {
    return this.starts.length - 1;
  }

  /** The bytes of the token with this rank (tests). */
  bytesOf(rank: number): Uint8Array {
    return this.tokenBytes.subarray(this.starts[rank], this.starts[rank + 1]);
  }

  private equals(rank: number, bytes: Uint8Array, start: number, end: number): boolean {
    const s = this.starts[rank];
    if (this.starts[rank + 1] - s !== end - start) return false;
    for (let i = 0; i < end - start; i++) if (this.tokenBytes[s + i] !== bytes[start + i]) return false;
    return true;
  }

  /** The rank of the token that is exactly bytes[start, end), or NO_RANK. */
  private exact(bytes: Uint8Array, start: number, end: number): number {
    for (let i = hashBytes(bytes, start, end) & this.mask; ; i = (i + 1) & this.mask) {
      const at = this.slots[i];
      if (at === 0) return NO_RANK;
      if (this.equals(at - 1, bytes, start, end)) return at - 1;
    }
  }

  /**
   * The rank of bytes[start, end) as gpt-tokenizer finds it while merging,
   * or NO_RANK. The library looks bytes that are UTF-8 up as the string a
   * TextDecoder makes of them, and that drops a leading byte-order mark (EF
   * BB BF): such bytes are looked up without it, and the tokens that begin
   * with one (the library keeps them as bytes, not strings) are never found
   * that way. Other bytes are looked up as they are.
   */
  rankOf(bytes: Uint8Array, start: number, end: number): number {
    if (end - start >= 3 && bytes[start] === 0xef && bytes[start + 1] === 0xbb && bytes[start + 2] === 0xbf && isUtf8(bytes, start, end)) {
      const rank = this.exact(bytes, start + 3, end);
      return rank !== NO_RANK && this.startsWithBom(rank) ? NO_RANK : rank;
    }
    return this.exact(bytes, start, end);
  }

  private startsWithBom(rank: number): boolean {
    const s = this.starts[rank];
    return this.starts[rank + 1] - s >= 3 && this.tokenBytes[s] === 0xef && this.tokenBytes[s + 1] === 0xbb && this.tokenBytes[s + 2] === 0xbf;
  }

  count(text: string): number {
    let count = 0;
    const split = this.split;
    split.lastIndex = 0;
    for (let m = split.exec(text); m !== null; m = split.exec(text)) {
      const piece = m[0];
      if (piece.length === 1 && piece.charCodeAt(0) < 128) {
        count++; // every ASCII character is a token
        continue;
      }
      // As the library: the piece's UTF-8 (a lone surrogate becomes U+FFFD), looked up whole only when it is
      // well-formed (it looks up the string, and every token string is well-formed), otherwise merged.
      const cached = this.merged.get(piece);
      if (cached !== undefined) {
        count += cached;
        continue;
      }
      // A piece is looked up whole as a string: one that begins with a byte-order mark never matches (see rankOf).
      const n = this.encode(piece);
      if (n > 0 && piece.charCodeAt(0) !== 0xfeff && this.exact(this.buf, 0, n) !== NO_RANK) count++;
      else {
        const parts = this.merge(n < 0 ? -n : n);
        count += parts;
        if (piece.length <= MERGE_CACHE_KEY && n > 0) {
          if (this.merged.size >= MERGE_CACHE_SIZE) this.merged.delete(this.merged.keys().next().value!);
          // A copy of the piece: V8 may make a match of 13 characters or more a slice that holds on to the whole prompt.
          this.merged.set(piece.length < 13 ? piece : this.decoder.decode(this.buf.subarray(0, n)), parts);
        }
      }
    }
    split.lastIndex = 0;
    return count;
  }

  /**
   * Writes the piece's UTF-8 into buf, as TextEncoder does (a lone surrogate
   * as U+FFFD); returns its length, negated when the piece is not well-formed.
   */
  private encode(piece: string): number {
    if (this.buf.length < piece.length * 3) this.buf = new Uint8Array(piece.length * 3);
    const buf = this.buf;
    let n = 0;
    let wellFormed = true;
    for (let i = 0; i < piece.length; i++) {
      let c = piece.charCodeAt(i);
      if (c < 0x80) buf[n++] = c;
      else if (c < 0x800) {
        buf[n++] = 0xc0 | (c >> 6);
        buf[n++] = 0x80 | (c & 0x3f);
      } else {
        if (c >= 0xd800 && c <= 0xdfff) {
          const d = i + 1 < piece.length ? piece.charCodeAt(i + 1) : 0;
          if (c <= 0xdbff && d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            buf[n++] = 0xf0 | (c >> 18);
            buf[n++] = 0x80 | ((c >> 12) & 0x3f);
            buf[n++] = 0x80 | ((c >> 6) & 0x3f);
            buf[n++] = 0x80 | (c & 0x3f);
            continue;
          }
          wellFormed = false;
          c = 0xfffd;
        }
        buf[n++] = 0xe0 | (c >> 12);
        buf[n++] = 0x80 | ((c >> 6) & 0x3f);
        buf[n++] = 0x80 | (c & 0x3f);
      }
    }
    return wellFormed ? n : -n;
  }

  /** gpt-tokenizer's bytePairMerge on buf[0, n), returning the number of parts. */
  private merge(n: number): number {
    if (this.parts.length < n + 1) {
      this.parts = new Int32Array(n + 1);
      this.ranks = new Int32Array(n + 1);
    }
    const { parts, ranks, buf } = this;
    // parts[0, len) are where the parts start, the last being n; ranks[i] is the rank of parts i and i + 1 joined.
    let len = n + 1;
    for (let i = 0; i <= n; i++) {
      parts[i] = i;
      ranks[i] = i < n - 1 ? this.rankOf(buf, i, i + 2) : NO_RANK;
    }
    while (len > 1) {
      let lowest = NO_RANK;
      let k = -1;
      for (let i = 0; i < len - 1; i++) {
        if (ranks[i] < lowest) {
          lowest = ranks[i];
          k = i;
        }
      }
      if (k === -1) break;
      parts.copyWithin(k + 1, k + 2, len);
      ranks.copyWithin(k, k + 1, len);
      len--;
      ranks[k] = k + 2 < len ? this.rankOf(buf, parts[k], parts[k + 2]) : NO_RANK;
      if (k > 0) ranks[k - 1] = k + 1 < len ? this.rankOf(buf, parts[k - 1], parts[k + 1]) : NO_RANK;
    }
    return len - 1;
  }
}

/**
 * Reads a tiktoken rank file (a line per token: its bytes in base64, a
 * space, its rank; ranks 0, 1, 2, … in order) into a TokenCounter, straight
 * into typed arrays of the exact size (a first pass measures them).
 */
export function parseTiktoken(file: Uint8Array): TokenCounter {
  let lines = 0;
  let size = 0;
  for (let i = 0; i < file.length; ) {
    let digits = 0;
    for (; i < file.length && file[i] !== 32 && file[i] !== 10; i++) if (file[i] !== 61) digits++;
    size += (digits * 6) >> 3;
    while (i < file.length && file[i] !== 10) i++;
    i++;
    lines++;
  }
  const bytes = new Uint8Array(size);
  const starts = new Uint32Array(lines + 1);
  let pos = 0;
  let i = 0;
  for (let rank = 0; rank < lines; rank++) {
    starts[rank] = pos;
    let bits = 0;
    let acc = 0;
    for (; i < file.length && file[i] !== 32 && file[i] !== 10; i++) {
      const c = file[i];
      if (c === 61) continue; // "=" padding
      const v = BASE64[c];
      if (v < 0) throw new Error(`o200k rank table: line ${rank + 1} is not base64`);
      acc = ((acc << 6) | v) & 0xffffff;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        bytes[pos++] = (acc >> bits) & 0xff;
      }
    }
    if (file[i] !== 32) throw new Error(`o200k rank table: line ${rank + 1} has no rank`);
    let value = 0;
    let digits = 0;
    for (i++; i < file.length && file[i] !== 10; i++, digits++) {
      const d = file[i] - 48;
      if (d < 0 || d > 9) throw new Error(`o200k rank table: line ${rank + 1} has no rank`);
      value = value * 10 + d;
    }
    i++;
    if (digits === 0 || value !== rank) throw new Error(`o200k rank table: line ${rank + 1} has rank ${value}, not ${rank}`);
  }
  starts[lines] = pos;
  return new TokenCounter(bytes, starts);
}

/** The number of o200k_base tokens (gpt-tokenizer's vocabulary without its special tokens). */
export const O200K_TOKENS = 199_998;

export function loadTokenCounter(): TokenCounter {
  const file = new URL(import.meta.resolve("gpt-tokenizer/data/o200k_base.tiktoken"));
  const counter = parseTiktoken(readFileSync(file));
  if (counter.size !== O200K_TOKENS) throw new Error(`o200k rank table ${file.pathname}: ${counter.size} tokens, not ${O200K_TOKENS}`);
  return counter;
}

// ---------------------------------------------------------------- eld language model

/** What the detectors use of eld's detector. */
export interface LanguageDetector {
  detect(text: string): { language: string; getScores(): Record<string, number>; isReliable(): boolean };
}

/** eld's n-gram database as its detector reads it: `ngrams[key]` is `{ languageIndex: score }` or undefined. */
export interface NgramData {
  type: string;
  languages: Record<number, string>;
  ngrams: Record<string, Record<number, number> | undefined>;
}

/** Longest n-gram key of the database (a space, four bytes, a space). */
const MAX_KEY = 6;

/** A key of at most MAX_KEY Latin-1 characters as one number (below 2^51), or -1. */
function packKey(key: string): number {
  if (key.length > MAX_KEY) return -1;
  let v = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c > 0xff) return -1;
    v = v * 256 + c;
  }
  return v * 8 + key.length;
}

/**
 * The n-gram database in sorted typed arrays: key k's scores are
 * langs/scores[offsets[k], offsets[k + 1]). `ngrams` looks keys up by binary
 * search and hands the detector a fresh little object, as the literal would.
 */
export class CompactNgrams {
  private readonly keys: Float64Array;
  private readonly offsets: Uint32Array;
  private readonly langs: Uint8Array;
  private readonly scores: Uint8Array;

  constructor(keys: Float64Array, offsets: Uint32Array, langs: Uint8Array, scores: Uint8Array) {
    this.keys = keys;
    this.offsets = offsets;
    this.langs = langs;
    this.scores = scores;
  }

  get size(): number {
    return this.keys.length;
  }

  lookup(key: string): Record<number, number> | undefined {
    const packed = packKey(key);
    if (packed < 0) return undefined;
    let lo = 0;
    let hi = this.keys.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const k = this.keys[mid];
      if (k < packed) lo = mid + 1;
      else if (k > packed) hi = mid - 1;
      else {
        const out: Record<number, number> = {};
        for (let j = this.offsets[mid]; j < this.offsets[mid + 1]; j++) out[this.langs[j]] = this.scores[j];
        return out;
      }
    }
    return undefined;
  }

  /** A read-only view for eld's detector, which reads `ngrams[key]` and nothing else. */
  view(): Record<string, Record<number, number> | undefined> {
    return new Proxy(Object.create(null) as Record<string, Record<number, number> | undefined>, {
      get: (_target, key) => (typeof key === "string" ? this.lookup(key) : undefined),
      set: () => false,
      defineProperty: () => false,
      deleteProperty: () => false,
    });
  }
}

/**
 * Reads eld's n-gram database file (UTF-8): `export const ngramsData = {
 * type: 'S60', languages: { 0: 'am', … }, isSubset: false, ngrams: { ' abc ':
 * { 11: 135 }, … } }`, keys bare or quoted ('…' or "…", with backslash
 * escapes), numbers whole. The n-grams go straight into typed arrays: no
 * object or string per n-gram is made, so loading leaves little garbage.
 */
export function parseEldNgrams(file: Uint8Array): { type: string; languages: Record<number, string>; ngrams: CompactNgrams } {
  const start = Buffer.from(file.buffer, file.byteOffset, file.length).indexOf("ngramsData");
  if (start < 0) throw new Error("eld n-gram database: no ngramsData");
  let i = file.indexOf(61 /* = */, start) + 1;
  const fail = (what: string): never => {
    throw new Error(`eld n-gram database: ${what} at byte ${i}`);
  };
  const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;
  const skipSpace = () => {
    while (i < file.length && isSpace(file[i])) i++;
  };
  const expect = (c: number) => {
    skipSpace();
    if (file[i] !== c) fail(`expected ${String.fromCharCode(c)}`);
    i++;
  };
  /** One character of UTF-8, as a code point. */
  const readChar = (): number => {
    const b = file[i++];
    if (b < 0x80) return b;
    const n = b >= 0xf0 ? 3 : b >= 0xe0 ? 2 : b >= 0xc0 ? 1 : fail("bad UTF-8");
    let c = b & (0x3f >> n);
    for (let k = 0; k < n; k++) c = (c << 6) | (file[i++] & 0x3f);
    return c;
  };
  /** A quoted string's characters, or a bare name's (up to the colon), one by one. */
  const readName = (each: (c: number) => void) => {
    skipSpace();
    const quote = file[i];
    if (quote === 39 || quote === 34) {
      i++;
      while (i < file.length && file[i] !== quote) {
        if (file[i] !== 92 /* \ */) {
          each(readChar());
          continue;
        }
        i++;
        const e = file[i++];
        const simple: Record<number, number> = { 110: 10, 116: 9, 114: 13, 98: 8, 102: 12, 118: 11, 48: 0 };
        if (e === 120 /* x */ || e === 117 /* u */) {
          const n = e === 120 ? 2 : 4;
          const hex = String.fromCharCode(...file.subarray(i, i + n));
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) fail("bad escape");
          each(parseInt(hex, 16));
          i += n;
        } else if (e < 0x80) each(simple[e] ?? e);
        else fail("bad escape");
      }
      if (file[i] !== quote) fail("unterminated string");
      i++;
      return;
    }
    const from = i;
    while (i < file.length && file[i] !== 58 /* : */ && !isSpace(file[i])) each(readChar());
    if (i === from) fail("expected a property name");
  };
  const readString = (): string => {
    let out = "";
    readName((c) => (out += String.fromCodePoint(c)));
    return out;
  };
  const readInt = (): number => {
    skipSpace();
    const from = i;
    let v = 0;
    while (i < file.length && file[i] >= 48 && file[i] <= 57) v = v * 10 + file[i++] - 48;
    if (i === from) fail("expected a whole number");
    return v;
  };
  const readIndex = (): number => {
    const name = readString();
    if (!/^(0|[1-9][0-9]{0,2})$/.test(name)) fail("expected an index");
    return Number(name);
  };
  /** `{ key: value, … }`: `each` reads one key and its value. */
  const readObject = (each: () => void) => {
    expect(123 /* { */);
    skipSpace();
    if (file[i] === 125 /* } */) {
      i++;
      return;
    }
    for (;;) {
      each();
      skipSpace();
      if (file[i] === 44 /* , */) i++;
      else if (file[i] === 125) {
        i++;
        return;
      } else fail("expected , or }");
    }
  };

  // Upper bounds: an n-gram has a "{", a score a ":".
  let opens = 0;
  let colons = 0;
  for (let k = i; k < file.length; k++) {
    if (file[k] === 123) opens++;
    else if (file[k] === 58) colons++;
  }
  const keyList = new Float64Array(opens);
  const offsets = new Uint32Array(opens + 1);
  const langs = new Uint8Array(colons);
  const scores = new Uint8Array(colons);
  let count = 0;
  let pairs = 0;
  let type: string | undefined;
  let languages: Record<number, string> | undefined;
  readObject(() => {
    const name = readString();
    expect(58);
    skipSpace();
    if (name === "type") type = readString();
    else if (name === "languages") {
      const found: Record<number, string> = {};
      readObject(() => {
        const index = readIndex();
        expect(58);
        found[index] = readString();
      });
      languages = found;
    } else if (name === "ngrams") {
      readObject(() => {
        let packed = 0;
        let length = 0;
        readName((c) => {
          if (c > 0xff || ++length > MAX_KEY) fail(`an n-gram key longer than ${MAX_KEY} or beyond Latin-1`);
          packed = packed * 256 + c;
        });
        expect(58);
        keyList[count] = packed * 8 + length;
        offsets[count++] = pairs;
        readObject(() => {
          const lang = readIndex();
          expect(58);
          const score = readInt();
          if (lang > 0xff || score > 0xff) fail("a language index or score beyond 255");
          langs[pairs] = lang;
          scores[pairs++] = score;
        });
      });
    } else {
      // isSubset and anything else: a literal word or a number.
      const from = i;
      while (i < file.length && /[A-Za-z0-9_$.]/.test(String.fromCharCode(file[i]))) i++;
      if (i === from) fail(`unexpected value of ${name}`);
    }
  });
  if (type === undefined || languages === undefined || count === 0) throw new Error("eld n-gram database: no type, languages or ngrams");
  const languageCount = Object.keys(languages).length;
  for (let j = 0; j < pairs; j++) if (langs[j] >= languageCount) throw new Error("eld n-gram database: a score for an unknown language");
  offsets[count] = pairs;
  // Sorted by key, for binary search; a key given twice keeps its last value, as in an object literal.
  const order = new Uint32Array(count);
  for (let k = 0; k < count; k++) order[k] = k;
  order.sort((a, b) => keyList[a] - keyList[b] || b - a);
  let unique = 0;
  for (let k = 0; k < count; k++) if (k === 0 || keyList[order[k]] !== keyList[order[k - 1]]) unique++;
  const keys = new Float64Array(unique);
  const sortedOffsets = new Uint32Array(unique + 1);
  const sortedLangs = new Uint8Array(pairs);
  const sortedScores = new Uint8Array(pairs);
  let u = 0;
  let p = 0;
  for (let k = 0; k < count; k++) {
    const from = order[k];
    if (k > 0 && keyList[from] === keyList[order[k - 1]]) continue;
    keys[u] = keyList[from];
    sortedOffsets[u++] = p;
    for (let j = offsets[from]; j < offsets[from + 1]; j++) {
      sortedLangs[p] = langs[j];
      sortedScores[p++] = scores[j];
    }
  }
  sortedOffsets[u] = p;
  return { type, languages, ngrams: new CompactNgrams(keys, sortedOffsets, sortedLangs, sortedScores) };
}

interface EldInternals {
  createEld(): { instance: LanguageDetector; loadData(data: NgramData): string };
}

/**
 * eld's detector with its small database, as `import { eld } from "eld/small"`
 * gives it (src/entries/static.small.js: createEld, then loadData with the
 * database), the database held compactly.
 */
export async function loadLanguageDetector(): Promise<LanguageDetector> {
  const entry = import.meta.resolve("eld/small");
  const { createEld } = (await import(new URL("../languageDetector.js", entry).href)) as EldInternals;
  const { type, languages, ngrams } = parseEldNgrams(readFileSync(new URL("../ngrams/small.js", entry)));
  const { instance, loadData } = createEld();
  loadData({ type, languages, ngrams: ngrams.view() });
  return instance;
}
