// Which fields of an OpenAI request or answer are text. One extractor, used
// by detection (pii and jailbreak signals), by redaction (pii_redact on the
// request and on the answer) and by every outbound call (model servers and
// the embeddings endpoint), so what is proved about a request is what the
// sidecar sends. The list is written down in docs/sidecar.md ("Text fields").
//
// Request messages: `content` (a string, or the `text` of `text`,
// `input_text` and `output_text` parts and the `refusal` of `refusal`
// parts), `name`, `refusal`, `tool_calls[].function.arguments`,
// `tool_calls[].custom.input`, `function_call.arguments`. The body's
// `prompt` (a string or strings), `suffix` and `user`. Safe by construction:
// a message key is structure only if it can never carry text a model reads
// (MESSAGE_STRUCTURE: `role`, `tool_call_id`, `id`; in a tool call its `id`
// and the tool's `name`; `audio.id` and `audio.data`). Every string anywhere
// else in a message — `content`, `reasoning_content`, `type`, `status`, keys
// this module has never heard of — is text, scanned and redacted. Media parts
// (`image_url`, `input_image`, `input_audio`, `file`, `input_file`) are not
// inspected.

/** A text-bearing string and where it is. */
export interface TextField {
  text: string;
  /** The message's role, lower-cased and trimmed ("" outside messages). */
  role: string;
  /** Index of the message (-1 outside messages). */
  message: number;
}

/** Parts whose payload is media or a file reference: passed on, never scanned. */
const MEDIA_PARTS = new Set(["image_url", "input_image", "input_audio", "file", "input_file", "audio"]);
/** Parts whose text is in `text`. */
const TEXT_PARTS = new Set(["text", "input_text", "output_text"]);
/**
 * Message keys that are structure, not text: identifiers that can never
 * carry text a model reads. Nothing else may be added here (reasoning,
 * prefixes, statuses and types are strings a client controls and a model
 * server may render into the prompt): a key not named here is text.
 */
const MESSAGE_STRUCTURE: ReadonlySet<string> = new Set(["role", "tool_call_id", "id"]);
/** Keys inside a tool call that are structure: its id and the tool's name. */
const TOOL_STRUCTURE: ReadonlySet<string> = new Set(["id", "name"]);
/** Keys of a message's `audio` that are not text: the reference to an earlier answer's audio, and audio data (media, like media parts). */
const AUDIO_STRUCTURE: ReadonlySet<string> = new Set(["id", "data"]);

export function roleOf(role: unknown): string {
  return typeof role === "string" ? role.trim().toLowerCase() : "";
}

type Map1 = (text: string) => string;

/** Every string under `v` (an unknown part or key) mapped; returns v itself when nothing changed. */
function mapAll(v: unknown, f: Map1): unknown {
  if (typeof v === "string") return f(v);
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((x) => {
      const y = mapAll(x, f);
      if (y !== x) changed = true;
      return y;
    });
    return changed ? out : v;
  }
  if (v !== null && typeof v === "object") {
    let out: Record<string, unknown> | null = null;
    for (const [k, x] of Object.entries(v)) {
      const y = mapAll(x, f);
      if (y !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = y;
    }
    return out ?? v;
  }
  return v;
}

function mapPart(part: unknown, f: Map1): unknown {
  if (typeof part === "string") return f(part);
  if (part === null || typeof part !== "object" || Array.isArray(part)) return mapAll(part, f);
  const p = part as Record<string, unknown>;
  const type = p.type;
  if (typeof type === "string" && MEDIA_PARTS.has(type)) return part;
  if (typeof type === "string" && TEXT_PARTS.has(type) && typeof p.text === "string") {
    const t = f(p.text);
    return t === p.text ? part : { ...p, text: t };
  }
  if (type === "refusal" && typeof p.refusal === "string") {
    const t = f(p.refusal);
    return t === p.refusal ? part : { ...p, refusal: t };
  }
  // A part we do not know: every string in it, its type too, is text.
  return mapAll(part, f);
}

/** A tool call with its arguments (and anything unknown) mapped. */
function mapToolCall(call: unknown, f: Map1): unknown {
  if (call === null || typeof call !== "object" || Array.isArray(call)) return mapAll(call, f);
  const c = call as Record<string, unknown>;
  let out: Record<string, unknown> | null = null;
  for (const [k, x] of Object.entries(c)) {
    if (TOOL_STRUCTURE.has(k)) continue;
    let y: unknown;
    if ((k === "function" || k === "custom") && x !== null && typeof x === "object" && !Array.isArray(x)) {
      let inner: Record<string, unknown> | null = null;
      for (const [ik, ix] of Object.entries(x)) {
        if (ik === "name") continue;
        const iy = mapAll(ix, f);
        if (iy !== ix) (inner ??= { ...(x as Record<string, unknown>) })[ik] = iy;
      }
      y = inner ?? x;
    } else y = mapAll(x, f);
    if (y !== x) (out ??= { ...c })[k] = y;
  }
  return out ?? call;
}

/** One chat message with every text field mapped; the same object when nothing changed. */
export function mapMessageText(message: unknown, f: Map1): unknown {
  if (message === null || typeof message !== "object" || Array.isArray(message)) return mapAll(message, f);
  const m = message as Record<string, unknown>;
  let out: Record<string, unknown> | null = null;
  for (const [k, x] of Object.entries(m)) {
    if (MESSAGE_STRUCTURE.has(k) || x === null || x === undefined) continue;
    let y: unknown;
    if (k === "content" && Array.isArray(x)) {
      let changed = false;
      const parts = x.map((p) => {
        const q = mapPart(p, f);
        if (q !== p) changed = true;
        return q;
      });
      y = changed ? parts : x;
    } else if (k === "tool_calls" && Array.isArray(x)) {
      let changed = false;
      const calls = x.map((c) => {
        const d = mapToolCall(c, f);
        if (d !== c) changed = true;
        return d;
      });
      y = changed ? calls : x;
    } else if (k === "function_call") y = mapToolCall(x, f);
    else if (k === "audio" && x !== null && typeof x === "object" && !Array.isArray(x)) {
      // `audio: { id }` refers to an earlier answer's audio; a `transcript` (or anything else) in it is text.
      let inner: Record<string, unknown> | null = null;
      for (const [ak, ax] of Object.entries(x)) {
        if (AUDIO_STRUCTURE.has(ak)) continue;
        const ay = mapAll(ax, f);
        if (ay !== ax) (inner ??= { ...(x as Record<string, unknown>) })[ak] = ay;
      }
      y = inner ?? x;
    } else y = mapAll(x, f); // content, name, refusal, reasoning_content, type, status, and keys we do not know
    if (y !== x) (out ??= { ...m })[k] = y;
  }
  return out ?? message;
}

/** Body keys (besides `messages`) that are text. */
const BODY_TEXT = ["prompt", "suffix", "user"];

/**
 * A chat or completions request body with every text field mapped by `f`
 * (called in the order textFields lists them); unchanged parts are shared.
 */
export function mapRequestText(body: Record<string, unknown>, f: (text: string, field: { role: string; message: number }) => string): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  const messages = body.messages;
  if (Array.isArray(messages)) {
    let changed = false;
    const mapped = messages.map((m, i) => {
      const role = roleOf((m as { role?: unknown } | null)?.role);
      const n = mapMessageText(m, (t) => f(t, { role, message: i }));
      if (n !== m) changed = true;
      return n;
    });
    if (changed) (out ??= { ...body }).messages = mapped;
  }
  for (const k of BODY_TEXT) {
    const x = body[k];
    if (x === undefined || x === null) continue;
    // `prompt` may also be token ids (numbers): those are left alone.
    const y = mapAll(x, (t) => f(t, { role: k === "user" ? "" : "user", message: -1 }));
    if (y !== x) (out ??= { ...body })[k] = y;
  }
  return out ?? body;
}

/** Every text field of a request body, in order. */
export function requestTextFields(body: Record<string, unknown>): TextField[] {
  const fields: TextField[] = [];
  mapRequestText(body, (text, at) => {
    fields.push({ text, role: at.role, message: at.message });
    return text;
  });
  return fields;
}

/** The text fields of chat messages (the engine's Request), in order. */
export function messageTextFields(messages: readonly unknown[]): TextField[] {
  return requestTextFields({ messages: messages as unknown[] });
}

/** The text of a message's `content` alone (string, or its text parts joined by newlines). */
export function contentText(content: unknown): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  const texts: string[] = [];
  mapMessageText({ content }, (t) => {
    texts.push(t);
    return t;
  });
  return texts.join("\n");
}

/** What joins fields into one text for scanning: a newline, which number separators accept (a number split across messages is found). */
export const FIELD_JOIN = "\n";

// ---------------------------------------------------------------- answers

/** Keys of an answer (or an answer event) that are structure, never text. */
const ANSWER_STRUCTURE = new Set([
  "id", "object", "created", "model", "system_fingerprint", "service_tier", "usage", "index", "finish_reason", "role", "type",
  "tool_call_id", "logprobs", "param", "code", "status",
]);

/**
 * Every text-bearing string of an answer body or answer event, with a stable
 * key for it: `choices[i]` and the path below it (a tool call is keyed by
 * its `index` when it has one, so the pieces of one streamed tool call share
 * a key). Tool and function names are structure. `f` returns the new text.
 */
export function mapAnswerText(value: unknown, f: (text: string, key: string, choice: number) => string): unknown {
  const walk = (v: unknown, key: string, choice: number, parentKey: string): unknown => {
    if (typeof v === "string") return f(v, key, choice);
    if (Array.isArray(v)) {
      let changed = false;
      const out = v.map((x, i) => {
        const idx = x !== null && typeof x === "object" && typeof (x as { index?: unknown }).index === "number" ? (x as { index: number }).index : i;
        const c = parentKey === "choices" ? idx : choice;
        const y = walk(x, `${key}[${idx}]`, c, "");
        if (y !== x) changed = true;
        return y;
      });
      return changed ? out : v;
    }
    if (v !== null && typeof v === "object") {
      let out: Record<string, unknown> | null = null;
      for (const [k, x] of Object.entries(v)) {
        if (ANSWER_STRUCTURE.has(k)) continue;
        if (k === "name" && (parentKey === "function" || parentKey === "custom")) continue;
        const y = walk(x, `${key}.${k}`, choice, k);
        if (y !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = y;
      }
      return out ?? v;
    }
    return v;
  };
  return walk(value, "", -1, "");
}
