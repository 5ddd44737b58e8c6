// The engine's input: an OpenAI-style chat request plus headers, and values
// for signals that a model server computes (or a test pins).
import type { JsonObject, JsonValue } from "../../bundle/index.ts";
import { contentText } from "./text-fields.ts";

export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: unknown }
  | { type: "input_audio"; input_audio: unknown }
  | { type: "file"; file: unknown }
  | { type: string; [key: string]: unknown };

export interface ChatMessage {
  role: string;
  content: string | ContentPart[] | null;
  /** Also text (runtime/engine/text-fields.ts): `name`, `refusal`, `tool_calls[].function.arguments`, … */
  [key: string]: unknown;
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
  /** The profile whose routes decide (the sidecar's choice from the path and model name); absent: by the body's `model`, else the policy's own routes. */
  profile?: string;
  /**
   * The OpenAI body the request came from, when it came from one: the pii
   * and jailbreak signals then read its text fields exactly as redaction
   * does (text-fields.ts requestTextFields: `user`, `suffix`, … too).
   */
  body?: Record<string, unknown>;
}

/** Builds a Request from an OpenAI chat-completions body and HTTP headers. */
export function requestFromChat(body: { messages?: ChatMessage[]; metadata?: JsonObject; prompt?: unknown; suffix?: unknown }, headers: Record<string, string | string[] | undefined> = {}): Request {
  const h: Record<string, string> = {};
  for (const k in headers) {
    const v = headers[k];
    if (v !== undefined) h[k.toLowerCase()] = Array.isArray(v) ? v.join(", ") : v;
  }
  // A completions `prompt` (a string or strings) and `suffix` are the user's text.
  const prompt = [body.prompt, body.suffix].flat().filter((p): p is string => typeof p === "string");
  const messages = body.messages ?? (prompt.length > 0 ? [{ role: "user", content: prompt.join("\n") }] : []);
  return { messages, headers: h, metadata: body.metadata ?? {}, signals: {}, body: body as Record<string, unknown> };
}

/** A request that is nothing but given signal values: how analysis witnesses are replayed. */
export function requestFromSignals(signals: JsonObject): Request {
  return { messages: [{ role: "user", content: "" }], headers: {}, metadata: {}, signals };
}

/** The text of a message's content: a string, or its text parts (text-fields.ts) joined by newlines. */
export function textOf(content: ChatMessage["content"]): string {
  if (typeof content === "string") return content;
  return contentText(content);
}

export type { JsonValue };
