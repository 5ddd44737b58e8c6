// Telemetry that cannot be delivered says so (issue 11), against a real
// Kafka broker whose topics routeplane never creates: a missing topic is
// found at start-up, logged once, shown in /readyz and /metrics, and once the
// topic exists the events the sink still holds arrive and the problem clears.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { serializeBundle } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore, KafkaSink, createSidecar, startDemoUpstream } from "../runtime/index.ts";
import { eventually, kafkaBrokers, uniqueName } from "./support.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function sidecarWith(sink: KafkaSink) {
  const upstream = await startDemoUpstream();
  cleanups.push(() => upstream.close());
  const r = compile(memoryHost({ "p.route": `package tele\nmodel local { provider: vllm, endpoint: "${upstream.url}" }\ndefault { use local }\n` }), ["p.route"]);
  assert.ok(r.bundle);
  const store = new BundleStore({ trustedKeys: [] });
  await store.offer(serializeBundle(r.bundle), "test", { requireSignature: false });
  const sidecar = createSidecar({ store, telemetry: sink });
  const { port } = await sidecar.listen(0);
  cleanups.push(() => sidecar.close());
  const url = `http://127.0.0.1:${port}`;
  const ask = async () => (await fetch(`${url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] }) })).status;
  const feedback = async (id: string) => (await fetch(`${url}/v1/feedback`, { method: "POST", body: JSON.stringify({ request_id: id, rating: 1 }) })).status;
  const readyz = async () => (await (await fetch(`${url}/readyz`)).json()) as { ready: boolean; telemetry: { delivering: boolean; problem: string | null; sent: number } };
  const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(await (await fetch(`${url}/metrics`)).text())?.[1]);
  return { ask, feedback, readyz, metric };
}

async function createTopics(brokers: string[], topics: string[]): Promise<void> {
  const admin = new Kafka({ clientId: "routeplane-e2e-admin", brokers, logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  await admin.disconnect();
}

test("a missing topic is found at start-up, logged once, shown in /readyz and /metrics; once created, the held events arrive", { timeout: 120_000 }, async () => {
  const brokers = kafkaBrokers();
  const topic = uniqueName("absent");
  const logs: string[] = [];
  const sink = new KafkaSink({ brokers, topic, flushIntervalMs: 50, queueLimit: 1000, log: (l) => logs.push(l) });
  cleanups.push(() => sink.close());
  assert.deepEqual(await sink.started, [topic, `${topic}.feedback`], "the start-up check names both missing topics");
  const { ask, readyz, metric } = await sidecarWith(sink);
  assert.equal(logs.length, 1);
  assert.match(logs[0], new RegExp(`topics \`${topic}\` and \`${topic}\\.feedback\` do not exist on ${brokers[0]}.*create`));

  for (let i = 0; i < 50; i++) assert.equal(await ask(), 200);
  await eventually("failed sends", () => (sink.stats().failures >= 3 ? true : undefined));
  const r = await readyz();
  assert.equal(r.ready, true, "routing goes on");
  assert.equal(r.telemetry.delivering, false);
  assert.match(r.telemetry.problem!, new RegExp(`\`${topic}\``));
  assert.equal(await metric("routeplane_telemetry_delivering"), 0);
  assert.equal(sink.stats().sent, 0);
  assert.equal(sink.stats().queued, 50, "the events wait in the queue");
  assert.equal(logs.length, 1, `one log line for the condition, however many sends failed: ${logs.join("\n")}`);

  await createTopics(brokers, [topic, `${topic}.feedback`]);
  await eventually("the held events to be sent", () => (sink.stats().sent === 50 ? true : undefined), 60_000);
  await eventually("the problem to clear", async () => ((await readyz()).telemetry.delivering ? true : undefined), 30_000);
  assert.equal(await metric("routeplane_telemetry_delivering"), 1);
  assert.equal(logs.length, 2);
  assert.match(logs[1], /delivering again/);
  assert.equal(sink.stats().dropped, 0);
});

test("a missing feedback topic holds back only feedback: routing events are delivered, the problem names the feedback topic", { timeout: 120_000 }, async () => {
  const brokers = kafkaBrokers();
  const topic = uniqueName("half");
  await createTopics(brokers, [topic]);
  const logs: string[] = [];
  const sink = new KafkaSink({ brokers, topic, flushIntervalMs: 50, log: (l) => logs.push(l) });
  cleanups.push(() => sink.close());
  assert.deepEqual(await sink.started, [`${topic}.feedback`]);
  const { ask, feedback, readyz } = await sidecarWith(sink);
  for (let i = 0; i < 10; i++) {
    assert.equal(await ask(), 200);
    assert.equal(await feedback(`r-${i}`), 202);
  }
  await eventually("the routing events to be sent", () => (sink.stats().sent === 10 ? true : undefined), 60_000);
  await eventually("a failed feedback send", () => (sink.stats().failures > 0 ? true : undefined));
  assert.equal(sink.stats().queued, 10, "the feedback events wait");
  const r = await readyz();
  assert.equal(r.telemetry.delivering, false);
  assert.match(r.telemetry.problem!, new RegExp(`\`${topic}\\.feedback\` does not exist`));
  assert.doesNotMatch(r.telemetry.problem!, new RegExp(`\`${topic}\` `));
  assert.equal(logs.length, 1, logs.join("\n"));
});
