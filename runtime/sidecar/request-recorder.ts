// One request's record, fed by the request path's stages (request-path.ts) and
// feeding all four sinks: Prometheus metrics (/metrics), OpenTelemetry metrics,
// OpenTelemetry spans (one per stage), and the routing event (telemetry). A
// stage says what happened once; this is the only place that knows where it
// goes.
import type { ModelSpec, RevisionHealth } from "../../bundle/index.ts";
import type { Decision } from "../engine/engine.ts";
import type { SidecarMetrics } from "./metrics.ts";
import type { Observability, RequestTrace } from "./observability.ts";
import { ROUTING_EVENT_SCHEMA_VERSION, isoTime, type RoutingEvent, type TelemetrySink } from "./telemetry.ts";
import type { UpstreamError } from "./upstream.ts";

export interface RecorderSinks {
  metrics: SidecarMetrics;
  telemetry: TelemetrySink;
  observability?: Observability;
}

type StageSpan = ReturnType<RequestTrace["stage"]>;

/** Tokens one answer can plausibly count (prompt or completion); a larger `usage` is not believed. */
export const MAX_ANSWER_TOKENS = 100_000_000;

export class RequestRecorder {
  /** The routing event; its time and signal values are filled in by finish(), after the answer went out. */
  readonly event: RoutingEvent;
  private readonly sinks: RecorderSinks;
  private readonly started: number;
  private readonly startedAt: number;
  private readonly trace: RequestTrace | null;
  private decision: Decision | null = null;
  private decidedAt = 0;
  private span: StageSpan | undefined;
  private finished = false;
  private readonly health: RevisionHealth | null;

  constructor(sinks: RecorderSinks, request: { requestId: string; revision: string; endpoint: "chat" | "completions"; stream: boolean; started: number; startedAt: number; health?: RevisionHealth }) {
    this.sinks = sinks;
    this.health = request.health ?? null;
    this.started = request.started;
    this.startedAt = request.startedAt;
    this.trace = sinks.observability?.startRequest(request.endpoint === "chat" ? "POST /v1/chat/completions" : "POST /v1/completions", { "routeplane.request_id": request.requestId, "routeplane.revision": request.revision }) ?? null;
    this.event = {
      schema: ROUTING_EVENT_SCHEMA_VERSION,
      time: "",
      requestId: request.requestId,
      revision: request.revision,
      endpoint: request.endpoint,
      route: null,
      model: null,
      attempts: [],
      signals: {},
      selection: { probability: 1, sharesVersion: null },
      plugins: [],
      blocked: null,
      redacted: {},
      status: 0,
      stream: request.stream,
      latencyMs: { decision: 0, plugins: 0, upstream: 0, total: 0 },
      tokens: { prompt: null, completion: null },
      costUsd: null,
    };
  }

  /** Opens a stage's span (ended by the matching record call below). */
  stage(name: "decide" | "semantic" | "plugins" | "upstream", attributes?: Parameters<RequestTrace["stage"]>[1]): StageSpan | undefined {
    return this.trace?.stage(name, attributes);
  }

  /** The embeddings endpoint was asked for these signals; whether it answered. */
  semantic(span: StageSpan | undefined, answered: boolean): void {
    span?.setAttribute("routeplane.answered", answered);
    span?.end();
  }

  decided(decision: Decision, span: StageSpan | undefined, sharesVersion: string | null): void {
    this.decision = decision;
    this.decidedAt = performance.now();
    const seconds = (this.decidedAt - this.started) / 1000;
    this.sinks.metrics.decisionSeconds.observe(seconds);
    this.sinks.observability?.instruments?.decision(seconds);
    span?.setAttributes({ "routeplane.route": decision.route ?? "none", "routeplane.signals_computed": Object.keys(decision.signals ?? {}).length, "routeplane.blocked": decision.blocked !== null });
    span?.end();
    const e = this.event;
    e.route = decision.route;
    e.selection = decision.context === undefined ? { probability: decision.probability, sharesVersion } : { probability: decision.probability, sharesVersion, context: decision.context };
    e.plugins = decision.plugins;
    e.blocked = decision.blocked ? { plugin: decision.blocked.plugin, status: decision.blocked.status } : null;
    e.latencyMs.decision = this.decidedAt - this.started;
  }

  /** A `capture` plugin took this decision into its sample: its signal values go into the event. */
  captured(signals: NonNullable<RoutingEvent["capture"]>["signals"], profile: string | undefined): void {
    this.event.capture = profile === undefined ? { signals } : { signals, profile };
  }

  rewritten(redacted: Record<string, number>, span: StageSpan | undefined): void {
    span?.setAttribute("routeplane.redacted", Object.values(redacted).reduce((a, b) => a + b, 0));
    span?.end();
    // The same object: response redaction adds its counts to it later.
    this.event.redacted = redacted;
    this.event.latencyMs.plugins = performance.now() - this.decidedAt;
  }

  /** An attempt answered (2xx, or a 4xx no other model would fix). */
  answered(model: string, status: number, ms: number, span: StageSpan | undefined): void {
    this.sinks.metrics.upstreamSeconds.observe(ms / 1000, { model });
    this.sinks.observability?.instruments?.upstream(ms / 1000, model);
    const outcome = status < 400 ? "ok" : "client-error";
    span?.setAttributes({ "http.response.status_code": status, "routeplane.outcome": outcome });
    span?.end();
    this.event.attempts.push({ model, outcome, status, ms });
    this.event.latencyMs.upstream = ms;
  }

  /** A cascade did not take this model's answer: its confidence (null: none it could tell) was below the route's. */
  declined(model: string, confidence: number | null): void {
    const a = this.event.attempts.findLast((x) => x.model === model);
    if (a) a.outcome = "low-confidence";
    this.sinks.metrics.fallbacks.inc({ model, reason: confidence === null ? "no-confidence" : "low-confidence" });
  }

  /** An attempt failed in a way the next model may not (timeout, connection, 429/5xx, open circuit). */
  failed(model: string, err: UpstreamError, ms: number, span: StageSpan | undefined): void {
    this.event.attempts.push({ model, outcome: err.kind, status: err.status, ms });
    this.sinks.metrics.fallbacks.inc({ model, reason: err.kind });
    this.sinks.observability?.instruments?.fallback(model, err.kind);
    span?.setAttributes({ "routeplane.outcome": err.kind, ...(err.status === null ? {} : { "http.response.status_code": err.status }) });
    span?.setStatus({ code: 2, message: err.message });
    span?.end();
  }

  /**
   * Token counts and a cost estimate from an answer's `usage` (its text, or
   * the tail of a streamed-through one). Read with two small patterns rather
   * than parsing the whole answer: the answer goes to the client as it came.
   */
  usage(text: string, spec: ModelSpec): void {
    // Whole numbers as written: `1e+30` is no count (its `1` is not read as one).
    const prompt = /"prompt_tokens"\s*:\s*(\d+)(?![\d.eE])/.exec(text);
    const completion = /"completion_tokens"\s*:\s*(\d+)(?![\d.eE])/.exec(text);
    if (!prompt && !completion) return;
    // A request may pay several models (a cascade's steps, its verifier): tokens and cost add up.
    // A count no answer has (a model server's 400-digit number) is not one: ignored, so cost stays finite.
    const sane = (m: RegExpExecArray | null) => (m && m[1].length <= 10 && Number(m[1]) <= MAX_ANSWER_TOKENS ? m : null);
    const [p, c] = [sane(prompt), sane(completion)];
    if (!p && !c) return;
    const sum = (a: number | null, b: RegExpExecArray | null) => (b ? (a ?? 0) + Number(b[1]) : a);
    this.event.tokens = { prompt: sum(this.event.tokens.prompt, p), completion: sum(this.event.tokens.completion, c) };
    if (spec.cost && p && c) {
      // Costs are USD per million tokens (docs/language.md).
      this.event.costUsd = (this.event.costUsd ?? 0) + (Number(p[1]) * spec.cost.input + Number(c[1]) * spec.cost.output) / 1e6;
    }
  }

  /** The answer's usage cannot be read (a stream): tokens and cost are unknown, not the part counted so far. */
  usageUnknown(): void {
    this.event.tokens = { prompt: null, completion: null };
    this.event.costUsd = null;
  }

  /** The request is over: its status and the model that answered (null: none). Once per request. */
  finish(status: number, model: string | null): void {
    if (this.finished) return;
    this.finished = true;
    const e = this.event;
    const route = this.decision?.route ?? "none";
    e.time = isoTime(this.startedAt);
    const signals = this.decision?.signals;
    for (const name in signals) e.signals[name] = signals[name].matched;
    e.status = status;
    e.model = model;
    e.latencyMs.total = performance.now() - this.started;
    // The revision's health for canary analysis: failures are the sidecar's and the models' (5xx), not the client's.
    if (this.health) {
      this.health.requests++;
      if (status >= 500) this.health.errors++;
      this.health.latencyMs += e.latencyMs.total;
    }
    this.sinks.metrics.requests.inc({ route, model: model ?? "none", status: String(status) });
    this.sinks.observability?.instruments?.request({ route, model: model ?? "none", status });
    this.trace?.end(status, { "routeplane.route": route, "routeplane.model": model ?? "none" });
    this.sinks.telemetry.emit(e);
  }
}
