// The controller's parts that need no apiserver: the work queue (dedupe, one
// key at a time, backoff), the build (sources, bag-of-files roots, signing),
// the status (conditions per the API conventions), the admission answer, and
// the distribution protocol (ETag, 304, long poll, ACK/NACK, presence).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { CANARY_DEFAULTS, Distribution, EventRecorder, RECONCILE_STAGES, WorkQueue, advanceRollout, canaryAnalysis, buildPolicy, CompileWorker, controllerTracing, inStep, injectSidecar, reconcile, reviewPolicy, rollbackPublication, rolloutPlan, selects, statusOf, type BuildInputs, type PolicyBuild, type ReconcileDeps, type RoutingPolicy } from "../controller/index.ts";
import { MAX_SHARES_HEADER, bundleEtag, bundlePath, generateKeyPair, healthHeader, nackHeader, parseHealthHeader, parseSharesHeader, readBundle, sharesHeader, verifyBundleSignature } from "../bundle/index.ts";

const keys = generateKeyPair();
const MODELS = 'package shared\nmodel m { provider: openai, endpoint: "https://api.openai.com/v1" }\nmodel local { provider: vllm, endpoint: "http://local:8000/v1", tags: [onprem] }\n';
const MAIN = 'package app\nimport "../shared/models.route"\nsignal keyword urgent { any: ["urgent"] }\nroute fast priority 1 { when urgent; use m }\ndefault { use local }\n';

function policy(spec: Partial<RoutingPolicy["spec"]> = {}, meta: Record<string, unknown> = {}): RoutingPolicy {
  return {
    apiVersion: "routeplane.dev/v1alpha1",
    kind: "RoutingPolicy",
    metadata: { name: "p", namespace: "team", generation: 3, creationTimestamp: new Date("2026-12-01T00:00:00Z"), uid: "u1", ...meta },
    spec: { signingKey: { secretName: "k" }, sources: { "app/main.route": MAIN, "shared/models.route": MODELS }, ...spec },
  };
}

// The compiler runs in its worker thread, as in the controller.
const compiler = new CompileWorker();
after(() => compiler.close());
const build = (rp: RoutingPolicy, inp: BuildInputs): Promise<PolicyBuild> => buildPolicy(rp, inp, compiler.compile);

const inputs = (extra: Partial<BuildInputs> = {}): BuildInputs => ({
  configMap: () => undefined,
  secret: (_ns, name) => (name === "k" ? { data: { "signing.key": Buffer.from(keys.privateKeyPem).toString("base64") } } : undefined),
  ...extra,
});

test("work queue: a burst of adds is one item; a key added while processing runs once more after; failures back off exponentially", async () => {
  const q = new WorkQueue({ debounceMs: 20, baseDelayMs: 10, maxDelayMs: 40 });
  for (let i = 0; i < 50; i++) q.add("a");
  q.add("b");
  const first = await q.get();
  const second = await q.get();
  assert.deepEqual([first, second].sort(), ["a", "b"]);
  assert.equal(q.depth, 0);
  q.addNow("a"); // while "a" is processing
  q.done("a");
  assert.equal(await q.get(), "a", "a change during processing is not lost");
  q.done("a");
  q.done("b");
  assert.deepEqual([q.addRateLimited("c"), q.addRateLimited("c"), q.addRateLimited("c"), q.addRateLimited("c")], [10, 20, 40, 40]);
  assert.equal(q.retries("c"), 4);
  q.forget("c");
  assert.equal(q.addRateLimited("c"), 10);
  assert.equal(await q.get(), "c");
  q.close();
  assert.equal(await q.get(), null);
});

test("build: inline files and ConfigMaps are one bag of files (the shared file another imports is not a root), signed with the Secret's key", async () => {
  const b = await build(policy(), inputs());
  assert.equal(b.failedAt, null, JSON.stringify(b.diagnostics));
  const read = readBundle(b.publication!.bytes);
  assert.ok(read.ok);
  assert.equal(verifyBundleSignature(read.bundle, [keys.publicKeyPem]).ok, true);
  assert.equal(read.bundle.manifest.policy, "team/p");
  // creation time in seconds × 10⁶ + generation
  assert.equal(read.bundle.manifest.serial, Date.parse("2026-12-01T00:00:00Z") / 1000 * 1_000_000 + 3);
  assert.equal(b.publication!.etag, bundleEtag(b.publication!.bytes));
  // Deterministic: the same inputs give the same bytes (a restarted controller serves the same revision).
  assert.equal((await build(policy(), inputs())).publication!.bytes, b.publication!.bytes);

  const fromMap = await build(policy({ sources: { "app/main.route": MAIN.replace("../shared/models.route", "models.route") }, configMaps: [{ name: "shared" }] }), inputs({
    configMap: (ns, name) => (ns === "team" && name === "shared" ? { data: { "models.route": MODELS, "README.md": "ignored" } } : undefined),
  }));
  // app/main.route imports app/models.route, which the ConfigMap (at the root) does not provide.
  assert.equal(fromMap.failedAt, "compile");
  const flat = await build(policy({ sources: { "main.route": MAIN.replace("../shared/models.route", "models.route") }, configMaps: [{ name: "shared" }] }), inputs({
    configMap: (_ns, name) => (name === "shared" ? { data: { "models.route": MODELS } } : undefined),
  }));
  assert.equal(flat.failedAt, null, JSON.stringify(flat.diagnostics.map((d) => d.message)));
});

test("build: a missing ConfigMap, a file given twice, a missing Secret or a bad key are problems naming the fix, not exceptions", async () => {
  const missing = await build(policy({ configMaps: [{ name: "gone" }] }), inputs());
  assert.equal(missing.failedAt, "sources");
  assert.match(missing.problems[0].message, /ConfigMap team\/gone \(spec.configMaps\) does not exist/);
  const twice = await build(policy({ configMaps: [{ name: "dup" }] }), inputs({ configMap: () => ({ data: { "shared/models.route": MODELS } }) }));
  assert.equal(twice.problems[0].reason, "DuplicateFile");
  const noKey = await build(policy({ signingKey: { secretName: "nope" } }), inputs());
  assert.equal(noKey.failedAt, "sign");
  assert.match(noKey.problems[0].message, /kubectl create secret generic nope --from-file=signing.key=<name>.key/);
  const badKey = await build(policy(), inputs({ secret: () => ({ data: { "signing.key": Buffer.from("not a key").toString("base64") } }) }));
  assert.equal(badKey.problems[0].reason, "KeyInvalid");
});

test("status: conditions per the API conventions; the last good revision is kept and said while a newer generation fails", async () => {
  const good = await build(policy(), inputs());
  const now = new Date("2026-12-02T10:00:00Z");
  const plan = rolloutPlan(policy().spec);
  const rolling = advanceRollout(undefined, good.publication!, null, plan, { inStep: 0, onRevision: 0, nacked: 0 }, now);
  const done = advanceRollout(rolling, good.publication!, null, plan, { inStep: 2, onRevision: 2, nacked: 0 }, now);
  assert.equal(done.phase, "Complete");
  const s1 = statusOf(policy(), good, good.publication, { total: 2, onRevision: 1, nacked: 0 }, rolling, now);
  assert.deepEqual(s1.conditions!.map((c) => [c.type, c.status, c.reason]), [
    ["Compiled", "True", "Compiled"], ["Analyzed", "True", "Analyzed"], ["Signed", "True", "Signed"], ["RolledOut", "False", "RollingOut"], ["Ready", "False", "RollingOut"],
  ]);
  assert.equal(s1.sidecars!.summary, "1/2");
  assert.equal(s1.observedGeneration, 3);
  // A later reconcile with the same condition status keeps lastTransitionTime.
  const later = new Date("2026-12-02T10:05:00Z");
  const s2 = statusOf(policy(), good, good.publication, { total: 2, onRevision: 2, nacked: 0 }, done, later);
  const withStatus = { ...policy(), status: s1 };
  const s3 = statusOf(withStatus, good, good.publication, { total: 2, onRevision: 1, nacked: 0 }, rolling, later);
  assert.equal(s3.conditions!.find((c) => c.type === "Compiled")!.lastTransitionTime, now.toISOString());
  assert.equal(s2.conditions!.find((c) => c.type === "Ready")!.status, "True");

  const broken = await build(policy({ sources: { "main.route": "package x\nroute a priority 1 { when nosuch; use m }\n" } }, { generation: 4 }), inputs());
  const s4 = statusOf({ ...policy({}, { generation: 4 }), status: s1 }, broken, good.publication, { total: 2, onRevision: 2, nacked: 0 }, done, later);
  const compiled = s4.conditions!.find((c) => c.type === "Compiled")!;
  assert.equal(compiled.status, "False");
  assert.equal(compiled.reason, "CompileFailed");
  assert.match(compiled.message, /RP0204 at main.route:2:27: undefined signal `nosuch`; sidecars keep revision [0-9a-f]{12}/);
  assert.equal(s4.revision, good.publication!.revision);
  assert.equal(s4.conditions!.find((c) => c.type === "Ready")!.reason, "BuildFailed");
  assert.equal(s4.findings!.summary, "2 errors, 0 warnings");
});

test("admission: errors refuse with code frames; warnings come back as warnings; a missing ConfigMap is a warning, not a refusal", async () => {
  const review = async (rp: RoutingPolicy) => (await reviewPolicy({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "r1", operation: "CREATE", object: rp } }, inputs(), compiler.compile)).response!;
  const bad = await review(policy({ sources: { "main.route": "package x\nroute a priority 1 { when nosuch; use m }\n" } }));
  assert.equal(bad.allowed, false);
  assert.equal(bad.uid, "r1");
  assert.match(bad.status!.message, /error\[RP0204\]: undefined signal `nosuch`\n {2}--> main.route:2:27/);
  const warned = await review(policy({ sources: { "main.route": MODELS.replace("package shared", "package w") + "default { use m }\n" } }));
  assert.equal(warned.allowed, true);
  assert.deepEqual(warned.warnings, ["RP1006 main.route:3:7: model `local` is never used (help: use it in a route, or remove it)"]);
  const later = await review(policy({ configMaps: [{ name: "comes-later" }] }));
  assert.equal(later.allowed, true);
  assert.match(later.warnings![0], /^ConfigMapNotFound: ConfigMap team\/comes-later/);
  await assert.rejects(reviewPolicy({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview" }, inputs(), compiler.compile), /no request.uid/);
});

async function serve(d: Distribution): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    void d.handle(req, res, new URL(req.url!, "http://x").pathname).then((handled) => handled || res.writeHead(404).end());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function get(url: string, headers: Record<string, string>): Promise<{ status: number; etag?: string; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { headers }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode!, etag: res.headers.etag, body }));
    }).on("error", reject).end();
  });
}

test("distribution: 200 with the ETag, 304 for it (ACK), a NACKed bundle never offered again, a publish wakes held polls, presence counts", async () => {
  const changes: string[] = [];
  const d = new Distribution({
    authenticate: async (t) => (t === "team-token" ? { ok: true, namespace: "team", user: "system:serviceaccount:team:sidecar" } : t === "down" ? { ok: false, message: "apiserver unreachable", retryable: true } : { ok: false, message: "bad token" }),
    presenceMs: 200,
    onFleetChange: (k) => changes.push(k),
  });
  const { server, url } = await serve(d);
  try {
    const path = url + bundlePath("team", "p");
    const auth = { authorization: "Bearer team-token", "routeplane-sidecar": "pod-1" };
    assert.equal((await get(path, auth)).status, 404, "nothing published yet");
    const v1 = (await build(policy(), inputs())).publication!;
    d.publish("team/p", v1);
    const first = await get(path, auth);
    assert.equal(first.status, 200);
    assert.equal(first.etag, v1.etag);
    assert.equal(first.body, v1.bytes);
    assert.equal((await get(path, { ...auth, "if-none-match": v1.etag, prefer: "wait=0" })).status, 304);
    assert.deepEqual(d.counts("team/p"), { total: 1, onRevision: 1, nacked: 0 });

    // v2 is refused by pod-1 (NACK): it is not offered again, the poll waits instead.
    const v2 = (await build(policy({}, { generation: 4 }), inputs())).publication!;
    d.publish("team/p", v2);
    const offered = await get(path, { ...auth, "if-none-match": v1.etag });
    assert.equal(offered.etag, v2.etag);
    const nacked = await get(path, { ...auth, "if-none-match": v1.etag, "routeplane-nack": nackHeader(v2.etag, "signature: no trusted key"), prefer: "wait=1" });
    assert.equal(nacked.status, 304, "a NACKed bundle is not offered again");
    const counts = d.counts("team/p");
    assert.equal(counts.nacked, 1);
    assert.equal(counts.lastNack!.reason, "signature: no trusted key");
    assert.equal(counts.lastNack!.sidecar, "pod-1");

    // A held poll is answered by the next publish.
    const held = get(path, { ...auth, "if-none-match": v1.etag, prefer: "wait=30" });
    await new Promise((r) => setTimeout(r, 100));
    const v3 = (await build(policy({}, { generation: 5 }), inputs())).publication!;
    d.publish("team/p", v3);
    assert.equal((await held).etag, v3.etag);

    // Refusals: no token, a bad token, the apiserver down (retryable), another namespace, a malformed NACK.
    assert.equal((await get(path, {})).status, 401);
    assert.equal((await get(path, { authorization: "Bearer nope" })).status, 401);
    const down = await get(path, { authorization: "Bearer down" });
    assert.equal(down.status, 503);
    assert.equal(JSON.parse(down.body).error.retryable, true);
    assert.equal((await get(url + bundlePath("other", "p"), auth)).status, 403);
    assert.equal((await get(path, { ...auth, "routeplane-nack": "garbage" })).status, 400);

    // A sidecar that stops polling leaves the counts.
    await new Promise((r) => setTimeout(r, 450));
    assert.deepEqual(d.counts("team/p"), { total: 0, onRevision: 0, nacked: 0 });
    assert.ok(changes.length >= 3, "fleet changes are reported to the controller");
  } finally {
    d.close();
    server.close();
  }
});

test("rollout: steps by a stable hash of the sidecar, a pause after each acknowledged step, rollback past maxNackPercent with a bundle every sidecar accepts once", async () => {
  // About the asked share of 1,000 sidecars is in a 10 % step, and the same ones every time.
  const ids = Array.from({ length: 1000 }, (_, i) => `pod-${i}`);
  const in10 = ids.filter((id) => inStep("team/p", id, 10));
  assert.ok(in10.length > 60 && in10.length < 140, `${in10.length} of 1000 in a 10% step`);
  assert.deepEqual(ids.filter((id) => inStep("team/p", id, 10)), in10);
  assert.ok(in10.every((id) => inStep("team/p", id, 50)), "a step's sidecars stay in the larger steps");

  const v1 = (await build(policy(), inputs())).publication!;
  const v2 = (await build(policy({ rollout: { steps: [10, 50, 100], pauseSeconds: 60, maxNackPercent: 20 } }, { generation: 4 }), inputs())).publication!;
  const plan = rolloutPlan({ signingKey: { secretName: "k" }, rollout: { steps: [10, 50, 100], pauseSeconds: 60, maxNackPercent: 20 } });
  const t0 = new Date("2026-12-02T10:00:00Z");
  const at = (s: number) => new Date(t0.getTime() + s * 1000);
  let r = advanceRollout(undefined, v2, v1, plan, { inStep: 0, onRevision: 0, nacked: 0 }, t0);
  assert.deepEqual([r.phase, r.step, r.percent, r.stableEtag], ["Progressing", 0, 10, v1.etag]);
  r = advanceRollout(r, v2, v1, plan, { inStep: 5, onRevision: 3, nacked: 0 }, at(1));
  assert.equal(r.step, 0);
  assert.match(r.message, /3\/5 sidecars run revision/);
  r = advanceRollout(r, v2, v1, plan, { inStep: 5, onRevision: 5, nacked: 0 }, at(2));
  assert.deepEqual([r.step, r.stepAcked], [0, at(2).toISOString()]);
  r = advanceRollout(r, v2, v1, plan, { inStep: 5, onRevision: 5, nacked: 0 }, at(30));
  assert.equal(r.step, 0, "still pausing");
  r = advanceRollout(r, v2, v1, plan, { inStep: 5, onRevision: 5, nacked: 0 }, at(63));
  assert.deepEqual([r.step, r.percent], [1, 50]);
  // One refusal in 25 (4 %) is within 20 %; six (24 %) roll back.
  r = advanceRollout(r, v2, v1, plan, { inStep: 25, onRevision: 20, nacked: 1 }, at(64));
  assert.equal(r.phase, "Progressing");
  const back = advanceRollout(r, v2, v1, plan, { inStep: 25, onRevision: 19, nacked: 6, lastNack: { sidecar: "pod-7", reason: "signature: unknown key" } }, at(65));
  assert.equal(back.phase, "RolledBack");
  assert.match(back.message, /6\/25 sidecars of step 2 refused revision .*pod-7: signature: unknown key.*rolled back to revision/);
  // Rolled back stays rolled back for this revision.
  assert.equal(advanceRollout(back, v2, v1, plan, { inStep: 25, onRevision: 25, nacked: 0 }, at(99)), back);

  // The rollback bundle: v1's content with v2's serial and rollback: true, signed; the same bytes every time.
  const rb = rollbackPublication(v1, v2, keys.privateKeyPem);
  const read = readBundle(rb.bytes);
  assert.ok(read.ok);
  assert.equal(read.bundle.manifest.revision, v1.revision);
  assert.equal(read.bundle.manifest.serial, v2.serial);
  assert.equal(read.bundle.manifest.rollback, true);
  assert.equal(verifyBundleSignature(read.bundle, [keys.publicKeyPem]).ok, true);
  assert.equal(rollbackPublication(v1, v2, keys.privateKeyPem).bytes, rb.bytes);

  // The canary hook: "hold" keeps an acknowledged step, "rollback" rolls back with the reason.
  const step2 = advanceRollout(advanceRollout(undefined, v2, v1, plan, { inStep: 0, onRevision: 0, nacked: 0 }, t0), v2, v1, plan, { inStep: 5, onRevision: 5, nacked: 0 }, at(1));
  const held = advanceRollout(step2, v2, v1, plan, { inStep: 5, onRevision: 5, nacked: 0 }, at(100), { verdict: "hold", reason: "waiting for 500 feedback events" });
  assert.deepEqual([held.step, held.phase], [0, "Progressing"]);
  assert.match(held.message, /held: waiting for 500 feedback events/);
  const failed = advanceRollout(step2, v2, v1, plan, { inStep: 5, onRevision: 5, nacked: 0 }, at(100), { verdict: "rollback", reason: "error rate 4% vs 1%" });
  assert.equal(failed.phase, "RolledBack");
  assert.match(failed.message, /failed its canary analysis \(error rate 4% vs 1%\)/);

  // Without an earlier revision a new one goes to everyone at once, and cannot roll back.
  const first = advanceRollout(undefined, v1, null, plan, { inStep: 0, onRevision: 0, nacked: 0 }, t0);
  assert.deepEqual([first.percent, first.step], [100, 2]);
  assert.equal(advanceRollout(first, v1, null, plan, { inStep: 4, onRevision: 0, nacked: 4 }, at(1)).phase, "Progressing");
});

test("distribution: during a rollout the step's sidecars get the candidate and the others the stable revision", async () => {
  const d = new Distribution({ authenticate: async () => ({ ok: true, namespace: "team", user: "u" }) });
  const v1 = (await build(policy(), inputs())).publication!;
  const v2 = (await build(policy({}, { generation: 4 }), inputs())).publication!;
  d.setTargets("team/p", { stable: v1, candidate: v2, percent: 10 });
  const ids = Array.from({ length: 200 }, (_, i) => `pod-${i}`);
  for (const id of ids) assert.equal(d.targetFor("team/p", id), inStep("team/p", id, 10) ? v2 : v1);
  d.setTargets("team/p", { stable: v1, candidate: v2, percent: 100 });
  assert.ok(ids.every((id) => d.targetFor("team/p", id) === v2));
  assert.equal(d.current("team/p"), v2);
  d.close();
});

test("canary analysis: held until both sides have enough requests; a worse 5xx rate (significantly), latency or feedback quality rolls back; within the limits proceeds", () => {
  const a = { ...CANARY_DEFAULTS, minRequests: 100 };
  const h = (requests: number, errors: number, latencyMs: number, ratings = 0, quality = 0) => ({ requests, errors, latencyMs: latencyMs * requests, ratings, quality: quality * ratings });
  const judge = (candidate: ReturnType<typeof h>, stable: ReturnType<typeof h>) => canaryAnalysis(a, { candidate, stable });
  const waiting = judge(h(40, 0, 100), h(500, 5, 100));
  assert.equal(waiting.gate.verdict, "hold");
  assert.match(waiting.analysis.reason, /waiting for 100 requests on each side \(candidate 40, stable 500\)/);
  const errors = judge(h(200, 30, 100), h(2000, 20, 100));
  assert.equal(errors.gate.verdict, "rollback");
  assert.match(errors.analysis.reason, /5xx rate 15\.0% on the candidate against 1\.0% on the stable revision \(\+14\.0 points, more than 5\)/);
  assert.equal(errors.analysis.candidate.errorRate, 0.15);
  // 7 errors in 100 against 1 in 100: 6 points and significant (z 2.2): rolled back. 10 against 4: 6 points, but z 1.7: luck, not judged.
  assert.equal(judge(h(100, 7, 100), h(100, 1, 100)).gate.verdict, "rollback");
  assert.equal(judge(h(100, 10, 100), h(100, 4, 100)).gate.verdict, "proceed");
  assert.equal(judge(h(100, 4, 100), h(100, 0, 100)).gate.verdict, "proceed", "4 points: within the limit");
  const slow = judge(h(200, 0, 400), h(200, 0, 100));
  assert.equal(slow.gate.verdict, "rollback");
  assert.match(slow.analysis.reason, /mean latency 400 ms on the candidate against 100 ms/);
  // 3.4 ms against 2.1 ms is +62%, but 1.3 ms: noise on a fast model (an e2e rollout was rolled back by it).
  assert.equal(judge(h(200, 0, 3.4), h(200, 0, 2.1)).gate.verdict, "proceed");
  const disliked = judge(h(200, 0, 100, 50, 0.5), h(200, 0, 100, 50, 0.8));
  assert.equal(disliked.gate.verdict, "rollback");
  assert.match(disliked.analysis.reason, /feedback quality 0\.50 on the candidate against 0\.80/);
  assert.equal(judge(h(200, 0, 100, 10, 0.1), h(200, 0, 100, 50, 0.8)).gate.verdict, "proceed", "too few ratings to judge quality");
  const fine = judge(h(200, 1, 110, 40, 0.8), h(2000, 10, 100, 400, 0.82));
  assert.equal(fine.gate.verdict, "proceed");
  assert.match(fine.analysis.reason, /within the limits/);
  assert.deepEqual(rolloutPlan({ signingKey: { secretName: "k" }, rollout: { analysis: { minRequests: 20 } } }).analysis, { ...CANARY_DEFAULTS, minRequests: 20 });
  assert.equal(rolloutPlan({ signingKey: { secretName: "k" } }).analysis, null);
});

test("health reports: parsed strictly, counted only for the revision the sidecar runs, summed per side of a rollout", async () => {
  const etag = `"${"a".repeat(64)}"`;
  const health = { requests: 10, errors: 2, latencyMs: 1234.4, ratings: 3, quality: 2.5 };
  assert.deepEqual(parseHealthHeader(healthHeader(etag, health)), { etag, health: { ...health, latencyMs: 1234 } });
  for (const bad of ["", `${etag}; requests=1; errors=2; latency_ms=0; ratings=0; quality=0`, `${etag}; requests=1; errors=0; latency_ms=0; ratings=1; quality=1.5`, `${etag}; requests=-1; errors=0; latency_ms=0; ratings=0; quality=0`, `"x"; requests=1; errors=0; latency_ms=0; ratings=0; quality=0`]) {
    assert.equal(parseHealthHeader(bad), null, bad);
  }
  const d = new Distribution({ authenticate: async () => ({ ok: true, namespace: "team", user: "u" }) });
  const { server, url } = await serve(d);
  try {
    const v1 = (await build(policy(), inputs())).publication!;
    const v2 = (await build(policy({}, { generation: 4 }), inputs())).publication!;
    d.setTargets("team/p", { stable: v1, candidate: v2, percent: 50 });
    const path = url + bundlePath("team", "p");
    const report = async (id: string, runs: string, h: typeof health, about = runs) => (await get(path, { authorization: "Bearer t", "routeplane-sidecar": id, "if-none-match": runs, prefer: "wait=0", "routeplane-health": healthHeader(about, h) })).status;
    const ids = Array.from({ length: 40 }, (_, i) => `pod-${i}`);
    let onCandidate = 0;
    for (const id of ids) {
      const candidate = inStep("team/p", id, 50);
      if (candidate) onCandidate++;
      assert.ok([200, 304].includes(await report(id, candidate ? v2.etag : v1.etag, { requests: 10, errors: candidate ? 2 : 0, latencyMs: 1000, ratings: 0, quality: 0 })));
    }
    // A report about another revision than the one the sidecar runs does not count.
    await report("pod-0", v1.etag, { requests: 1000, errors: 1000, latencyMs: 0, ratings: 0, quality: 0 }, v2.etag);
    const step = d.stepCounts("team/p");
    assert.deepEqual(step.health!.candidate, { requests: 10 * onCandidate, errors: 2 * onCandidate, latencyMs: 1000 * onCandidate, ratings: 0, quality: 0 });
    assert.equal(step.health!.stable.requests, 10 * (ids.length - onCandidate));
    assert.equal((await get(path, { authorization: "Bearer t", "routeplane-sidecar": "pod-x", "routeplane-health": "lots" })).status, 400);
  } finally {
    d.close();
    server.close();
  }
});

test("shares reports: the header round-trips and is bounded; the fleet counts sidecars per version; status shows the mode and what most sidecars apply", async () => {
  const routes = { help: { local: 0.05, cloud: 0.95 }, code: { a: 0.5, b: 0.5 } };
  assert.deepEqual(parseSharesHeader(sharesHeader("abc.7", routes)), { version: "abc.7", routes });
  const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`route_${i}`, { a: 0.5, b: 0.5 }]));
  const big = sharesHeader("v", many);
  assert.ok(big.length <= MAX_SHARES_HEADER && Object.keys(parseSharesHeader(big)!.routes).length > 10, "routes past the limit are left out");
  for (const bad of ["v1", '"v"; r=a:2', '"v"; r=', '"v"; 1r=a:0.5', `"${"x".repeat(5000)}"`]) assert.equal(parseSharesHeader(bad), null, bad);
  const d = new Distribution({ authenticate: async () => ({ ok: true, namespace: "team", user: "u" }) });
  const { server, url } = await serve(d);
  try {
    const v1 = (await build(policy(), inputs())).publication!;
    d.publish("team/p", v1);
    const path = url + bundlePath("team", "p");
    const poll = async (id: string, shares?: string) => (await get(path, { authorization: "Bearer t", "routeplane-sidecar": id, "if-none-match": v1.etag, prefer: "wait=0", ...(shares ? { "routeplane-shares": shares } : {}) })).status;
    for (const id of ["a", "b", "c"]) assert.equal(await poll(id, sharesHeader("v7", routes)), 304);
    assert.equal(await poll("d", sharesHeader("v6", routes)), 304);
    assert.equal(await poll("e"), 304);
    assert.equal(await poll("f", "garbage"), 400);
    const fleet = d.counts("team/p");
    assert.equal(fleet.shares!.v7.sidecars, 3);
    assert.equal(fleet.shares!.v6.sidecars, 1);
    const rp = policy({ adaptation: { mode: "on" } });
    const built = await build(rp, inputs());
    const st = statusOf(rp, built, built.publication, fleet, undefined, new Date());
    assert.deepEqual({ ...st.adaptation, since: undefined }, { mode: "on", version: "v7", sidecars: "3/5", routes, otherVersions: 1, since: undefined });
    assert.equal("shares" in st.sidecars!, false, "the per-version counts are not repeated under sidecars");
    assert.equal(statusOf(policy(), built, built.publication, { total: 1, onRevision: 1, nacked: 0 }, undefined, new Date()).adaptation, undefined, "mode off and nothing applied: no adaptation status");
  } finally {
    d.close();
    server.close();
  }
});

test("injection: the policy named by label, else the one whose selector matches; none or several → no sidecar and a warning", () => {
  const opts = { image: "img", controllerUrl: "https://c" };
  const rp = (name: string, selector?: RoutingPolicy["spec"]["selector"]) => policy({ selector }, { name });
  const policies = [rp("a", { matchLabels: { app: "chat" } }), rp("b", { matchExpressions: [{ key: "tier", operator: "In", values: ["gold"] }] }), rp("c")];
  const review = (labels: Record<string, string>) => injectSidecar({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request: { uid: "u", namespace: "team", object: { metadata: { labels }, spec: { containers: [{ name: "app", env: [{ name: "X", value: "1" }] }] } } } }, policies, opts).response!;
  const patch = (r: ReturnType<typeof review>) => JSON.parse(Buffer.from(r.patch!, "base64").toString()) as { path: string; value: { args?: string[] } }[];
  assert.equal(review({ app: "chat" }).patch, undefined, "no inject label: untouched");
  const byLabel = patch(review({ "routeplane.dev/inject": "true", "routeplane.dev/policy": "c" }));
  assert.deepEqual(byLabel.find((o) => o.path === "/spec/initContainers/-")!.value.args!.slice(3, 5), ["--policy-ref", "team/c"]);
  assert.ok(byLabel.some((o) => o.path === "/spec/containers/0/env/-"), "OPENAI_BASE_URL appended to existing env");
  const bySelector = patch(review({ "routeplane.dev/inject": "true", app: "chat" }));
  assert.deepEqual(bySelector.find((o) => o.path === "/spec/initContainers/-")!.value.args!.slice(3, 5), ["--policy-ref", "team/a"]);
  const several = review({ "routeplane.dev/inject": "true", app: "chat", tier: "gold" });
  assert.equal(several.patch, undefined);
  assert.match(several.warnings![0], /several RoutingPolicies match it \(a, b\)/);
  assert.match(review({ "routeplane.dev/inject": "true" }).warnings![0], /no RoutingPolicy's spec.selector matches it/);
  assert.equal(selects({ matchExpressions: [{ key: "tier", operator: "DoesNotExist" }] }, { app: "x" }), true);
  assert.equal(selects({ matchExpressions: [{ key: "tier", operator: "NotIn", values: ["gold"] }] }, { tier: "gold" }), false);
  assert.equal(selects({}, { app: "x" }), false, "an empty selector selects nothing");
});

test("reconcile: the stages in order as spans, status written once per change, a deleted policy unpublished", async () => {
  const { InMemorySpanExporter } = await import("@opentelemetry/sdk-trace-base");
  const exporter = new InMemorySpanExporter();
  const tracing = (await controllerTracing({ exporter }))!;
  let rp: RoutingPolicy | undefined = policy();
  const writes: RoutingPolicy["status"][] = [];
  const d = new Distribution({ authenticate: async () => ({ ok: false, message: "none" }) });
  const deps: ReconcileDeps = {
    policies: { get: () => rp } as unknown as ReconcileDeps["policies"],
    configMaps: { get: () => undefined } as unknown as ReconcileDeps["configMaps"],
    readSecret: async (_ns, name) => inputs().secret("team", name),
    compile: compiler.compile,
    writeStatus: async (p, status) => {
      writes.push(status);
      rp = { ...p, status }; // what the informer would bring back
    },
    distribution: d,
    fleet: async (key) => ({ fleet: d.counts(key), step: d.stepCounts(key) }),
    events: new EventRecorder(null),
    leading: () => true,
    statusIntervalMs: 0,
    tracer: tracing.tracer,
  };
  const memory = new Map();
  // First: built, published, the rollout started; it asks to be looked at again.
  const first = await reconcile("team/p", deps, memory);
  assert.equal(first.requeueAfterMs, 1000);
  assert.equal(writes[0]!.rollout!.phase, "Progressing");
  assert.equal(writes[0]!.conditions!.find((c) => c.type === "Ready")!.reason, "RollingOut");
  const spans = exporter.getFinishedSpans();
  assert.deepEqual(spans.filter((s) => s.name.startsWith("reconcile.")).map((s) => s.name), RECONCILE_STAGES.map((s) => `reconcile.${s.name}`));
  const root = spans.find((s) => s.name === "reconcile")!;
  assert.equal(root.attributes["routeplane.policy"], "team/p");
  assert.equal(root.attributes["routeplane.revision"], writes[0]!.revision);
  // Again: no sidecars, so the step is done and the rollout complete: Ready.
  await reconcile("team/p", deps, memory);
  assert.equal(writes.length, 2);
  assert.equal(writes[1]!.rollout!.phase, "Complete");
  assert.equal(writes[1]!.conditions!.find((c) => c.type === "Ready")!.status, "True");
  assert.equal(d.current("team/p")!.revision, writes[1]!.revision);
  // Nothing changed: no third write (the apiserver's status is what it would write).
  await reconcile("team/p", deps, memory);
  assert.equal(writes.length, 2);
  // Deleted: no longer served.
  rp = undefined;
  await reconcile("team/p", deps, memory);
  assert.equal(d.current("team/p"), undefined);
  d.close();
  await tracing.shutdown();
});

test("distribution: draining answers every held poll at once with 304", async () => {
  const d = new Distribution({ authenticate: async () => ({ ok: true, namespace: "team", user: "u" }) });
  const { server, url } = await serve(d);
  try {
    const v1 = (await build(policy(), inputs())).publication!;
    d.publish("team/p", v1);
    const t0 = performance.now();
    const held = get(url + bundlePath("team", "p"), { authorization: "Bearer t", "if-none-match": v1.etag, prefer: "wait=60" });
    await new Promise((r) => setTimeout(r, 100));
    d.drain();
    assert.equal((await held).status, 304);
    assert.ok(performance.now() - t0 < 10_000, "answered at the drain, not after the wait");
  } finally {
    d.close();
    server.close();
  }
});

test("status: a controller restarted while the spec is broken still names the revision the sidecars keep", async () => {
  const good = await build(policy(), inputs());
  const s1 = statusOf(policy(), good, good.publication, { total: 1, onRevision: 1, nacked: 0 }, undefined, new Date());
  const broken = await build(policy({ sources: { "main.route": "package x\nroute a priority 1 { when nosuch; use m }\n" } }, { generation: 4 }), inputs());
  // After a restart: no publication in memory at all.
  const s2 = statusOf({ ...policy({}, { generation: 4 }), status: s1 }, broken, null, { total: 0, onRevision: 0, nacked: 0 }, undefined, new Date());
  assert.equal(s2.revision, good.publication!.revision);
  assert.match(s2.conditions!.find((c) => c.type === "Compiled")!.message, /sidecars keep revision [0-9a-f]{12} \(their last known good; the controller restarted since\)/);
});

test("attack: garbage tokens cannot turn every poll into an apiserver call, nor can an oversized one reach it", async () => {
  const { tokenReviewAuthenticator, MAX_TOKEN_CHARS } = await import("../controller/auth.ts");
  let calls = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => (release = r));
  // An apiserver that answers slowly, "not authenticated".
  const api = { createTokenReview: async () => { calls++; await gate; return { status: { authenticated: false } }; } } as never;
  const auth = tokenReviewAuthenticator(api, { maxInFlight: 4 });
  const answers = Array.from({ length: 100 }, (_, i) => auth(`garbage-${i}`));
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(calls, 4, "no more reviews in flight than the bound");
  release();
  const results = await Promise.all(answers);
  assert.equal(results.filter((r) => !r.ok && r.retryable).length, 96, "the rest are told to retry");
  assert.equal((await auth("x".repeat(MAX_TOKEN_CHARS + 1))).ok, false);
  assert.equal(calls, 4, "an oversized token is refused without a review");
});

test("attack: one client inventing sidecar ids cannot grow the controller's fleet state past its bound", async () => {
  const d = new Distribution({ authenticate: async () => ({ ok: true, namespace: "team", user: "u" }), maxSidecarsPerPolicy: 5 });
  const { server, url } = await serve(d);
  try {
    d.publish("team/p", (await build(policy(), inputs())).publication!);
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get(url + bundlePath("team", "p"), { authorization: "Bearer t", "routeplane-sidecar": `fake-${i}` })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 503, 503, 503]);
    assert.equal(d.counts("team/p").total, 5);
    // A known sidecar is still served.
    assert.equal((await get(url + bundlePath("team", "p"), { authorization: "Bearer t", "routeplane-sidecar": "fake-0" })).status, 200);
  } finally {
    d.close();
    server.close();
  }
});
