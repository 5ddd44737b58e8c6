// The OpenAI wire format, as the sidecar speaks it: error bodies, reading
// JSON request bodies within a size limit, and checking a chat request's
// shape so a malformed one gets a 400 that names the field.
import type { SidecarRequest, SidecarResponse } from "./http-server.ts";
import type { JsonObject } from "../../bundle/index.ts";

/** A request the sidecar answers with an OpenAI error body and this status. */
export class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly code: string | null;
  constructor(status: number, message: string, type = "invalid_request_error", code: string | null = null) {
    super(message);
    this.status = status;
    this.type = type;
    this.code = code;
  }
}

/** The OpenAI error body, so clients' error handling works unchanged. */
export function sendError(res: SidecarResponse, err: HttpError, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { message: err.message, type: err.type, param: null, code: err.code } });
  res.send(err.status, { "content-type": "application/json", ...headers }, body);
}

/** Deepest nesting of objects and arrays a request body may have (deeper: 400); the code that reads a body recurses. */
export const MAX_JSON_DEPTH = 128;

export async function readJson(req: SidecarRequest, limit: number): Promise<JsonObject> {
  const text = (await req.body(limit)).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, "the request body is not valid JSON");
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new HttpError(400, "the request body must be a JSON object");
  if (tooDeep(value, MAX_JSON_DEPTH)) throw new HttpError(400, `the request body nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
  return value as JsonObject;
}

/** Whether objects and arrays nest deeper than `max`; iterative, so any depth is safe to check. */
function tooDeep(root: object, max: number): boolean {
  const stack: unknown[] = [root];
  const depths: number[] = [1];
  while (stack.length > 0) {
    const value = stack.pop() as Record<string, unknown>;
    const depth = depths.pop()!;
    if (depth > max) return true;
    for (const key in value) {
      const child = value[key];
      if (typeof child === "object" && child !== null) {
        stack.push(child);
        depths.push(depth + 1);
      }
    }
  }
  return false;
}

/** What is wrong with a chat request's shape, naming the field; null when it is usable. */
export function chatProblem(body: JsonObject): string | null {
  const messages = body.messages;
  if (!Array.isArray(messages)) return "`messages` must be an array of chat messages";
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const at = `messages[${i}]`;
    if (typeof m !== "object" || m === null || Array.isArray(m)) return `\`${at}\` must be an object with a \`role\` and a \`content\``;
    if (m.role !== undefined && typeof m.role !== "string") return `\`${at}.role\` must be a string`;
    const content = m.content;
    if (content === undefined || content === null || typeof content === "string") continue;
    if (!Array.isArray(content)) return `\`${at}.content\` must be a string, an array of content parts, or null`;
    for (let j = 0; j < content.length; j++) {
      const part = content[j];
      if (typeof part !== "object" || part === null || Array.isArray(part) || typeof part.type !== "string") return `\`${at}.content[${j}]\` must be a content part with a \`type\``;
      if (part.type === "text" && typeof part.text !== "string") return `\`${at}.content[${j}].text\` must be a string`;
    }
  }
  return metadataProblem(body);
}

export function metadataProblem(body: JsonObject): string | null {
  const md = body.metadata;
  if (md === undefined || md === null) return null;
  if (typeof md !== "object" || Array.isArray(md)) return "`metadata` must be an object of strings";
  for (const [k, v] of Object.entries(md)) if (typeof v !== "string") return `\`metadata.${k}\` must be a string`;
  return null;
}
