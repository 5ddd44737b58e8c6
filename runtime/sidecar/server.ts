// The sidecar's HTTP surface: an OpenAI-compatible proxy that decides every
// request with the active bundle (signals → route → plugins → model),
// rewrites it as the plugins say, forwards it along the model's fallback
// chain, and reports one telemetry event per request.
//
//   POST /v1/chat/completions, POST /v1/completions   (JSON, or SSE when stream: true)
//   GET  /v1/models                                    the policy's models
//   POST /v1/feedback                                  { request_id, rating | label }
//   GET  /healthz, /readyz, /metrics                   liveness, a verified bundle, Prometheus text
//   POST /debug/explain                                the decision with its trace (loopback only)
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import type { AddressInfo } from "node:net";
import type { JsonObject, ModelSpec } from "../../bundle/index.ts";
import { requestFromChat, textOf, type ChatMessage } from "../engine/request.ts";
import type { Decision } from "../engine/engine.ts";
import type { BundleStore } from "./bundle-store.ts";
import { createHttpServer, type HttpServer, type SidecarRequest, type SidecarResponse } from "./http-server.ts";
import { SidecarMetrics } from "./metrics.ts";
import { HttpError, chatProblem, metadataProblem, readJson, sendError } from "./openai.ts";
import { redactResponse, rewriteRequest, streamRedactor } from "./plugins.ts";
import { FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA_VERSION, isoTime, type RoutingEvent, type TelemetrySink } from "./telemetry.ts";
import { ClientError } from "./http-client.ts";
import { StreamScrubber, UpstreamError, Upstreams, forwardAllowList, scrubSecret, upstreamHeaders } from "./upstream.ts";
import type { SemanticSignals } from "./semantic.ts";
import type { Observability } from "./observability.ts";

export interface SidecarOptions {
  store: BundleStore;
  telemetry: TelemetrySink;
  upstreams?: Upstreams;
  /** Upstream credentials by model name (a credentials file); otherwise the environment variable a model's spec names. Never from the bundle. */
  credentials?: Readonly<Record<string, string>>;
  /** Client headers passed on to model servers (default DEFAULT_FORWARDED_HEADERS: trace context); credential-carrying names are refused. */
  forwardHeaders?: readonly string[];
  /** Environment variables besides `*_API_KEY` that a model's `api_key_env` may name (keyEnvAllowed). */
  keyEnv?: readonly string[];
  /** Most models one request may try (the chosen one plus fallbacks). */
  maxAttempts?: number;
  /** Largest request body accepted, in bytes (default 10 MiB; longer: 413). */
  maxBodyBytes?: number;
  /** Request body bytes held at once over all connections (default 64 MiB; a body that would pass it: 503). */
  maxInflightBodyBytes?: number;
  /**
   * Largest upstream answer held whole, in bytes (default 16 MiB): only when a
   * response plugin must see the whole answer, or it is small; larger ones
   * stream through. Past it: 502.
   */
  maxResponseBufferBytes?: number;
  /** On close(): how long requests in flight may take to finish, in ms (default 25 s); then their connections are cut. */
  drainMs?: number;
  /** Send every model's requests to this OpenAI-compatible base URL instead of its endpoint (the demo upstream). */
  endpointOverride?: string;
  /** Embedding and domain signals through an embeddings endpoint; without it the engine's offline stand-ins decide. */
  semantic?: SemanticSignals;
  /** OpenTelemetry traces and metrics (OTLP); none: only /metrics. */
  observability?: Observability;
}

/** Learned weights for adaptive routes: route → model → weight (kept inside the policy's bounds by the engine). */
export type WeightsOverlay = Record<string, Record<string, number>>;

/** Checks an overlay's shape; returns what is wrong, or null. */
export function weightsProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the weights must be a JSON object: { \"<route>\": { \"<model>\": <weight> } }";
  for (const [route, models] of Object.entries(value)) {
    if (typeof models !== "object" || models === null || Array.isArray(models)) return `weights for route \`${route}\` must be an object of model → number`;
    for (const [model, w] of Object.entries(models)) if (typeof w !== "number" || !Number.isFinite(w)) return `weight of \`${model}\` on route \`${route}\` must be a number`;
  }
  return null;
}

/**
 * Whether the sidecar may read a model's API key from this environment
 * variable. A policy (from a pull request) names the variable, so without a
 * rule it could send any secret of the sidecar's environment (a cloud
 * provider's key, a database password) to an endpoint it declares. Names
 * ending in `_API_KEY` are allowed; any other only when the operator lists it
 * (`serve --key-env NAME`).
 */
export function keyEnvAllowed(name: string, extra: readonly string[] = []): boolean {
  return name.endsWith("_API_KEY") || extra.includes(name);
}

export interface Sidecar {
  http: HttpServer;
  metrics: SidecarMetrics;
  upstreams: Upstreams;
  /** Replaces the adaptive weights overlay (from a file or PUT /debug/weights); applies from the next request. */
  setWeights(weights: WeightsOverlay): void;
  listen(port: number, host?: string): Promise<AddressInfo>;
  close(): Promise<void>;
}

// Non-streamed answers longer than this (by their content-length, or of unknown length) stream through
// unless a response plugin needs them whole.
const PASS_THROUGH_ABOVE = 1024 * 1024;
// Bytes kept of the end of a streamed-through JSON answer, to read its `usage`.
const USAGE_TAIL = 4096;

const isLoopback = (addr: string | undefined) => addr === "127.0.0.1" || addr === "::1" || addr === "::ffff:127.0.0.1";

/** The debug endpoints answer only on the loopback interface. */
function loopbackOnly(req: SidecarRequest, path: string): void {
  if (!isLoopback(req.remoteAddress)) throw new HttpError(403, `${path} answers only on the loopback interface`, "permission_error");
}

/** The engine's view of an OpenAI request body (chat or completions); the whole body, so the pii and jailbreak signals read every text field redaction reads. */
function requestOf(body: JsonObject, headers: SidecarRequest["headers"]) {
  return requestFromChat(body as Parameters<typeof requestFromChat>[0], headers);
}

export function createSidecar(options: SidecarOptions): Sidecar {
  const { store, telemetry } = options;
  const upstreams = options.upstreams ?? new Upstreams();
  const metrics = new SidecarMetrics();
  const maxAttempts = options.maxAttempts ?? 3;
  const maxBody = options.maxBodyBytes ?? 10 * 1024 * 1024;
  const maxResponseBuffer = options.maxResponseBufferBytes ?? 16 * 1024 * 1024;
  const forwardable = forwardAllowList(options.forwardHeaders);
  /** The text with every model credential the sidecar holds replaced (for logs). */
  const scrubCredentials = (text: string): string => {
    const keys = new Set(Object.values(options.credentials ?? {}));
    for (const m of store.current?.bundle.policy.models ?? []) if (m.api_key_env && process.env[m.api_key_env]) keys.add(process.env[m.api_key_env]!);
    for (const k of keys) text = scrubSecret(text, k);
    return text;
  };
  // A policy names the variable; the operator decides which variables may be read (keyEnvAllowed).
  const credential = (m: ModelSpec) => options.credentials?.[m.name] ?? (m.api_key_env && keyEnvAllowed(m.api_key_env, options.keyEnv) ? process.env[m.api_key_env] : undefined);
  const feedbackAt = new WeakMap<object, number>();
  const weightsVersionOf = new WeakMap<object, number>();
  let weights: WeightsOverlay = {};
  let weightsVersion = 0;
  const setWeights = (w: WeightsOverlay) => {
    weights = w;
    weightsVersion++;
  };
  metrics.gauges = () => ({ revision: store.current?.bundle.manifest.revision ?? null, rejections: store.rejections, persistFailures: store.persistFailures, telemetry: telemetry.stats(), ...(options.semantic ? { semantic: options.semantic.outcomes } : {}) });

  const activeBundle = () => {
    const active = store.current;
    if (!active) throw new HttpError(503, "no verified policy bundle is active yet", "service_unavailable");
    return active;
  };

  async function proxy(req: SidecarRequest, res: SidecarResponse, endpoint: "chat" | "completions", requestId: string): Promise<void> {
    const started = performance.now();
    const startedAt = Date.now();
    const active = activeBundle();
    const body = await readJson(req, maxBody);
    const problem = endpoint === "chat" ? chatProblem(body) : typeof body.prompt !== "string" ? "`prompt` must be a string" : metadataProblem(body);
    if (problem) throw new HttpError(400, problem);
    const { bundle, engine } = active;
    const revision = bundle.manifest.revision;
    const otel = options.observability?.startRequest(endpoint === "chat" ? "POST /v1/chat/completions" : "POST /v1/completions", { "routeplane.request_id": requestId, "routeplane.revision": revision });
    const decideSpan = otel?.stage("decide");
    // Observed latencies reach the engine (for `fastest`) at most every 250 ms, new weights at once:
    // each update resets the engine's cached orders and shares.
    if (started - (feedbackAt.get(engine) ?? -Infinity) > 250 || weightsVersionOf.get(engine) !== weightsVersion) {
      feedbackAt.set(engine, started);
      weightsVersionOf.set(engine, weightsVersion);
      engine.setFeedback({ latencyMs: upstreams.latencies(), weights });
    }
    // Weighted and adaptive splits spread by the request id (docs/language.md): the same id, the same model.
    const request = requestOf(body, req.headers);
    request.id = requestId;
    let decision: Decision = engine.decide(request, { signals: true });
    // Embedding and domain signals are fetched only when a condition needed them (the engine
    // used its offline stand-in), then the request is decided again with the real values.
    if (options.semantic) {
      const wanted = new Set(Object.entries(decision.signals ?? {}).filter(([, v]) => v.source === "offline").map(([k]) => k));
      if (wanted.size > 0) {
        const semanticSpan = otel?.stage("semantic", { "routeplane.signals": [...wanted] });
        const given = await options.semantic.valuesFor(bundle, lastUserText(request.messages), wanted);
        semanticSpan?.setAttribute("routeplane.answered", Object.keys(given).length > 0);
        semanticSpan?.end();
        if (Object.keys(given).length > 0) decision = engine.decide({ ...request, signals: { ...request.signals, ...given } }, { signals: true });
      }
    }
    const decided = performance.now();
    metrics.decisionSeconds.observe((decided - started) / 1000);
    options.observability?.instruments?.decision((decided - started) / 1000);
    decideSpan?.setAttributes({ "routeplane.route": decision.route ?? "none", "routeplane.signals_computed": Object.keys(decision.signals ?? {}).length, "routeplane.blocked": decision.blocked !== null });
    decideSpan?.end();
    const base = { "x-request-id": requestId, "x-routeplane-revision": revision, "x-routeplane-route": decision.route ?? "none" };
    // The event's time and signal values are filled in by finish(), after the answer went out.
    const event: RoutingEvent = {
      schema: ROUTING_EVENT_SCHEMA_VERSION,
      time: "",
      requestId,
      revision,
      endpoint,
      route: decision.route,
      model: null,
      attempts: [],
      signals: {},
      plugins: decision.plugins,
      blocked: decision.blocked ? { plugin: decision.blocked.plugin, status: decision.blocked.status } : null,
      redacted: {},
      status: 0,
      stream: body.stream === true,
      latencyMs: { decision: decided - started, plugins: 0, upstream: 0, total: 0 },
      tokens: { prompt: null, completion: null },
      costUsd: null,
    };
    const finish = (status: number, model: string | null) => {
      event.time = isoTime(startedAt);
      for (const name in decision.signals) event.signals[name] = decision.signals[name].matched;
      event.status = status;
      event.model = model;
      event.latencyMs.total = performance.now() - started;
      metrics.requests.inc({ route: decision.route ?? "none", model: model ?? "none", status: String(status) });
      options.observability?.instruments?.request({ route: decision.route ?? "none", model: model ?? "none", status });
      otel?.end(status, { "routeplane.route": decision.route ?? "none", "routeplane.model": model ?? "none" });
      telemetry.emit(event);
    };

    if (decision.blocked || decision.model === null) {
      const b = decision.blocked ?? { plugin: "", status: 404, message: "no route matched this request and the policy has no default" };
      sendError(res, new HttpError(b.status, b.message, b.plugin ? "policy_blocked" : "no_route", b.plugin || null), { ...base, "x-routeplane-model": "none" });
      finish(b.status, null);
      return;
    }

    const action = active.actions.get(decision.route!)!;
    const pluginSpan = otel?.stage("plugins", { "routeplane.plugins": decision.plugins });
    const rewritten = rewriteRequest(body, action, decision.plugins);
    pluginSpan?.setAttribute("routeplane.redacted", Object.values(rewritten.redacted).reduce((a, b) => a + b, 0));
    pluginSpan?.end();
    event.redacted = rewritten.redacted;
    const pluginsDone = performance.now();
    event.latencyMs.plugins = pluginsDone - decided;

    // Only allow-listed client headers are passed on (upstream.ts): never the client's credentials.
    const forward = upstreamHeaders(req.headers, forwardable, rewritten, requestId);

    const chain = [decision.model, ...decision.fallbacks].slice(0, maxAttempts);
    let lastError: UpstreamError | null = null;
    for (const name of chain) {
      const declared = active.models.get(name)!;
      const spec = options.endpointOverride ? { ...declared, endpoint: options.endpointOverride } : declared;
      const key = credential(spec);
      const headers = { ...forward, ...(key ? { authorization: `Bearer ${key}` } : {}) };
      const payload = JSON.stringify({ ...rewritten.body, model: spec.served_name });
      const t0 = performance.now();
      const upstreamSpan = otel?.stage("upstream", { "routeplane.model": name, "server.address": new URL(spec.endpoint).host });
      try {
        const up = await upstreams.send({ model: spec, path: endpoint === "chat" ? "/chat/completions" : "/completions", body: payload, headers });
        const ms = performance.now() - t0;
        metrics.upstreamSeconds.observe(ms / 1000, { model: name });
        options.observability?.instruments?.upstream(ms / 1000, name);
        upstreamSpan?.setAttributes({ "http.response.status_code": up.statusCode, "routeplane.outcome": up.statusCode < 400 ? "ok" : "client-error" });
        upstreamSpan?.end();
        event.attempts.push({ model: name, outcome: up.statusCode < 400 ? "ok" : "client-error", status: up.statusCode, ms });
        event.latencyMs.upstream = ms;
        // What the model server sends back is scrubbed of the credential the sidecar gave it (an echo in an error body, a header).
        const contentType = scrubSecret(up.headers["content-type"] ?? "application/json", key);
        const answerHeaders = { ...base, "x-routeplane-model": name, "content-type": contentType };
        const sse = contentType.trimStart().toLowerCase().startsWith("text/event-stream");
        // A whole answer is held only when it is small or a response plugin must see all of it;
        // anything else streams through chunk by chunk, so memory does not grow with the answer.
        const length = up.headers["content-length"];
        const small = up.body.complete || (length !== undefined && Number(length) <= Math.min(PASS_THROUGH_ABOVE, maxResponseBuffer));
        if (sse || (!small && streamRedactor(action, decision.plugins, {}) === null)) {
          res.start(up.statusCode, sse ? { ...answerHeaders, "cache-control": "no-cache" } : answerHeaders);
          // Streams pass through chunk by chunk; with response redaction, each choice's text is held back a little.
          const redact = sse ? streamRedactor(action, decision.plugins, event.redacted) : null;
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
            if (tail !== null) usageOf(tail.toString("utf8"), spec, event);
          } catch {
            // The client left (the upstream was stopped on purpose: 499, as nginx logs it), or the upstream broke mid-stream (502).
            const clientLeft = res.closed;
            if (!clientLeft) res.destroy();
            finish(clientLeft ? 499 : 502, name);
            return;
          } finally {
            cancel();
          }
        } else {
          let text: string;
          try {
            text = await up.body.text(maxResponseBuffer);
          } catch (err) {
            // The answer broke off after it had begun, or is too large to hold: nothing can be retried.
            const message =
              err instanceof ClientError && err.kind === "too-large"
                ? `${name}'s answer is larger than ${maxResponseBuffer} bytes, the most the sidecar holds to apply response plugins (maxResponseBufferBytes)`
                : `${name} broke off its answer`;
            sendError(res, new HttpError(502, message, "upstream_error"), { ...base, "x-routeplane-model": name });
            finish(502, name);
            return;
          }
          text = scrubSecret(text, key);
          const cleaned = redactResponse(text, action, decision.plugins, event.redacted);
          if (cleaned !== null) text = cleaned;
          res.send(up.statusCode, answerHeaders, text);
          usageOf(text, spec, event);
        }
        finish(up.statusCode, name);
        return;
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        lastError = err;
        event.attempts.push({ model: name, outcome: err.kind, status: err.status, ms: performance.now() - t0 });
        metrics.fallbacks.inc({ model: name, reason: err.kind });
        options.observability?.instruments?.fallback(name, err.kind);
        upstreamSpan?.setAttributes({ "routeplane.outcome": err.kind, ...(err.status === null ? {} : { "http.response.status_code": err.status }) });
        upstreamSpan?.setStatus({ code: 2, message: err.message });
        upstreamSpan?.end();
      }
    }
    const status = lastError?.kind === "timeout" ? 504 : 502;
    sendError(res, new HttpError(status, `every model for route ${decision.route} failed; last: ${lastError?.message ?? "no attempt"}`, "upstream_error"), { ...base, "x-routeplane-model": "none" });
    finish(status, null);
  }

  async function handle(req: SidecarRequest, res: SidecarResponse): Promise<void> {
    const requestId = (typeof req.headers["x-request-id"] === "string" && req.headers["x-request-id"]) || randomUUID();
    const route = `${req.method} ${req.path}`;
    try {
      switch (route) {
        case "POST /v1/chat/completions":
          return await proxy(req, res, "chat", requestId);
        case "POST /v1/completions":
          return await proxy(req, res, "completions", requestId);
        case "GET /v1/models": {
          const data = activeBundle().bundle.policy.models.map((m) => ({ id: m.name, object: "model", created: 0, owned_by: m.provider }));
          res.send(200, { "content-type": "application/json", "x-request-id": requestId }, JSON.stringify({ object: "list", data }));
          return;
        }
        case "POST /v1/feedback": {
          const body = await readJson(req, 64 * 1024);
          const id = body.request_id;
          const rating = body.rating ?? null;
          const label = body.label ?? null;
          if (typeof id !== "string" || id === "") throw new HttpError(400, "`request_id` must be the x-request-id of an earlier response");
          if (rating === null && label === null) throw new HttpError(400, "give a `rating` (a number from -1 to 1) or a `label`");
          if (rating !== null && (typeof rating !== "number" || rating < -1 || rating > 1)) throw new HttpError(400, "`rating` must be a number from -1 to 1");
          if (label !== null && typeof label !== "string") throw new HttpError(400, "`label` must be a string");
          telemetry.emit({ schema: FEEDBACK_EVENT_SCHEMA_VERSION, time: new Date().toISOString(), requestId: id, rating: rating as number | null, label: label as string | null });
          res.send(202, { "content-type": "application/json", "x-request-id": requestId }, JSON.stringify({ accepted: true }));
          return;
        }
        case "GET /healthz":
          res.send(200, { "content-type": "text/plain" }, "ok\n");
          return;
        case "GET /readyz": {
          const active = store.current;
          const rejected = store.rejection;
          // Telemetry that cannot be delivered shows here (readiness stays with the bundle: lost telemetry does not stop routing).
          const t = telemetry.stats();
          const telemetryDetail = { delivering: !t.problem, problem: t.problem ?? null, since: t.problemSince ?? null, sent: t.sent, dropped: t.dropped, queued: t.queued };
          const detail = { ready: active !== null, revision: active?.bundle.manifest.revision ?? null, source: active?.source ?? null, lastRejection: rejected ? { at: rejected.at.toISOString(), source: rejected.source, reason: rejected.reason } : null, telemetry: telemetryDetail };
          res.send(active ? 200 : 503, { "content-type": "application/json" }, JSON.stringify(detail));
          return;
        }
        case "GET /metrics":
          res.send(200, { "content-type": "text/plain; version=0.0.4" }, metrics.render());
          return;
        case "PUT /debug/weights": {
          loopbackOnly(req, "/debug/weights");
          const body = await readJson(req, 1024 * 1024);
          const problem = weightsProblem(body);
          if (problem) throw new HttpError(400, problem);
          setWeights(body as unknown as WeightsOverlay);
          res.send(204, {}, "");
          return;
        }
        case "POST /debug/explain": {
          loopbackOnly(req, "/debug/explain");
          const active = activeBundle();
          const body = await readJson(req, maxBody);
          const problem = typeof body.prompt === "string" ? metadataProblem(body) : chatProblem(body);
          if (problem) throw new HttpError(400, problem);
          active.engine.setFeedback({ latencyMs: upstreams.latencies(), weights });
          const d = active.engine.decide(requestOf(body, req.headers), { trace: true });
          res.send(200, { "content-type": "application/json" }, JSON.stringify(d));
          return;
        }
        default:
          throw new HttpError(404, `no such endpoint: ${route}`, "not_found");
      }
    } catch (err) {
      if (err instanceof HttpError) sendError(res, err, { "x-request-id": requestId });
      else {
        // A bug, not the client's fault: say so without a stack trace on the wire.
        // Scrubbed of every model credential the sidecar holds: an error may carry request headers.
        console.error(`routeplane serve: internal error on ${route}: ${scrubCredentials(inspect(err))}`);
        sendError(res, new HttpError(500, "internal error in the routeplane sidecar", "internal_error"), { "x-request-id": requestId });
      }
    }
  }

  const http = createHttpServer((req, res) => void handle(req, res), {
    maxBodyBytes: maxBody,
    keepAliveMs: 65_000,
    requestTimeoutMs: 300_000,
    maxInflightBodyBytes: options.maxInflightBodyBytes ?? 64 * 1024 * 1024,
    drainMs: options.drainMs ?? 25_000,
  });
  return {
    http,
    metrics,
    upstreams,
    setWeights,
    listen: (port, host = "127.0.0.1") => http.listen(port, host),
    // Stops accepting, lets requests in flight finish (streams end with their [DONE]) within drainMs, then closes.
    close: async () => {
      await http.close();
      await upstreams.close();
    },
  };
}

/**
 * Token counts and a cost estimate from a non-streaming response's `usage`.
 * Read with two small patterns rather than parsing the whole answer: the
 * response goes to the client as it came, and a full parse per request was a
 * visible share of the sidecar's time.
 */
function usageOf(text: string, spec: ModelSpec, event: RoutingEvent): void {
  const prompt = /"prompt_tokens"\s*:\s*(\d+)/.exec(text);
  const completion = /"completion_tokens"\s*:\s*(\d+)/.exec(text);
  if (!prompt && !completion) return;
  event.tokens = { prompt: prompt ? Number(prompt[1]) : null, completion: completion ? Number(completion[1]) : null };
  if (spec.cost && prompt && completion) {
    // Costs are USD per million tokens (docs/language.md).
    event.costUsd = (Number(prompt[1]) * spec.cost.input + Number(completion[1]) * spec.cost.output) / 1e6;
  }
}

function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === "user") return textOf(messages[i].content);
  return "";
}
