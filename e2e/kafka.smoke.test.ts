// The Kafka broker works for what the sidecar's telemetry needs: topics,
// produce, and a two-member consumer group that commits offsets.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { eventually, kafkaBrokers, uniqueName } from "./support.ts";

test("kafkajs: create a topic, produce, consume with a two-member group, commit offsets", async () => {
  const kafka = new Kafka({ clientId: "routeplane-e2e", brokers: kafkaBrokers(), logLevel: logLevel.NOTHING });
  const topic = uniqueName("smoke");
  const groupId = uniqueName("group");
  const admin = kafka.admin();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumers = [kafka.consumer({ groupId }), kafka.consumer({ groupId })];
  try {
    await admin.connect();
    assert.equal(await admin.createTopics({ topics: [{ topic, numPartitions: 2 }], waitForLeaders: true }), true);
    assert.ok((await admin.listTopics()).includes(topic));

    const seen = new Map<number, string[]>();
    await Promise.all(consumers.map(async (c, member) => {
      await c.connect();
      await c.subscribe({ topic, fromBeginning: true });
      await c.run({ eachMessage: async ({ message }) => void (seen.get(member) ?? seen.set(member, []).get(member)!).push(message.value!.toString()) });
    }));
    // Both members must hold a partition before we produce, or one takes all.
    await eventually("both consumers to be assigned a partition", async () => {
      const g = await admin.describeGroups([groupId]);
      const members = g.groups[0]?.members ?? [];
      return g.groups[0]?.state === "Stable" && members.length === 2 ? true : undefined;
    });

    await producer.connect();
    const messages = Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `v${i}` }));
    await producer.send({ topic, messages });

    const all = await eventually("all 20 messages to be consumed", () => {
      const got = [...seen.values()].flat();
      return got.length >= 20 ? got : undefined;
    });
    assert.deepEqual([...all].sort(), messages.map((m) => m.value).sort());
    assert.equal(seen.size, 2, "both group members consumed messages");

    const committed = await eventually("offsets to be committed for both partitions", async () => {
      const offsets = await admin.fetchOffsets({ groupId, topics: [topic] });
      const parts = offsets[0].partitions;
      const total = parts.reduce((sum, p) => sum + Number(p.offset), 0);
      return total === 20 ? parts : undefined;
    });
    assert.equal(committed.length, 2);
  } finally {
    await Promise.allSettled(consumers.map((c) => c.disconnect()));
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
  }
});
