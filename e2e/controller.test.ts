// The controller against the real apiserver, with the real kubectl, as a user
// works: the CRD applied with kubectl; a policy applied → Ready, with the
// printer columns; a policy with errors refused at `kubectl apply` with the
// diagnostic; warnings printed by kubectl; a sidecar's token (TokenRequest,
// audience routeplane) reviewed by the apiserver; the long poll answering
// 200/304/401/403 and waking on an edit; status and events.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startController, type RunningController } from "../controller/index.ts";
import { bundleEtag, bundlePath, generateKeyPair, readBundle, verifyBundleSignature } from "../bundle/index.ts";
import { eventually, kubeconfigPath, kubectl, uniqueName } from "./support.ts";
import { freePort } from "./infra/ports.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const ns = uniqueName("rp");
const other = uniqueName("rp-other");
const keys = generateKeyPair();
let controller: RunningController;
let cache: string;
const logs: string[] = [];

const k = (args: string[], input?: string) => kubectl(args, { input, cacheDir: cache });

function policyYaml(name: string, files: Record<string, string>, extra = ""): string {
  const sources = Object.entries(files).map(([f, text]) => `    ${JSON.stringify(f)}: ${JSON.stringify(text)}`).join("\n");
  return `apiVersion: routeplane.dev/v1alpha1
kind: RoutingPolicy
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  signingKey:
    secretName: signing
  sources:
${sources}
${extra}`;
}

const SUPPORT = {
  "support/main.route": readFileSync(path.join(REPO, "examples/support/main.route"), "utf8"),
  "shared/models.route": readFileSync(path.join(REPO, "examples/shared/models.route"), "utf8"),
};

function get(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: controller.caPem, headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function token(namespace: string, sa: string): Promise<string> {
  const r = await k(["create", "token", sa, "-n", namespace, "--audience", "routeplane", "--duration", "10m"]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  cache = mkdtempSync(path.join(tmpdir(), "routeplane-kubectl-cache-"));
  const crd = await k(["apply", "-f", path.join(REPO, "crds/routingpolicies.yaml")]);
  assert.equal(crd.code, 0, crd.stderr);
  const established = await k(["wait", "--for=condition=Established", "--timeout=60s", "crd/routingpolicies.routeplane.dev"]);
  assert.equal(established.code, 0, established.stderr);
  for (const n of [ns, other]) assert.equal((await k(["create", "namespace", n])).code, 0);
  for (const n of [ns, other]) assert.equal((await k(["create", "serviceaccount", "sidecar", "-n", n])).code, 0);
  // As the docs say: the key from `routeplane keygen`, put in a Secret with kubectl.
  const keyFile = path.join(cache, "team.key");
  writeFileSync(keyFile, keys.privateKeyPem, { mode: 0o600 });
  const secret = await k(["create", "secret", "generic", "signing", "-n", ns, `--from-file=signing.key=${keyFile}`]);
  assert.equal(secret.code, 0, secret.stderr);
  const port = await freePort();
  controller = await startController({ kubeconfig: kubeconfigPath(), port, webhookUrl: `https://127.0.0.1:${port}/validate`, statusIntervalMs: 200, leaseNamespace: ns, log: (l) => logs.push(l) });
  await controller.synced;
});

after(async () => {
  await controller?.stop();
  await k(["delete", "validatingwebhookconfiguration", "routeplane-policies", "--ignore-not-found"]);
  await k(["delete", "mutatingwebhookconfiguration", "routeplane-sidecar-injector", "--ignore-not-found"]);
  await k(["delete", "namespace", ns, other, "--wait=false"]);
  rmSync(cache, { recursive: true, force: true });
});

test("a policy applied with kubectl becomes Ready; kubectl get shows revision, readiness, sidecars and findings", async () => {
  const applied = await k(["apply", "-f", "-"], policyYaml("support", SUPPORT));
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /routingpolicy.routeplane.dev\/support created/);
  const wait = await k(["wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "rp/support"]);
  assert.equal(wait.code, 0, `${wait.stderr}\n${logs.join("\n")}`);
  const table = await k(["get", "rp", "-n", ns]);
  assert.match(table.stdout, /^NAME\s+REVISION\s+READY\s+SIDECARS\s+FINDINGS\s+AGE/m);
  assert.match(table.stdout, /^support\s+[0-9a-f]{12}\s+True\s+0\/0\s+0 errors, 0 warnings\s+\d+s/m);
  const rp = JSON.parse((await k(["get", "rp", "support", "-n", ns, "-o", "json"])).stdout);
  assert.equal(rp.status.observedGeneration, rp.metadata.generation);
  assert.equal(rp.status.policyName, `${ns}/support`);
  assert.deepEqual(rp.status.conditions.map((c: { type: string; status: string }) => `${c.type}=${c.status}`), ["Compiled=True", "Analyzed=True", "Signed=True", "RolledOut=True", "Ready=True"]);
  // kubectl get with the category finds it too.
  assert.match((await k(["get", "routeplane", "-n", ns])).stdout, /support/);
  // An event with a specific reason.
  await eventually("the Compiled event", async () => {
    const ev = await k(["get", "events", "-n", ns, "--field-selector", "involvedObject.name=support", "-o", "json"]);
    const items = JSON.parse(ev.stdout).items as { reason: string; message: string }[];
    return items.find((e) => e.reason === "Compiled" && e.message.includes(rp.status.shortRevision)) ? true : undefined;
  });
});

test("a policy with an error is refused at kubectl apply with the diagnostic; a warning comes back as kubectl's Warning", async () => {
  const bad = await k(["apply", "-f", "-"], policyYaml("broken", { "main.route": 'package broken\nmodel m { provider: openai, endpoint: "https://api.openai.com/v1" }\nroute a priority 1 { when nosuch; use m }\ndefault { use m }\n' }));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /admission webhook "policies.routeplane.dev" denied the request/);
  assert.match(bad.stderr, /error\[RP0204\]: undefined signal `nosuch`/);
  assert.match(bad.stderr, /--> main.route:3:27/);
  assert.match(bad.stderr, /help: declare it/);
  assert.equal((await k(["get", "rp", "broken", "-n", ns])).code, 1, "the refused policy must not exist");

  const warned = await k(["apply", "-f", "-"], policyYaml("warned", { "main.route": 'package warned\nmodel m { provider: openai, endpoint: "https://api.openai.com/v1" }\nmodel unused { provider: openai, endpoint: "https://api.openai.com/v1" }\ndefault { use m }\n' }));
  assert.equal(warned.code, 0, warned.stderr);
  assert.match(warned.stderr, /^Warning: RP1006 main.route:3:7: .*unused/m);
  await k(["wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "rp/warned"]);
  assert.match((await k(["get", "rp", "warned", "-n", ns])).stdout, /0 errors, 1 warning\b/);
});

test("sidecars: a token of the policy's namespace gets the signed bundle, then 304 while nothing changes, and an edit wakes the long poll", async () => {
  await k(["wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "rp/support"]);
  const url = controller.url + bundlePath(ns, "support");
  const t = await token(ns, "sidecar");
  const first = await get(url, { authorization: `Bearer ${t}`, "routeplane-sidecar": "pod-a" });
  assert.equal(first.status, 200, first.body);
  assert.equal(first.headers.etag, bundleEtag(first.body));
  const read = readBundle(first.body);
  assert.ok(read.ok);
  assert.equal(verifyBundleSignature(read.bundle, [keys.publicKeyPem]).ok, true);
  const rp = JSON.parse((await k(["get", "rp", "support", "-n", ns, "-o", "json"])).stdout);
  assert.equal(read.bundle.manifest.revision, rp.status.revision);
  assert.equal(read.bundle.manifest.policy, `${ns}/support`);

  // The sidecar now runs it (ACK): nothing new, 304.
  const same = await get(url, { authorization: `Bearer ${t}`, "routeplane-sidecar": "pod-a", "if-none-match": first.headers.etag as string });
  assert.equal(same.status, 304);
  // The fleet shows it: 1/1 on the revision.
  await eventually("status to count the sidecar", async () => {
    const s = JSON.parse((await k(["get", "rp", "support", "-n", ns, "-o", "json"])).stdout).status;
    return s.sidecars?.summary === "1/1" ? true : undefined;
  });

  // A long poll is held, and an edit answers it with the new revision.
  const held = get(url, { authorization: `Bearer ${t}`, "routeplane-sidecar": "pod-a", "if-none-match": first.headers.etag as string, prefer: "wait=30" });
  await new Promise((r) => setTimeout(r, 300));
  const edited = { ...SUPPORT, "support/main.route": SUPPORT["support/main.route"].replace("package support", "package support\n# edited") };
  const applied = await k(["apply", "-f", "-"], policyYaml("support", edited));
  assert.equal(applied.code, 0, applied.stderr);
  const woke = await held;
  assert.equal(woke.status, 200);
  assert.notEqual(woke.headers.etag, first.headers.etag);
  const next = readBundle(woke.body);
  assert.ok(next.ok);
  assert.ok(next.bundle.manifest.serial > read.bundle.manifest.serial, "the edit's serial comes after the first");
});

test("sidecars: no token → 401, a token of another namespace → 403, a token for the apiserver's audience → 401", async () => {
  const url = controller.url + bundlePath(ns, "support");
  assert.equal((await get(url, {})).status, 401);
  const foreign = await get(url, { authorization: `Bearer ${await token(other, "sidecar")}` });
  assert.equal(foreign.status, 403);
  assert.match(JSON.parse(foreign.body).error.message, /may not read policies of namespace/);
  const plain = await k(["create", "token", "sidecar", "-n", ns, "--duration", "10m"]);
  const wrongAudience = await get(url, { authorization: `Bearer ${plain.stdout.trim()}` });
  assert.equal(wrongAudience.status, 401);
});

test("a missing signing key: Signed=False with the fix, an event, and the last good revision still served", async () => {
  const before = JSON.parse((await k(["get", "rp", "support", "-n", ns, "-o", "json"])).stdout).status.revision as string;
  const yaml = policyYaml("support", { ...SUPPORT, "support/main.route": SUPPORT["support/main.route"] + "\n# v3\n" }).replace("secretName: signing", "secretName: nosuchkey");
  const applied = await k(["apply", "-f", "-"], yaml);
  assert.equal(applied.code, 0, applied.stderr);
  const status = await eventually("Signed=False", async () => {
    const s = JSON.parse((await k(["get", "rp", "support", "-n", ns, "-o", "json"])).stdout).status;
    const signed = s.conditions.find((c: { type: string }) => c.type === "Signed");
    return signed?.status === "False" ? s : undefined;
  });
  const signed = status.conditions.find((c: { type: string }) => c.type === "Signed");
  assert.equal(signed.reason, "SecretNotFound");
  assert.match(signed.message, /kubectl create secret generic nosuchkey/);
  assert.equal(status.revision, before, "the last good revision stays in status");
  assert.equal(status.conditions.find((c: { type: string }) => c.type === "Ready").status, "False");
  const served = await get(controller.url + bundlePath(ns, "support"), { authorization: `Bearer ${await token(ns, "sidecar")}` });
  assert.equal(readBundle(served.body).ok && (readBundle(served.body) as { bundle: { manifest: { revision: string } } }).bundle.manifest.revision, before);
  await eventually("the SigningFailed event", async () => {
    const items = JSON.parse((await k(["get", "events", "-n", ns, "-o", "json"])).stdout).items as { reason: string }[];
    return items.some((e) => e.reason === "SigningFailed") ? true : undefined;
  });
});

test("GitOps: `routeplane manifest examples/support … | kubectl apply -f -` is admitted without warnings and becomes Ready", async () => {
  const { spawnSync } = await import("node:child_process");
  const made = spawnSync(process.execPath, [path.join(REPO, "cli/main.ts"), "manifest", "examples/support", "--name", "gitops", "--namespace", ns, "--signing-secret", "signing"], { cwd: REPO, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  assert.equal(made.status, 0, made.stderr);
  const applied = await k(["apply", "-f", "-"], made.stdout);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /routingpolicy.routeplane.dev\/gitops created/);
  assert.doesNotMatch(applied.stderr, /Warning/);
  const wait = await k(["wait", "--for=condition=Ready", "--timeout=60s", "-n", ns, "rp/gitops"]);
  assert.equal(wait.code, 0, `${wait.stderr}\n${logs.join("\n")}`);
  const rp = JSON.parse((await k(["get", "rp", "gitops", "-n", ns, "-o", "json"])).stdout);
  assert.deepEqual(rp.spec.sources, SUPPORT);
  assert.equal(rp.status.policyName, `${ns}/gitops`);
  assert.match((await k(["get", "rp", "gitops", "-n", ns])).stdout, /^gitops\s+[0-9a-f]{12}\s+True\s+0\/0\s+0 errors, 0 warnings/m);
});

test("the injection webhook adds a native sidecar to a labelled pod, wired to its policy, and warns when there is no policy to wire", async () => {
  // Without kube-controller-manager nothing creates the namespace's default ServiceAccount; a pod needs it.
  await k(["create", "serviceaccount", "default", "-n", ns]);
  const pod = (name: string, policyLabel: string) => `apiVersion: v1
kind: Pod
metadata:
  name: ${name}
  namespace: ${ns}
  labels:
    app: chat
    routeplane.dev/inject: "true"
    routeplane.dev/policy: ${policyLabel}
spec:
  containers:
  - name: app
    image: registry.example/chat:1
`;
  const created = await k(["apply", "-f", "-"], pod("chat", "support"));
  assert.equal(created.code, 0, created.stderr);
  const stored = JSON.parse((await k(["get", "pod", "chat", "-n", ns, "-o", "json"])).stdout);
  const sidecar = stored.spec.initContainers.find((c: { name: string }) => c.name === "routeplane");
  assert.ok(sidecar, JSON.stringify(stored.spec));
  assert.equal(sidecar.restartPolicy, "Always", "a native sidecar");
  assert.deepEqual(sidecar.args.slice(0, 5), ["serve", "--controller", "https://routeplane-controller.routeplane-system.svc", "--policy-ref", `${ns}/support`]);
  assert.ok(sidecar.resources.requests.memory && sidecar.resources.limits.memory, "requests and limits are set");
  const volumes = stored.spec.volumes.map((v: { name: string }) => v.name);
  for (const v of ["routeplane-token", "routeplane-trust", "routeplane-state"]) assert.ok(volumes.includes(v), `volume ${v}`);
  const token = stored.spec.volumes.find((v: { name: string }) => v.name === "routeplane-token").projected.sources[0].serviceAccountToken;
  assert.equal(token.audience, "routeplane");
  assert.deepEqual(stored.spec.containers[0].env, [{ name: "OPENAI_BASE_URL", value: "http://127.0.0.1:8080/v1" }]);
  assert.equal(stored.metadata.annotations["routeplane.dev/injected"], `${ns}/support`);

  const orphan = await k(["apply", "-f", "-"], pod("orphan", "nosuch"));
  assert.equal(orphan.code, 0, orphan.stderr);
  assert.match(orphan.stderr, /Warning: routeplane: no RoutingPolicy .*\/nosuch/);
  const plain = JSON.parse((await k(["get", "pod", "orphan", "-n", ns, "-o", "json"])).stdout);
  assert.equal((plain.spec.initContainers ?? []).length, 0);
});

test("an admission request the apiserver gives up on (its connection closed before the answer) drops its compile: counted in /metrics, and the next request is answered", async () => {
  // A policy of `routes` routes: 8,000 take seconds to compile and analyse.
  const source = (routes: number) => ["package big", 'model m { provider: openai, endpoint: "https://api.openai.com/v1" }', 'model n { provider: openai, endpoint: "https://api.openai.com/v1" }',
    ...Array.from({ length: routes }, (_, r) => `signal keyword k${r} { any: ["w${r}", "v${r % 97}"] }\nsignal context c${r} { min_tokens: ${(r % 10) * 100}, max_tokens: ${(r % 10) * 100 + 2000} }\nroute r${r} priority ${r + 1} { when k${r} and c${r}; use ${r % 2 ? "m" : "n"} }`),
    "default { use m }", ""].join("\n");
  const review = (name: string, routes: number) => JSON.stringify({
    apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview",
    request: { uid: name, operation: "CREATE", object: { apiVersion: "routeplane.dev/v1alpha1", kind: "RoutingPolicy", metadata: { name, namespace: ns }, spec: { signingKey: { secretName: "signing" }, sources: { "p.route": source(routes) } } } },
  });
  const abandoned = async () => {
    const metrics = (await get(`${controller.url}/metrics`, {})).body;
    const samples = [...metrics.matchAll(/^routeplane_controller_admission_compiles_abandoned_total\{when="(queued|running)"\} (\d+)$/gm)];
    assert.equal(samples.length, 2, "queued and running");
    return samples.reduce((sum, m) => sum + Number(m[2]), 0);
  };
  const before = await abandoned();
  // Two large policies (seconds to compile each): one compiling, one queued behind it, when their requests go away.
  const requests = await Promise.all(["big-a", "big-b"].map((name) => new Promise<ReturnType<typeof request>>((resolve) => {
    const req = request(`${controller.url}/validate`, { method: "POST", ca: controller.caPem, headers: { "content-type": "application/json" } });
    req.on("error", () => undefined);
    req.end(review(name, 8000), () => resolve(req));
  })));
  await new Promise((r) => setTimeout(r, 500));
  for (const req of requests) req.destroy();
  await eventually("both abandoned compiles counted", async () => ((await abandoned()) === before + 2 ? true : undefined), 10_000);

  const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(`${controller.url}/validate`, { method: "POST", ca: controller.caPem, headers: { "content-type": "application/json" } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end(review("small", 5));
  });
  assert.equal(answer.status, 200, answer.body);
  assert.equal(JSON.parse(answer.body).response.allowed, true, answer.body);
});

test("a controller that cannot start (its port taken) exits with the reason instead of hanging on its informers", { timeout: 90_000 }, async () => {
  const busy = createNetServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  const port = (busy.address() as AddressInfo).port;
  try {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [path.join(REPO, "cli/main.ts"), "controller", "--kubeconfig", kubeconfigPath(), "--listen", `127.0.0.1:${port}`, "--no-leader-election", "--namespace", ns], { encoding: "utf8", timeout: 60_000 });
    assert.notEqual(r.signal, "SIGTERM", `still running after 60 s:\n${r.stderr}`);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`routeplane controller: cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use .*choose another with --listen`));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
    assert.ok(performance.now() - t0 < 30_000, "it ends promptly");
  } finally {
    busy.close();
  }
});
