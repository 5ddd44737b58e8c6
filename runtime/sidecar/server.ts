// The sidecar's HTTP surface: an OpenAI-compatible proxy that decides every
// request with the active bundle (signals → route → plugins → model),
// rewrites it as the plugins say, forwards it along the model's fallback
// chain, and reports one telemetry event per request. The chat and
// completions path is a table of named stages (request-path.ts); this file
// composes the sidecar and routes the other endpoints.
//
//   POST /v1/chat/completions, POST /v1/completions   (JSON, or SSE when stream: true)
//   GET  /v1/models                                    the policy's models
//   POST /v1/feedback                                  { request_id, rating | label }
//   GET  /healthz, /readyz, /metrics                   liveness, a verified bundle, Prometheus text
//   POST /debug/explain                                the decision with its trace (loopback only)
//   PUT  /debug/weights                                learned shares of adaptive routes (loopback only)
import { randomUUID } from "node:crypto";
import { inspect } from "node:util";
import type { AddressInfo } from "node:net";
import { REQUEST_ID_PATTERN, ambiguousPath, overlayProblem, overlayShapeProblem, qualityOf, type Bundle, type ModelSpec, type SharesOverlay } from "../../bundle/index.ts";
import type { BundleStore } from "./bundle-store.ts";
import { createHttpServer, type HttpServer, type SidecarRequest, type SidecarResponse } from "./http-server.ts";
import { SidecarMetrics } from "./metrics.ts";
import { HttpError, chatProblem, readJson, sendError } from "./openai.ts";
import { FEEDBACK_EVENT_SCHEMA_VERSION, type TelemetrySink } from "./telemetry.ts";
import { Upstreams, forwardAllowList, scrubSecret } from "./upstream.ts";
import { completionsProblem, requestOf, runRequestPath, type PathConfig } from "./request-path.ts";
import type { SemanticSignals } from "./semantic.ts";
import { ResponseCache } from "./response-cache.ts";
import type { Observability } from "./observability.ts";
import type { ControllerStatus } from "./controller-client.ts";

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
  /** Model-backed signals (and the cache's similarity) through an embeddings endpoint; without it the engine's offline stand-ins decide. */
  semantic?: SemanticSignals;
  /** The response cache's byte budget (default RESPONSE_CACHE_BYTES, 64 MiB). */
  responseCacheBytes?: number;
  /** OpenTelemetry traces and metrics (OTLP); none: only /metrics. */
  observability?: Observability;
  /** The controller subscription (serve --controller): its state in /readyz and /metrics. */
  controller?: { status(): ControllerStatus; reportShares?(provider: () => SharesOverlay | null): void };
  /** Where the sidecar says what an operator should know (a refused overlay). */
  log?: (line: string) => void;
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
  /**
   * Replaces the learned shares of adaptive routes (from --weights, PUT /debug/weights); applies from
   * the next request. Refused (and counted) when its shape is wrong or a route is outside the active
   * policy's bounds: returns why, and the previous overlay stays.
   */
  setShares(overlay: unknown): string | null;
  listen(port: number, host?: string): Promise<AddressInfo>;
  close(): Promise<void>;
}


const isLoopback = (addr: string | undefined) => addr === "127.0.0.1" || addr === "::1" || addr === "::ffff:127.0.0.1";

/** The debug endpoints answer only on the loopback interface. */
function loopbackOnly(req: SidecarRequest, path: string): void {
  if (!isLoopback(req.remoteAddress)) throw new HttpError(403, `${path} answers only on the loopback interface`, "permission_error");
}


/** The controller subscription as /readyz shows it (readiness itself stays with the bundle). */
function controllerDetail(s: ControllerStatus) {
  return {
    url: s.url, policy: s.policyRef, connected: s.connected, problem: s.problem, since: s.since?.toISOString() ?? null,
    refused: s.refused ? { etag: s.refused.etag, reason: s.refused.reason, at: s.refused.at.toISOString() } : null,
  };
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
  // The learned shares (docs/adaptation.md): checked against the active policy when set, and again
  // against each newly activated policy (an overlay for another revision or outside the new bounds is
  // not applied, and counted once).
  let overlay: SharesOverlay | null = null;
  let overlayEpoch = 0;
  const overlayStats = { refused: 0, last: null as { at: string; problem: string } | null };
  const refuse = (problem: string) => {
    overlayStats.refused++;
    overlayStats.last = { at: new Date().toISOString(), problem };
    options.log?.(`learned shares refused: ${problem}`);
  };
  const setShares = (value: unknown): string | null => {
    const problem = overlayShapeProblem(value) ?? (store.current ? overlayProblem(value as SharesOverlay, store.current.bundle) : null);
    if (problem) {
      refuse(problem);
      return problem;
    }
    overlay = value as SharesOverlay;
    overlayEpoch++;
    return null;
  };
  // The signed policy says whether learned shares apply (manifest.adaptation; absent: a CLI bundle, they do):
  // in observe and off modes the overlay is kept, shown in /readyz, and not used.
  const learning = (bundle: Bundle) => (bundle.manifest.adaptation ?? "on") === "on";
  /** The overlay a bundle applies: learning on, and inside its bounds. */
  const appliedOverlay = (bundle: Bundle | undefined): SharesOverlay | null => (overlay && bundle && learning(bundle) && overlayProblem(overlay, bundle) === null ? overlay : null);
  // The controller shows in the policy's status which shares its sidecars apply.
  options.controller?.reportShares?.(() => appliedOverlay(store.current?.bundle));
  /** Per engine: the overlay epoch it was given, and the overlay version it applies (null: none). */
  const appliedOf = new WeakMap<object, { epoch: number; version: string | null }>();
  metrics.gauges = () => ({ revision: store.current?.bundle.manifest.revision ?? null, rejections: store.rejections, persistFailures: store.persistFailures, telemetry: telemetry.stats(), sharesRefused: overlayStats.refused, ...(options.semantic ? { semantic: options.semantic.outcomes } : {}), cache: { outcomes: responseCache.outcomes, ...responseCache.stats }, ...(options.controller ? { controller: options.controller.status() } : {}) });

  const activeBundle = () => {
    const active = store.current;
    if (!active) throw new HttpError(503, "no verified policy bundle is active yet", "service_unavailable");
    return active;
  };

  // The request path's fixed parts (request-path.ts): one object, made once.
  const responseCache = new ResponseCache(options.responseCacheBytes);
  const pathConfig: PathConfig = {
    upstreams,
    sinks: { metrics, telemetry, observability: options.observability },
    maxAttempts,
    maxBodyBytes: maxBody,
    maxResponseBufferBytes: maxResponseBuffer,
    forwardable,
    credential,
    endpointOverride: options.endpointOverride,
    semantic: options.semantic,
    responseCache,
    // Observed latencies reach the engine (for `fastest`) at most every 250 ms, new weights at once:
    // each update resets the engine's cached orders and shares.
    refreshFeedback: ({ engine, bundle }, now) => {
      let applied = appliedOf.get(engine);
      if (applied?.epoch !== overlayEpoch) {
        const problem = overlay && overlayProblem(overlay, bundle);
        if (problem) refuse(problem);
        applied = { epoch: overlayEpoch, version: overlay && !problem && learning(bundle) ? overlay.version : null };
        appliedOf.set(engine, applied);
        feedbackAt.delete(engine);
      }
      if (now - (feedbackAt.get(engine) ?? -Infinity) > 250) {
        feedbackAt.set(engine, now);
        engine.setFeedback({ latencyMs: upstreams.latencies(), ...(applied.version !== null ? { shares: overlay!.routes, cells: overlay!.cells } : {}) });
      }
      return applied.version;
    },
  };

  async function handle(req: SidecarRequest, res: SidecarResponse): Promise<void> {
    const given = req.headers["x-request-id"];
    const requestId = typeof given === "string" && REQUEST_ID_PATTERN.test(given) ? given : randomUUID();
    const route = `${req.method} ${req.path}`;
    try {
      switch (route) {
        case "POST /v1/chat/completions":
          return await runRequestPath(pathConfig, req, res, "chat", requestId, activeBundle());
        case "POST /v1/completions":
          return await runRequestPath(pathConfig, req, res, "completions", requestId, activeBundle());
        case "GET /v1/models": {
          const { policy } = activeBundle().bundle;
          // The policy's models, and the model names its profiles answer to (what a client puts in `model` to reach one).
          const data = [
            ...policy.models.map((m) => ({ id: m.name, object: "model", created: 0, owned_by: m.provider })),
            // A profile answering to a model's own name is listed once, as the profile: that is what a request for it gets.
            ...(policy.profiles ?? []).flatMap((p) => p.models.map((id) => ({ id, object: "model", created: 0, owned_by: `routeplane profile ${p.name}` }))),
          ].filter((m, i, all) => all.findLastIndex((x) => x.id === m.id) === i);
          res.send(200, { "content-type": "application/json", "x-request-id": requestId }, JSON.stringify({ object: "list", data }));
          return;
        }
        case "POST /v1/feedback": {
          const body = await readJson(req, 64 * 1024);
          const id = body.request_id;
          const rating = body.rating ?? null;
          const label = body.label ?? null;
          if (typeof id !== "string" || !REQUEST_ID_PATTERN.test(id)) throw new HttpError(400, "`request_id` must be the x-request-id of an earlier response (1 to 128 visible ASCII characters)");
          if (rating === null && label === null) throw new HttpError(400, "give a `rating` (a number from -1 to 1) or a `label`");
          if (rating !== null && (typeof rating !== "number" || rating < -1 || rating > 1)) throw new HttpError(400, "`rating` must be a number from -1 to 1");
          if (label !== null && typeof label !== "string") throw new HttpError(400, "`label` must be a string");
          telemetry.emit({ schema: FEEDBACK_EVENT_SCHEMA_VERSION, time: new Date().toISOString(), requestId: id, rating: rating as number | null, label: label as string | null });
          // Counted for the revision active now (the one the controller's canary analysis asks about).
          const quality = qualityOf({ rating: rating as number | null, label: label as string | null });
          const health = store.current?.health;
          if (quality !== null && health) {
            health.ratings++;
            health.quality += quality;
          }
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
          const detail = { ready: active !== null, revision: active?.bundle.manifest.revision ?? null, source: active?.source ?? null, lastRejection: rejected ? { at: rejected.at.toISOString(), source: rejected.source, reason: rejected.reason } : null, telemetry: telemetryDetail, shares: { version: overlay?.version ?? null, mode: active?.bundle.manifest.adaptation ?? null, applied: appliedOverlay(active?.bundle) !== null, refused: overlayStats.refused, lastRefusal: overlayStats.last }, ...(options.controller ? { controller: controllerDetail(options.controller.status()) } : {}) };
          res.send(active ? 200 : 503, { "content-type": "application/json" }, JSON.stringify(detail));
          return;
        }
        case "GET /metrics":
          res.send(200, { "content-type": "text/plain; version=0.0.4" }, metrics.render());
          return;
        case "PUT /debug/weights": {
          loopbackOnly(req, "/debug/weights");
          const body = await readJson(req, 1024 * 1024);
          const problem = setShares(body);
          if (problem) throw new HttpError(overlayShapeProblem(body) ? 400 : 422, problem);
          res.send(204, {}, "");
          return;
        }
        case "POST /debug/explain": {
          loopbackOnly(req, "/debug/explain");
          const active = activeBundle();
          const body = await readJson(req, maxBody);
          const problem = body.messages !== undefined || typeof body.prompt !== "string" ? chatProblem(body) : completionsProblem(body);
          if (problem) throw new HttpError(400, problem);
          pathConfig.refreshFeedback(active, performance.now());
          const d = active.engine.decide(requestOf(body, req.headers), { trace: true });
          res.send(200, { "content-type": "application/json" }, JSON.stringify(d));
          return;
        }
        default: {
          // `/<profile prefix>/v1/chat/completions`: a profile's path (docs/language.md, Profiles).
          const m = req.method === "POST" ? /^(\/.+)\/v1\/(chat\/completions|completions)$/.exec(req.path) : null;
          if (!m) throw new HttpError(404, `no such endpoint: ${route}`, "not_found");
          // A front proxy may match the normalised path and forward the raw one: a path it would read
          // otherwise than the sidecar (dot segments, encoded dots or slashes, empty segments) is refused.
          if (ambiguousPath(m[1])) throw new HttpError(400, `the path ${m[1].slice(0, 200)} has a dot segment, an encoded dot or slash, an empty segment or a backslash: send the profile's prefix as it is declared`);
          const active = activeBundle();
          const profile = active.engine.profileFor(undefined, m[1]);
          if (profile === "") throw new HttpError(404, `no profile of the policy serves the path prefix ${m[1].slice(0, 200)}`, "not_found");
          return await runRequestPath(pathConfig, req, res, m[2] === "completions" ? "completions" : "chat", requestId, active, profile);
        }
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
    setShares,
    listen: (port, host = "127.0.0.1") => http.listen(port, host),
    // Stops accepting, lets requests in flight finish (streams end with their [DONE]) within drainMs, then closes.
    close: async () => {
      await http.close();
      await upstreams.close();
    },
  };
}
