// The sidecar's request path as a table of named stages, like the compiler's
// (compiler/compile.ts): read → decide → rewrite → cache → forward → relay, then
// record. Each stage reads and extends one RequestPath; a stage that answers
// the client itself (a 400 is thrown; a blocked request, every model failing)
// ends the path early, and `record` runs last either way. What a stage did
// goes to the RequestRecorder, which feeds every sink.
import type { JsonObject, ModelSpec } from "../../bundle/index.ts";
import type { Decision } from "../engine/engine.ts";
import { requestFromChat, textOf, type ChatMessage, type Request } from "../engine/request.ts";
import type { ActiveBundle } from "./bundle-store.ts";
import { ClientError, type ClientResponse } from "./http-client.ts";
import type { SidecarRequest, SidecarResponse } from "./http-server.ts";
import { HttpError, chatProblem, metadataProblem, readJson, sendError } from "./openai.ts";
import { asEventStream, cascade, hedge, inOrder } from "./model-calls.ts";
import { capturedSignals, sampled } from "./capture.ts";
import { hasPersonalData, redactResponse, rewriteRequest, streamRedactor } from "./plugins.ts";
import { ResponseCache, type CacheSlot } from "./response-cache.ts";
import { RequestRecorder, type RecorderSinks } from "./request-recorder.ts";
import type { SemanticSignals } from "./semantic.ts";
import { StreamScrubber, UpstreamError, isCredentialHeader, scrubSecret, upstreamHeaders, type Upstreams } from "./upstream.ts";

/** What the sidecar fixes once for every request (createSidecar). */
export interface PathConfig {
  upstreams: Upstreams;
  sinks: RecorderSinks;
  maxAttempts: number;
  maxBodyBytes: number;
  maxResponseBufferBytes: number;
  forwardable: ReadonlySet<string>;
  credential(model: ModelSpec): string | undefined;
  endpointOverride?: string;
  semantic?: SemanticSignals;
  /** The `cache` plugin's answers (response-cache.ts). */
  responseCache: ResponseCache;
  /** Brings the engine's feedback (observed latencies, learned weights) up to date before it decides. */
  refreshFeedback(active: ActiveBundle, now: number): string | null;
}

/** One request on its way through the stages. */
export interface RequestPath {
  readonly config: PathConfig;
  readonly req: SidecarRequest;
  readonly res: SidecarResponse;
  readonly endpoint: "chat" | "completions";
  readonly requestId: string;
  readonly active: ActiveBundle;
  readonly started: number;
  readonly startedAt: number;
  /** The profile the path chose (`/coding/v1/chat/completions`); absent: by the requested model name. */
  readonly profile?: string;
  body?: JsonObject;
  rec?: RequestRecorder;
  decision?: Decision;
  /** Headers every answer carries: the request id, the revision, the route. */
  base?: Record<string, string>;
  rewritten?: ReturnType<typeof rewriteRequest>;
  /** The upstream answer being relayed, and the model that gave it. */
  answer?: { response: ClientResponse; model: string; spec: ModelSpec; key: string | undefined };
  /** Where the answer goes in the response cache, when a `cache` plugin ran and the request may be cached. */
  cacheSlot?: { slot: CacheSlot; vector: number[] | null };
  /** How the request ended, for `record`. */
  status: number;
  model: string | null;
}

type Stage = (p: RequestPath) => Promise<boolean>;

/** Non-streamed answers longer than this (by content-length, or of unknown length) stream through unless a response plugin needs them whole. */
const PASS_THROUGH_ABOVE = 1024 * 1024;
/** Bytes kept of the end of a streamed-through JSON answer, to read its `usage`. */
const USAGE_TAIL = 4096;

/**
 * A completions body: `prompt` is what the model server reads, so it is what
 * the engine decides on. A `messages` field would be decided on instead (the
 * engine reads messages first) while the model server ignores it: a decoy,
 * refused.
 */
export function completionsProblem(body: JsonObject): string | null {
  if (typeof body.prompt !== "string") return "`prompt` must be a string";
  if (body.messages !== undefined) return "`messages` belongs to /v1/chat/completions; /v1/completions takes only `prompt`";
  return metadataProblem(body);
}

/** read: the body, within the size limit, and its shape (400 naming the field). */
const read: Stage = async (p) => {
  const body = await readJson(p.req, p.config.maxBodyBytes);
  const problem = p.endpoint === "chat" ? chatProblem(body) : completionsProblem(body);
  if (problem) throw new HttpError(400, problem);
  p.body = body;
  return true;
};

/** decide: the engine's decision, with model-backed signals from the embeddings endpoint when a condition needs them. */
const decide: Stage = async (p) => {
  const { config, active } = p;
  const { bundle, engine } = active;
  const rec = (p.rec = new RequestRecorder(config.sinks, { requestId: p.requestId, revision: bundle.manifest.revision, endpoint: p.endpoint, stream: p.body!.stream === true, started: p.started, startedAt: p.startedAt, health: active.health }));
  const span = rec.stage("decide");
  const sharesVersion = config.refreshFeedback(active, p.started);
  // Weighted and adaptive splits spread by the request id (docs/language.md): the same id, the same model.
  const request = requestOf(p.body!, p.req.headers);
  request.id = p.requestId;
  if (p.profile !== undefined) request.profile = p.profile;
  let decision = engine.decide(request, { signals: true });
  // Embedding and domain signals are fetched only when a condition needed them (the engine
  // used its offline stand-in), then the request is decided again with the real values.
  if (config.semantic) {
    const wanted = new Set(Object.entries(decision.signals ?? {}).filter(([, v]) => v.source === "offline").map(([k]) => k));
    if (wanted.size > 0) {
      const semanticSpan = rec.stage("semantic", { "routeplane.signals": [...wanted] });
      const given = await config.semantic.valuesFor(bundle, lastUserText(request.messages), wanted);
      const answered = Object.keys(given).length > 0;
      rec.semantic(semanticSpan, answered);
      if (answered) decision = engine.decide({ ...request, signals: { ...request.signals, ...given } }, { signals: true });
    }
  }
  rec.decided(decision, span, sharesVersion);
  const captures = decision.route === null ? undefined : p.active.actions.get(decision.route)?.plugins.find((u) => u.type === "capture" && decision.plugins.includes(u.plugin));
  if (captures && sampled(p.requestId, captures.config)) rec.captured(capturedSignals(decision.signals ?? {}, bundle), decision.profile);
  p.decision = decision;
  p.base = { "x-request-id": p.requestId, "x-routeplane-revision": bundle.manifest.revision, "x-routeplane-route": decision.route ?? "none", ...(decision.profile !== undefined ? { "x-routeplane-profile": decision.profile } : {}) };
  if (decision.blocked || decision.model === null) {
    const b = decision.blocked ?? { plugin: "", status: 404, message: "no route matched this request and the policy has no default" };
    sendError(p.res, new HttpError(b.status, b.message, b.plugin ? "policy_blocked" : "no_route", b.plugin || null), { ...p.base, "x-routeplane-model": "none" });
    p.status = b.status;
    return false;
  }
  return true;
};

/** rewrite: the route's plugins applied to the body (redaction, system prompt, headers). */
const rewrite: Stage = async (p) => {
  const action = p.active.actions.get(p.decision!.route!)!;
  const span = p.rec!.stage("plugins", { "routeplane.plugins": p.decision!.plugins });
  p.rewritten = rewriteRequest(p.body!, action, p.decision!.plugins);
  p.rec!.rewritten(p.rewritten.redacted, span);
  return true;
};

/**
 * cache: a `cache` plugin that ran answers from its store — the same request, or (with `similarity`
 * and an embeddings endpoint) a similar last message in the same conversation — scoped to the
 * revision, route, plugin, tenant header and client credential. Streams are not cached, and a
 * request with personal data is neither answered from nor written to the cache.
 */
const cache: Stage = async (p) => {
  const action = p.active.actions.get(p.decision!.route!)!;
  const use = action.plugins.find((u) => u.type === "cache" && p.decision!.plugins.includes(u.plugin));
  if (!use) return true;
  const store = p.config.responseCache;
  const body = p.rewritten!.body;
  if (body.stream === true || hasPersonalData(body)) {
    store.outcomes.skipped++;
    return true;
  }
  const header = ((use.config.tenant_header as string | undefined) ?? "x-tenant").toLowerCase();
  const value = (name: string) => [p.req.headers[name]].flat().join(", ");
  // Who asks: the tenant header, every credential the client sent (authorization, x-api-key, cookies, …)
  // and every header passed on to the model (it may change the answer; trace context does not), names and values.
  const who = Object.keys(p.req.headers).filter((h) => isCredentialHeader(h) || (p.config.forwardable.has(h) && h !== "traceparent" && h !== "tracestate")).sort().map((h) => `${h}\u0000${value(h)}`).join("\u0000");
  const slot = ResponseCache.slot({ revision: p.active.bundle.manifest.revision, route: p.decision!.route!, plugin: use.plugin, tenant: value(header), credential: who }, { endpoint: p.endpoint, ...body }, use.config);
  const now = Date.now();
  let hit = store.get(slot, now);
  let kind: "exact" | "similar" = "exact";
  let vector: number[] | null = null;
  const threshold = use.config.similarity as number | undefined;
  if (!hit && threshold !== undefined && p.config.semantic) {
    vector = await p.config.semantic.vectorFor(lastUserText(requestOf(body, {}).messages));
    if (vector) {
      hit = store.similar(slot, vector, threshold, now);
      kind = "similar";
    }
  }
  if (!hit) {
    store.outcomes.miss++;
    p.cacheSlot = { slot, vector };
    return true;
  }
  store.outcomes[kind]++;
  p.res.send(200, { ...p.base!, "x-routeplane-model": hit.model, "x-routeplane-cache": kind, "content-type": hit.contentType }, hit.text);
  p.status = 200;
  p.model = hit.model;
  return false;
};

/** forward: along the fallback chain (at most maxAttempts models) until one answers; 502/504 when none does. */
const forward: Stage = async (p) => {
  const { config, decision } = { config: p.config, decision: p.decision! };
  // Only allow-listed client headers are passed on (upstream.ts): never the client's credentials.
  const headers = upstreamHeaders(p.req.headers, config.forwardable, p.rewritten!, p.requestId);
  const sel = p.active.actions.get(decision.route!)!.select;
  // A cascade or a hedge asks the models its route lists (at most MAX_CASCADE_MODELS); a fallback chain stops at the attempt limit.
  const all = [decision.model!, ...decision.fallbacks];
  const chain = sel.algorithm === "cascade" || sel.algorithm === "hedge" ? all : all.slice(0, config.maxAttempts);
  // model-calls.ts: a hedge races the models, a cascade asks them by confidence, the rest go in order on failure.
  const result = sel.algorithm === "hedge" ? await hedge(p, chain, headers, sel.after_ms) : sel.algorithm === "cascade" ? await cascade(p, chain, headers, sel) : await inOrder(p, chain, headers);
  if (result instanceof UpstreamError) {
    p.status = result.kind === "timeout" ? 504 : 502;
    sendError(p.res, new HttpError(p.status, `every model for route ${decision.route} failed; last: ${result.message}`, "upstream_error"), { ...p.base!, "x-routeplane-model": "none" });
    return false;
  }
  if ("text" in result) {
    // A cascade step's answer, held whole: relayed here (as one event for a client that streams).
    sendWhole(p, result.text, result.status, result.contentType, result.answer, true);
    return false;
  }
  p.answer = result;
  return true;
};

/**
 * relay: the answer to the client. Streams (SSE) and large answers pass
 * through chunk by chunk, with the model's credential scrubbed and, with
 * response redaction, only what could still become a PII item held back;
 * small answers are held whole (at most maxResponseBufferBytes) for the
 * response plugins.
 */
const relay: Stage = async (p) => {
  const { res, config, rec } = { res: p.res, config: p.config, rec: p.rec! };
  const { response: up, model: name, spec, key } = p.answer!;
  const action = p.active.actions.get(p.decision!.route!)!;
  const plugins = p.decision!.plugins;
  p.model = name;
  // What the model server sends back is scrubbed of the credential the sidecar gave it (an echo in an error body, a header).
  const contentType = scrubSecret(up.headers["content-type"] ?? "application/json", key);
  const answerHeaders = { ...p.base!, "x-routeplane-model": name, "content-type": contentType };
  const sse = contentType.trimStart().toLowerCase().startsWith("text/event-stream");
  const length = up.headers["content-length"];
  const small = up.body.complete || (length !== undefined && Number(length) <= Math.min(PASS_THROUGH_ABOVE, config.maxResponseBufferBytes));
  if (sse || (!small && streamRedactor(action, plugins, {}) === null)) {
    res.start(up.statusCode, sse ? { ...answerHeaders, "cache-control": "no-cache" } : answerHeaders);
    const redact = sse ? streamRedactor(action, plugins, rec.event.redacted) : null;
    // A JSON answer's `usage` comes last: its tail is kept to read the token counts.
    let tail: Buffer | null = sse ? null : Buffer.alloc(0);
    const scrubber = key ? new StreamScrubber(key) : null;
    // A client that goes away stops the upstream stream too; a slow client slows it (backpressure).
    const cancel = res.onClose(() => up.body.destroy());
    const send = async (data: string | Buffer) => {
      if (!res.write(data)) await res.drained();
    };
    const decoder = new TextDecoder();
    try {
      for await (const raw of up.body) {
        const chunk = scrubber ? scrubber.push(raw) : raw;
        if (tail !== null) tail = chunk.length >= USAGE_TAIL ? chunk.subarray(chunk.length - USAGE_TAIL) : Buffer.concat([tail, chunk]).subarray(-USAGE_TAIL);
        if (!redact) {
          if (chunk.length > 0) await send(chunk);
        } else {
          const out = redact(decoder.decode(chunk, { stream: true }));
          if (out) await send(out);
        }
      }
      const held = scrubber?.end();
      if (tail !== null && held && held.length > 0) tail = Buffer.concat([tail, held]).subarray(-USAGE_TAIL);
      if (redact) {
        const rest = redact(decoder.decode(held, { stream: true }) + decoder.decode()) + redact.end();
        if (rest) await send(rest);
      } else if (held && held.length > 0) await send(held);
      res.end();
      if (tail !== null) rec.usage(tail.toString("utf8"), spec);
      // A streamed answer's usage is not read: what earlier cascade steps counted is only part of the cost.
      else rec.usageUnknown();
      p.status = up.statusCode;
    } catch {
      // The client left (the upstream was stopped on purpose: 499, as nginx logs it), or the upstream broke mid-stream (502).
      const clientLeft = res.closed;
      if (!clientLeft) res.destroy();
      p.status = clientLeft ? 499 : 502;
    } finally {
      cancel();
    }
    return true;
  }
  let text: string;
  try {
    text = await up.body.text(config.maxResponseBufferBytes);
  } catch (err) {
    // The answer broke off after it had begun, or is too large to hold: nothing can be retried.
    const message =
      err instanceof ClientError && err.kind === "too-large"
        ? `${name}'s answer is larger than ${config.maxResponseBufferBytes} bytes, the most the sidecar holds to apply response plugins (maxResponseBufferBytes)`
        : `${name} broke off its answer`;
    sendError(res, new HttpError(502, message, "upstream_error"), { ...p.base!, "x-routeplane-model": name });
    p.status = 502;
    return true;
  }
  sendWhole(p, text, up.statusCode, contentType, { model: name, spec, key });
  return true;
};

/**
 * A whole answer to the client: the model's credential scrubbed, the answer redacted, kept in the
 * response cache when a cache plugin asked, its usage recorded. A client that asked to stream
 * gets a whole chat answer as one event (a cascade step's, which was asked for whole).
 */
function sendWhole(p: RequestPath, raw: string, status: number, contentType: string, from: { model: string; spec: ModelSpec; key: string | undefined }, counted = false): void {
  const { res, config, rec } = { res: p.res, config: p.config, rec: p.rec! };
  const action = p.active.actions.get(p.decision!.route!)!;
  p.model = from.model;
  let text = scrubSecret(raw, from.key);
  const cleaned = redactResponse(text, action, p.decision!.plugins, rec.event.redacted);
  if (cleaned !== null) text = cleaned;
  const headers: Record<string, string> = { ...p.base!, "x-routeplane-model": from.model, "content-type": scrubSecret(contentType, from.key) };
  if (p.cacheSlot) headers["x-routeplane-cache"] = "miss";
  if (p.body!.stream === true && status === 200) res.send(status, { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" }, asEventStream(text, p.endpoint));
  else res.send(status, headers, text);
  if (p.cacheSlot && status === 200) config.responseCache.put(p.cacheSlot.slot, { text, contentType, model: from.model }, p.cacheSlot.vector, Date.now());
  // A cascade counted its step's usage when it read the answer.
  if (!counted) rec.usage(text, from.spec);
  p.status = status;
}

/** The stages in order; `record` (the recorder's finish) runs after the last one that ran. */
export const REQUEST_STAGES: readonly { name: string; run: Stage }[] = [
  { name: "read", run: read },
  { name: "decide", run: decide },
  { name: "rewrite", run: rewrite },
  { name: "cache", run: cache },
  { name: "forward", run: forward },
  { name: "relay", run: relay },
];

/** Runs one chat or completions request through the stages, then records it. */
export async function runRequestPath(config: PathConfig, req: SidecarRequest, res: SidecarResponse, endpoint: "chat" | "completions", requestId: string, active: ActiveBundle, profile?: string): Promise<void> {
  const p: RequestPath = { config, req, res, endpoint, requestId, active, started: performance.now(), startedAt: Date.now(), status: 0, model: null, ...(profile !== undefined ? { profile } : {}) };
  for (const stage of REQUEST_STAGES) if (!(await stage.run(p))) break;
  // record: every sink, once, after the answer went out (a 400 thrown by read has no record).
  p.rec?.finish(p.status, p.model);
}

/** The engine's view of an OpenAI request body (chat or completions); the whole body, so the pii and jailbreak signals read every text field redaction reads. */
export function requestOf(body: JsonObject, headers: SidecarRequest["headers"]): Request {
  return requestFromChat(body as Parameters<typeof requestFromChat>[0], headers);
}

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === "user") return textOf(messages[i].content);
  return "";
}
