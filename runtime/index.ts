// The sidecar runtime: the decision engine that evaluates a bundle, and the
// sidecar that serves it as an OpenAI-compatible proxy with telemetry.
export { Engine, adaptiveShares } from "./engine/engine.ts";
export type { Decision, DecisionTrace, DecideOptions, EngineOptions, Blocked, PluginOutcome, RouteEvaluation, Feedback } from "./engine/engine.ts";
export { requestFromChat, requestFromSignals, textOf } from "./engine/request.ts";
export type { Request, ChatMessage, ContentPart } from "./engine/request.ts";
export type { SignalValue, OutputValue } from "./engine/signals.ts";
export { findPii, jailbreakScore, countTokens, detectLanguage, complexityScore, reaskCount, feedbackLabel, loadTextModels } from "./engine/detectors.ts";
export type { PiiMatch, PiiType, LanguageGuess } from "./engine/detectors.ts";
export { BundleStore } from "./sidecar/bundle-store.ts";
export type { ActiveBundle, Rejection, BundleStoreOptions } from "./sidecar/bundle-store.ts";
export { createSidecar, keyEnvAllowed, weightsProblem } from "./sidecar/server.ts";
export type { Sidecar, SidecarOptions, WeightsOverlay } from "./sidecar/server.ts";
export { Upstreams, UpstreamError, DEFAULT_UPSTREAM_OPTIONS, forwardAllowList } from "./sidecar/upstream.ts";
export { createHttpServer } from "./sidecar/http-server.ts";
export type { HttpServer, HttpServerOptions, SidecarRequest, SidecarResponse, Handler } from "./sidecar/http-server.ts";
export { OriginPool, ClientError, ResponseBody } from "./sidecar/http-client.ts";
export type { ClientRequest, ClientResponse, ClientFailure, PoolOptions } from "./sidecar/http-client.ts";
export type { UpstreamOptions } from "./sidecar/upstream.ts";
export { rewriteRequest, redactResponse } from "./sidecar/plugins.ts";
export { JsonlSink, KafkaSink, NullSink, ROUTING_EVENT_SCHEMA, FEEDBACK_EVENT_SCHEMA, ROUTING_EVENT_SCHEMA_VERSION, FEEDBACK_EVENT_SCHEMA_VERSION } from "./sidecar/telemetry.ts";
export type { TelemetrySink, TelemetryEvent, RoutingEvent, FeedbackEvent, SinkStats, KafkaSinkOptions } from "./sidecar/telemetry.ts";
export { SidecarMetrics } from "./sidecar/metrics.ts";
export { SemanticSignals } from "./sidecar/semantic.ts";
export { Observability } from "./sidecar/observability.ts";
export type { ObservabilityOptions } from "./sidecar/observability.ts";
export type { SemanticOptions } from "./sidecar/semantic.ts";
export { startDemoUpstream } from "./sidecar/demo-upstream.ts";
export type { DemoUpstream, DemoUpstreamOptions } from "./sidecar/demo-upstream.ts";
