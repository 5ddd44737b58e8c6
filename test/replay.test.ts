// Replay (adapter/replay.ts, `routeplane replay`): off-policy estimates from
// recorded traffic agree with what the other split really does.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { qualityOf, replay, seededRandom, type LoggedDecision, type LoggedFeedback } from "../adapter/index.ts";
import { serializeBundle } from "../bundle/index.ts";
import { BundleStore, JsonlSink, createSidecar, startDemoUpstream } from "../runtime/index.ts";
import { compilePaths } from "../cli/policy-commands.ts";
import { cmdReplay } from "../cli/replay-command.ts";
import { bufferIo } from "../cli/io.ts";
import { REPO } from "./support/golden.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "routeplane-replay-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Logs `n` requests of one route picked by `logging`, each rated by a coin with the model's true quality. */
function simulate(n: number, logging: Record<string, number>, quality: Record<string, number>, cost: Record<string, number>, seed = 7) {
  const random = seededRandom(seed);
  const decisions: LoggedDecision[] = [];
  const feedback: LoggedFeedback[] = [];
  const models = Object.keys(logging);
  for (let i = 0; i < n; i++) {
    let u = random();
    let model = models[models.length - 1];
    for (const m of models) {
      if (u < logging[m]) {
        model = m;
        break;
      }
      u -= logging[m];
    }
    decisions.push({ requestId: `r${i}`, route: "r", model, probability: logging[model], costUsd: cost[model], latencyMs: 100 });
    feedback.push({ requestId: `r${i}`, rating: random() < quality[model] ? 1 : -1, label: null });
  }
  return { decisions, feedback };
}

test("the estimates of another split agree with its true quality and cost, within their intervals", () => {
  const quality = { a: 0.6, b: 0.9 };
  const cost = { a: 1, b: 3 };
  const { decisions, feedback } = simulate(20_000, { a: 0.8, b: 0.2 }, quality, cost);
  const target = { a: 0.1, b: 0.9 };
  const truth = 0.1 * 0.6 + 0.9 * 0.9;
  const r = replay(decisions, feedback, (route) => (route === "r" ? target : null));
  assert.equal(r.rated, 20_000);
  for (const [name, e] of Object.entries(r.target)) {
    if (name === "costUsd" || name === "latencyMs") continue;
    assert.ok(e && e.low <= truth && truth <= e.high, `${name} ${JSON.stringify(e)} should cover ${truth}`);
    assert.ok(e && e.high - e.low < 0.05, `${name} interval narrow enough to decide`);
  }
  // The recorded quality is the logging policy's (0.8·0.6 + 0.2·0.9 = 0.66), not the target's.
  assert.ok(Math.abs(r.logged.quality!.value - 0.66) < 0.02);
  assert.ok(Math.abs(r.target.costUsd!.value - 2.8) < 0.05, `cost ${r.target.costUsd!.value}`);
  assert.ok(r.effectiveSampleSize > 1000 && r.effectiveSampleSize < 20_000, "moving traffic to the rarely logged model costs samples");
  assert.equal(r.unsupported, 0);
});

test("the logging split estimated on its own log gives back the recorded quality", () => {
  const { decisions, feedback } = simulate(2_000, { a: 0.5, b: 0.5 }, { a: 0.3, b: 0.7 }, { a: 0, b: 0 });
  const r = replay(decisions, feedback, () => ({ a: 0.5, b: 0.5 }));
  assert.ok(Math.abs(r.target.snips!.value - r.logged.quality!.value) < 1e-9);
  assert.ok(Math.abs(r.effectiveSampleSize - 2_000) < 1e-6);
});

test("a model the log never rated on a route is reported as unsupported; only the direct model speaks for it", () => {
  const { decisions, feedback } = simulate(1_000, { a: 1 }, { a: 0.5 }, { a: 0 });
  const r = replay(decisions, feedback, () => ({ a: 0.5, c: 0.5 }));
  assert.ok(Math.abs(r.unsupported - 0.5) < 1e-9);
  // IPS can only see half the target's traffic: it is about half the true quality of a.
  assert.ok(r.target.ips!.value < 0.3);
});

test("duplicates, stray feedback and unusable probabilities are counted, not used", () => {
  const decisions: LoggedDecision[] = [
    { requestId: "1", route: "r", model: "a", probability: 0.5, costUsd: null, latencyMs: 10 },
    { requestId: "1", route: "r", model: "b", probability: 0.5, costUsd: null, latencyMs: 10 },
    { requestId: "2", route: null, model: null, probability: 1, costUsd: null, latencyMs: 1 },
    { requestId: "3", route: "gone", model: "a", probability: 1, costUsd: null, latencyMs: 10 },
    { requestId: "4", route: "r", model: "a", probability: 0, costUsd: null, latencyMs: 10 },
  ];
  const feedback: LoggedFeedback[] = [
    { requestId: "1", rating: -1, label: null },
    { requestId: "1", rating: null, label: "good" },
    { requestId: "9", rating: 1, label: null },
    { requestId: "1", rating: null, label: "meh" },
  ];
  const r = replay(decisions, feedback, (route) => (route === "r" ? { a: 1 } : null));
  assert.deepEqual(r.skipped, { duplicates: 1, noModel: 1, routeNotInTarget: 1, badProbability: 1 });
  assert.deepEqual(r.feedback, { events: 4, duplicates: 1, unmatched: 1, unusable: 1 });
  assert.equal(r.rated, 1);
  assert.equal(r.logged.quality!.value, 1, "the last usable feedback counts");
  assert.equal(r.target.ips!.value, 2, "w = 1 / 0.5");
});

test("qualityOf: ratings scaled to 0–1, known labels, nothing else", () => {
  assert.equal(qualityOf({ rating: -1, label: null }), 0);
  assert.equal(qualityOf({ rating: 0.5, label: "bad" }), 0.75);
  assert.equal(qualityOf({ rating: null, label: " Thumbs_Up " }), 1);
  assert.equal(qualityOf({ rating: null, label: "incorrect" }), 0);
  assert.equal(qualityOf({ rating: null, label: "fine" }), null);
  assert.equal(qualityOf({ rating: Number.NaN, label: null }), null);
});

function policy(dir: string, urls: { a: string; b: string }, weights: [number, number]): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "main.route"), `package split

model a { provider: openai_compatible, endpoint: "${urls.a}", served_name: "a-1", cost: { input: 1, output: 1 } }
model b { provider: openai_compatible, endpoint: "${urls.b}", served_name: "b-1", cost: { input: 5, output: 5 } }

route all priority 1 {
  when true
  select weighted { models: [a, b], weights: [${weights[0]}, ${weights[1]}] }
}
default { use a }
`);
  return dir;
}

test("routeplane replay on a real sidecar's telemetry: another split's quality estimated before shipping it", async () => {
  const [a, b] = [await startDemoUpstream(), await startDemoUpstream()];
  cleanups.push(() => a.close(), () => b.close());
  const dir = tempDir();
  const logging = policy(path.join(dir), { a: a.url, b: b.url }, [1, 1]);
  const compiled = compilePaths([logging], true);
  assert.ok(compiled.bundle, compiled.diagnostics.map((d) => d.message).join("\n"));
  const store = new BundleStore({ trustedKeys: [] });
  assert.equal(await store.offer(serializeBundle(compiled.bundle), "test", { requireSignature: false }), null);
  const telemetry = path.join(dir, "telemetry.jsonl");
  const sink = new JsonlSink(telemetry);
  const sidecar = createSidecar({ store, telemetry: sink });
  const { port } = await sidecar.listen(0);
  const url = `http://127.0.0.1:${port}`;
  // Users like b's answers 9 times in 10 and a's 6 in 10 (deterministic by request number).
  const picked: Record<string, number> = { a: 0, b: 0 };
  for (let i = 0; i < 400; i++) {
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", "x-request-id": `q${i}` }, body: JSON.stringify({ model: "x", messages: [{ role: "user", content: `question ${i}` }] }) });
    assert.equal(res.status, 200);
    await res.text();
    const model = res.headers.get("x-routeplane-model")!;
    picked[model]++;
    const good = model === "b" ? i % 10 < 9 : i % 5 < 3;
    const fb = await fetch(`${url}/v1/feedback`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ request_id: `q${i}`, label: good ? "good" : "bad" }) });
    assert.equal(fb.status, 202);
  }
  await sidecar.close();
  await sink.close();
  assert.ok(picked.a > 100 && picked.b > 100, `both models picked: ${JSON.stringify(picked)}`);
  // A few lines a consumer must survive: not JSON, schema-invalid, an old schema.
  appendFileSync(telemetry, '{"schema":"routeplane.routing/v2","requestId":1}\nnot json\n{"schema":"routeplane.routing/v1","requestId":"old"}\n');

  const target = policy(path.join(dir, "target"), { a: a.url, b: b.url }, [1, 9]);
  const io = bufferIo();
  const code = await cmdReplay(io, [telemetry], { policy: target, format: "json" });
  assert.equal(code, 0, io.stderr);
  const out = JSON.parse(io.stdout);
  assert.equal(out.rated, 400);
  assert.equal(out.telemetry.invalid, 2);
  assert.equal(out.telemetry.withoutProbability, 1);
  assert.match(out.telemetry.problems[0], /telemetry\.jsonl:801: \/: must have required property/);
  const truth = 0.1 * 0.6 + 0.9 * 0.9;
  assert.ok(out.target.doublyRobust.low <= truth && truth <= out.target.doublyRobust.high, JSON.stringify(out.target.doublyRobust));
  assert.ok(out.target.doublyRobust.value > out.logged.quality.value + 0.05, "the target is estimated better than what was logged");
  assert.ok(out.target.costUsd.value > out.logged.costUsd.value, "and dearer: b costs more");

  // The command line: text report, exit 0; a policy that does not compile: exit 1; no --policy: usage error.
  const main = path.join(REPO, "cli/main.ts");
  const run = (...args: string[]) => spawnSync(process.execPath, [main, "replay", ...args], { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 60_000 });
  const text = run(telemetry, "--policy", target);
  assert.equal(text.status, 0, text.stderr);
  assert.match(text.stdout, /replay of split [0-9a-f]{12} on 400 recorded decisions \(400 comparable, 400 with feedback\)/);
  assert.match(text.stdout, /doubly robust/);
  assert.match(text.stdout, /2 invalid lines left out, e\.g\. .*telemetry\.jsonl:801/);
  writeFileSync(path.join(dir, "broken.route"), "package broken\nroute x priority 1 { when nope; use a }\n");
  const broken = run(telemetry, "--policy", path.join(dir, "broken.route"));
  assert.equal(broken.status, 1);
  assert.doesNotMatch(broken.stderr + broken.stdout, /at .*\.ts:\d+/, "no stack trace");
  const usage = run(telemetry);
  assert.equal(usage.status, 2);
  assert.match(usage.stderr, /replay needs --policy <dir>/);
  const missing = run(path.join(dir, "nope.jsonl"), "--policy", target);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /nope\.jsonl: no such file/);
  assert.ok(readFileSync(telemetry, "utf8").length > 0);
});
