// Canary analysis end to end (issue 13): a controller process, a RoutingPolicy
// with `spec.rollout.analysis`, and four real sidecars subscribed to it that
// report what they see on each poll. A new revision whose model fails is
// compared with the stable one while half the sidecars run it, and rolled
// back automatically, with the comparison in status and a RolledBack event; a
// healthy revision is held until both sides have enough requests, then
// promoted. And the adaptation mode: from the spec to the sidecars in the
// signed bundle, with the shares they apply back in status.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { generateKeyPair } from "../bundle/index.ts";
import { inStep } from "../controller/index.ts";
import { startDemoUpstream, type DemoUpstream } from "../runtime/index.ts";
import { freePort } from "./infra/ports.ts";
import { Processes } from "./processes.ts";
import { eventually, kubeconfigPath, kubectl, uniqueName } from "./support.ts";

const ns = uniqueName("canary");
const keys = generateKeyPair();
const procs = new Processes(() => dir);
let dir: string;
let good: DemoUpstream;
let failing: DemoUpstream;
const sidecarPorts: number[] = [];

const k = (args: string[], input?: string) => kubectl(args, { input, cacheDir: path.join(dir, "kubectl-cache") });

function policyYaml(endpoint: string, served: string, { adaptive = false, mode }: { adaptive?: boolean; mode?: string } = {}): string {
  const source = adaptive
    ? `package canary\nmodel m { provider: openai_compatible, endpoint: "${endpoint}", served_name: "${served}" }\nmodel m2 { provider: openai_compatible, endpoint: "${endpoint}", served_name: "${served}-2" }\nroute learn priority 1 { when true; select adaptive { models: [m, m2], objective: quality, explore: 0.2, floor: 0.05 } }\ndefault { use m }\n`
    : `package canary\nmodel m { provider: openai_compatible, endpoint: "${endpoint}", served_name: "${served}" }\ndefault { use m }\n`;
  return `apiVersion: routeplane.dev/v1alpha1
kind: RoutingPolicy
metadata:
  name: canary
  namespace: ${ns}
spec:
  signingKey:
    secretName: signing
  rollout:
    steps: [50, 100]
    analysis:
      minRequests: 20
${mode ? `  adaptation:\n    mode: "${mode}"\n` : ""}  sources:
    main.route: ${JSON.stringify(source)}
`;
}

interface Status {
  revision?: string;
  adaptation?: { mode: string; version: string | null; sidecars: string; routes?: Record<string, Record<string, number>> };
  rollout?: { phase: string; revision: string; message: string; analysis?: { verdict: string; reason: string; candidate: { requests: number; errorRate: number }; stable: { requests: number; errorRate: number } } };
  conditions: { type: string; status: string; reason: string; message: string }[];
}
const status = async (): Promise<Status> => JSON.parse((await k(["get", "rp", "canary", "-n", ns, "-o", "json"])).stdout).status ?? { conditions: [] };

/** Requests to every sidecar until stopped: the traffic the analysis judges. */
function traffic(): { stop: () => Promise<{ ok: number; failed: number }> } {
  let running = true;
  const tally = { ok: 0, failed: 0 };
  const loop = (async () => {
    while (running) {
      for (const port of sidecarPorts) {
        const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content: "hello" }] }) }).catch(() => null);
        if (res) await res.arrayBuffer();
        if (res?.status === 200) tally.ok++;
        else tally.failed++;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return { stop: async () => ((running = false), await loop, tally) };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "routeplane-canary-"));
  good = await startDemoUpstream();
  failing = await startDemoUpstream({ failWith: 503 });
  const { makeServingCertificate } = await import("../controller/index.ts");
  const cert = makeServingCertificate(["127.0.0.1", "localhost"]);
  writeFileSync(path.join(dir, "tls.crt"), cert.certPem);
  writeFileSync(path.join(dir, "tls.key"), cert.keyPem);
  writeFileSync(path.join(dir, "ca.crt"), cert.caPem);
  writeFileSync(path.join(dir, "team.key"), keys.privateKeyPem, { mode: 0o600 });
  writeFileSync(path.join(dir, "team.pub"), keys.publicKeyPem);
  for (const args of [["apply", "-f", path.join(import.meta.dirname, "..", "crds/routingpolicies.yaml")], ["wait", "--for=condition=Established", "--timeout=60s", "crd/routingpolicies.routeplane.dev"], ["create", "namespace", ns], ["create", "serviceaccount", "sidecar", "-n", ns], ["create", "secret", "generic", "signing", "-n", ns, `--from-file=signing.key=${path.join(dir, "team.key")}`]]) {
    const r = await k(args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
  }
  const port = await freePort();
  procs.start("controller", ["controller", "--kubeconfig", kubeconfigPath(), "--listen", `127.0.0.1:${port}`, "--namespace", ns, "--lease-namespace", ns, "--tls-cert", "tls.crt", "--tls-key", "tls.key", "--tls-ca", "ca.crt", "--webhook-url", `https://127.0.0.1:${port}/validate`]);
  await eventually("the controller serving", () => (procs.log("controller").includes("serving on") ? true : undefined), 120_000).catch((err: Error) => assert.fail(`${err.message}\n${procs.logs(2000)}`));
  assert.equal((await k(["apply", "-f", "-"], policyYaml(good.url, "v1"))).code, 0);
  const token = await k(["create", "token", "sidecar", "-n", ns, "--audience", "routeplane", "--duration", "1h"]);
  writeFileSync(path.join(dir, "sidecar.token"), token.stdout.trim());
  // Two sidecars the 50% step takes and two it leaves (the step is a hash of the identity).
  const inHalf = (id: string) => inStep(`${ns}/canary`, id, 50);
  const candidates = Array.from({ length: 64 }, (_, i) => `sidecar-${i}`);
  const ids = [...candidates.filter(inHalf).slice(0, 2), ...candidates.filter((id) => !inHalf(id)).slice(0, 2)];
  for (const [i, id] of ids.entries()) {
    const p = await freePort();
    mkdirSync(path.join(dir, `state-${i}`));
    procs.start(id, ["serve", "--controller", `https://127.0.0.1:${port}`, "--policy-ref", `${ns}/canary`, "--controller-ca", "ca.crt", "--token-file", "sidecar.token", "--sidecar-id", id, "--public-key", "team.pub", "--state-dir", `state-${i}`, "--listen", `127.0.0.1:${p}`, "--telemetry", `${id}.jsonl`, "--poll-wait", "1"]);
    sidecarPorts.push(p);
  }
  await eventually("4/4 sidecars on the first revision", async () => {
    const s = await status();
    return s.rollout?.phase === "Complete" && (await k(["get", "rp", "canary", "-n", ns, "-o", "jsonpath={.status.sidecars.summary}"])).stdout === "4/4" ? true : undefined;
  }, 90_000).catch((err: Error) => assert.fail(`${err.message}\n${procs.logs(2000)}`));
});

after(async () => {
  await procs.stopAll();
  await k(["delete", "validatingwebhookconfiguration", "routeplane-policies", "--ignore-not-found"]);
  await k(["delete", "mutatingwebhookconfiguration", "routeplane-sidecar-injector", "--ignore-not-found"]);
  await k(["delete", "namespace", ns, "--wait=false"]);
  await good?.close();
  await failing?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a canary whose model fails is rolled back by the analysis: the comparison in status, a RolledBack event, every sidecar back on the stable revision", { timeout: 240_000 }, async () => {
  const stable = (await status()).revision!;
  const load = traffic();
  try {
    assert.equal((await k(["apply", "-f", "-"], policyYaml(failing.url, "v2"))).code, 0);
    const rolled = await eventually("RolledBack by the analysis", async () => {
      const s = await status();
      return s.rollout?.phase === "RolledBack" ? s : undefined;
    }, 150_000).catch(async (err: Error) => assert.fail(`${err.message}\n${JSON.stringify(await status(), null, 1)}\n${procs.logs(2000)}`));
    assert.match(rolled.rollout!.message, /failed its canary analysis \(5xx rate 100\.0% on the candidate against 0\.0% on the stable revision/);
    assert.equal(rolled.rollout!.analysis!.verdict, "rollback");
    assert.ok(rolled.rollout!.analysis!.candidate.requests >= 20 && rolled.rollout!.analysis!.stable.requests >= 20);
    assert.equal(rolled.rollout!.analysis!.candidate.errorRate, 1);
    const events = JSON.parse((await k(["get", "events", "-n", ns, "-o", "json"])).stdout).items as { reason: string; message: string }[];
    assert.ok(events.some((e) => e.reason === "RolledBack" && /canary analysis/.test(e.message)), "a RolledBack event naming the analysis");
    // Every sidecar answers from the stable revision's content again.
    await eventually("every sidecar on the stable revision", async () => {
      const revisions = await Promise.all(sidecarPorts.map(async (port) => {
        const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content: "hi" }] }) });
        await res.arrayBuffer();
        return res.status === 200 ? res.headers.get("x-routeplane-revision") : null;
      }));
      return revisions.every((r) => r === stable) ? true : undefined;
    }, 60_000);
  } finally {
    await load.stop();
  }
});

test("a healthy canary is held until both sides have enough requests, then promoted", { timeout: 240_000 }, async () => {
  assert.equal((await k(["apply", "-f", "-"], policyYaml(good.url, "v3"))).code, 0);
  const held = await eventually("held for requests", async () => {
    const s = await status();
    return s.rollout?.revision !== undefined && s.rollout.phase === "Progressing" && s.rollout.analysis?.verdict === "hold" ? s : undefined;
  }, 90_000).catch(async (err: Error) => assert.fail(`${err.message}\n${JSON.stringify(await status(), null, 1)}\n${procs.logs(2000)}`));
  assert.match(held.rollout!.message, /held: canary analysis waiting for 20 requests on each side/);
  const load = traffic();
  try {
    const done = await eventually("promoted", async () => {
      const s = await status();
      return s.rollout?.phase === "Complete" && s.rollout.revision === held.rollout!.revision ? s : undefined;
    }, 150_000).catch(async (err: Error) => assert.fail(`${err.message}\n${JSON.stringify(await status(), null, 1)}\n${procs.logs(2000)}`));
    assert.equal(done.rollout!.analysis?.verdict, "proceed");
  } finally {
    const tally = await load.stop();
    assert.equal(tally.failed, 0, "no request failed during a healthy rollout");
  }
});

test("adaptation: spec.adaptation.mode reaches the sidecars in the signed bundle; status shows the shares they apply, and observe mode stops them applying", { timeout: 300_000 }, async () => {
  const load = traffic();
  try {
    const complete = async (what: string, check: (s: Status) => boolean) => eventually(what, async () => {
      const s = await status();
      return s.rollout?.phase === "Complete" && check(s) ? s : undefined;
    }, 150_000).catch(async (err: Error) => assert.fail(`${err.message}\n${JSON.stringify(await status(), null, 1)}\n${procs.logs(2000)}`));
    const applyOn = await k(["apply", "-f", "-"], policyYaml(good.url, "v4", { adaptive: true, mode: "on" }));
    assert.equal(applyOn.code, 0, applyOn.stderr);
    const on = await complete("mode on rolled out", (s) => s.adaptation?.mode === "on");
    assert.deepEqual(on.adaptation, { mode: "on", version: null, sidecars: "0/4" }, "no shares yet");
    // The adapter's shares, given to every sidecar (as the shares topic would): applied, and reported.
    const routes = { learn: { m: 0.1, m2: 0.9 } };
    for (const port of sidecarPorts) {
      const put = await fetch(`http://127.0.0.1:${port}/debug/weights`, { method: "PUT", body: JSON.stringify({ version: "e2e.1", routes }) });
      assert.equal(put.status, 204, await put.text());
    }
    const applied = await eventually("status.adaptation with the shares", async () => {
      const s = await status();
      return s.adaptation?.version === "e2e.1" && s.adaptation.sidecars === "4/4" ? s : undefined;
    }, 60_000).catch(async (err: Error) => assert.fail(`${err.message}\n${JSON.stringify(await status(), null, 1)}`));
    assert.deepEqual(applied.adaptation!.routes, routes);
    assert.match((await k(["get", "rp", "canary", "-n", ns, "-o", "wide"])).stdout, /SHARES[\s\S]*e2e\.1/);
    // Observe: the same policy (same revision), a new signed bundle that says not to apply learned shares.
    const applyObserve = await k(["apply", "-f", "-"], policyYaml(good.url, "v4", { adaptive: true, mode: "observe" }));
    assert.equal(applyObserve.code, 0, applyObserve.stderr);
    const observe = await complete("mode observe rolled out", (s) => s.adaptation?.mode === "observe" && s.adaptation.sidecars === "0/4");
    assert.equal(observe.revision, on.revision, "the mode is not part of the revision");
    for (const port of sidecarPorts) {
      const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { shares: { version: string; mode: string; applied: boolean } };
      assert.deepEqual([ready.shares.version, ready.shares.mode, ready.shares.applied], ["e2e.1", "observe", false]);
    }
  } finally {
    await load.stop();
  }
});
