// A compacted Kafka topic used as a key → latest value table: the adapter's
// saved state and the learned shares it publishes (docs/adaptation.md "The
// loop"). Readers want the latest value of one key, at start (read to the end)
// and as it changes (follow). kafkajs has no partition assignment without a
// consumer group, so each reader joins a group of its own and commits
// nothing: the group is empty once it leaves and the broker forgets it.
import { randomUUID } from "node:crypto";
import type { Consumer, Kafka, Producer } from "kafkajs";
import { DISCONNECT_MS, atMost, kafkaClient } from "./client.ts";

export interface CompactedTopicOptions {
  brokers: string[];
  topic: string;
  clientId?: string;
}

export class CompactedTopic {
  private readonly options: CompactedTopicOptions;
  private kafka: Kafka | null = null;
  private producer: Producer | null = null;
  private readonly consumers = new Set<Consumer>();

  constructor(options: CompactedTopicOptions) {
    this.options = options;
  }

  get topic(): string {
    return this.options.topic;
  }

  private async client(): Promise<Kafka> {
    return (this.kafka ??= await kafkaClient(this.options.brokers, this.options.clientId ?? "routeplane"));
  }

  /** Writes the latest value of a key (acknowledged by every in-sync replica). */
  async write(key: string, value: string): Promise<void> {
    if (!this.producer) {
      const producer = (await this.client()).producer({ allowAutoTopicCreation: false, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      this.producer = producer;
    }
    await this.producer.send({ topic: this.options.topic, acks: -1, messages: [{ key, value }] });
  }

  private async consumer(): Promise<Consumer> {
    const consumer = (await this.client()).consumer({ groupId: `${this.options.clientId ?? "routeplane"}.reader.${randomUUID()}`, allowAutoTopicCreation: false });
    this.consumers.add(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [this.options.topic], fromBeginning: true });
    return consumer;
  }

  /** The latest value of `key` now (null: none), reading the topic to its end; gives up after `timeoutMs`. */
  async readLatest(key: string, timeoutMs = 30_000): Promise<string | null> {
    const kafka = await this.client();
    const admin = kafka.admin();
    await admin.connect();
    let ends: Map<number, bigint>;
    try {
      ends = new Map((await admin.fetchTopicOffsets(this.options.topic)).map((o) => [o.partition, BigInt(o.high)]));
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    const remaining = new Map([...ends].filter(([, high]) => high > 0n));
    if (remaining.size === 0) return null;
    const consumer = await this.consumer();
    let latest: string | null = null;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`could not read ${this.options.topic} to its end within ${timeoutMs / 1000} s`)), timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        consumer.on(consumer.events.CRASH, (e) => {
          clearTimeout(timer);
          reject(e.payload.error);
        });
        void consumer
          .run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              if (message.key?.toString("utf8") === key) latest = message.value === null ? null : message.value.toString("utf8");
              if (BigInt(message.offset) + 1n >= (remaining.get(partition) ?? 0n)) remaining.delete(partition);
              if (remaining.size === 0) done();
            },
          })
          .catch(reject);
      });
    } finally {
      await this.release(consumer);
    }
    return latest;
  }

  /** Calls `onValue` with every keyed value from the start of the topic on, until the returned stop is called. */
  async follow(onValue: (key: string, value: string) => void): Promise<() => Promise<void>> {
    const consumer = await this.consumer();
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        if (message.key && message.value !== null) onValue(message.key.toString("utf8"), message.value.toString("utf8"));
      },
    });
    return () => this.release(consumer);
  }

  private async release(consumer: Consumer): Promise<void> {
    this.consumers.delete(consumer);
    await atMost(DISCONNECT_MS, consumer.disconnect());
  }

  async close(): Promise<void> {
    for (const c of [...this.consumers]) await this.release(c);
    if (this.producer) await atMost(DISCONNECT_MS, this.producer.disconnect());
    this.producer = null;
  }
}
