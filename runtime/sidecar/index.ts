// The sidecar's entry point: the OpenAI-compatible proxy that enforces a
// bundle, its bundle store, upstream client, telemetry sinks and
// observability, and the demo model server. What other parts use.
export { createSidecar, keyEnvAllowed } from "./server.ts";
export type { Sidecar, SidecarOptions } from "./server.ts";
export { BundleStore } from "./bundle-store.ts";
export { Upstreams, UpstreamError, forwardAllowList } from "./upstream.ts";
export { createHttpServer } from "./http-server.ts";
export { OriginPool } from "./http-client.ts";
export { ControllerSubscription, DEFAULT_MAX_BUNDLE_BYTES, DEFAULT_TOKEN_FILE, controllerUrlProblem, parsePolicyRef } from "./controller-client.ts";
export type { SubscriptionStore } from "./controller-client.ts";
export type { ControllerStatus, ControllerTiming } from "./controller-client.ts";
export { JsonlSink, KafkaSink, NullSink, ROUTING_EVENT_SCHEMA, FEEDBACK_EVENT_SCHEMA } from "./telemetry.ts";
export type { TelemetrySink, TelemetryEvent } from "./telemetry.ts";
export { Observability } from "./observability.ts";
export { SemanticSignals } from "./semantic.ts";
export { startDemoUpstream } from "./demo-upstream.ts";
export type { DemoUpstream } from "./demo-upstream.ts";
