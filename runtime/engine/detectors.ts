// Deterministic detectors behind the in-process signals. Each is a pure
// function of text, so it can be cached per request and tested alone.
import type { PluginUse } from "../../bundle/index.ts";

// The tokenizer and the language model take ~0.2 s and ~0.4 s to load, so
// they are loaded only for bundles whose signals need them (Engine.load).
let countO200k: ((text: string, options: { disallowedSpecial: Set<string> }) => number) | null = null;
// Special-token markers in user text (`<|endoftext|>`) are counted as text; by default the library throws on them.
const AS_TEXT = { disallowedSpecial: new Set<string>() };
let eld: { detect(text: string): { language: string; getScores(): Record<string, number>; isReliable(): boolean } } | null = null;

export interface TextModelNeeds {
  tokens: boolean;
  language: boolean;
}

export async function loadTextModels(needs: TextModelNeeds): Promise<void> {
  if (needs.tokens && !countO200k) countO200k = (await import("gpt-tokenizer/encoding/o200k_base")).countTokens;
  if (needs.language && !eld) eld = (await import("eld/small")).eld;
}

export function textModelsLoaded(needs: TextModelNeeds): boolean {
  return (!needs.tokens || countO200k !== null) && (!needs.language || eld !== null);
}

// ---------------------------------------------------------------- tokens

/** Token count with the o200k_base BPE (GPT-4o family): a real tokenizer, close enough for bands. */
export function countTokens(text: string): number {
  if (!countO200k) throw new Error("internal error: the tokenizer is not loaded (create engines with Engine.load)");
  return text.length === 0 ? 0 : countO200k(text, AS_TEXT);
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
  const iban = raw.replace(/\s+/g, "").toUpperCase();
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
  const [area, group, serial] = s.split("-");
  return area !== "000" && area !== "666" && area[0] !== "9" && group !== "00" && serial !== "0000";
}

const CARD_MIN_DIGITS = 13;

// Bounded quantifiers only: these run on untrusted text. `minDigits` lets a
// cheap count skip patterns the text cannot contain. Emails are found apart (findEmails).
const PII_PATTERNS: { type: PiiType; re: RegExp; valid?: (m: string) => boolean; minDigits?: number }[] = [
  { type: "credit_card", minDigits: CARD_MIN_DIGITS, re: /\b(?:\d[ -]?){12,18}\d\b/g, valid: (m) => luhn(m.replace(/[ -]/g, "")) },
  { type: "iban", minDigits: 4, re: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b/g, valid: ibanValid },
  { type: "ssn", minDigits: 9, re: /\b\d{3}-\d{2}-\d{4}\b/g, valid: ssnValid },
  // Not inside a longer run of digit groups (card numbers, IDs): no digit group before or after.
  { type: "phone", minDigits: 7, re: /(?<![\w+])(?<!\d[ .-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]\d{3,4}(?![ .-]?\d)/g },
  { type: "ip_address", minDigits: 4, re: /\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b/g },
];

/** Finds PII of the given types; overlapping matches keep the first (most specific) type. */
const EMAIL_LOCAL = /[A-Za-z0-9._%+-]/;
const EMAIL_DOMAIN = /[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}/y;

/** Emails, found from their `@`: a regex tried at every position of the text would be far slower. */
function findEmails(text: string, found: PiiMatch[]): void {
  for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
    let start = at;
    while (start > 0 && at - start < 64 && EMAIL_LOCAL.test(text[start - 1])) start--;
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

export function findPii(text: string, types: ReadonlySet<string>): PiiMatch[] {
  const found: PiiMatch[] = [];
  if (types.has("email")) findEmails(text, found);
  const digits = countDigits(text);
  // Digits inside an IBAN-shaped token are never a card number, even when the IBAN is invalid.
  const ibanShaped: { start: number; end: number }[] = [];
  if (types.has("credit_card") && digits >= CARD_MIN_DIGITS) {
    const re = PII_PATTERNS.find((p) => p.type === "iban")!.re;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) ibanShaped.push({ start: m.index, end: m.index + m[0].length });
  }
  for (const { type, re, valid, minDigits } of PII_PATTERNS) {
    if (!types.has(type)) continue;
    if (minDigits !== undefined && digits < minDigits) continue;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      const start = m.index;
      const end = start + m[0].length;
      if (valid && !valid(m[0])) continue;
      if (type === "credit_card" && ibanShaped.some((f) => start < f.end && f.start < end)) continue;
      if (found.some((f) => start < f.end && f.start < end)) continue;
      found.push({ type, start, end });
    }
  }
  return found.sort((a, b) => a.start - b.start);
}

// ---------------------------------------------------------------- jailbreak

const JAILBREAK_PATTERNS: { re: RegExp; weight: number }[] = [
  { re: /\b(?:ignore|disregard|forget)\b.{0,40}\b(?:previous|prior|above|earlier|all|your)\b.{0,30}\b(?:instructions?|rules|prompts?|guidelines)\b/i, weight: 0.85 },
  { re: /\b(?:you are|you're|act as|pretend to be)\b.{0,30}\b(?:DAN|do anything now|unfiltered|jailbroken|evil)\b/i, weight: 0.85 },
  { re: /\bdeveloper mode\b|\bjailbreak(?:ed|ing)?\b/i, weight: 0.6 },
  { re: /\b(?:reveal|print|show|repeat|leak)\b.{0,30}\b(?:system prompt|hidden instructions|initial prompt)\b/i, weight: 0.7 },
  { re: /\bno (?:restrictions|limits|rules|filters)\b|\bwithout (?:any )?(?:restrictions|filters|censorship)\b/i, weight: 0.45 },
  { re: /\b(?:bypass|override|disable)\b.{0,30}\b(?:safety|filters?|guardrails?|moderation|content policy)\b/i, weight: 0.7 },
  { re: /<\|(?:im_start|system|endoftext)\|>|\[\/?INST\]|###\s*system/i, weight: 0.6 },
];

/**
 * Every pattern above needs one of these (lower-case) words or markers. The
 * engine puts them in its keyword automaton, so the pass it makes anyway
 * rules most texts out; `hinted` says whether one occurred.
 */
export const JAILBREAK_HINTS = [
  "ignore", "disregard", "forget", "you are", "you're", "act as", "pretend", "developer mode", "jailbreak", "reveal",
  "print", "show", "repeat", "leak", "no restrictions", "no limits", "no rules", "no filters", "without", "bypass",
  "override", "disable", "<|", "[inst]", "[/inst]", "###",
];

/** A score in [0, 1]: independent evidence combined as 1 − Π(1 − wᵢ). */
export function jailbreakScore(text: string, hinted?: boolean): number {
  if (hinted === false) return 0;
  if (hinted === undefined) {
    const lower = text.toLowerCase();
    if (!JAILBREAK_HINTS.some((h) => lower.includes(h))) return 0;
  }
  let keep = 1;
  for (const { re, weight } of JAILBREAK_PATTERNS) if (re.test(text)) keep *= 1 - weight;
  return Math.round((1 - keep) * 1000) / 1000;
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

function wordSet(text: string): Set<string> {
  return new Set(text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []);
}

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

// ---------------------------------------------------------------- offline embedding fallback

/** Bag-of-words cosine similarity: the offline stand-in when no embedding server is configured. */
export function lexicalSimilarity(a: string, b: string): number {
  const wa = wordSet(a);
  const wb = wordSet(b);
  if (wa.size === 0 || wb.size === 0) return 0;
  let inter = 0;
  for (const x of wa) if (wb.has(x)) inter++;
  return inter / Math.sqrt(wa.size * wb.size);
}
