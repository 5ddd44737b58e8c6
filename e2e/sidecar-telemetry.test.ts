// The sidecar's telemetry against a real Kafka broker: every request becomes
// one event, keyed by route, valid against its schema; and when the broker
// goes away mid-run, requests keep succeeding and dropped events are counted.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { Ajv2020 } from "ajv/dist/2020.js";
import { serializeBundle } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore, KafkaSink, ROUTING_EVENT_SCHEMA, createSidecar, startDemoUpstream } from "../runtime/index.ts";
import { provisionKafka, startKafka } from "./infra/kafka.ts";
import { eventually, kafkaBrokers, uniqueName } from "./support.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const POLICY = (url: string) => `package tele
model local { provider: vllm, endpoint: "${url}", tags: [onprem] }
model big { provider: openai_compatible, endpoint: "${url}" }
signal keyword refund { any: ["refund"] }
route refunds priority 2 { when refund; use big fallback local }
default { use local }
`;

async function sidecarWith(sink: KafkaSink) {
  const upstream = await startDemoUpstream();
  cleanups.push(() => upstream.close());
  const r = compile(memoryHost({ "p.route": POLICY(upstream.url) }), ["p.route"]);
  assert.ok(r.bundle);
  const store = new BundleStore({ trustedKeys: [] });
  await store.offer(serializeBundle(r.bundle), "test", { requireSignature: false });
  const sidecar = createSidecar({ store, telemetry: sink });
  const { port } = await sidecar.listen(0);
  cleanups.push(() => sidecar.close());
  const url = `http://127.0.0.1:${port}`;
  const ask = (content: string) =>
    fetch(`${url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [{ role: "user", content }] }) }).then(async (res) => ({ status: res.status, body: await res.text() }));
  return { url, ask, sidecar };
}

async function createTopics(brokers: string[], topics: string[]): Promise<void> {
  const admin = new Kafka({ clientId: "routeplane-e2e-admin", brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 2 })), waitForLeaders: true });
  await admin.disconnect();
}

test("telemetry reaches Kafka: one schema-valid event per request, keyed by route; feedback on its own topic", async () => {
  const brokers = kafkaBrokers();
  const topic = uniqueName("routing");
  await createTopics(brokers, [topic, `${topic}.feedback`]);
  const sink = new KafkaSink({ brokers, topic, flushIntervalMs: 50 });
  cleanups.push(() => sink.close());
  const { url, ask } = await sidecarWith(sink);
  for (let i = 0; i < 20; i++) assert.equal((await ask(i % 2 ? "I want a refund" : "hello there")).status, 200);
  assert.equal((await fetch(`${url}/v1/feedback`, { method: "POST", body: JSON.stringify({ request_id: "r-1", label: "wrong_model" }) })).status, 202);

  const consumer = new Kafka({ clientId: "routeplane-e2e", brokers, logLevel: logLevel.NOTHING }).consumer({ groupId: uniqueName("tele") });
  cleanups.push(() => consumer.disconnect());
  const seen: { topic: string; key: string; value: Record<string, unknown> }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topics: [topic, `${topic}.feedback`], fromBeginning: true });
  await consumer.run({ eachMessage: async (m) => void seen.push({ topic: m.topic, key: m.message.key!.toString(), value: JSON.parse(m.message.value!.toString()) }) });
  await eventually("21 telemetry events to arrive", () => (seen.length >= 21 ? true : undefined), 60_000);

  const routing = seen.filter((m) => m.topic === topic);
  assert.equal(routing.length, 20);
  const validate = new Ajv2020({ strict: false, validateFormats: false }).compile(ROUTING_EVENT_SCHEMA);
  for (const m of routing) {
    assert.ok(validate(m.value), JSON.stringify(validate.errors));
    assert.equal(m.key, m.value.route, "keyed by route");
  }
  assert.deepEqual(new Set(routing.map((m) => m.key)), new Set(["refunds", "default"]));
  const feedback = seen.filter((m) => m.topic === `${topic}.feedback`);
  assert.deepEqual(feedback.map((m) => m.value.label), ["wrong_model"]);
  assert.equal(sink.stats().dropped, 0);
});

test("the broker stops mid-run: requests keep succeeding, undelivered events are counted as dropped", { timeout: 180_000 }, async () => {
  // A broker of its own, so stopping it leaves the shared one alone.
  const broker = await startKafka(await provisionKafka());
  cleanups.push(() => broker.stop());
  const topic = uniqueName("outage");
  await createTopics([broker.brokers], [topic]);
  const sink = new KafkaSink({ brokers: [broker.brokers], topic, flushIntervalMs: 50, queueLimit: 20 });
  cleanups.push(() => sink.close());
  const { url, ask } = await sidecarWith(sink);
  for (let i = 0; i < 5; i++) assert.equal((await ask("hello")).status, 200);
  await eventually("the first events to be sent", () => (sink.stats().sent >= 5 ? true : undefined), 30_000);

  await broker.stop();
  const t0 = performance.now();
  const statuses: number[] = [];
  for (let i = 0; i < 60; i++) statuses.push((await ask(i % 2 ? "refund please" : "hello")).status);
  const perRequestMs = (performance.now() - t0) / 60;
  assert.deepEqual([...new Set(statuses)], [200], "every request succeeded without the broker");
  assert.ok(perRequestMs < 100, `requests stayed fast without the broker (${perRequestMs.toFixed(1)} ms each)`);
  await eventually("dropped events to be counted", () => (sink.stats().dropped >= 40 ? true : undefined), 30_000);
  const stats = sink.stats();
  assert.ok(stats.queued <= 20, "the queue stays bounded");
  assert.ok(stats.failures > 0, "failed sends are counted");
  const metrics = await (await fetch(`${url}/metrics`)).text();
  const dropped = Number(/routeplane_telemetry_events_total\{outcome="dropped"\} (\d+)/.exec(metrics)?.[1]);
  assert.ok(dropped >= 40, `metrics report ${dropped} dropped events`);
});
