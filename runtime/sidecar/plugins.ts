// What the safety plugins do to a request before it leaves: the engine has
// already decided which plugins run and whether one blocks; this rewrites the
// OpenAI request body and the upstream headers accordingly.
import type { Action, JsonObject, PluginUse } from "../../bundle/index.ts";
import { findPii, piiTypesOf } from "../engine/detectors.ts";
import type { ChatMessage } from "../engine/request.ts";

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

/** Redacts or masks the PII types `use` names in one string. */
function cleanText(text: string, use: PluginUse, counts: Record<string, number>): string {
  const found = findPii(text, piiTypesOf(use).set);
  if (found.length === 0) return text;
  const mode = (use.config.mode as string | undefined) ?? "redact";
  let out = "";
  let at = 0;
  for (const m of [...found].sort((a, b) => a.start - b.start)) {
    if (m.start < at) continue; // overlapping detections: the first wins
    const original = text.slice(m.start, m.end);
    out += text.slice(at, m.start) + (mode === "mask" ? original.replace(/[A-Za-z0-9]/g, MASK) : `[${m.type.toUpperCase()}]`);
    at = m.end;
    counts[m.type] = (counts[m.type] ?? 0) + 1;
  }
  return out + text.slice(at);
}

function mapContent(content: ChatMessage["content"], f: (s: string) => string): ChatMessage["content"] {
  if (typeof content === "string") return f(content);
  if (Array.isArray(content)) return content.map((part) => (part.type === "text" && typeof part.text === "string" ? { ...part, text: f(part.text) } : part));
  return content;
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
        const clean = (s: string) => cleanText(s, use, out.redacted);
        const messages = out.body.messages as unknown as ChatMessage[] | undefined;
        if (Array.isArray(messages)) out.body.messages = messages.map((m) => ({ ...m, content: mapContent(m.content, clean) })) as unknown as JsonObject[];
        if (typeof out.body.prompt === "string") out.body.prompt = clean(out.body.prompt);
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
      default:
        // jailbreak_guard in `flag` mode changes nothing; its score is in the telemetry.
        break;
    }
  }
  return out;
}

/**
 * PII redaction on the answer, for `pii_redact` plugins with
 * `on_response: true` that ran: the message content (chat) or text
 * (completions) of every choice. Returns the new body, or null when nothing
 * applies. Streamed answers: `streamRedactor`.
 */
export function redactResponse(text: string, action: Action, applied: readonly string[], counts: Record<string, number>): string | null {
  const uses = responseRedactions(action, applied);
  if (uses.length === 0) return null;
  let body: { choices?: { message?: { content?: unknown }; text?: unknown }[] };
  try {
    body = JSON.parse(text);
  } catch {
    return null;
  }
  for (const choice of body.choices ?? []) {
    for (const use of uses) {
      if (choice.message && typeof choice.message.content === "string") choice.message.content = cleanText(choice.message.content, use, counts);
      if (typeof choice.text === "string") choice.text = cleanText(choice.text, use, counts);
    }
  }
  return JSON.stringify(body);
}

/**
 * The `pii_redact` plugins that ran and asked for `on_response`, as they act
 * on an answer: a plugin that blocks requests redacts answers.
 */
function responseRedactions(action: Action, applied: readonly string[]): PluginUse[] {
  return action.plugins
    .filter((p) => p.type === "pii_redact" && p.config.on_response === true && applied.includes(p.plugin))
    .map((use) => ({ ...use, config: { ...use.config, mode: use.config.mode === "mask" ? "mask" : "redact" } }));
}

/**
 * The same redaction for a streamed answer (server-sent events): the text of
 * each choice is held back by 64 characters — longer than any PII item the
 * detectors know — so an item split across chunks is seen whole before
 * anything of it is sent. Returns null when no plugin asks for it.
 */
export function streamRedactor(action: Action, applied: readonly string[], counts: Record<string, number>): ((chunk: string) => string) & { end(): string } | null {
  const uses = responseRedactions(action, applied);
  if (uses.length === 0) return null;
  const HOLD = 64;
  const types = new Set(uses.flatMap((u) => u.config.types as string[]));
  const pending = new Map<number, { text: string; chat: boolean }>();
  let buffer = "";
  const clean = (s: string) => uses.reduce((t, use) => cleanText(t, use, counts), s);
  /** What of a choice's text can be released now: up to a space at least HOLD characters from the end, never inside an item. */
  const release = (index: number, chat: boolean, more: string, final: boolean): string => {
    const p = pending.get(index) ?? { text: "", chat };
    const text = p.text + more;
    let cut = final ? text.length : text.lastIndexOf(" ", text.length - HOLD);
    if (cut <= 0 && !final) {
      pending.set(index, { text, chat });
      return "";
    }
    if (!final) {
      // Never cut through an item: move the cut before any item that crosses it.
      for (const m of findPii(text, types)) if (m.start < cut && m.end > cut) cut = Math.min(cut, m.start);
    }
    pending.set(index, { text: text.slice(cut), chat });
    return clean(text.slice(0, cut));
  };
  /** Everything still held back, cleaned, as one event per choice. */
  const releaseHeld = (): string => {
    let out = "";
    for (const [index, p] of pending) {
      const rest = release(index, p.chat, "", true);
      if (rest) out += `data: ${JSON.stringify({ choices: [p.chat ? { index, delta: { content: rest }, finish_reason: null } : { index, text: rest, finish_reason: null }] })}\n\n`;
    }
    pending.clear();
    return out;
  };
  const event = (data: string): string => {
    // Whatever is held back goes out before the end.
    if (data.trim() === "[DONE]") return `${releaseHeld()}data: ${data}\n\n`;
    let body: { choices?: { index?: number; delta?: { content?: unknown }; text?: unknown }[] };
    try {
      body = JSON.parse(data);
    } catch {
      return `data: ${data}\n\n`;
    }
    for (const choice of body.choices ?? []) {
      const index = choice.index ?? 0;
      if (choice.delta && typeof choice.delta.content === "string") choice.delta.content = release(index, true, choice.delta.content, false);
      else if (typeof choice.text === "string") choice.text = release(index, false, choice.text, false);
    }
    return `data: ${JSON.stringify(body)}\n\n`;
  };
  const feed = (chunk: string): string => {
    buffer += chunk;
    let out = "";
    let at: number;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const raw = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const data = raw.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      out += raw.startsWith("data:") || raw.includes("\ndata:") ? event(data) : `${raw}\n\n`;
    }
    return out;
  };
  return Object.assign(feed, {
    end: () => {
      // A stream cut off without [DONE]: release what is held, cleaned.
      const out = buffer + releaseHeld();
      buffer = "";
      return out;
    },
  });
}
