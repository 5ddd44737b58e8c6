// The control plane end to end, as a platform team runs it: the CRD and a
// policy applied with the real kubectl, two controller replicas (child
// processes, leader elected on a Lease), and real `routeplane serve`
// sidecars subscribed with service-account tokens. Requests carry the
// revision status names; an edit moves every sidecar; a broken spec that
// bypasses admission keeps the last good revision serving; a sidecar that
// cannot verify NACKs, status shows why and the rollout rolls back; killing
// the leader mid-rollout lets the other replica finish it.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generateKeyPair } from "../bundle/index.ts";
import { freePort } from "./infra/ports.ts";
import { Processes } from "./processes.ts";
import { eventually, kubeconfigPath, kubectl, uniqueName } from "./support.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ns = uniqueName("fleet");
const keys = generateKeyPair();
const stranger = generateKeyPair();
let dir: string;
const procs = new Processes(() => dir, { ...process.env, ROUTEPLANE_DEBUG: "1" });
const SUPPORT = {
  "support/main.route": readFileSync(path.join(REPO, "examples/support/main.route"), "utf8"),
  "shared/models.route": readFileSync(path.join(REPO, "examples/shared/models.route"), "utf8"),
};

const k = (args: string[], input?: string) => kubectl(args, { input, cacheDir: path.join(dir, "kubectl-cache") });

function policyYaml(files: Record<string, string>, rollout = ""): string {
  const sources = Object.entries(files).map(([f, text]) => `    ${JSON.stringify(f)}: ${JSON.stringify(text)}`).join("\n");
  return `apiVersion: routeplane.dev/v1alpha1
kind: RoutingPolicy
metadata:
  name: support
  namespace: ${ns}
spec:
  signingKey:
    secretName: signing
${rollout}  sources:
${sources}
`;
}

async function status(): Promise<{ revision?: string; sidecars?: { summary: string; nacked: number; lastNack?: { reason: string } }; rollout?: { phase: string; step: number; revision: string }; conditions: { type: string; status: string; reason: string; message: string }[] }> {
  const r = await k(["get", "rp", "support", "-n", ns, "-o", "json"]);
  return JSON.parse(r.stdout).status ?? { conditions: [] };
}
const condition = (s: Awaited<ReturnType<typeof status>>, type: string) => s.conditions.find((c) => c.type === type);

let controllerPorts: number[] = [];

async function startController(name: string, port: number): Promise<void> {
  procs.start(name, ["controller", "--kubeconfig", kubeconfigPath(), "--listen", `127.0.0.1:${port}`, "--namespace", ns, "--lease-namespace", ns,
    "--tls-cert", "tls.crt", "--tls-key", "tls.key", "--tls-ca", "ca.crt", "--webhook-url", `https://127.0.0.1:${controllerPorts[0]}/validate`]);
  // Say what the process printed when it does not come up (a CI run once timed out here without a clue).
  await eventually(`${name} to be serving`, () => (procs.log(name).includes("serving on") ? true : undefined), 120_000)
    .catch((err: Error) => assert.fail(`${err.message} (exit code ${procs.exitCode(name)})\n${procs.logs()}`));
}

async function sidecar(name: string, controllerPort: number, publicKey: string): Promise<number> {
  const port = await freePort();
  const token = await k(["create", "token", "sidecar", "-n", ns, "--audience", "routeplane", "--duration", "1h"]);
  assert.equal(token.code, 0, token.stderr);
  writeFileSync(path.join(dir, `${name}.token`), token.stdout.trim());
  writeFileSync(path.join(dir, `${name}.pub`), publicKey);
  mkdirSync(path.join(dir, `${name}-state`), { recursive: true });
  procs.start(name, ["serve", "--controller", `https://127.0.0.1:${controllerPort}`, "--policy-ref", `${ns}/support`, "--controller-ca", "ca.crt",
    "--token-file", `${name}.token`, "--sidecar-id", name, "--public-key", `${name}.pub`, "--state-dir", `${name}-state`,
    "--listen", `127.0.0.1:${port}`, "--demo", "--telemetry", `${name}.jsonl`]);
  return port;
}

async function revisionOf(port: number): Promise<string | null> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content: "What are your opening hours?" }] }) }).catch(() => null);
  if (!res) return null;
  await res.arrayBuffer();
  return res.status === 200 ? res.headers.get("x-routeplane-revision") : null;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "routeplane-fleet-"));
  // One serving certificate for both replicas (as cert-manager would issue for the Service).
  const { makeServingCertificate } = await import("../controller/index.ts");
  const cert = makeServingCertificate(["127.0.0.1", "localhost"]);
  writeFileSync(path.join(dir, "tls.crt"), cert.certPem);
  writeFileSync(path.join(dir, "tls.key"), cert.keyPem);
  writeFileSync(path.join(dir, "ca.crt"), cert.caPem);
  writeFileSync(path.join(dir, "team.key"), keys.privateKeyPem, { mode: 0o600 });
  for (const args of [["apply", "-f", path.join(REPO, "crds/routingpolicies.yaml")], ["wait", "--for=condition=Established", "--timeout=60s", "crd/routingpolicies.routeplane.dev"], ["create", "namespace", ns], ["create", "serviceaccount", "sidecar", "-n", ns], ["create", "secret", "generic", "signing", "-n", ns, `--from-file=signing.key=${path.join(dir, "team.key")}`]]) {
    const r = await k(args);
    assert.equal(r.code, 0, `kubectl ${args.join(" ")}: ${r.stderr}`);
  }
  controllerPorts = [await freePort(), await freePort()];
  await startController("controller-a", controllerPorts[0]);
  await startController("controller-b", controllerPorts[1]);
});

after(async () => {
  await procs.stopAll();
  await k(["delete", "validatingwebhookconfiguration", "routeplane-policies", "--ignore-not-found"]);
  await k(["delete", "mutatingwebhookconfiguration", "routeplane-sidecar-injector", "--ignore-not-found"]);
  await k(["delete", "namespace", ns, "--wait=false"]);
  rmSync(dir, { recursive: true, force: true });
});

const sidecarPorts: number[] = [];

test("three sidecars subscribed to two replicas run the revision status names, and kubectl get shows 3/3", async () => {
  const applied = await k(["apply", "-f", "-"], policyYaml(SUPPORT));
  assert.equal(applied.code, 0, applied.stderr);
  for (const [i, name] of ["sidecar-1", "sidecar-2", "sidecar-3"].entries()) sidecarPorts.push(await sidecar(name, controllerPorts[i % 2], keys.publicKeyPem));
  const wait = await k(["wait", "--for=condition=Ready", "--timeout=90s", "-n", ns, "rp/support"]);
  assert.equal(wait.code, 0, `${wait.stderr}\n${procs.logs()}`);
  const s = await eventually("3/3 sidecars in status", async () => {
    const st = await status();
    return st.sidecars?.summary === "3/3" ? st : undefined;
  }, 60_000).catch((err) => assert.fail(`${err.message}\n${procs.logs()}`));
  for (const port of sidecarPorts) assert.equal(await eventually("the sidecar to answer", () => revisionOf(port).then((r) => r ?? undefined), 60_000), s.revision);
  assert.match((await k(["get", "rp", "-n", ns])).stdout, /^support\s+[0-9a-f]{12}\s+True\s+3\/3\s+0 errors, 0 warnings/m);
});

test("an edit reaches every sidecar", async () => {
  const before = (await status()).revision;
  const edited = { ...SUPPORT, "support/main.route": SUPPORT["support/main.route"].replace('signal keyword  urgent { any: ["urgent", "asap", "right now"] }', 'signal keyword  urgent { any: ["urgent", "asap", "right now", "immediately"] }') };
  assert.equal((await k(["apply", "-f", "-"], policyYaml(edited))).code, 0);
  const after = await eventually("a new revision in status", async () => {
    const s = await status();
    return s.revision !== before && condition(s, "Ready")?.status === "True" ? s.revision : undefined;
  }, 60_000).catch((err) => assert.fail(`${err.message}\n${procs.logs()}`));
  for (const port of sidecarPorts) await eventually("the sidecar on the new revision", async () => ((await revisionOf(port)) === after ? true : undefined), 60_000);
});

test("a broken spec that bypassed admission: Compiled=False, sidecars keep the last good revision, every request still succeeds", async () => {
  const good = (await status()).revision;
  // The webhook bypassed (as with failurePolicy Ignore and the webhook down).
  assert.equal((await k(["delete", "validatingwebhookconfiguration", "routeplane-policies"])).code, 0);
  const broken = { ...SUPPORT, "support/main.route": SUPPORT["support/main.route"].replace("use qwen_local\n  apply guard", "use nosuchmodel\n  apply guard") };
  const applied = await k(["apply", "-f", "-"], policyYaml(broken));
  assert.equal(applied.code, 0, applied.stderr);
  const s = await eventually("Compiled=False", async () => {
    const st = await status();
    return condition(st, "Compiled")?.status === "False" ? st : undefined;
  }, 60_000);
  assert.match(condition(s, "Compiled")!.message, /RP0205 at support\/main.route:\d+:\d+: undefined model `nosuchmodel`; sidecars keep revision/);
  assert.equal(s.revision, good);
  for (const port of sidecarPorts) assert.equal(await revisionOf(port), good, "requests succeed on the last good revision");
  // Fixed again (the webhook comes back with the next controller start; apply the good spec).
  assert.equal((await k(["apply", "-f", "-"], policyYaml(SUPPORT))).code, 0);
});

test("a sidecar that cannot verify NACKs: status names it, and the rollout rolls back to the stable revision", async () => {
  const stable = await eventually("Ready again", async () => {
    const s = await status();
    return condition(s, "Ready")?.status === "True" ? s.revision : undefined;
  }, 60_000);
  for (const port of sidecarPorts) await eventually("sidecars on the stable revision", async () => ((await revisionOf(port)) === stable ? true : undefined), 60_000);
  // A fourth sidecar trusts another key: it refuses whatever it is offered.
  await sidecar("sidecar-stranger", controllerPorts[0], stranger.publicKeyPem);
  const s = await eventually("the NACK in status", async () => {
    const st = await status();
    return (st.sidecars?.nacked ?? 0) >= 1 ? st : undefined;
  }, 60_000).catch((err) => assert.fail(`${err.message}\n${procs.logs()}`));
  assert.match(s.sidecars!.lastNack!.reason, /signature/);
  // A new revision with one in ten allowed to refuse: the stranger refuses it too, and 1 of 4 is over 10 %.
  const v3 = { ...SUPPORT, "support/main.route": SUPPORT["support/main.route"].replace('"chargeback"', '"chargeback", "money back"') };
  assert.equal((await k(["apply", "-f", "-"], policyYaml(v3, "  rollout:\n    steps: [100]\n    maxNackPercent: 10\n"))).code, 0);
  const rolled = await eventually("RolledBack", async () => {
    const st = await status();
    return condition(st, "RolledOut")?.reason === "RolledBack" ? st : undefined;
  }, 90_000).catch(async (err) => assert.fail(`${err.message}\n${JSON.stringify(await status(), null, 1)}\n${procs.logs()}`));
  assert.match(condition(rolled, "RolledOut")!.message, /refused revision .*signature/);
  assert.equal(rolled.rollout!.phase, "RolledBack");
  // Every good sidecar runs the stable revision's content again (the rollback bundle: same revision).
  for (const port of sidecarPorts) await eventually("sidecars back on the stable revision", async () => ((await revisionOf(port)) === stable ? true : undefined), 60_000);
  const events = JSON.parse((await k(["get", "events", "-n", ns, "-o", "json"])).stdout).items as { reason: string }[];
  assert.ok(events.some((e) => e.reason === "RolledBack"), "a RolledBack event");
  await procs.stop("sidecar-stranger");
});

test("the leader killed mid-rollout: the other replica takes the lease and finishes the rollout", async () => {
  // A staged rollout with a pause, so it is mid-way when the leader dies.
  const v4 = { ...SUPPORT, "support/main.route": SUPPORT["support/main.route"].replace('"right now"', '"right now", "straight away"') };
  assert.equal((await k(["apply", "-f", "-"], policyYaml(v4, "  rollout:\n    steps: [34, 100]\n    pauseSeconds: 5\n"))).code, 0);
  await eventually("the rollout to start", async () => ((await status()).rollout?.phase === "Progressing" ? true : undefined), 60_000);
  const lease = JSON.parse((await k(["get", "lease", "routeplane-controller", "-n", ns, "-o", "json"])).stdout);
  const leader = procs.names().find((n) => n.startsWith("controller-") && procs.log(n).includes(`${lease.spec.holderIdentity} is the leader`));
  assert.ok(leader, `the leader ${lease.spec.holderIdentity} is one of the replicas`);
  await procs.stop(leader!, "SIGKILL");
  const done = await eventually("the other replica to finish the rollout", async () => {
    const s = await status();
    return s.rollout?.phase === "Complete" && condition(s, "Ready")?.status === "True" ? s : undefined;
  }, 120_000).catch((err) => assert.fail(`${err.message}\n${procs.logs()}`));
  const after = JSON.parse((await k(["get", "lease", "routeplane-controller", "-n", ns, "-o", "json"])).stdout);
  assert.notEqual(after.spec.holderIdentity, lease.spec.holderIdentity);
  // Sidecars that polled the dead replica reconnect to … nothing: they keep their bundle. Those on the live one move.
  const live = leader === "controller-a" ? 1 : 0;
  for (const [i, port] of sidecarPorts.entries()) if (i % 2 === live) await eventually("a sidecar of the live replica on the new revision", async () => ((await revisionOf(port)) === done.revision ? true : undefined), 60_000);
});
