// The engine's input: an OpenAI-style chat request plus headers, and values
// for signals that a model server computes (or a test pins).
import type { JsonObject, JsonValue } from "../../bundle/index.ts";

export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: unknown }
  | { type: "input_audio"; input_audio: unknown }
  | { type: "file"; file: unknown }
  | { type: string; [key: string]: unknown };

export interface ChatMessage {
  role: string;
  content: string | ContentPart[] | null;
}

export interface Request {
  messages: ChatMessage[];
  /** Lower-case header names. */
  headers: Record<string, string>;
  metadata: JsonObject;
  /** Given signal values by signal name: a boolean, a score, a label, or `{ output: value }`. */
  signals: JsonObject;
  /** Used to spread weighted and adaptive choices; defaults to a hash of the text. */
  id?: string;
}

/** Builds a Request from an OpenAI chat-completions body and HTTP headers. */
export function requestFromChat(body: { messages?: ChatMessage[]; metadata?: JsonObject; prompt?: string }, headers: Record<string, string | string[] | undefined> = {}): Request {
  const h: Record<string, string> = {};
  for (const k in headers) {
    const v = headers[k];
    if (v !== undefined) h[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  const messages = body.messages ?? (typeof body.prompt === "string" ? [{ role: "user", content: body.prompt }] : []);
  return { messages, headers: h, metadata: body.metadata ?? {}, signals: {} };
}

/** A request that is nothing but given signal values: how analysis witnesses are replayed. */
export function requestFromSignals(signals: JsonObject): Request {
  return { messages: [{ role: "user", content: "" }], headers: {}, metadata: {}, signals };
}

export function textOf(content: ChatMessage["content"]): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  let out = "";
  for (const part of content) if (part.type === "text" && typeof part.text === "string") out += (out ? "\n" : "") + part.text;
  return out;
}

export type { JsonValue };
