// Deterministic detectors behind the in-process signals. Each is a pure
// function of text, so it can be cached per request and tested alone.
import { AhoCorasick } from "./aho-corasick.ts";
import { loadLanguageDetector, loadTokenCounter, type LanguageDetector, type TokenCounter } from "./text-models.ts";
import type { PluginUse } from "../../bundle/index.ts";

// The token counter and the language model are loaded only for bundles whose
// signals need them (Engine.load), and held compactly (text-models.ts): each
// takes ~0.05-0.15 s to load and a few MB.
let tokenCounter: TokenCounter | null = null;
let eld: LanguageDetector | null = null;
let eldLoading: Promise<LanguageDetector> | null = null;

export interface TextModelNeeds {
  tokens: boolean;
  language: boolean;
}

export async function loadTextModels(needs: TextModelNeeds): Promise<void> {
  if (needs.tokens && !tokenCounter) tokenCounter = loadTokenCounter();
  // Engines loaded at once share one load.
  if (needs.language && !eld) eld = await (eldLoading ??= loadLanguageDetector());
}

export function textModelsLoaded(needs: TextModelNeeds): boolean {
  return (!needs.tokens || tokenCounter !== null) && (!needs.language || eld !== null);
}

// ---------------------------------------------------------------- tokens

/**
 * Token count with the o200k_base BPE (GPT-4o family), special-token markers
 * (`<|endoftext|>`) counted as text: a real tokenizer, close enough for bands.
 */
export function countTokens(text: string): number {
  if (!tokenCounter) throw new Error("internal error: the tokenizer is not loaded (create engines with Engine.load)");
  return text.length === 0 ? 0 : tokenCounter.count(text);
}

// ---------------------------------------------------------------- language

export interface LanguageGuess {
  code: string; // ISO 639-1, or "und"
  confidence: number;
}

export function detectLanguage(text: string): LanguageGuess {
  if (text.trim().length === 0) return { code: "und", confidence: 0 };
  if (!eld) throw new Error("internal error: the language model is not loaded (create engines with Engine.load)");
  const result = eld.detect(text);
  const code = result.language || "und";
  if (code === "und") return { code, confidence: 0 };
  const scores = result.getScores() as Record<string, number>;
  const top = scores[code] ?? 0;
  // eld scores are relative; turn the margin over the runner-up into [0, 1].
  let second = 0;
  for (const [k, v] of Object.entries(scores)) if (k !== code && v > second) second = v;
  const confidence = top <= 0 ? 0 : Math.max(0, Math.min(1, result.isReliable() ? 0.5 + (top - second) / (2 * top) : (top - second) / (2 * top)));
  return { code, confidence };
}

// ---------------------------------------------------------------- normalization

/**
 * A text as the detectors read it, and where each of its characters came
 * from: `starts[i]` is the index in the original of the character that
 * normalized character i came from (null when the text was plain ASCII and
 * is used as it is). `originalRange` maps a range back.
 */
export interface Normalized {
  text: string;
  starts: Int32Array | null;
}

/** The original range of normalized characters [start, end) of `n`, read from `original`. */
export function originalRange(original: string, n: Normalized, start: number, end: number): { start: number; end: number } {
  if (n.starts === null) return { start, end };
  if (end <= start) return { start: start < n.starts.length ? n.starts[start] : original.length, end: start < n.starts.length ? n.starts[start] : original.length };
  const last = n.starts[end - 1];
  return { start: n.starts[start], end: last + ((original.codePointAt(last) ?? 0) > 0xffff ? 2 : 1) };
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;
const FORMAT = /^\p{Cf}$/u;
const MARK = /^\p{M}$/u;
const DIGIT = /^\p{Nd}$/u;
const SPACE = /^\p{Zs}$/u;
const LINE = /^[\p{Zl}\p{Zp}]$/u;
const DASH = /^\p{Pd}$/u;

/**
 * Letters that look like Latin ones (Cyrillic, Greek, Latin small capitals
 * and dotless i): enough to fold the words the jailbreak patterns need and
 * the addresses people disguise.
 */
const CONFUSABLE: Record<string, string> = {
  "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c", "т": "t", "у": "y", "х": "x",
  "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ɡ": "g", "ı": "i", "ց": "g", "ո": "n", "ս": "u",
  "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X",
  "Ѕ": "S", "І": "I", "Ј": "J", "Ԁ": "D", "Ү": "Y", "ү": "y", "Ӏ": "I",
  "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "γ": "y",
  "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
  "ᴀ": "a", "ʙ": "b", "ᴄ": "c", "ᴅ": "d", "ᴇ": "e", "ɢ": "g", "ʜ": "h", "ɪ": "i", "ᴊ": "j", "ᴋ": "k", "ʟ": "l", "ᴍ": "m", "ɴ": "n",
  "ᴏ": "o", "ᴘ": "p", "ʀ": "r", "ꜱ": "s", "ᴛ": "t", "ᴜ": "u", "ᴠ": "v", "ᴡ": "w", "ʏ": "y", "ᴢ": "z",
};

/** The value of a decimal digit of any script: digits come in runs of ten from their zero. */
function digitValue(cp: number): number {
  let zero = cp;
  while (zero > 0 && DIGIT.test(String.fromCodePoint(zero - 1)) && cp - zero < 9) zero--;
  return (cp - zero) % 10;
}

const folded = new Map<string, string>();

/** One non-ASCII character as the detectors read it (cached). */
function foldChar(ch: string): string {
  let out = folded.get(ch);
  if (out !== undefined) return out;
  out = "";
  if (!FORMAT.test(ch)) {
    for (const c of ch.normalize("NFKD")) {
      const cp = c.codePointAt(0)!;
      if (cp < 128) out += c;
      else if (MARK.test(c) || FORMAT.test(c)) continue;
      else if (DIGIT.test(c)) out += String(digitValue(cp));
      else if (SPACE.test(c)) out += " ";
      else if (LINE.test(c)) out += "\n";
      else if (DASH.test(c) || c === "\u2212") out += "-";
      else out += CONFUSABLE[c] ?? c;
    }
  }
  if (folded.size < 20_000) folded.set(ch, out);
  return out;
}

/**
 * Unicode NFKC-compatible folding (compatibility forms such as fullwidth
 * letters, digits and `＠` become ASCII), format characters removed
 * (zero-width spaces and joiners, soft hyphens, bidi marks), diacritics
 * dropped, digits of every script made ASCII, every space a space, every
 * dash a hyphen, and Latin look-alikes folded. ASCII text is returned as it is.
 */
export function normalizeText(text: string): Normalized {
  if (ASCII_ONLY.test(text)) return { text, starts: null };
  // The pii and jailbreak signals of one request read the same text: normalize it once.
  if (text === lastNormalized.input) return lastNormalized.output;
  let starts = new Int32Array(text.length + 16);
  let n = 0;
  const reserve = (more: number) => {
    if (n + more <= starts.length) return;
    const grown = new Int32Array(Math.max(starts.length * 2, n + more));
    grown.set(starts.subarray(0, n));
    starts = grown;
  };
  const parts: string[] = [];
  for (let i = 0; i < text.length;) {
    let j = i;
    while (j < text.length && text.charCodeAt(j) < 128) j++;
    if (j > i) {
      // A run of ASCII is taken as it is.
      parts.push(text.slice(i, j));
      reserve(j - i);
      for (let k = i; k < j; k++) starts[n++] = k;
      i = j;
      if (i >= text.length) break;
    }
    const cp = text.codePointAt(i)!;
    const len = cp > 0xffff ? 2 : 1;
    const rep = foldChar(text.slice(i, i + len));
    if (rep.length > 0) {
      parts.push(rep);
      reserve(rep.length);
      for (let k = 0; k < rep.length; k++) starts[n++] = i;
    }
    i += len;
  }
  const output = { text: parts.join(""), starts: starts.subarray(0, n) };
  lastNormalized = { input: text, output };
  return output;
}

let lastNormalized: { input: string; output: Normalized } = { input: "", output: { text: "", starts: null } };

/**
 * The text without the characters normalizeText drops (format characters
 * such as zero-width joiners, combining marks): it normalizes to exactly the
 * same text, so the detectors find the same items in it.
 */
export function dropIgnored(text: string): string {
  if (ASCII_ONLY.test(text)) return text;
  let out = "";
  for (const ch of text) out += ch.charCodeAt(0) < 128 || foldChar(ch) !== "" ? ch : "";
  return out;
}

// ---------------------------------------------------------------- PII

export type PiiType = "email" | "phone" | "credit_card" | "iban" | "ssn" | "ip_address";

export interface PiiMatch {
  type: PiiType;
  start: number;
  end: number;
}

function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

function ibanValid(raw: string): boolean {
  const iban = raw.replace(/[\s-]+/g, "").toUpperCase();
  if (iban.length < 15 || iban.length > 34) return false;
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let rem = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const val = code >= 65 ? String(code - 55) : ch;
    for (const digit of val) rem = (rem * 10 + (digit.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

function ssnValid(s: string): boolean {
  const d = s.replace(/\D/g, "");
  const [area, group, serial] = [d.slice(0, 3), d.slice(3, 5), d.slice(5)];
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" && serial !== "0000";
}

const CARD_MIN_DIGITS = 13;

/**
 * What may stand between the digits of a card number: up to three of space,
 * tab, newline, dot, slash and hyphen (after normalization, so NBSP, other
 * spaces and dashes count). A number split across messages is joined by a
 * newline, so it is found too.
 */
const NUM_SEP = "[ \\t\\r\\n./-]";

// Bounded quantifiers only: these run on untrusted text, after normalizeText.
// `minDigits` lets a cheap count skip patterns the text cannot contain.
// Emails are found apart (findEmails). Digits glued to letters count: only
// digits (not letters) may not touch a number.
const PII_PATTERNS: { type: PiiType; re: RegExp; valid?: (m: string) => boolean; minDigits?: number }[] = [
  { type: "credit_card", minDigits: CARD_MIN_DIGITS, re: new RegExp(`(?<!\\d)\\d(?:${NUM_SEP}{0,3}\\d){12,31}(?!${NUM_SEP}{0,3}\\d)`, "g"), valid: (m) => cardNumber(m.replace(/\D/g, "")) },
  { type: "iban", minDigits: 4, re: /(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]{4}){2,7}(?:[ -]?[A-Za-z0-9]{1,3})?(?![A-Za-z0-9])/g, valid: ibanValid },
  { type: "ssn", minDigits: 9, re: /(?<![\d.-])\d{3}([ ./-]{1,2})\d{2}\1\d{4}(?![ ./-]?\d)/g, valid: ssnValid },
  // Not inside a longer run of digit groups (card numbers, IDs): no digit group before or after.
  { type: "phone", minDigits: 7, re: /(?<![\d+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]{0,2})?(?:\(\d{2,4}\)[ .-]{0,2}|\d{2,4}[ .-]{1,2})\d{3,4}[ .-]{1,2}\d{3,4}(?![ .-]?\d)/g },
  // A North American number written without separators: 10 digits (or +1 and 10), area and exchange not starting with 0 or 1.
  { type: "phone", minDigits: 10, re: /(?<![\d+])(?:\+?1[ .-]?)?[2-9]\d\d[2-9]\d{6}(?!\d)/g },
  { type: "ip_address", minDigits: 4, re: /(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d]|\.\d)/g },
];

const EMAIL_LOCAL = /[A-Za-z0-9._%+-]/;
const EMAIL_DOMAIN = /[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}/y;
/** Longest local part of an address the detector takes (RFC 5321: 64 octets; the last 64 characters of a longer run). */
const EMAIL_LOCAL_MAX = 64;
/**
 * The longest item findPii can find, in normalized characters: an address
 * with a 64-character local part and EMAIL_DOMAIN's longest domain (nine
 * labels of 63 and a 24-letter top-level label), 64 + 1 + 600. Every other
 * type is far shorter (a card with separators: 73). A stream that holds back
 * this much of a trailing candidate redacts exactly what the whole answer
 * would (runtime/sidecar/plugins.ts, pendingStart).
 */
export const PII_ITEM_MAX = EMAIL_LOCAL_MAX + 1 + (63 + 8 * 64 + 1 + 24);

/** Emails, found from their `@`: a regex tried at every position of the text would be far slower. */
function findEmails(text: string, found: PiiMatch[]): void {
  for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
    let start = at;
    while (start > 0 && at - start < EMAIL_LOCAL_MAX && EMAIL_LOCAL.test(text[start - 1])) start--;
    if (start === at) continue;
    EMAIL_DOMAIN.lastIndex = at + 1;
    const m = EMAIL_DOMAIN.exec(text);
    if (m === null) continue;
    found.push({ type: "email", start, end: at + 1 + m[0].length });
  }
}

function countDigits(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) n++;
  }
  return n;
}

const piiTypes = new WeakMap<PluginUse, { set: ReadonlySet<string>; key: string }>();

/**
 * The PII types a `pii_redact` plugin names, as findPii takes them, and a
 * key that is the same for the same types (to share one scan per request);
 * built once per plugin use.
 */
export function piiTypesOf(use: PluginUse): { set: ReadonlySet<string>; key: string } {
  let t = piiTypes.get(use);
  if (!t) piiTypes.set(use, (t = piiTypeSet(use.config.types as string[])));
  return t;
}

/** A set of PII types and its key: a `pii` signal and a `pii_redact` plugin naming the same types share one scan. */
export function piiTypeSet(types: readonly string[]): { set: ReadonlySet<string>; key: string } {
  const set = new Set(types);
  return { set, key: [...set].sort().join(",") };
}

/** Every PII type the detectors know. */
export const ALL_PII_TYPES: ReadonlySet<string> = new Set<PiiType>(["email", "phone", "credit_card", "iban", "ssn", "ip_address"]);

/**
 * Finds PII of the given types in a text, reading it normalized
 * (normalizeText); the ranges are in the original text. Overlapping matches
 * keep the first (most specific) type.
 */
export function findPii(text: string, types: ReadonlySet<string>): PiiMatch[] {
  const n = normalizeText(text);
  const found = findPiiNormalized(n.text, types);
  if (n.starts === null) return found;
  return found.map((m) => ({ type: m.type, ...originalRange(text, n, m.start, m.end) }));
}

/**
 * The longest run of whole digit groups inside a candidate that is a valid
 * card number (13–19 digits, Luhn), leftmost first; offsets in the candidate.
 */
/** 13 to 19 digits passing the Luhn check (a longer run is a card only in part: cardWithin). */
function cardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && luhn(digits);
}

function cardWithin(candidate: string): { start: number; end: number } | null {
  const groups: { start: number; end: number; digits: number }[] = [];
  for (const g of candidate.matchAll(/\d+/g)) groups.push({ start: g.index, end: g.index + g[0].length, digits: g[0].length });
  let best: { start: number; end: number; digits: number } | null = null;
  for (let i = 0; i < groups.length; i++) {
    let digits = 0;
    for (let j = i; j < groups.length; j++) {
      digits += groups[j].digits;
      if (digits > 19) break;
      if (digits < 13 || (best && digits <= best.digits)) continue;
      const run = candidate.slice(groups[i].start, groups[j].end);
      if (luhn(run.replace(/\D/g, ""))) best = { start: groups[i].start, end: groups[j].end, digits };
    }
  }
  return best;
}

function findPiiNormalized(text: string, types: ReadonlySet<string>): PiiMatch[] {
  const found: PiiMatch[] = [];
  if (types.has("email")) findEmails(text, found);
  const digits = countDigits(text);
  // Digits inside an IBAN-shaped token are never a card or phone number, even when the IBAN is invalid.
  const ibanShaped: { start: number; end: number }[] = [];
  if ((types.has("credit_card") && digits >= CARD_MIN_DIGITS) || (types.has("phone") && digits >= 7)) {
    const re = PII_PATTERNS.find((p) => p.type === "iban")!.re;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) ibanShaped.push({ start: m.index, end: m.index + m[0].length });
  }
  for (const { type, re, valid, minDigits } of PII_PATTERNS) {
    if (!types.has(type)) continue;
    if (minDigits !== undefined && digits < minDigits) continue;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      let start = m.index;
      let end = start + m[0].length;
      if (valid && !valid(m[0])) {
        // A card number next to other digit groups (a CVV after it, a date before it) makes a run
        // that fails Luhn as a whole: the card is a run of whole groups inside it.
        const inner = type === "credit_card" ? cardWithin(m[0]) : null;
        if (inner === null) continue;
        end = start + inner.end;
        start += inner.start;
      }
      if ((type === "credit_card" || type === "phone") && ibanShaped.some((f) => start < f.end && f.start < end)) continue;
      if (found.some((f) => start < f.end && f.start < end)) continue;
      found.push({ type, start, end });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

// ---------------------------------------------------------------- jailbreak

// Run on the folded text (foldForJailbreak): lower case, one space for any run of whitespace.
// The gaps between the words of a phrase do not cross a sentence end (`.`, `!`, `?`).
const JAILBREAK_PATTERNS: { re: RegExp; weight: number }[] = [
  { re: /\b(?:ignore|disregard|forget)\b[^.!?]{0,40}\b(?:previous|prior|above|earlier|all|your)\b[^.!?]{0,30}\b(?:instructions?|rules|prompts?|guidelines)\b/, weight: 0.85 },
  { re: /\b(?:you are|you're|act as|pretend to be)\b[^.!?]{0,30}\b(?:dan|do anything now|unfiltered|jailbroken|evil)\b/, weight: 0.85 },
  { re: /\bdeveloper mode\b|\bjailbreak(?:ed|ing)?\b/, weight: 0.6 },
  { re: /\b(?:reveal|print|show|repeat|leak)\b[^.!?]{0,30}\b(?:system prompt|hidden instructions|initial prompt)\b/, weight: 0.7 },
  { re: /\bno (?:restrictions|limits|rules|filters)\b|\bwithout (?:any )?(?:restrictions|filters|censorship)\b/, weight: 0.45 },
  { re: /\b(?:bypass|override|disable)\b[^.!?]{0,30}\b(?:safety|filters?|guardrails?|moderation|content policy)\b/, weight: 0.7 },
  { re: /<\|(?:im_start|system|endoftext)\|>|\[\/?inst\]|###\s*system/, weight: 0.6 },
];

/**
 * Every pattern above needs one of these (lower-case) words or markers, so
 * a text with none of them scores 0 without running the patterns.
 */
export const JAILBREAK_HINTS = [
  "ignore", "disregard", "forget", "you are", "you're", "act as", "pretend", "developer mode", "jailbreak", "reveal",
  "print", "show", "repeat", "leak", "no restrictions", "no limits", "no rules", "no filters", "without", "bypass",
  "override", "disable", "<|", "[inst]", "[/inst]", "###",
];

/** Whitespace other than one plain space: runs of it become one space. */
const WHITESPACE_RUN = /(?: \s|[^\S ])\s*/g;
/** Digits and signs written for letters ("ign0re", "@ct as"): tried when the plain reading finds nothing. */
const LEET: Record<string, string> = { "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l" };
const LEET_CHARS = /[013457@$!|]/g;

/** A text as the jailbreak patterns read it: normalized, lower case, whitespace runs as one space. */
export function foldForJailbreak(text: string): string {
  return normalizeText(text).text.toLowerCase().replace(WHITESPACE_RUN, " ");
}

/** Letters as leetspeak may write them. */
const LEET_CLASS: Record<string, string> = { a: "[a4@]", e: "[e3]", i: "[i1!|]", l: "[l|1]", o: "[o0]", s: "[s5$]", t: "[t7]" };
/** Any hint word, plainly or in leetspeak: one pass rules most texts out. */
export const ANY_HINT = new RegExp(JAILBREAK_HINTS.map((h) => [...h].map((c) => LEET_CLASS[c] ?? c.replace(/[\\^$.*+?()[\]{}|]/g, "\\$&")).join("")).join("|"));

/**
 * A sound, cheap stand-in for ANY_HINT: every leet class of ANY_HINT folded
 * to one letter (i and l share one: `1` and `|` stand for both), the hints
 * written in those letters, one automaton pass over the text without
 * copying it. Wherever ANY_HINT matches, this matches too; most texts have
 * no hint at all and stop here (the regex alternation cost ~0.4 µs a
 * request on bench/engine's short messages).
 */
const HINT_ALIASES: Record<string, string> = { "1": "i", "!": "i", "|": "i", l: "i", "0": "o", "3": "e", "4": "a", "@": "a", "5": "s", "$": "s", "7": "t" };
const HINT_SCAN = new AhoCorasick(JAILBREAK_HINTS.map((h) => [...h].map((c) => HINT_ALIASES[c] ?? c).join("")), false, HINT_ALIASES);

/** Whether some hint may occur in the folded text (never false when ANY_HINT matches). */
export function hintPossible(t: string): boolean {
  let hit = false;
  HINT_SCAN.search(t, () => (hit = true));
  return hit;
}

function scoreFolded(t: string): number {
  if (!JAILBREAK_HINTS.some((h) => t.includes(h))) return 0;
  let keep = 1;
  for (const { re, weight } of JAILBREAK_PATTERNS) if (re.test(t)) keep *= 1 - weight;
  return Math.round((1 - keep) * 1000) / 1000;
}

/**
 * A score in [0, 1]: independent evidence combined as 1 − Π(1 − wᵢ), on the
 * folded text (foldForJailbreak), and again with look-alike digits and signs
 * read as letters when that finds more. `hinted: false` says a sound pre-scan
 * of the folded text found no hint word (then the score is 0).
 */
export function jailbreakScore(text: string, hinted?: boolean): number {
  if (hinted === false) return 0;
  const t = foldForJailbreak(text);
  if (!hintPossible(t) || !ANY_HINT.test(t)) return 0;
  const plain = scoreFolded(t);
  LEET_CHARS.lastIndex = 0;
  if (plain >= 0.85 || !LEET_CHARS.test(t)) return plain;
  return Math.max(plain, scoreFolded(t.replace(LEET_CHARS, (c) => LEET[c])));
}

// ---------------------------------------------------------------- complexity

const DEMANDING = /\b(?:step by step|prove|derive|optimi[sz]e|design|architect|trade-?offs?|analy[sz]e|compare|refactor|algorithm|complexity)\b/gi;

export function complexityScore(text: string, tokens: number): number {
  const length = Math.min(1, tokens / 2000);
  const code = /```|\b(?:function|def|class|SELECT|#include)\b/.test(text) ? 1 : 0;
  const questions = Math.min(1, (text.match(/\?/g)?.length ?? 0) / 3);
  const demanding = Math.min(1, (text.match(DEMANDING)?.length ?? 0) / 2);
  return Math.round((0.3 * length + 0.25 * code + 0.15 * questions + 0.3 * demanding) * 1000) / 1000;
}

// ---------------------------------------------------------------- feedback & re-ask

export const DEFAULT_NEGATIVE = ["that's wrong", "that is wrong", "not what i asked", "doesn't work", "does not work", "incorrect", "you misunderstood", "try again", "wrong answer", "useless"];
export const DEFAULT_POSITIVE = ["thanks", "thank you", "perfect", "great answer", "that works", "exactly what i needed", "helpful"];

export function feedbackLabel(text: string, negative: string[], positive: string[]): "negative" | "positive" | "none" {
  const t = text.toLowerCase();
  if (negative.some((p) => t.includes(p))) return "negative";
  if (positive.some((p) => t.includes(p))) return "positive";
  return "none";
}

export function wordSet(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
}

/** The most of a message the offline similarity stand-ins read (UTF-16 units): linear, and bounded, in the message. */
export const SIMILARITY_TEXT_MAX = 64 * 1024;

/** How many of the previous `window` user turns the last one repeats (Jaccard similarity of words). */
export function reaskCount(userTurns: string[], window: number, similarity: number): number {
  if (userTurns.length < 2) return 0;
  const last = wordSet(userTurns[userTurns.length - 1]);
  if (last.size === 0) return 0;
  let n = 0;
  for (const earlier of userTurns.slice(Math.max(0, userTurns.length - 1 - window), -1)) {
    const w = wordSet(earlier);
    let inter = 0;
    for (const x of w) if (last.has(x)) inter++;
    const union = last.size + w.size - inter;
    if (union > 0 && inter / union >= similarity) n++;
  }
  return n;
}

// ---------------------------------------------------------------- knowledge base & fact-check

/**
 * A knowledge signal's value from a similarity per entry text: the best entry's label when its
 * similarity (rounded to 3 decimals, as conditions see it) reaches the threshold, else no label.
 * The engine's offline stand-in and the sidecar's embeddings both decide through this.
 */
export function knowledgeValue(entries: Readonly<Record<string, readonly string[]>>, threshold: number, similarity: (text: string) => number): { matched: boolean; label: string; score: number } {
  let best = "";
  let top = -1;
  for (const label in entries) {
    for (const text of entries[label]) {
      const x = similarity(text);
      if (x > top) {
        top = x;
        best = label;
      }
    }
  }
  const score = Math.round(Math.max(0, Math.min(1, top)) * 1000) / 1000;
  const matched = score >= threshold;
  return { matched, label: matched ? best : "", score };
}

/** Questions a fact-check classifier scores against: facts about the world that a model may get wrong. */
export const DEFAULT_FACT_CHECK = [
  "what year did this happen",
  "who was the president of the country",
  "how many people live in the city",
  "is it true that",
  "what is the capital of",
  "when was it founded and by whom",
  "what are the latest statistics on",
  "according to the study, what percentage",
];

const FACT_QUESTION = /^\s*(?:who|when|where|which|what year|what is the|how many|how much|is it true|did|was|were)\b|\b(?:in )?(?:what|which) year\b|\bwhen (?:did|was|were)\b|\bhow (?:many|much)\b|\bwho (?:is|was|were|invented|founded|wrote)\b/i;
const FACT_MARKERS = /\b(?:according to|statistics?|percent(?:age)?|population|founded|born|died|capital of|president|in (?:1[5-9]|20)\d\d|since (?:1[5-9]|20)\d\d)\b/gi;
const NOT_FACTUAL = /\b(?:write (?:a|me)|poem|story|imagine|pretend|brainstorm|opinion|what do you think|joke|translate|rewrite|summari[sz]e)\b/i;

/** The offline stand-in for the fact-check classifier: a factual question, fact markers, years and figures; creative asks score 0. */
export function factCheckScore(text: string): number {
  if (text.length === 0 || NOT_FACTUAL.test(text)) return 0;
  const question = FACT_QUESTION.test(text) ? 0.5 : /\?\s*$/.test(text) ? 0.15 : 0;
  const markers = Math.min(1, (text.match(FACT_MARKERS)?.length ?? 0) / 2);
  const figures = /\b\d{2,}(?:[.,]\d+)?\b/.test(text) ? 0.15 : 0;
  return Math.round(Math.min(1, question + 0.45 * markers + figures) * 1000) / 1000;
}

// ---------------------------------------------------------------- offline embedding fallback

/** Bag-of-words cosine similarity: the offline stand-in when no embedding server is configured. */
export function lexicalSimilarity(a: string, b: string): number {
  return wordSimilarity(wordSet(a), wordSet(b));
}

/** Bag-of-words cosine of two word sets, iterating the smaller. */
export function wordSimilarity(wa: ReadonlySet<string>, wb: ReadonlySet<string>): number {
  if (wa.size === 0 || wb.size === 0) return 0;
  const [small, large] = wa.size <= wb.size ? [wa, wb] : [wb, wa];
  let inter = 0;
  for (const x of small) if (large.has(x)) inter++;
  return inter / Math.sqrt(wa.size * wb.size);
}

/** The order findPii looks for types in (e-mails first): must equal bundle/catalog.ts PII_DETECTION_ORDER, which the analysis relies on (tested). */
export const PII_SEARCH_ORDER: readonly string[] = ["email", ...new Set(PII_PATTERNS.map((p) => p.type))];
