// Routing telemetry: one event per request and one per feedback, each with a
// JSON Schema and a schema version, to a JSONL file (the default) or Kafka.
// Telemetry never slows or fails a request: events go into a bounded queue
// that drops its oldest entries (and counts them) when the sink cannot keep up
// or the broker is away.
import { createWriteStream, type WriteStream } from "node:fs";
import type { Producer } from "kafkajs";
import { ROUTING_EVENT_SCHEMA_VERSION, type TelemetryEvent } from "../../bundle/index.ts";
import { atMost } from "../kafka/client.ts";

/** How long closing the Kafka sink may take (a last send, the disconnect). */
const CLOSE_MS = 10_000;

export { ROUTING_EVENT_SCHEMA_VERSION, FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA, FEEDBACK_EVENT_SCHEMA } from "../../bundle/index.ts";
export type { RoutingEvent, FeedbackEvent, TelemetryEvent } from "../../bundle/index.ts";

export interface SinkStats {
  /** Events the destination accepted (written to the file, acknowledged by the broker). */
  sent: number;
  /** Events given up on: pushed out of the full queue, or still queued when the sink closed undelivered. */
  dropped: number;
  queued: number;
  /** Failed delivery attempts (a write, a batch, a connection). */
  failures: number;
  /** Why events are not being delivered right now; null (or absent) while they are. */
  problem?: string | null;
  /** When the current problem began (ISO 8601). */
  problemSince?: string | null;
}

export interface TelemetrySink {
  /** Queues an event; never throws, never waits. */
  emit(event: TelemetryEvent): void;
  stats(): SinkStats;
  /** Sends what is queued (best effort) and releases the sink. */
  close(): Promise<void>;
}

/** Where a sink reports that delivery stopped or resumed (one line each time); the sidecar's stderr by default. */
export type TelemetryLog = (line: string) => void;
const stderrLog: TelemetryLog = (line) => console.error(line);

/**
 * Whether a sink is delivering. A condition (a kind of failure) is logged
 * once when it begins, not per failed attempt, and once when delivery
 * resumes; its message is what /readyz and the metrics show meanwhile.
 */
export class DeliveryHealth {
  private kind: string | null = null;
  problem: string | null = null;
  since: Date | null = null;
  private readonly sink: string;
  private readonly log: TelemetryLog;
  constructor(sink: string, log: TelemetryLog = stderrLog) {
    this.sink = sink;
    this.log = log;
  }
  failing(kind: string, message: string): void {
    this.problem = message;
    if (kind === this.kind) return;
    const first = this.kind === null;
    this.kind = kind;
    if (first) this.since = new Date();
    this.log(`routeplane serve: telemetry (${this.sink}) is not delivering: ${message}; events wait in a bounded queue, the oldest dropped when it is full`);
  }
  delivering(): void {
    if (this.kind === null) return;
    this.log(`routeplane serve: telemetry (${this.sink}) is delivering again (the problem began ${this.since!.toISOString()})`);
    this.kind = null;
    this.problem = null;
    this.since = null;
  }
  /** The figures for SinkStats. */
  get status(): { problem: string | null; problemSince: string | null } {
    return { problem: this.problem, problemSince: this.since?.toISOString() ?? null };
  }
}

/** A bounded queue that drops its oldest entries when full. */
/**
 * A bounded FIFO that drops its oldest items when full: a ring buffer, so a
 * full queue under a broker outage costs O(1) per event (an array spliced at
 * the front cost O(limit) per push, 10,000 moves per request at full load).
 */
export class DropOldestQueue<T> {
  private readonly buf: (T | undefined)[];
  private readonly limit: number;
  /** Index of the oldest item. */
  private head = 0;
  private size = 0;
  dropped = 0;
  constructor(limit: number) {
    this.limit = Math.max(1, Math.floor(limit));
    this.buf = new Array(this.limit);
  }
  push(item: T): void {
    if (this.size === this.limit) {
      // Full: the newest replaces the oldest.
      this.buf[this.head] = item;
      this.head = (this.head + 1) % this.limit;
      this.dropped++;
      return;
    }
    this.buf[(this.head + this.size) % this.limit] = item;
    this.size++;
  }
  /** Puts a batch that could not be sent back in front of newer events (still bounded: its oldest go first). */
  unshift(batch: T[]): void {
    for (let i = batch.length - 1; i >= 0; i--) {
      if (this.size === this.limit) {
        this.dropped += i + 1;
        return;
      }
      this.head = (this.head - 1 + this.limit) % this.limit;
      this.buf[this.head] = batch[i];
      this.size++;
    }
  }
  take(n: number): T[] {
    const k = Math.max(0, Math.min(n, this.size));
    const out = new Array<T>(k);
    for (let i = 0; i < k; i++) {
      out[i] = this.buf[this.head] as T;
      this.buf[this.head] = undefined;
      this.head = (this.head + 1) % this.limit;
    }
    this.size -= k;
    return out;
  }
  get length(): number {
    return this.size;
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

export interface JsonlSinkOptions {
  /** Events kept while the file cannot be written (default 10,000, as for Kafka); the oldest are dropped beyond. */
  queueLimit?: number;
  /** How long to wait before reopening the file after a failed write, in ms (default 1,000). */
  retryMs?: number;
  log?: TelemetryLog;
}

/**
 * One JSON object per line, appended to a file. Each event is serialized
 * when it is emitted (after its answer went out) and the lines are written
 * together every 100 ms or every 256 events: one write per request would
 * cost more than the rest of the telemetry, and serializing a whole batch at
 * once stalled the requests that arrived meanwhile (it showed in p99).
 *
 * Bounded like the Kafka sink: one write is in flight at a time, lines wait
 * in a queue of `queueLimit` events that drops its oldest, an event counts as
 * sent only once its write succeeded, and a failed write puts its lines back
 * and reopens the file after `retryMs`.
 */
export class JsonlSink implements TelemetrySink {
  private readonly file: string;
  private out: WriteStream | null = null;
  private readonly queue: DropOldestQueue<string>;
  private readonly retryMs: number;
  private readonly health: DeliveryHealth;
  private timer: NodeJS.Timeout | null = null;
  private retry: NodeJS.Timeout | null = null;
  /** Events in the write in progress (0: none). */
  private writing = 0;
  private idle: (() => void) | null = null;
  private sent = 0;
  private failures = 0;
  private lost = 0;
  constructor(file: string, options: JsonlSinkOptions = {}) {
    this.file = file;
    this.queue = new DropOldestQueue(options.queueLimit ?? 10_000);
    this.retryMs = options.retryMs ?? 1000;
    this.health = new DeliveryHealth(`file ${file}`, options.log);
    this.open();
  }
  private open(): void {
    this.retry = null;
    const out = createWriteStream(this.file, { flags: "a" });
    // Failures are counted by the write callbacks; the stream's error (an open that failed) names the cause best.
    out.on("error", (err) => this.health.failing("write", `cannot write ${this.file}: ${err.message}`));
    this.out = out;
    this.flush();
  }
  emit(event: TelemetryEvent): void {
    this.queue.push(JSON.stringify(event) + "\n");
    if (this.queue.length >= 256) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), 100);
      this.timer.unref();
    }
  }
  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const out = this.out;
    if (this.writing > 0) return;
    if (out === null || this.queue.length === 0) {
      this.idle?.();
      return;
    }
    const batch = this.queue.take(4096);
    this.writing = batch.length;
    out.write(batch.join(""), (err) => {
      this.writing = 0;
      if (err) {
        this.failures++;
        this.queue.unshift(batch);
        // A write to a stream that its failed open destroyed says only that: keep the cause the stream reported.
        const destroyed = (err as NodeJS.ErrnoException).code === "ERR_STREAM_DESTROYED";
        this.health.failing("write", destroyed && this.health.problem ? this.health.problem : `cannot write ${this.file}: ${err.message}`);
        this.out = null;
        out.destroy();
        if (this.idle) this.idle();
        else {
          this.retry = setTimeout(() => this.open(), this.retryMs);
          this.retry.unref();
        }
        return;
      }
      this.sent += batch.length;
      this.health.delivering();
      this.flush();
    });
  }
  stats(): SinkStats {
    return { sent: this.sent, dropped: this.queue.dropped + this.lost, queued: this.queue.length + this.writing, failures: this.failures, ...this.health.status };
  }
  async close(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    // Write what is queued (one attempt), then give up on the rest, counted as dropped.
    await new Promise<void>((resolve) => {
      this.idle = resolve;
      this.flush();
    });
    this.idle = null;
    this.lost += this.queue.length;
    this.queue.take(this.queue.length);
    const out = this.out;
    this.out = null;
    if (out && !out.destroyed) await new Promise<void>((resolve) => out.end(resolve));
    else out?.destroy();
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
  /** Check at start that both topics exist (default true); re-checked while one is missing and nothing is queued. */
  checkTopics?: boolean;
  log?: TelemetryLog;
}

type KafkaModule = typeof import("kafkajs");

/** The Kafka error code behind a kafkajs error (retries wrap it as `cause` or `originalError`). */
function kafkaErrorType(err: unknown): string | null {
  for (let e = err as { type?: unknown; cause?: unknown; originalError?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    if (typeof e.type === "string") return e.type;
    e = (e.cause ?? e.originalError) as typeof e;
  }
  return null;
}

/**
 * Kafka through kafkajs: batched, gzip-compressed, keyed by route (so one
 * route's events stay in order on one partition). Sending happens on a timer,
 * never on the request path. The sink never creates topics: it checks at
 * start that they exist, and a missing topic, an unreachable broker or any
 * other failure is logged once, shown in stats().problem (/readyz, metrics)
 * until a batch goes through again.
 */
export class KafkaSink implements TelemetrySink {
  private producer: Producer | null = null;
  private readonly queue: DropOldestQueue<{ topic: string; key: string; value: string }>;
  private readonly options: Required<Omit<KafkaSinkOptions, "clientId" | "log">>;
  private readonly timer: NodeJS.Timeout;
  private connected: Promise<void> | null = null;
  private readonly clientId: string;
  private readonly health: DeliveryHealth;
  private kafka: KafkaModule | null = null;
  private gzip = 1;
  private flushing = false;
  private sent = 0;
  private failures = 0;
  private recheckAt = 0;
  /** Events taken from the queue by the flush in progress and not sent yet. */
  private inFlight = 0;
  /** Topics known to be missing (from the start-up check or a failed send). */
  private readonly missingTopics = new Set<string>();
  /** The start-up topic check (resolves with the missing topics, or null when it could not tell). */
  readonly started: Promise<string[] | null>;

  constructor(options: KafkaSinkOptions) {
    this.options = { queueLimit: 10_000, batchSize: 500, flushIntervalMs: 200, checkTopics: true, ...options };
    this.queue = new DropOldestQueue(this.options.queueLimit);
    this.clientId = options.clientId ?? "routeplane-sidecar";
    this.health = new DeliveryHealth(`kafka ${this.options.brokers.join(",")}`, options.log);
    this.timer = setInterval(() => void this.flush(), this.options.flushIntervalMs);
    this.timer.unref();
    this.started = this.options.checkTopics ? this.checkTopics() : Promise.resolve([]);
  }

  emit(event: TelemetryEvent): void {
    const topic = event.schema === ROUTING_EVENT_SCHEMA_VERSION ? this.options.topic : `${this.options.topic}.feedback`;
    const key = event.schema === ROUTING_EVENT_SCHEMA_VERSION ? (event.route ?? "(none)") : event.requestId;
    this.queue.push({ topic, key, value: JSON.stringify(event) });
  }

  stats(): SinkStats {
    return { sent: this.sent, dropped: this.queue.dropped, queued: this.queue.length + this.inFlight, failures: this.failures, ...this.health.status };
  }

  private async load(): Promise<KafkaModule> {
    // kafkajs loads when first needed (the topic check, the first batch), not with the sidecar.
    return (this.kafka ??= await import("kafkajs"));
  }

  private client(k: KafkaModule) {
    return new k.Kafka({
      clientId: this.clientId,
      brokers: this.options.brokers,
      logLevel: k.logLevel.NOTHING,
      // Fail fast and let the queue hold events: retrying inside a send would stall the flush loop.
      retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 },
      connectionTimeout: 1000,
      requestTimeout: 5000,
    });
  }

  private missing(topics: string[]): void {
    this.health.failing("unknown-topic", `topic${topics.length > 1 ? "s" : ""} ${topics.map((t) => `\`${t}\``).join(" and ")} ${topics.length > 1 ? "do" : "does"} not exist on ${this.options.brokers.join(",")} (routeplane does not create topics; create ${topics.length > 1 ? "them" : "it"} as docs/sidecar.md says)`);
  }

  /**
   * Whether both topics exist; reports the missing ones (logged once) and
   * returns them, or null when the brokers could not be asked.
   */
  async checkTopics(): Promise<string[] | null> {
    const wanted = [this.options.topic, `${this.options.topic}.feedback`];
    let admin: ReturnType<ReturnType<KafkaSink["client"]>["admin"]> | null = null;
    try {
      admin = this.client(await this.load()).admin();
      await admin.connect();
      const existing = new Set(await admin.listTopics());
      const missing = wanted.filter((t) => !existing.has(t));
      this.missingTopics.clear();
      for (const t of missing) this.missingTopics.add(t);
      if (missing.length > 0) this.missing(missing);
      return missing;
    } catch (err) {
      this.failures++;
      this.health.failing("unavailable", `cannot reach the brokers ${this.options.brokers.join(",")}: ${(err as Error).message}`);
      return null;
    } finally {
      await admin?.disconnect().catch(() => undefined);
    }
  }

  private current: Promise<void> | null = null;

  /** Sends queued events in batches; a failed batch goes back to the queue (bounded). Concurrent calls share one run. */
  flush(): Promise<void> {
    return (this.current ??= this.send().finally(() => (this.current = null)));
  }

  private async send(): Promise<void> {
    if (this.flushing) return;
    if (this.queue.length === 0) {
      // Nothing to send shows nothing: while a topic is missing, look again now and then.
      if (this.health.problem !== null && this.options.checkTopics && Date.now() >= this.recheckAt) {
        this.flushing = true;
        this.recheckAt = Date.now() + 5000;
        try {
          if ((await this.checkTopics())?.length === 0) this.health.delivering();
        } finally {
          this.flushing = false;
        }
      }
      return;
    }
    this.flushing = true;
    try {
      if (!this.producer) {
        const k = await this.load();
        this.gzip = k.CompressionTypes.GZIP;
        this.producer = this.client(k).producer({ allowAutoTopicCreation: false });
      }
      const producer = this.producer;
      this.connected ??= producer.connect();
      await this.connected;
      // One send per topic: a missing feedback topic must not hold back the routing events.
      // Events of a missing topic wait (bounded) while the rest go on.
      const waiting: { topic: string; key: string; value: string }[] = [];
      const unknown = new Set<string>();
      let sentAny = false;
      try {
        while (this.queue.length > 0) {
          const batch = this.queue.take(this.options.batchSize);
          this.inFlight += batch.length;
          const byTopic = new Map<string, { key: string; value: string }[]>();
          for (const m of batch) (byTopic.get(m.topic) ?? byTopic.set(m.topic, []).get(m.topic)!).push({ key: m.key, value: m.value });
          const tried = new Set<string>();
          for (const [topic, messages] of byTopic) {
            tried.add(topic);
            if (unknown.has(topic)) {
              for (const m of messages) waiting.push({ topic, ...m });
              continue;
            }
            try {
              await producer.sendBatch({ compression: this.gzip, topicMessages: [{ topic, messages }] });
              this.sent += messages.length;
              this.inFlight -= messages.length;
              this.missingTopics.delete(topic);
              sentAny = true;
            } catch (err) {
              for (const m of messages) waiting.push({ topic, ...m });
              if (kafkaErrorType(err) !== "UNKNOWN_TOPIC_OR_PARTITION") {
                // Whatever is left of this batch waits too.
                for (const [t, rest] of byTopic) if (!tried.has(t)) for (const m of rest) waiting.push({ topic: t, ...m });
                throw err;
              }
              unknown.add(topic);
            }
          }
        }
      } finally {
        this.inFlight = 0;
        this.queue.unshift(waiting);
      }
      if (unknown.size > 0) {
        this.failures++;
        for (const t of unknown) this.missingTopics.add(t);
        this.missing([...this.missingTopics]);
      } else if (sentAny && this.missingTopics.size === 0) this.health.delivering();
    } catch (err) {
      this.failures++;
      const type = kafkaErrorType(err);
      if (type === "UNKNOWN_TOPIC_OR_PARTITION") this.health.failing("unknown-topic", `a telemetry topic does not exist on ${this.options.brokers.join(",")}: ${(err as Error).message}`);
      // Every other failure (no connection, a timeout, a broker error) is one condition: the brokers are unavailable.
      else this.health.failing("unavailable", `cannot send to ${this.options.brokers.join(",")}: ${(err as Error).message}`);
      // Reconnect on the next tick of the timer.
      this.connected = null;
      await this.producer?.disconnect().catch(() => undefined);
    } finally {
      this.flushing = false;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    // Let a run in progress finish (disconnecting under a send hangs kafkajs), then send what is left once —
    // within CLOSE_MS: a broker that does not answer must not keep a stopping sidecar alive.
    await atMost(CLOSE_MS, (async () => {
      await this.started.catch(() => undefined);
      await this.current;
      await this.flush();
      await this.producer?.disconnect().catch(() => undefined);
    })());
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
