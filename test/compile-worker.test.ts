// The controller compiles in a worker thread (controller/compile-worker.ts, ADR 16):
// its event loop keeps running during a long compile, a policy past the time or
// memory limit costs its compile (an outcome naming the limit) and not the
// controller, the next compile works, and the thread exits when idle.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { CompileWorker, MAX_TIMER_MS, buildPolicy, reviewPolicy, statusOf, type CompileJob, type RoutingPolicy } from "../controller/index.ts";
import { generatePolicy } from "../bench/generate.ts";

const job = (routes: number): CompileJob => ({ files: { "p.route": generatePolicy(routes).source }, policyName: "team/p", serial: 1, adaptation: "off", allowUnproved: false, emit: true });
const small = job(5);
const workers: CompileWorker[] = [];
const worker = (o: ConstructorParameters<typeof CompileWorker>[0]) => {
  const w = new CompileWorker(o);
  workers.push(w);
  return w;
};
after(() => Promise.all(workers.map((w) => w.close())));

test("a long compile does not stop the event loop: timers keep firing while 2,000 routes compile", async () => {
  const w = worker({});
  let maxGap = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxGap = Math.max(maxGap, now - last);
    last = now;
  }, 5);
  const started = performance.now();
  const outcome = await w.compile(job(2000));
  const took = performance.now() - started;
  clearInterval(timer);
  assert.ok(outcome.ok, JSON.stringify(outcome));
  assert.ok(outcome.bundle, "emit: a bundle comes back");
  assert.ok(took > 400, `the compile took ${took.toFixed(0)} ms, too little to show anything`);
  // In the main thread this compile blocks the loop for its whole duration.
  assert.ok(maxGap < took / 2, `the loop stalled for ${maxGap.toFixed(0)} ms of a ${took.toFixed(0)} ms compile`);
});

test("a compile past the time limit is stopped with CompileTimedOut naming the flag; the next compile works", async () => {
  const w = worker({ timeoutMs: 2000 });
  const slow = await w.compile(job(6000));
  assert.equal(slow.ok, false);
  assert.equal(!slow.ok && slow.reason, "CompileTimedOut");
  assert.match(!slow.ok ? slow.message : "", /longer than 2 s \(the controller's --compile-timeout\)/);
  const next = await w.compile(small);
  assert.ok(next.ok, JSON.stringify(next));
  assert.equal(w.counts.timedOut, 1);
  assert.equal(w.counts.starts, 2, "the stopped thread was replaced");
});

test("a compile past the memory limit fails with CompileOutOfMemory; a small policy compiles within the same limit, before and after", async () => {
  const w = worker({ memoryMb: 32 });
  assert.ok((await w.compile(small)).ok);
  const big = await w.compile(job(2000));
  assert.equal(!big.ok && big.reason, "CompileOutOfMemory", JSON.stringify(big).slice(0, 300));
  assert.match(!big.ok ? big.message : "", /more than 32 MB \(the controller's --compile-memory\)/);
  assert.ok((await w.compile(small)).ok, "the worker was replaced");
  assert.equal(w.counts.outOfMemory, 1);
});

test("jobs queue in order; the thread exits after the idle time and starts again on the next job", async () => {
  const w = worker({ idleMs: 200 });
  const names = ["a", "b", "c"];
  const outcomes = await Promise.all(names.map((n) => w.compile({ ...small, policyName: `team/${n}` })));
  assert.deepEqual(outcomes.map((o) => o.ok && o.bundle?.manifest.policy), ["team/a", "team/b", "team/c"]);
  assert.equal(w.alive, true);
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(w.alive, false, "idle: the thread and its memory are gone");
  assert.ok((await w.compile(small)).ok);
  assert.equal(w.counts.starts, 2);
});

test("admission refuses a policy whose compile hits a limit, saying which; the reconcile's status says Compiled=False with the limit as reason", async () => {
  const w = worker({ memoryMb: 32 });
  const rp: RoutingPolicy = { apiVersion: "routeplane.dev/v1alpha1", kind: "RoutingPolicy", metadata: { name: "big", namespace: "team" }, spec: { signingKey: { secretName: "k" }, sources: job(2000).files } };
  const review = await reviewPolicy({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "u", operation: "CREATE", object: rp } }, { configMap: () => undefined, secret: () => undefined }, w.compile);
  assert.equal(review.response!.allowed, false);
  assert.match(review.response!.status!.message, /RoutingPolicy team\/big could not be checked: compiling needed more than 32 MB/);
  const build = await buildPolicy(rp, { configMap: () => undefined, secret: () => undefined }, w.compile);
  assert.equal(build.failedAt, "compile");
  const status = statusOf(rp, build, null, { total: 0, onRevision: 0, nacked: 0 }, undefined, new Date());
  const compiled = status.conditions!.find((c) => c.type === "Compiled")!;
  assert.deepEqual([compiled.status, compiled.reason], ["False", "CompileOutOfMemory"]);
  assert.match(compiled.message, /--compile-memory/);
});

test("a time limit Node's timers cannot hold (over 2^31-1 ms: it would fire at once) is refused, not a worker that times out every compile", () => {
  assert.throws(() => new CompileWorker({ timeoutMs: MAX_TIMER_MS + 1 }), /the compile timeout is 2147483648 ms; it must be above 0 and at most 2147483647 ms/);
  assert.throws(() => new CompileWorker({ timeoutMs: 0 }), /must be above 0/);
  assert.throws(() => new CompileWorker({ timeoutMs: Number.NaN }), /must be above 0/);
  assert.throws(() => new CompileWorker({ idleMs: 2 ** 31 }), /idle time is 2147483648 ms/);
  assert.doesNotThrow(() => new CompileWorker({ timeoutMs: MAX_TIMER_MS }));
});

test("a compile whose caller went away (an admission request the apiserver gave up on) is dropped from the queue, or stopped while it runs; the next compile works", async () => {
  const w = worker({});
  const [first, second] = [new AbortController(), new AbortController()];
  const running = w.compile(job(2000), first.signal);
  const queued = w.compile(job(2000), second.signal);
  const next = w.compile(small);
  await new Promise((r) => setTimeout(r, 50));
  second.abort();
  first.abort();
  for (const outcome of await Promise.all([running, queued])) {
    assert.equal(!outcome.ok && outcome.reason, "CompileAbandoned", JSON.stringify(outcome).slice(0, 200));
  }
  assert.ok((await next).ok);
  // Only the small policy compiled: neither 2,000-route compile ran to its end.
  assert.deepEqual([w.counts.abandonedQueued, w.counts.abandonedRunning, w.counts.ok], [1, 1, 1]);
  assert.equal(w.counts.starts, 2, "the abandoned compile's thread was ended and replaced");

  // Gone before it was queued: no compile, no thread. Gone after the answer: nothing more.
  const gone = AbortSignal.abort();
  assert.equal(((o) => !o.ok && o.reason)(await w.compile(small, gone)), "CompileAbandoned");
  const late = new AbortController();
  assert.ok((await w.compile(small, late.signal)).ok);
  late.abort();
  assert.deepEqual([w.counts.abandonedQueued, w.counts.abandonedRunning, w.counts.ok], [2, 1, 2]);
});

test("a closed worker answers at once and leaves no thread", async () => {
  const w = worker({});
  const pending = w.compile(job(2000));
  await w.close();
  const outcome = await pending;
  assert.equal(!outcome.ok && outcome.reason, "CompilerFailed");
  assert.equal(w.alive, false);
  const late = await w.compile(small);
  assert.match(!late.ok ? late.message : "", /shutting down/);
});
