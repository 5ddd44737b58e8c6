// The adapter's core (adapter/adapter.ts): the join of feedback to routing
// events, dedupe, late feedback, state that survives a restart without
// counting anything twice, and shares inside the policy's bounds.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Adapter, adapterStateProblem, adaptiveRoutesFromBundle, restoreAdapter, type AdapterState } from "../adapter/index.ts";
import { overlayProblem, sharesProblem, FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA_VERSION, type Bundle, type FeedbackEvent, type RoutingEvent } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { Engine, chooseActive, findPii, parseTelemetryMessage, requestFromChat, MAX_EVENT_BYTES } from "../runtime/index.ts";

const POLICY = `package adapt

model cheap { provider: vllm, endpoint: "http://cheap.local", quality: 0.5, latency_ms: 100 }
model smart { provider: vllm, endpoint: "http://smart.local", quality: 0.5, latency_ms: 100 }

signal keyword code { any: ["code"] }

route coding priority 10 {
  when code
  select adaptive {
    models: [cheap, smart]
    objective: quality
    explore: 0.2
    floor: 0.05
  }
}
default { use cheap }
`;

function bundle(text = POLICY): Bundle {
  const r = compile(memoryHost({ "p.route": text }), ["p.route"]);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  return r.bundle;
}

function routing(id: string, model: string, extra: Partial<RoutingEvent> = {}): RoutingEvent {
  return {
    schema: ROUTING_EVENT_SCHEMA_VERSION, time: new Date(0).toISOString(), requestId: id, revision: "sha256:x", endpoint: "chat", route: "coding", model,
    attempts: [], signals: {}, selection: { probability: 0.5, sharesVersion: null }, plugins: [], blocked: null, redacted: {}, status: 200, stream: false,
    latencyMs: { decision: 0, plugins: 0, upstream: 50, total: 51 }, tokens: { prompt: null, completion: null }, costUsd: null, ...extra,
  };
}

const feedback = (id: string, rating: number | null, label: string | null = null): FeedbackEvent => ({ schema: FEEDBACK_EVENT_SCHEMA_VERSION, time: new Date(0).toISOString(), requestId: id, rating, label });

test("the policy's adaptive routes become the learner's: bounds, objective, priors (cost prior unknown: other units)", () => {
  const [route] = adaptiveRoutesFromBundle(bundle());
  assert.equal(route.route, "coding");
  assert.deepEqual(route.models, ["cheap", "smart"]);
  assert.equal(route.explore, 0.2);
  assert.equal(route.floor, 0.05);
  assert.deepEqual(route.priors.smart, { quality: 0.5, costUsd: null, latencyMs: 100 });
});

test("feedback joins its routing event whichever comes first; duplicates, unusable and non-adaptive routes are counted", () => {
  const a = new Adapter(bundle());
  a.routing(routing("1", "smart"));
  a.feedback(feedback("1", 1));
  a.feedback(feedback("2", -1)); // before its routing event
  a.routing(routing("2", "cheap"));
  a.routing(routing("2", "cheap")); // a producer's retry
  a.feedback(feedback("1", 1)); // asked twice
  a.feedback(feedback("3", null, "so-so"));
  a.routing(routing("4", "cheap", { route: "default" }));
  a.feedback(feedback("4", 1));
  a.routing(routing("5", "smart", { status: 502 }));
  assert.deepEqual(a.counters, { routing: 4, feedback: 5, joined: 2, notAdaptive: 1, duplicateRouting: 1, duplicateFeedback: 1, late: 0, unusable: 1, failures: 1 });
});

test("feedback whose routing event never comes within the window is late; so is feedback after the window", () => {
  let now = 0;
  const a = new Adapter(bundle(), { joinWindowMs: 1000, now: () => now });
  a.feedback(feedback("orphan", 1));
  a.routing(routing("old", "smart"));
  now = 5000;
  a.feedback(feedback("old", 1)); // its routing event was forgotten: waits, then expires
  now = 10_000;
  a.expire();
  assert.equal(a.counters.late, 2);
  assert.equal(a.counters.joined, 0);
});

test("traffic moves to the model users rate better, inside the bounds, after the minimum evidence", () => {
  const b = bundle();
  const a = new Adapter(b, { learner: { seed: 3 } });
  const before = a.overlay();
  assert.equal(overlayProblem(before, b), null);
  for (let i = 0; i < 400; i++) {
    const model = i % 2 === 0 ? "cheap" : "smart";
    a.routing(routing(`r${i}`, model));
    a.feedback(feedback(`r${i}`, model === "smart" ? (i % 10 < 9 ? 1 : -1) : i % 10 < 3 ? 1 : -1));
  }
  const after = a.overlay();
  assert.equal(overlayProblem(after, b), null, "the sidecar's own check accepts it");
  assert.equal(sharesProblem({ models: ["cheap", "smart"], explore: 0.2, floor: 0.05 }, after.routes.coding), null);
  assert.ok(after.routes.coding.smart > 0.75, JSON.stringify(after.routes.coding));
  assert.ok(after.routes.coding.cheap >= 0.05 - 1e-9, "the floor holds");
  assert.equal(after.revision, b.manifest.revision);
  assert.notEqual(after.version, before.version);
  assert.equal(a.pending, 0);
});

test("a restart from the saved state counts nothing twice: replayed events within the window are duplicates", () => {
  const b = bundle();
  const first = new Adapter(b, { learner: { seed: 1 } });
  const events: [RoutingEvent, FeedbackEvent][] = [];
  for (let i = 0; i < 50; i++) events.push([routing(`q${i}`, i % 2 ? "smart" : "cheap"), feedback(`q${i}`, 1)]);
  for (const [r, f] of events.slice(0, 30)) {
    first.routing(r);
    first.feedback(f);
  }
  const saved: AdapterState = JSON.parse(JSON.stringify(first.snapshot()));
  assert.equal(adapterStateProblem(saved), null);
  const second = new Adapter(b, { learner: { seed: 1 } }, saved);
  // The consumer replays from the last committed offset, which may be before the save: 20 again, then 20 new.
  for (const [r, f] of events.slice(10)) {
    second.routing(r);
    second.feedback(f);
  }
  assert.equal(second.counters.routing, 50);
  assert.equal(second.counters.joined, 50);
  assert.equal(second.counters.duplicateRouting, 20);
  assert.equal(second.counters.duplicateFeedback, 20);
  assert.deepEqual(second.estimates(), (() => {
    const once = new Adapter(b, { learner: { seed: 1 } });
    for (const [r, f] of events) {
    once.routing(r);
    once.feedback(f);
  }
    return once.estimates();
  })(), "the same beliefs as an adapter that saw every event once");
});

test("a stored state that is not one is named, not trusted", () => {
  assert.match(adapterStateProblem({ version: 2 })!, /version 2/);
  assert.match(adapterStateProblem(null)!, /not an object/);
  assert.match(adapterStateProblem({ version: 1, revision: "r", learner: {}, published: 1, seen: [] })!, /join window/);
});

test("attack: a broken or hostile saved state is set aside, not retried forever — the adapter starts from the priors and says why", () => {
  const b = bundle();
  const good = new Adapter(b);
  good.routing(routing("1", "smart"));
  const state = good.snapshot();
  const cases: [string, RegExp][] = [
    ["{not json", /not JSON/],
    [JSON.stringify({ ...state, seen: [7] }), /malformed entry in the join window/],
    [JSON.stringify({ ...state, waiting: [["x", "soon", 1]] }), /malformed waiting feedback/],
    [JSON.stringify({ ...state, learner: { version: 2 } }), /cannot be restored \(not a learner state of version 1\)/],
  ];
  for (const [saved, why] of cases) {
    const { adapter, ignored } = restoreAdapter(b, {}, saved);
    assert.match(ignored ?? "", why);
    adapter.routing(routing("2", "cheap"));
    assert.equal(adapter.counters.routing, 1, "a fresh adapter that works");
  }
  const restored = restoreAdapter(b, {}, JSON.stringify(state));
  assert.equal(restored.ignored, null);
  assert.equal(restored.adapter.counters.routing, 1);
});

test("messages from the topics: the wrong schema for the topic, not JSON, too big and invalid events are problems, with the place", () => {
  const ok = Buffer.from(JSON.stringify(routing("1", "smart")));
  assert.equal((parseTelemetryMessage(ok, "t", "t") as { kind: string }).kind, "routing");
  assert.match((parseTelemetryMessage(ok, "t.feedback", "t") as { problem: string }).problem, /where routeplane\.feedback\/v1 belongs/);
  assert.deepEqual(parseTelemetryMessage(Buffer.from("{oops"), "t", "t"), { problem: "not JSON" });
  assert.deepEqual(parseTelemetryMessage(null, "t", "t"), { problem: "empty message (a tombstone)" });
  assert.match((parseTelemetryMessage(Buffer.alloc(MAX_EVENT_BYTES + 1, 32), "t", "t") as { problem: string }).problem, /over the 262144-byte limit/);
  const bad = Buffer.from(JSON.stringify({ ...routing("1", "smart"), selection: { probability: 2, sharesVersion: null } }));
  assert.deepEqual(parseTelemetryMessage(bad, "t", "t"), { problem: "/selection/probability: must be <= 1" });
});

test("the active-standby assigner keeps the active member, else the earliest started; a member without a claim ranks last", () => {
  assert.equal(chooseActive([{ memberId: "b", claim: { startedAt: 5, active: false } }, { memberId: "a", claim: { startedAt: 9, active: true } }]), "a");
  assert.equal(chooseActive([{ memberId: "b", claim: { startedAt: 5, active: false } }, { memberId: "a", claim: { startedAt: 9, active: false } }]), "b");
  assert.equal(chooseActive([{ memberId: "x", claim: null }, { memberId: "y", claim: { startedAt: 1e15, active: false } }]), "y");
  assert.equal(chooseActive([{ memberId: "d", claim: { startedAt: 1, active: false } }, { memberId: "c", claim: { startedAt: 1, active: false } }]), "c");
  assert.equal(chooseActive([]), null);
});

test("a guarantee still holds after adaptation moved the weights: learned shares that send most PII traffic to the cloud model keep it redacted", async () => {
  const text = `package guarded
model local { provider: vllm, endpoint: "http://local.invalid/v1", tags: [onprem], quality: 0.6 }
model cloud { provider: openai, endpoint: "https://api.openai.com/v1", quality: 0.6 }
signal pii pii { types: [email] }
plugin pii_redact redact { types: [email] }
route help priority 1 {
  when true
  select adaptive { models: [local, cloud], objective: quality, explore: 0.2, floor: 0.05 }
  apply redact
}
default { use local }
guarantee "PII never reaches a cloud model unredacted" {
  when pii
  require model.tags has onprem or applies pii_redact
}
`;
  const b = bundle(text);
  assert.deepEqual(b.verification.guarantees.map((g) => g.status), ["proved"], "proved for every split inside the bounds");
  // Users rate the cloud model far better: the adapter moves traffic there, as far as the bounds allow.
  const a = new Adapter(b, { learner: { seed: 9 } });
  for (let i = 0; i < 300; i++) {
    const model = i % 2 ? "cloud" : "local";
    a.routing(routing(`g${i}`, model, { route: "help" }));
    a.feedback(feedback(`g${i}`, model === "cloud" ? 1 : -1));
  }
  const overlay = a.overlay();
  assert.ok(overlay.routes.help.cloud > 0.9, JSON.stringify(overlay.routes.help));
  const engine = await Engine.load(b);
  engine.setFeedback({ shares: overlay.routes });
  let cloud = 0;
  for (let i = 0; i < 400; i++) {
    const content = `my address is user${i}@example.com, can you help?`;
    assert.equal(findPii(content, new Set(["email"])).length, 1, "every request carries PII");
    const request = requestFromChat({ messages: [{ role: "user", content }] });
    request.id = `req-${i}`;
    const d = engine.decide(request);
    if (d.model === "cloud") {
      cloud++;
      assert.ok(d.plugins.includes("redact"), `request ${i} reached the cloud model without redaction`);
    }
  }
  assert.ok(cloud > 300, `the learned shares decided: ${cloud}/400 to the cloud model`);
});
