// --configmap-selector on the real apiserver: the controller caches only the
// ConfigMaps with the labels, so a policy's unlabelled ConfigMap is not found
// (Compiled=False, the message says which label to add), and labelling it
// makes the policy Ready without touching the policy.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startController, type RunningController } from "../controller/index.ts";
import { generateKeyPair } from "../bundle/index.ts";
import { eventually, kubeconfigPath, kubectl, uniqueName } from "./support.ts";

const ns = uniqueName("rp-cms");
const dir = mkdtempSync(path.join(tmpdir(), "routeplane-cms-"));
let controller: RunningController;
const MODELS = 'package shared\nmodel m { provider: openai, endpoint: "https://api.openai.com/v1" }\n';
const MAIN = 'package app\nimport "models.route"\ndefault { use m }\n';

before(async () => {
  assert.equal((await kubectl(["apply", "-f", path.resolve(import.meta.dirname, "../crds/routingpolicies.yaml")])).code, 0);
  assert.equal((await kubectl(["create", "namespace", ns])).code, 0);
  const keys = generateKeyPair();
  writeFileSync(path.join(dir, "k.key"), keys.privateKeyPem);
  assert.equal((await kubectl(["create", "secret", "generic", "signing", "-n", ns, `--from-file=signing.key=${path.join(dir, "k.key")}`])).code, 0);
  controller = await startController({ kubeconfig: kubeconfigPath(), namespace: ns, port: 0, leaseNamespace: false, statusIntervalMs: 100, configMapSelector: "routeplane.dev/sources=true", log: () => {} });
  await controller.synced;
});
after(async () => {
  await controller?.stop();
  await kubectl(["delete", "namespace", ns, "--wait=false"]);
  rmSync(dir, { recursive: true, force: true });
});

const condition = async (type: string) => {
  const rp = JSON.parse((await kubectl(["get", "rp", "p", "-n", ns, "-o", "json"])).stdout);
  return (rp.status?.conditions ?? []).find((c: { type: string }) => c.type === type) as { status: string; reason: string; message: string } | undefined;
};

test("an unlabelled ConfigMap is invisible to a controller with --configmap-selector; labelling it makes the policy Ready", async () => {
  assert.equal((await kubectl(["create", "configmap", "shared", "-n", ns, `--from-literal=models.route=${MODELS}`])).code, 0);
  const policy = { apiVersion: "routeplane.dev/v1alpha1", kind: "RoutingPolicy", metadata: { name: "p", namespace: ns }, spec: { signingKey: { secretName: "signing" }, sources: { "main.route": MAIN }, configMaps: [{ name: "shared" }] } };
  assert.equal((await kubectl(["apply", "-f", "-"], { input: JSON.stringify(policy) })).code, 0);
  const missing = await eventually("Compiled=False", async () => ((await condition("Compiled"))?.status === "False" ? condition("Compiled") : undefined));
  assert.equal(missing!.reason, "ConfigMapNotFound");
  assert.match(missing!.message, new RegExp(`lacks the labels the controller watches \\(routeplane.dev/sources=true\\); create it, label it \\(kubectl label configmap shared -n ${ns} routeplane.dev/sources=true\\)`));
  assert.equal((await kubectl(["label", "configmap", "shared", "-n", ns, "routeplane.dev/sources=true"])).code, 0);
  await eventually("Ready", async () => ((await condition("Ready"))?.status === "True" ? true : undefined));
});
