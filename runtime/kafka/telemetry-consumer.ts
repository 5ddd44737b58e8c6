// Reading the sidecars' telemetry from Kafka as a consumer group (the
// adapter, docs/adaptation.md "The loop"). Every message is parsed and checked
// against its event schema; one that fails goes to the dead-letter topic with
// the reason and where it came from, is counted, and never stops the
// consumer. Offsets are committed only when the owner says its state covers
// them (commit()), so a restart resumes exactly after what was saved.
import type { Consumer, EachBatchPayload, Kafka, Producer } from "kafkajs";
import { checkFeedbackEvent, checkRoutingEvent, FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA_VERSION, type FeedbackEvent, type RoutingEvent } from "../../bundle/index.ts";
import { DISCONNECT_MS, atMost, kafkaClient } from "./client.ts";
import { activeStandbyAssigner } from "./active-standby-assigner.ts";

export interface TelemetryConsumerOptions {
  brokers: string[];
  groupId: string;
  /** Routing events' topic; feedback is read from `<topic>.feedback`, as the sidecar writes it. */
  topic: string;
  /** Where invalid events go (default `<topic>.dead-letter`). */
  deadLetterTopic?: string;
  clientId?: string;
  log?: (line: string) => void;
  /**
   * Called when this member becomes the active one (at start, or taking over from another), before
   * it handles any message: the owner reloads the state the previous active member saved.
   */
  onActive?: () => Promise<void>;
}

export interface TelemetryHandlers {
  routing(event: RoutingEvent): void;
  feedback(event: FeedbackEvent): void;
}

export type ConsumerCheckpoint = { topic: string; partition: number; offset: string }[];

export interface ConsumerStats {
  consumed: number;
  deadLettered: number;
  /** Dead letters that could not be written (the broker refused): counted, and the consumer goes on. */
  deadLetterFailures: number;
  committed: number;
}

/** Why a message is not a valid event, or the event. */
export function parseTelemetryMessage(value: Buffer | null, topic: string, routingTopic: string): { kind: "routing"; event: RoutingEvent } | { kind: "feedback"; event: FeedbackEvent } | { problem: string } {
  if (value === null) return { problem: "empty message (a tombstone)" };
  if (value.length > MAX_EVENT_BYTES) return { problem: `${value.length} bytes, over the ${MAX_EVENT_BYTES}-byte limit of an event` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(value.toString("utf8"));
  } catch {
    return { problem: "not JSON" };
  }
  const schema = typeof parsed === "object" && parsed !== null ? (parsed as { schema?: unknown }).schema : undefined;
  const wanted = topic === routingTopic ? ROUTING_EVENT_SCHEMA_VERSION : FEEDBACK_EVENT_SCHEMA_VERSION;
  if (schema !== wanted) return { problem: `schema ${JSON.stringify(schema)} where ${wanted} belongs` };
  if (schema === ROUTING_EVENT_SCHEMA_VERSION) {
    const c = checkRoutingEvent(parsed);
    return c.ok ? { kind: "routing", event: c.event } : { problem: c.problem };
  }
  const c = checkFeedbackEvent(parsed);
  return c.ok ? { kind: "feedback", event: c.event } : { problem: c.problem };
}

/** The largest event the consumer parses (a routing event is about 1 KB; a broker allows 1 MB). */
export const MAX_EVENT_BYTES = 256 * 1024;

export class TelemetryConsumer {
  readonly stats: ConsumerStats = { consumed: 0, deadLettered: 0, deadLetterFailures: 0, committed: 0 };
  private readonly options: Required<Omit<TelemetryConsumerOptions, "log" | "clientId" | "onActive">> & Pick<TelemetryConsumerOptions, "log" | "clientId" | "onActive">;
  private assigned = false;
  /** Batches wait for this: the owner's reload when this member became active. */
  private gate: Promise<void> = Promise.resolve();
  private kafka: Kafka | null = null;
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  /** The next offset to commit, per topic and partition: everything before it was handled. */
  private readonly handled = new Map<string, { topic: string; partition: number; offset: string }>();

  constructor(options: TelemetryConsumerOptions) {
    this.options = { deadLetterTopic: `${options.topic}.dead-letter`, ...options };
  }

  get topics(): string[] {
    return [this.options.topic, `${this.options.topic}.feedback`];
  }

  async start(handlers: TelemetryHandlers): Promise<void> {
    this.kafka = await kafkaClient(this.options.brokers, this.options.clientId ?? "routeplane-adapter");
    this.producer = this.kafka.producer({ allowAutoTopicCreation: false });
    await this.producer.connect();
    const k = await import("kafkajs");
    this.consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      allowAutoTopicCreation: false,
      // One active member, the others standbys; a dead active member is replaced after the session timeout.
      partitionAssigners: [activeStandbyAssigner(k, Date.now(), () => this.assigned)],
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      retry: { retries: 1000, initialRetryTime: 300, maxRetryTime: 5000 },
    });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: this.topics, fromBeginning: true });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      // A rebalance may hand the partitions to another member: what this one handled but has not
      // committed is replayed there, and the dedupe window (in the saved state) keeps it from counting twice.
      this.handled.clear();
      const has = Object.values(e.payload.memberAssignment).some((ps) => ps.length > 0);
      if (has && !this.assigned && this.options.onActive) this.gate = this.options.onActive();
      if (has !== this.assigned) this.options.log?.(has ? "active: this replica reads the telemetry" : "standby: another replica is active");
      this.assigned = has;
    });
    await this.consumer.run({ autoCommit: false, eachBatch: (p) => this.batch(p, handlers) });
  }

  /** Whether this member holds the partitions (the active learner) rather than standing by. */
  get active(): boolean {
    return this.assigned;
  }

  private async batch({ batch, heartbeat, isRunning, isStale }: EachBatchPayload, handlers: TelemetryHandlers): Promise<void> {
    await this.gate;
    const dead: { key: string | null; value: Buffer | null; headers: Record<string, string> }[] = [];
    for (const m of batch.messages) {
      if (!isRunning() || isStale()) break;
      this.stats.consumed++;
      const r = parseTelemetryMessage(m.value, batch.topic, this.options.topic);
      if ("problem" in r) {
        dead.push({ key: m.key?.toString("utf8") ?? null, value: m.value, headers: { reason: r.problem, "source-topic": batch.topic, "source-partition": String(batch.partition), "source-offset": m.offset } });
      } else if (r.kind === "routing") handlers.routing(r.event);
      else handlers.feedback(r.event);
      this.handled.set(`${batch.topic}/${batch.partition}`, { topic: batch.topic, partition: batch.partition, offset: (BigInt(m.offset) + 1n).toString() });
    }
    if (dead.length) await this.deadLetter(dead);
    await heartbeat();
  }

  private async deadLetter(messages: { key: string | null; value: Buffer | null; headers: Record<string, string> }[]): Promise<void> {
    try {
      await this.producer!.send({ topic: this.options.deadLetterTopic, messages });
      this.stats.deadLettered += messages.length;
    } catch (err) {
      this.stats.deadLetterFailures += messages.length;
      this.options.log?.(`could not write ${messages.length} invalid event(s) to ${this.options.deadLetterTopic}: ${(err as Error).message} (counted; the adapter goes on)`);
    }
  }

  /** The offsets after everything handled so far: take them with the state they belong to. */
  checkpoint(): ConsumerCheckpoint {
    return [...this.handled.values()].map((o) => ({ ...o }));
  }

  /** Commits a checkpoint: call once the state taken with it is saved. */
  async commit(offsets: ConsumerCheckpoint): Promise<void> {
    if (!this.consumer || offsets.length === 0) return;
    await this.consumer.commitOffsets(offsets);
    this.stats.committed += offsets.length;
  }

  async stop(): Promise<void> {
    if (this.consumer) await atMost(DISCONNECT_MS, this.consumer.disconnect());
    if (this.producer) await atMost(DISCONNECT_MS, this.producer.disconnect());
    this.consumer = null;
    this.producer = null;
  }
}
