// The `conversation` signal: the shape of a chat request, read from its
// messages and body — how many messages and user turns, tools offered and
// called, one call repeated (an agent in a loop), a system prompt, the
// response format. Deterministic and linear in the request's size.
import type { RESPONSE_FORMATS } from "../../bundle/index.ts";
import type { Request } from "./request.ts";

export interface ConversationShape {
  messages: number;
  user_turns: number;
  /** Tool (and legacy function) definitions the request offers. */
  tools: number;
  /** Tool calls in the history: each entry of an assistant message's `tool_calls`, and a legacy `function_call`. */
  tool_calls: number;
  /** The most times one call (the same function name and the same arguments) occurs in the history; 0 without calls. */
  tool_repeats: number;
  /** A system or developer message is present. */
  system: boolean;
  response_format: (typeof RESPONSE_FORMATS)[number];
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

export function conversationShape(request: Request): ConversationShape {
  const body = request.body ?? {};
  let user = 0;
  let system = false;
  let calls = 0;
  let repeats = 0;
  const seen = new Map<string, number>();
  const call = (fn: unknown) => {
    calls++;
    // A repeat is the same named function again: malformed entries count as calls, never as one call repeated.
    if (!isObject(fn) || typeof fn.name !== "string") return;
    const f = fn;
    // Name and arguments as sent: one call repeated is the same text again. A NUL cannot occur in
    // JSON-decoded text unescaped, and the key only counts, so the separator only has to be unlikely.
    const key = `${f.name}\u0000${typeof f.arguments === "string" ? f.arguments.trim() : JSON.stringify(f.arguments ?? null)}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    if (n > repeats) repeats = n;
  };
  for (const m of request.messages) {
    if (!isObject(m)) continue;
    if (m.role === "user") user++;
    else if (m.role === "system" || m.role === "developer") system = true;
    if (Array.isArray(m.tool_calls)) for (const c of m.tool_calls) call(isObject(c) ? c.function : undefined);
    if (isObject(m.function_call)) call(m.function_call);
  }
  const tools = (Array.isArray(body.tools) ? body.tools.length : 0) + (Array.isArray(body.functions) ? body.functions.length : 0);
  const rf = body.response_format;
  // OpenAI's form only: `{ type: "json_schema", … }`; a bare string or another type is `other`.
  const type = isObject(rf) ? rf.type : undefined;
  const response_format = rf === undefined || rf === null ? "none" : type === "text" || type === "json_object" || type === "json_schema" ? type : "other";
  return { messages: request.messages.length, user_turns: user, tools, tool_calls: calls, tool_repeats: repeats, system, response_format };
}
