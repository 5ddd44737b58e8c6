// What the safety plugins do to a request before it leaves: the engine has
// already decided which plugins run and whether one blocks; this rewrites the
// OpenAI request body and the upstream headers accordingly. Which fields are
// text is decided in one place, runtime/engine/text-fields.ts, for detection
// and redaction alike.
import type { Action, JsonObject, JsonValue, PluginUse } from "../../bundle/index.ts";
import { ALL_PII_TYPES, PII_ITEM_MAX, dropIgnored, findPii, normalizeText, piiTypesOf, type PiiMatch } from "../engine/detectors.ts";
import type { ChatMessage } from "../engine/request.ts";
import { FIELD_JOIN, mapAnswerText, mapRequestText } from "../engine/text-fields.ts";

export interface Rewritten {
  body: JsonObject;
  /** Headers to set on the upstream request (lower-case names). */
  setHeaders: Record<string, string>;
  /** Headers of the client request not to pass on. */
  removeHeaders: string[];
  /** PII items redacted or masked, by type. */
  redacted: Record<string, number>;
}

const MASK = "*";
/** Letters and digits of any script are masked; format characters (zero-width, soft hyphens) inside an item are dropped. */
const MASKED = /[\p{L}\p{N}]/gu;
const FORMAT_CHARS = /\p{Cf}/gu;

type Mode = "redact" | "mask";

function replacement(original: string, type: string, mode: Mode): string {
  return mode === "mask" ? original.replace(FORMAT_CHARS, "").replace(MASKED, MASK) : `[${type.toUpperCase()}]`;
}

/** A text with the given ranges (sorted, not overlapping) replaced. */
function applyRanges(text: string, ranges: readonly { start: number; end: number; type: string }[], mode: Mode): string {
  if (ranges.length === 0) return text;
  let out = "";
  let at = 0;
  for (const r of ranges) {
    if (r.start < at) continue;
    out += text.slice(at, r.start) + replacement(text.slice(r.start, r.end), r.type, mode);
    at = r.end;
  }
  return out + text.slice(at);
}

/** Redacts or masks the PII of the given types in one string. */
export function redactText(text: string, types: ReadonlySet<string>, mode: Mode, counts: Record<string, number>): string {
  const found = findPii(text, types);
  for (const m of found) counts[m.type] = (counts[m.type] ?? 0) + 1;
  return applyRanges(text, found, mode);
}

const modeOf = (use: PluginUse): Mode => ((use.config.mode as string | undefined) === "mask" ? "mask" : "redact");

/**
 * One `pii_redact` use on a request body. Every text field (text-fields.ts)
 * is scanned as one text, its fields joined by newlines, so an item split
 * across fields or messages is found; each piece of it is replaced in its
 * own field.
 */
/** Whether any text field of a request holds personal data of any type the detectors know. */
export function hasPersonalData(body: JsonObject): boolean {
  const texts: string[] = [];
  mapRequestText(body, (t) => {
    texts.push(t);
    return t;
  });
  return texts.length > 0 && findPii(texts.join(FIELD_JOIN), ALL_PII_TYPES).length > 0;
}

function redactRequestBody(body: JsonObject, use: PluginUse, counts: Record<string, number>): JsonObject {
  const texts: string[] = [];
  mapRequestText(body, (t) => {
    texts.push(t);
    return t;
  });
  if (texts.length === 0) return body;
  const found = findPii(texts.join(FIELD_JOIN), piiTypesOf(use).set);
  if (found.length === 0) return body;
  for (const m of found) counts[m.type] = (counts[m.type] ?? 0) + 1;
  // Each match, cut at field borders, in the coordinates of its field.
  const perField: { start: number; end: number; type: string }[][] = texts.map(() => []);
  let fieldStart = 0;
  let k = 0;
  for (let i = 0; i < texts.length; i++) {
    const fieldEnd = fieldStart + texts[i].length;
    while (k < found.length && found[k].end <= fieldStart) k++;
    for (let j = k; j < found.length && found[j].start < fieldEnd; j++) {
      const m: PiiMatch = found[j];
      const start = Math.max(m.start, fieldStart) - fieldStart;
      const end = Math.min(m.end, fieldEnd) - fieldStart;
      if (end > start) perField[i].push({ start, end, type: m.type });
    }
    fieldStart = fieldEnd + FIELD_JOIN.length;
  }
  let i = 0;
  const mode = modeOf(use);
  return mapRequestText(body, (t) => applyRanges(t, perField[i++], mode)) as JsonObject;
}

/**
 * Applies the plugins that ran (`applied`, in order) to a chat or completions
 * body. Blocking was decided by the engine; a blocked request never gets here.
 */
export function rewriteRequest(body: JsonObject, action: Action, applied: readonly string[]): Rewritten {
  // A shallow copy is enough: every change below builds new arrays and message objects.
  const out: Rewritten = { body: { ...body }, setHeaders: {}, removeHeaders: [], redacted: {} };
  const ran = new Set(applied);
  for (const use of action.plugins) {
    if (!ran.has(use.plugin)) continue;
    const c = use.config;
    switch (use.type) {
      case "pii_redact": {
        if (((c.mode as string | undefined) ?? "redact") === "block") break;
        out.body = redactRequestBody(out.body, use, out.redacted);
        break;
      }
      case "system_prompt": {
        const text = c.text as string;
        const position = (c.position as string | undefined) ?? "prepend";
        if (typeof out.body.prompt === "string") {
          out.body.prompt = position === "append" ? `${out.body.prompt}\n\n${text}` : position === "replace" ? out.body.prompt : `${text}\n\n${out.body.prompt}`;
          break;
        }
        const messages = ((out.body.messages as unknown as ChatMessage[] | undefined) ?? []).slice();
        const system: ChatMessage = { role: "system", content: text };
        const rest = position === "replace" ? messages.filter((m) => m.role !== "system") : messages;
        out.body.messages = (position === "append" ? [...rest, system] : [system, ...rest]) as unknown as JsonObject[];
        break;
      }
      case "header_mutation": {
        for (const [k, v] of Object.entries((c.set as Record<string, string> | undefined) ?? {})) out.setHeaders[k.toLowerCase()] = v;
        for (const k of (c.remove as string[] | undefined) ?? []) out.removeHeaders.push(k.toLowerCase());
        break;
      }
      case "tools_filter":
        out.body = filterTools(out.body, c);
        break;
      default:
        // jailbreak_guard in `flag` mode changes nothing; its score is in the telemetry; `cache` acts in the request path.
        break;
    }
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/** A tool definition's function name (`{ type: "function", function: { name } }`, or a legacy `functions` entry's `name`). */
const toolName = (t: unknown): string | undefined => {
  if (!isObject(t)) return undefined;
  const f = isObject(t.function) ? t.function : t;
  return typeof f.name === "string" ? f.name : undefined;
};

/**
 * tools_filter: `none` takes every tool away (and the choice among them); `allow` keeps the named
 * ones (a `tool_choice` naming another becomes `auto`, or goes with the last tool); `strip_history`
 * drops tool results and the calls in assistant turns (a turn left empty goes too).
 */
export function filterTools(body: JsonObject, c: JsonObject): JsonObject {
  const out: JsonObject = { ...body };
  const dropAll = () => {
    for (const k of ["tools", "functions", "tool_choice", "function_call", "parallel_tool_calls"]) delete out[k];
  };
  if (c.none === true || Array.isArray(c.allow)) {
    // Other ways a client hands a model server tools: vLLM merges `chat_template_kwargs` into the
    // template's arguments (its `tools` replaces the filtered list), and a request may bring its own template.
    delete out.chat_template;
    const kwargs = out.chat_template_kwargs;
    if (kwargs !== null && typeof kwargs === "object" && !Array.isArray(kwargs)) {
      const { tools: _tools, documents: _documents, ...rest } = kwargs;
      out.chat_template_kwargs = rest;
    } else delete out.chat_template_kwargs;
    // Tools in any other shape than a list are no tools the filter can read: gone.
    for (const k of ["tools", "functions"]) if (out[k] !== undefined && !Array.isArray(out[k])) delete out[k];
  }
  if (c.none === true) dropAll();
  else if (Array.isArray(c.allow)) {
    const allow = new Set(c.allow as string[]);
    const kept = (list: JsonValue | undefined) => (Array.isArray(list) ? list.filter((t) => allow.has(toolName(t) ?? "")) : undefined);
    const tools = kept(out.tools);
    const functions = kept(out.functions);
    if (tools !== undefined) out.tools = tools;
    if (functions !== undefined) out.functions = functions;
    if ((tools?.length ?? 0) + (functions?.length ?? 0) === 0) dropAll();
    else {
      for (const k of ["tool_choice", "function_call"]) {
        const choice = out[k];
        const named = isObject(choice) ? toolName(choice) : undefined;
        if (named !== undefined && !allow.has(named)) out[k] = "auto";
      }
    }
  }
  if (c.strip_history === true && Array.isArray(out.messages)) {
    const messages: JsonValue[] = [];
    for (const m of out.messages) {
      if (!isObject(m)) {
        messages.push(m);
        continue;
      }
      if (m.role === "tool" || m.role === "function") continue;
      if (m.tool_calls === undefined && m.function_call === undefined) {
        messages.push(m);
        continue;
      }
      const { tool_calls: _calls, function_call: _call, ...rest } = m;
      const content = rest.content;
      if (content === null || content === undefined || content === "" || (Array.isArray(content) && content.length === 0)) continue;
      messages.push(rest as JsonObject);
    }
    out.messages = messages;
  }
  return out;
}

/**
 * The `pii_redact` plugins that ran and asked for `on_response`, as they act
 * on an answer: a plugin that blocks requests redacts answers.
 */
function responseRedactions(action: Action, applied: readonly string[]): { types: ReadonlySet<string>; mode: Mode }[] {
  return action.plugins
    .filter((p) => p.type === "pii_redact" && p.config.on_response === true && applied.includes(p.plugin))
    .map((use) => ({ types: piiTypesOf(use).set, mode: modeOf(use) }));
}

type Redactions = ReturnType<typeof responseRedactions>;

function cleanWith(uses: Redactions, counts: Record<string, number>): (s: string) => string {
  return (s) => uses.reduce((t, u) => redactText(t, u.types, u.mode, counts), s);
}

/** Drops `logprobs` from every choice: their tokens would carry the answer's text past redaction. */
function dropLogprobs(body: unknown): void {
  const choices = (body as { choices?: unknown } | null)?.choices;
  if (!Array.isArray(choices)) return;
  for (const c of choices) if (c !== null && typeof c === "object" && "logprobs" in c) (c as { logprobs: unknown }).logprobs = null;
}

/** Whether an answer that is not JSON is server-sent events (whatever its content type said). */
const LOOKS_LIKE_SSE = /^(?:data|event|id|retry)?:/m;

/**
 * PII redaction on the answer, for `pii_redact` plugins with
 * `on_response: true` that ran: every text field of the answer
 * (text-fields.ts mapAnswerText: message content and content parts,
 * refusals, tool-call arguments, completions text, error messages — any
 * status), with `logprobs` dropped. An answer that is not JSON is redacted as
 * server-sent events when it looks like them, else as plain text. Returns
 * the new body, or null when no plugin asks. Streams: `streamRedactor`.
 */
export function redactResponse(text: string, action: Action, applied: readonly string[], counts: Record<string, number>): string | null {
  const uses = responseRedactions(action, applied);
  if (uses.length === 0) return null;
  const clean = cleanWith(uses, counts);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    if (LOOKS_LIKE_SSE.test(text)) {
      const stream = streamRedactor(action, applied, counts)!;
      return stream(text) + stream.end();
    }
    return clean(text);
  }
  if (body === null || typeof body !== "object") return typeof body === "string" ? JSON.stringify(clean(body)) : text;
  dropLogprobs(body);
  return JSON.stringify(mapAnswerText(body, (t) => clean(t)));
}

/**
 * Most characters (normalized, as the detectors read them) held back for one
 * text field of a streamed answer: the longest item the detectors can find
 * (PII_ITEM_MAX, 665), so no item can straddle what is released and what is
 * held, and a stream is redacted exactly as the whole answer would be.
 */
export const STREAM_HOLD_MAX = PII_ITEM_MAX;

const WORD = /[A-Za-z0-9._%+@-]/;
const ALNUM_4 = /^[A-Za-z0-9]{4}$/;
const NUMBER_SEP = /[ \t\r\n./()+-]/;
const HAS_DIGIT = /\d/;

/**
 * Where the part of a streamed text that could still become (part of) a PII
 * item begins: the trailing word (an email's local part, a number glued to
 * letters) and, before it, a chain of digit groups joined by up to three
 * separators (card, phone, SSN, IP numbers; an IBAN's letter groups of
 * four, one separator apart, after a digit group), with a `+` or `(` before. Everything before it can be released:
 * no item the detectors know can reach across it. Read on the normalized
 * text, so zero-width characters, other spaces and digits count as they do
 * for the detectors; at most the last STREAM_HOLD_MAX normalized characters
 * are held (an item in progress began within them).
 */
export function pendingStart(text: string): number {
  const n = normalizeText(text);
  const t = n.text;
  const lo = Math.max(0, t.length - STREAM_HOLD_MAX);
  let s = t.length;
  while (s > lo && WORD.test(t[s - 1])) s--;
  // Before the trailing word: groups (runs of word characters) joined by at most three separators,
  // each with a digit or of at most four characters; letter-only groups at the front are dropped.
  let j = s;
  const starts: number[] = [];
  const digits: boolean[] = [];
  for (;;) {
    let k = j;
    while (k > lo && j - k < 3 && NUMBER_SEP.test(t[k - 1])) k--;
    let m = k;
    while (m > lo && WORD.test(t[m - 1])) m--;
    if (m === k || (k === j && j !== s)) break;
    const group = t.slice(m, k);
    const digit = HAS_DIGIT.test(group);
    // A group without digits can only be one of an IBAN's groups of four, one separator from the next.
    if (!digit && !(group.length === 4 && ALNUM_4.test(group) && j - k <= 1)) break;
    starts.push(m);
    digits.push(digit);
    j = m;
  }
  while (starts.length > 0 && !digits[digits.length - 1]) {
    starts.pop();
    digits.pop();
  }
  j = starts.length > 0 ? starts[starts.length - 1] : s;
  // A sign or an opening bracket right before may begin a phone number.
  for (let n = 0; n < 2 && j > lo && /[+( ]/.test(t[j - 1]) && (t[j - 1] !== " " || t[j - 2] === "+" || t[j - 2] === "("); n++) j--;
  if (j >= t.length) return text.length;
  return n.starts ? n.starts[j] : j;
}

/**
 * The same redaction for a streamed answer (server-sent events, with LF,
 * CRLF or CR line ends): each text field of each choice (content, refusal,
 * tool-call arguments, completions text) is released as soon as it cannot
 * become part of a PII item any more (pendingStart); only a trailing partial
 * candidate is held back, at most STREAM_HOLD_MAX characters. What is held
 * is released, cleaned, before the choice's `finish_reason` event and before
 * `[DONE]` or the end of the stream. Returns null when no plugin asks for it.
 */
export function streamRedactor(action: Action, applied: readonly string[], counts: Record<string, number>): ((chunk: string) => string) & { end(): string } | null {
  const uses = responseRedactions(action, applied);
  if (uses.length === 0) return null;
  const clean = cleanWith(uses, counts);
  /** Held text by field key, with the choice it belongs to. */
  const pending = new Map<string, { text: string; choice: number }>();
  /** The envelope (id, object, created, model) of the last event, for the events that release held text. */
  let envelope: Record<string, unknown> = {};
  let buffer = "";
  let dataLines: string[] = [];
  let otherLines: string[] = [];

  const release = (key: string, choice: number, more: string): string => {
    const text = (pending.get(key)?.text ?? "") + more;
    const cut = pendingStart(text);
    if (cut < text.length) {
      // At most STREAM_HOLD_MAX normalized characters, but characters the detectors ignore (zero-width, combining
      // marks) may pad them without bound: past twice that, those are dropped from the held text (which then reads the same).
      let held = text.slice(cut);
      if (held.length > 2 * STREAM_HOLD_MAX) held = dropIgnored(held);
      pending.set(key, { text: held, choice });
    } else pending.delete(key);
    return cut === 0 ? "" : clean(text.slice(0, cut));
  };
  /** Held text of the choice (or of every choice) as events, cleaned. */
  const flush = (choice: number | null): string => {
    let out = "";
    for (const [key, p] of pending) {
      if (choice !== null && p.choice !== choice) continue;
      pending.delete(key);
      if (p.text === "") continue;
      out += `data: ${JSON.stringify({ ...envelope, choices: [choiceAt(key, clean(p.text))] })}\n\n`;
    }
    return out;
  };
  const event = (data: string): string => {
    if (data.trim() === "[DONE]") return `${flush(null)}data: ${data}\n\n`;
    let body: unknown;
    try {
      body = JSON.parse(data);
    } catch {
      return `data: ${clean(data)}\n\n`;
    }
    if (body === null || typeof body !== "object") return `data: ${data}\n\n`;
    const b = body as Record<string, unknown>;
    envelope = {};
    for (const k of ["id", "object", "created", "model"]) if (b[k] !== undefined) envelope[k] = b[k];
    dropLogprobs(body);
    let before = "";
    const choices = Array.isArray(b.choices) ? (b.choices as { index?: unknown; finish_reason?: unknown }[]) : [];
    // A choice that finishes gets what is held for it first.
    for (const c of choices) if (c && c.finish_reason !== null && c.finish_reason !== undefined) before += flush(typeof c.index === "number" ? c.index : 0);
    const mapped = mapAnswerText(body, (t, key, choice) => (choice < 0 ? clean(t) : release(key, choice, t)));
    return `${before}data: ${JSON.stringify(mapped)}\n\n`;
  };
  /** One complete line of the stream. */
  const line = (l: string): string => {
    if (l === "") {
      // End of an event.
      const out = dataLines.length > 0 ? otherLines.map((o) => `${o}\n`).join("") + event(dataLines.join("\n")) : otherLines.length > 0 ? `${otherLines.join("\n")}\n\n` : "";
      dataLines = [];
      otherLines = [];
      return out;
    }
    if (l.startsWith("data:")) dataLines.push(l.slice(5).replace(/^ /, ""));
    else otherLines.push(l);
    return "";
  };
  const feed = (chunk: string): string => {
    buffer += chunk;
    let out = "";
    let at = 0;
    for (;;) {
      const nl = buffer.slice(at).search(/\r\n|\r|\n/);
      if (nl < 0) break;
      const end = at + nl;
      // A CR at the very end may be the first half of a CRLF: wait for the next chunk.
      if (buffer[end] === "\r" && end + 1 === buffer.length) break;
      out += line(buffer.slice(at, end));
      at = end + (buffer[end] === "\r" && buffer[end + 1] === "\n" ? 2 : 1);
    }
    buffer = buffer.slice(at);
    return out;
  };
  return Object.assign(feed, {
    end: () => {
      // A stream cut off without [DONE] (or without a last blank line): finish the event, release what is held, cleaned.
      let out = buffer === "" ? "" : line(buffer.replace(/\r$/, ""));
      buffer = "";
      out += line("");
      return out + flush(null);
    },
  });
}

/** A choice object carrying `text` at the field `key` names (as mapAnswerText keys it: `.choices[i].delta.tool_calls[k].function.arguments`). */
function choiceAt(key: string, text: string): Record<string, unknown> {
  const parts = [...key.matchAll(/\.([^.[\]]+)|\[(\d+)\]/g)].map((m) => (m[1] !== undefined ? m[1] : Number(m[2])));
  // parts: "choices", i, ...path
  const index = parts[1] as number;
  const build = (i: number): unknown => {
    if (i === parts.length) return text;
    const p = parts[i];
    if (typeof p === "number") return [{ index: p, ...(build(i + 1) as object) }];
    return { [p]: build(i + 1) };
  };
  const inner = build(2) as Record<string, unknown>;
  return { index, ...inner, finish_reason: null };
}
