// The runtime: the decision engine (runtime/engine/index.ts), the sidecar
// (runtime/sidecar/index.ts) and Kafka for the adaptation loop
// (runtime/kafka/index.ts). Other parts import an entry point, or this
// one for all; each exports only what other parts use.
export { Engine, requestFromChat, requestFromSignals, findPii, jailbreakScore } from "./engine/index.ts";
export type { Decision, DecisionTrace, DecideOptions, EngineOptions, Feedback, Request, ChatMessage } from "./engine/index.ts";
export {
  createSidecar, keyEnvAllowed, BundleStore, Upstreams, UpstreamError, forwardAllowList, createHttpServer, OriginPool,
  JsonlSink, KafkaSink, NullSink, ROUTING_EVENT_SCHEMA, FEEDBACK_EVENT_SCHEMA, Observability, SemanticSignals, startDemoUpstream,
} from "./sidecar/index.ts";
export type { Sidecar, SidecarOptions, TelemetrySink, TelemetryEvent, DemoUpstream } from "./sidecar/index.ts";
export { TelemetryConsumer, CompactedTopic, parseTelemetryMessage, MAX_EVENT_BYTES, chooseActive, atMost } from "./kafka/index.ts";
export type { TelemetryConsumerOptions, TelemetryHandlers, ConsumerStats, ConsumerCheckpoint } from "./kafka/index.ts";
