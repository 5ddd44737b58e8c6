// Kafka beyond the sidecar's telemetry sink: the adapter's consumer group over
// the telemetry topics (with a dead-letter topic) and compacted topics used as
// key → latest value tables (the adapter's state, the learned shares).
export { TelemetryConsumer, parseTelemetryMessage, MAX_EVENT_BYTES } from "./telemetry-consumer.ts";
export type { TelemetryConsumerOptions, TelemetryHandlers, ConsumerStats, ConsumerCheckpoint } from "./telemetry-consumer.ts";
export { CompactedTopic } from "./compacted-topic.ts";
export type { CompactedTopicOptions } from "./compacted-topic.ts";
export { chooseActive, activeStandbyAssigner } from "./active-standby-assigner.ts";
export { atMost, DISCONNECT_MS } from "./client.ts";
