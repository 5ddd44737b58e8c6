// Routing telemetry: one event per request and one per feedback, each with a
// JSON Schema and a schema version, to a JSONL file (the default) or Kafka.
// Telemetry never slows or fails a request: events go into a bounded queue
// that drops its oldest entries (and counts them) when the sink cannot keep up
// or the broker is away.
import { createWriteStream, type WriteStream } from "node:fs";
import type { Producer } from "kafkajs";

export const ROUTING_EVENT_SCHEMA_VERSION = "routeplane.routing/v1";
export const FEEDBACK_EVENT_SCHEMA_VERSION = "routeplane.feedback/v1";

export interface RoutingEvent {
  schema: typeof ROUTING_EVENT_SCHEMA_VERSION;
  time: string;
  requestId: string;
  revision: string;
  endpoint: "chat" | "completions";
  route: string | null;
  model: string | null;
  /** Every model tried, in order, with what happened. */
  attempts: { model: string; outcome: "ok" | "client-error" | "timeout" | "connect" | "status" | "circuit-open"; status: number | null; ms: number }[];
  /** The values of the signals the decision evaluated. */
  signals: Record<string, boolean>;
  plugins: string[];
  blocked: { plugin: string; status: number } | null;
  redacted: Record<string, number>;
  status: number;
  stream: boolean;
  latencyMs: { decision: number; plugins: number; upstream: number; total: number };
  tokens: { prompt: number | null; completion: number | null };
  costUsd: number | null;
}

export interface FeedbackEvent {
  schema: typeof FEEDBACK_EVENT_SCHEMA_VERSION;
  time: string;
  requestId: string;
  rating: number | null;
  label: string | null;
}

export type TelemetryEvent = RoutingEvent | FeedbackEvent;

const str = { type: "string" };
const nullable = (t: object) => ({ anyOf: [t, { type: "null" }] });

/** JSON Schemas of the events (draft 2020-12), for consumers and for the tests. */
export const ROUTING_EVENT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://routeplane.dev/schemas/routing-event/v1.json",
  type: "object",
  additionalProperties: false,
  required: ["schema", "time", "requestId", "revision", "endpoint", "route", "model", "attempts", "signals", "plugins", "blocked", "redacted", "status", "stream", "latencyMs", "tokens", "costUsd"],
  properties: {
    schema: { const: ROUTING_EVENT_SCHEMA_VERSION },
    time: { type: "string", format: "date-time" },
    requestId: str,
    revision: str,
    endpoint: { enum: ["chat", "completions"] },
    route: nullable(str),
    model: nullable(str),
    attempts: {
      type: "array",
      items: {
        type: "object",
        additionalProperties: false,
        required: ["model", "outcome", "status", "ms"],
        properties: {
          model: str,
          outcome: { enum: ["ok", "client-error", "timeout", "connect", "status", "circuit-open"] },
          status: nullable({ type: "integer" }),
          ms: { type: "number", minimum: 0 },
        },
      },
    },
    signals: { type: "object", additionalProperties: { type: "boolean" } },
    plugins: { type: "array", items: str },
    blocked: nullable({ type: "object", additionalProperties: false, required: ["plugin", "status"], properties: { plugin: str, status: { type: "integer" } } }),
    redacted: { type: "object", additionalProperties: { type: "integer", minimum: 0 } },
    status: { type: "integer" },
    stream: { type: "boolean" },
    latencyMs: {
      type: "object",
      additionalProperties: false,
      required: ["decision", "plugins", "upstream", "total"],
      properties: { decision: { type: "number" }, plugins: { type: "number" }, upstream: { type: "number" }, total: { type: "number" } },
    },
    tokens: { type: "object", additionalProperties: false, required: ["prompt", "completion"], properties: { prompt: nullable({ type: "integer" }), completion: nullable({ type: "integer" }) } },
    costUsd: nullable({ type: "number", minimum: 0 }),
  },
} as const;

export const FEEDBACK_EVENT_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://routeplane.dev/schemas/feedback-event/v1.json",
  type: "object",
  additionalProperties: false,
  required: ["schema", "time", "requestId", "rating", "label"],
  properties: {
    schema: { const: FEEDBACK_EVENT_SCHEMA_VERSION },
    time: { type: "string", format: "date-time" },
    requestId: str,
    rating: nullable({ type: "number", minimum: -1, maximum: 1 }),
    label: nullable(str),
  },
} as const;

export interface SinkStats {
  sent: number;
  dropped: number;
  queued: number;
  failures: number;
}

export interface TelemetrySink {
  /** Queues an event; never throws, never waits. */
  emit(event: TelemetryEvent): void;
  stats(): SinkStats;
  /** Sends what is queued (best effort) and releases the sink. */
  close(): Promise<void>;
}

/** A bounded queue that drops its oldest entries when full. */
class DropOldestQueue<T> {
  private items: T[] = [];
  private readonly limit: number;
  dropped = 0;
  constructor(limit: number) {
    this.limit = limit;
  }
  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.limit) {
      this.dropped += this.items.length - this.limit;
      this.items.splice(0, this.items.length - this.limit);
    }
  }
  /** Puts a batch that could not be sent back in front of newer events (still bounded). */
  unshift(batch: T[]): void {
    this.items = [...batch, ...this.items];
    if (this.items.length > this.limit) {
      this.dropped += this.items.length - this.limit;
      this.items.splice(0, this.items.length - this.limit);
    }
  }
  take(n: number): T[] {
    return this.items.splice(0, n);
  }
  get length(): number {
    return this.items.length;
  }
}

/**
 * An ISO 8601 UTC time with milliseconds, like Date#toISOString, with the
 * part up to the second formatted once per second: events are stamped on
 * every request, and toISOString was a visible share of the sidecar's time.
 */
export function isoTime(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20);
  }
  const rest = ms - second * 1000;
  return `${isoPrefix}${rest < 10 ? "00" : rest < 100 ? "0" : ""}${Math.floor(rest)}Z`;
}
let isoSecond = Number.NaN;
let isoPrefix = "";

/**
 * One JSON object per line, appended to a file. Each event is serialized
 * when it is emitted (after its answer went out) and the lines are written
 * together every 100 ms or every 256 events: one write per request would
 * cost more than the rest of the telemetry, and serializing a whole batch at
 * once stalled the requests that arrived meanwhile (it showed in p99).
 */
export class JsonlSink implements TelemetrySink {
  private readonly out: WriteStream;
  private pending = "";
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  private sent = 0;
  private failures = 0;
  constructor(file: string) {
    this.out = createWriteStream(file, { flags: "a" });
    this.out.on("error", () => this.failures++);
  }
  emit(event: TelemetryEvent): void {
    this.pending += JSON.stringify(event) + "\n";
    this.sent++;
    if (++this.count >= 256) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), 100);
      this.timer.unref();
    }
  }
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.count === 0) return;
    this.out.write(this.pending);
    this.pending = "";
    this.count = 0;
  }
  stats(): SinkStats {
    return { sent: this.sent, dropped: 0, queued: this.count, failures: this.failures };
  }
  close(): Promise<void> {
    this.flush();
    return new Promise((resolve) => this.out.end(resolve));
  }
}

export interface KafkaSinkOptions {
  brokers: string[];
  /** Routing events go here; feedback events to `${topic}.feedback`. */
  topic: string;
  clientId?: string;
  /** Events kept while the broker is slow or away. */
  queueLimit?: number;
  batchSize?: number;
  flushIntervalMs?: number;
}

/**
 * Kafka through kafkajs: batched, gzip-compressed, keyed by route (so one
 * route's events stay in order on one partition). Sending happens on a timer,
 * never on the request path.
 */
export class KafkaSink implements TelemetrySink {
  private producer: Producer | null = null;
  private readonly queue: DropOldestQueue<{ topic: string; key: string; value: string }>;
  private readonly options: Required<Omit<KafkaSinkOptions, "clientId">>;
  private readonly timer: NodeJS.Timeout;
  private connected: Promise<void> | null = null;
  private readonly clientId: string;
  private gzip = 1;
  private flushing = false;
  private sent = 0;
  private failures = 0;

  constructor(options: KafkaSinkOptions) {
    this.options = { queueLimit: 10_000, batchSize: 500, flushIntervalMs: 200, ...options };
    this.queue = new DropOldestQueue(this.options.queueLimit);
    this.clientId = options.clientId ?? "routeplane-sidecar";
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
  }

  emit(event: TelemetryEvent): void {
    const topic = event.schema === ROUTING_EVENT_SCHEMA_VERSION ? this.options.topic : `${this.options.topic}.feedback`;
    const key = event.schema === ROUTING_EVENT_SCHEMA_VERSION ? (event.route ?? "(none)") : event.requestId;
    this.queue.push({ topic, key, value: JSON.stringify(event) });
  }

  stats(): SinkStats {
    return { sent: this.sent, dropped: this.queue.dropped, queued: this.queue.length, failures: this.failures };
  }

  /** Sends queued events in batches; a failed batch goes back to the queue (bounded). */
  async flush(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    try {
      if (!this.producer) {
        // kafkajs loads with the first batch: the sidecar starts without it.
        const { Kafka, logLevel, CompressionTypes } = await import("kafkajs");
        this.gzip = CompressionTypes.GZIP;
        this.producer = new Kafka({
          clientId: this.clientId,
          brokers: this.options.brokers,
          logLevel: logLevel.NOTHING,
          // Fail fast and let the queue hold events: retrying inside a send would stall the flush loop.
          retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
          connectionTimeout: 1000,
          requestTimeout: 5000,
        }).producer({ allowAutoTopicCreation: true });
      }
      const producer = this.producer;
      this.connected ??= producer.connect();
      await this.connected;
      while (this.queue.length > 0) {
        const batch = this.queue.take(this.options.batchSize);
        const byTopic = new Map<string, { key: string; value: string }[]>();
        for (const m of batch) (byTopic.get(m.topic) ?? byTopic.set(m.topic, []).get(m.topic)!).push({ key: m.key, value: m.value });
        try {
          await producer.sendBatch({ compression: this.gzip, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
          this.sent += batch.length;
        } catch (err) {
          this.queue.unshift(batch);
          throw err;
        }
      }
    } catch {
      this.failures++;
      // Reconnect on the next tick of the timer.
      this.connected = null;
      await this.producer?.disconnect().catch(() => undefined);
    } finally {
      this.flushing = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    await this.producer?.disconnect().catch(() => undefined);
  }
}

/** Discards events but counts them (telemetry switched off). */
export class NullSink implements TelemetrySink {
  private sent = 0;
  emit(): void {
    this.sent++;
  }
  stats(): SinkStats {
    return { sent: this.sent, dropped: 0, queued: 0, failures: 0 };
  }
  async close(): Promise<void> {}
}
