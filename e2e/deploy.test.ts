// deploy/, the kustomize base, against the real apiserver with the real
// kubectl: it renders; `kubectl apply -k deploy --dry-run=server` passes (once
// the Namespace exists: a dry run creates nothing, so the namespaced objects
// cannot find routeplane-system before it really exists); the controller's pod
// meets the restricted Pod Security Standard its Namespace enforces; and with
// the RBAC objects really applied, `kubectl auth can-i` as the controller's
// ServiceAccount allows what the controller calls and nothing more, and the
// controller itself, run in process with that ServiceAccount's token, does its
// work without a refusal.
//
// Nothing of the control plane is created for real but the Namespace and the
// RBAC objects, and `after` deletes them: above all, deploy/'s webhook
// configurations (failurePolicy Fail, pointing at a Service with no pods) are
// only ever dry-run, or they would refuse every RoutingPolicy (and labelled
// pod) later tests create. The in-process controller registers its own at its loopback URL
// (the validating one with failurePolicy Ignore; the injector, always Fail,
// only for pods labelled routeplane.dev/inject), which `after` deletes too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadAllYaml, type KubernetesObject, type V1Deployment, type V1MutatingWebhookConfiguration, type V1PodDisruptionBudget, type V1Service, type V1ValidatingWebhookConfiguration } from "@kubernetes/client-node";
import { bufferIo, run } from "../cli/index.ts";
import { startController, type RunningController } from "../controller/index.ts";
import { bundlePath, generateKeyPair } from "../bundle/index.ts";
import { freePort } from "./infra/ports.ts";
import { eventually, kubeconfigPath, kubectl, uniqueName } from "./support.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DEPLOY = path.join(REPO, "deploy");
const NS = "routeplane-system";
const SA = "routeplane-controller";
const AS = [`--as=system:serviceaccount:${NS}:${SA}`, "--as-group=system:serviceaccounts", `--as-group=system:serviceaccounts:${NS}`];
const RBAC_KINDS = ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"];

let cache: string;
let rendered = "";
let createdNamespace = false;
let appliedRbac = "";
let controller: RunningController | undefined;
let webhookCreated = false;
let injectorCreated = false;
let crdCreated = false;
const team = uniqueName("rp-deploy");
const k = (args: string[], input?: string) => kubectl(args, { input, cacheDir: cache });

/** The rendered documents, as text (for kubectl) and as objects (to look into). */
function documents(yaml: string): { text: string; object: KubernetesObject }[] {
  const texts = yaml.split(/^---\n/m).filter((t) => t.trim() !== "");
  // client-node gives class instances; compare plain data.
  const objects = JSON.parse(JSON.stringify(loadAllYaml(yaml))) as KubernetesObject[];
  assert.equal(objects.length, texts.length);
  return texts.map((text, i) => ({ text, object: objects[i] }));
}
const ofKind = <T extends KubernetesObject>(kind: string): T[] => documents(rendered).map((d) => d.object).filter((o) => o.kind === kind) as T[];

before(async () => {
  cache = mkdtempSync(path.join(tmpdir(), "routeplane-kubectl-cache-"));
  const r = await k(["kustomize", DEPLOY]);
  assert.equal(r.code, 0, r.stderr);
  rendered = r.stdout;
  const ns = await k(["get", "namespace", NS, "-o", "jsonpath={.status.phase}"]);
  // Without a namespace controller (the e2e cluster has none) a deleted namespace stays Terminating; `after` finalizes ours.
  if (ns.code === 0) assert.notEqual(ns.stdout, "Terminating", `namespace ${NS} is left Terminating by an earlier run on this apiserver: restart the infrastructure`);
});

after(async () => {
  // Only what this file created, by name; cluster-scoped objects above all.
  await controller?.stop();
  if (webhookCreated) await k(["delete", "validatingwebhookconfiguration", "routeplane-policies", "--ignore-not-found"]);
  if (injectorCreated) await k(["delete", "mutatingwebhookconfiguration", "routeplane-sidecar-injector", "--ignore-not-found"]);
  await k(["delete", "namespace", team, "--ignore-not-found", "--wait=false"]);
  if (crdCreated) await k(["delete", "crd", "routingpolicies.routeplane.dev", "--ignore-not-found", "--wait=false"]);
  if (createdNamespace) await k(["delete", "leases", "--all", "-n", NS, "--ignore-not-found"]);
  if (createdNamespace) await k(["delete", "secret", "routeplane-controller-tls", "-n", NS, "--ignore-not-found"]);
  if (appliedRbac) await k(["delete", "-f", "-", "--ignore-not-found", "--wait=false"], appliedRbac);
  if (createdNamespace) {
    await k(["delete", "namespace", NS, "--wait=false"]);
    // What the namespace controller would do once the namespace is empty: remove its finalizer.
    const got = await k(["get", "namespace", NS, "-o", "json"]);
    if (got.code === 0) {
      const ns = JSON.parse(got.stdout) as { spec?: { finalizers?: string[] } };
      ns.spec = { ...ns.spec, finalizers: [] };
      await k(["replace", "--raw", `/api/v1/namespaces/${NS}/finalize`, "-f", "-"], JSON.stringify(ns));
    }
  }
  rmSync(cache, { recursive: true, force: true });
});

test("kubectl kustomize deploy: the CRD, Namespace, RBAC, controller Deployment, PDB, Service and webhook configurations, wired to each other", async () => {
  const kinds = documents(rendered).map((d) => `${d.object.kind}/${d.object.metadata?.name}`).sort();
  assert.deepEqual(kinds, [
    "ClusterRole/routeplane-controller",
    "ClusterRoleBinding/routeplane-controller",
    "CustomResourceDefinition/routingpolicies.routeplane.dev",
    "Deployment/routeplane-controller",
    "MutatingWebhookConfiguration/routeplane-sidecar-injector",
    "Namespace/routeplane-system",
    "PodDisruptionBudget/routeplane-controller",
    "Role/routeplane-controller-leases",
    "RoleBinding/routeplane-controller-leases",
    "Service/routeplane-controller",
    "ServiceAccount/routeplane-controller",
    "ValidatingWebhookConfiguration/routeplane-policies",
  ]);
  for (const { object } of documents(rendered)) assert.equal(object.metadata?.labels?.["app.kubernetes.io/part-of"], "routeplane", `${object.kind} is labelled part-of routeplane`);

  const [deployment] = ofKind<V1Deployment>("Deployment");
  const [service] = ofKind<V1Service>("Service");
  const [pdb] = ofKind<V1PodDisruptionBudget>("PodDisruptionBudget");
  const [webhook] = ofKind<V1ValidatingWebhookConfiguration>("ValidatingWebhookConfiguration");
  const [injector] = ofKind<V1MutatingWebhookConfiguration>("MutatingWebhookConfiguration");
  const pod = deployment.spec!.template.spec!;
  const [container] = pod.containers;
  assert.equal(deployment.spec!.replicas, 2);
  assert.equal(pod.serviceAccountName, SA);
  assert.equal(container.image, "ghcr.io/routeplane/routeplane:0.1.0");
  // The same pods are selected by the Deployment, the Service and the PodDisruptionBudget.
  const labels = deployment.spec!.template.metadata!.labels!;
  for (const selector of [deployment.spec!.selector.matchLabels!, service.spec!.selector!, pdb.spec!.selector!.matchLabels!]) {
    for (const [key, value] of Object.entries(selector)) assert.equal(labels[key], value);
  }
  assert.equal(pdb.spec!.minAvailable, 1);

  // The flags: the webhook at this Service, a certificate for its names, listening on the port the Service targets.
  const args = container.args!;
  const flag = (name: string) => args.flatMap((a, i) => (a === name ? [args[i + 1]] : []));
  assert.equal(args[0], "controller");
  const servicePort = service.spec!.ports!.find((p) => p.port === 443)!;
  assert.deepEqual(flag("--webhook-service"), [`${service.metadata!.namespace}/${service.metadata!.name}:443`]);
  assert.deepEqual(flag("--host"), [`${service.metadata!.name}.${NS}.svc`, `${service.metadata!.name}.${NS}.svc.cluster.local`]);
  const containerPort = container.ports!.find((p) => p.name === servicePort.targetPort)!;
  assert.deepEqual(flag("--listen"), [`0.0.0.0:${containerPort.containerPort}`]);
  assert.equal(containerPort.containerPort, 8443);
  // Flags `routeplane controller` knows: it gets past parsing them and fails only at the (missing) kubeconfig.
  await assert.rejects(run([...args, "--kubeconfig", path.join(cache, "no-such-kubeconfig")], bufferIo()), /ENOENT|no such file/);

  // Probes over HTTPS on that port; environment from the downward API.
  assert.deepEqual([container.readinessProbe!.httpGet!.path, container.readinessProbe!.httpGet!.scheme, container.readinessProbe!.httpGet!.port], ["/readyz", "HTTPS", "https"]);
  assert.deepEqual([container.livenessProbe!.httpGet!.path, container.livenessProbe!.httpGet!.scheme, container.livenessProbe!.httpGet!.port], ["/healthz", "HTTPS", "https"]);
  assert.deepEqual(Object.fromEntries(container.env!.filter((e) => e.valueFrom).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath])), { POD_NAME: "metadata.name", POD_NAMESPACE: "metadata.namespace" });
  assert.ok(container.resources?.requests?.memory && container.resources.limits?.memory);
  assert.equal(pod.securityContext!.runAsNonRoot, true);
  assert.equal(pod.securityContext!.seccompProfile!.type, "RuntimeDefault");
  assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext!.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext!.capabilities!.drop, ["ALL"]);

  // The webhook: the name the controller patches (controller/kube.ts), at the Service, Fail, no caBundle (the controller sets it).
  assert.equal(webhook.webhooks!.length, 1);
  const [hook] = webhook.webhooks!;
  assert.equal(hook.name, "policies.routeplane.dev");
  assert.deepEqual(hook.clientConfig.service, { namespace: NS, name: service.metadata!.name, port: 443, path: "/validate" });
  assert.equal(hook.clientConfig.caBundle, undefined);
  assert.equal(hook.failurePolicy, "Fail");
  assert.equal(hook.sideEffects, "None");
  assert.deepEqual(hook.admissionReviewVersions, ["v1"]);
  assert.deepEqual(hook.rules, [{ apiGroups: ["routeplane.dev"], apiVersions: ["v1alpha1"], operations: ["CREATE", "UPDATE"], resources: ["routingpolicies"], scope: "Namespaced" }]);

  // The injector: the name the controller patches, at the Service's /inject, labelled pods only.
  assert.equal(injector.webhooks!.length, 1);
  const [inject] = injector.webhooks!;
  assert.equal(inject.name, "sidecar.routeplane.dev");
  assert.deepEqual(inject.clientConfig.service, { namespace: NS, name: service.metadata!.name, port: 443, path: "/inject" });
  assert.equal(inject.clientConfig.caBundle, undefined);
  assert.deepEqual(inject.objectSelector, { matchLabels: { "routeplane.dev/inject": "true" } });
  assert.deepEqual(inject.rules, [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }]);
  assert.deepEqual([inject.failurePolicy, inject.sideEffects, inject.reinvocationPolicy], ["Fail", "None", "Never"]);
});

test("kubectl apply -k deploy --dry-run=server: refused only for the missing Namespace until it exists, then accepted whole, without Pod Security warnings", async () => {
  const webhookBefore = (await k(["get", "validatingwebhookconfiguration", "routeplane-policies"])).code === 0;
  const injectorBefore = (await k(["get", "mutatingwebhookconfiguration", "routeplane-sidecar-injector"])).code === 0;
  if ((await k(["get", "namespace", NS])).code !== 0) {
    // A dry run creates nothing, so the Namespace it "creates" is not there for the objects in it.
    const early = await k(["apply", "-k", DEPLOY, "--dry-run=server"]);
    assert.equal(early.code, 1);
    const errors = early.stderr.split("\n").filter((l) => l.startsWith("Error"));
    assert.equal(errors.length, 6, early.stderr); // ServiceAccount, Role, RoleBinding, Service, Deployment, PodDisruptionBudget
    for (const e of errors) assert.match(e, new RegExp(`namespaces "${NS}" not found`));
    for (const ok of ["namespace/routeplane-system", "customresourcedefinition.apiextensions.k8s.io/routingpolicies.routeplane.dev", "clusterrole.rbac.authorization.k8s.io/routeplane-controller", "validatingwebhookconfiguration.admissionregistration.k8s.io/routeplane-policies", "mutatingwebhookconfiguration.admissionregistration.k8s.io/routeplane-sidecar-injector"]) {
      assert.match(early.stdout, new RegExp(`^${ok.replaceAll(".", "\\.")} \\S+ \\(server dry run\\)$`, "m"));
    }
    const created = await k(["apply", "-f", path.join(DEPLOY, "namespace.yaml")]);
    assert.equal(created.code, 0, created.stderr);
    createdNamespace = true;
  }

  const dry = await k(["apply", "-k", DEPLOY, "--dry-run=server"]);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.stdout.trim().split("\n").filter((l) => l.endsWith("(server dry run)")).length, 12, dry.stdout);
  assert.doesNotMatch(dry.stderr, /would violate PodSecurity/, "the controller's pod meets the restricted Pod Security Standard");
  assert.doesNotMatch(dry.stderr, /Error|Warning/, dry.stderr);

  // Nothing of it exists for real.
  assert.equal((await k(["get", "deployment", "routeplane-controller", "-n", NS])).code, 1);
  if (!webhookBefore) assert.equal((await k(["get", "validatingwebhookconfiguration", "routeplane-policies"])).code, 1);
  if (!injectorBefore) assert.equal((await k(["get", "mutatingwebhookconfiguration", "routeplane-sidecar-injector"])).code, 1);
});

test("RBAC, really applied: the controller's ServiceAccount may do what the controller calls, and no more", async () => {
  // This checkout's CRD: `can-i` on routingpolicies needs the type to exist (and an older CRD would
  // prune status fields the controller writes, in the next test).
  crdCreated = (await k(["get", "crd", "routingpolicies.routeplane.dev"])).code !== 0;
  assert.equal((await k(["apply", "-k", path.join(REPO, "crds")])).code, 0);
  assert.equal((await k(["wait", "--for=condition=Established", "--timeout=60s", "crd/routingpolicies.routeplane.dev"])).code, 0);
  if ((await k(["get", "namespace", NS])).code !== 0) {
    assert.equal((await k(["apply", "-f", path.join(DEPLOY, "namespace.yaml")])).code, 0);
    createdNamespace = true;
  }
  appliedRbac = documents(rendered).filter((d) => RBAC_KINDS.includes(d.object.kind!)).map((d) => d.text).join("---\n");
  const applied = await k(["apply", "-f", "-"], appliedRbac);
  assert.equal(applied.code, 0, applied.stderr);

  const can = async (args: string[]) => (await k(["auth", "can-i", ...AS, ...args])).stdout.trim();
  const RP = "routingpolicies.routeplane.dev";
  const VWC = "validatingwebhookconfigurations.admissionregistration.k8s.io";
  const MWC = "mutatingwebhookconfigurations.admissionregistration.k8s.io";
  const allowed: string[][] = [
    ["get", RP, "-n", "team-a"], ["list", RP, "-A"], ["watch", RP, "-A"],
    ["get", RP, "--subresource=status", "-n", "team-a"], ["patch", RP, "--subresource=status", "-n", "team-a"], ["update", RP, "--subresource=status", "-n", "team-a"],
    ["list", "configmaps", "-A"], ["watch", "configmaps", "-A"],
    ["get", "secrets/signing", "-n", "team-a"],
    ["create", "events", "-n", "team-a"], ["patch", "events", "-n", "team-a"],
    ["create", "tokenreviews.authentication.k8s.io"],
    ["get", `${VWC}/routeplane-policies`], ["update", `${VWC}/routeplane-policies`], ["create", VWC],
    ["get", `${MWC}/routeplane-sidecar-injector`], ["update", `${MWC}/routeplane-sidecar-injector`], ["create", MWC],
    ["get", "leases.coordination.k8s.io/routeplane-controller", "-n", NS], ["create", "leases.coordination.k8s.io", "-n", NS], ["update", "leases.coordination.k8s.io/routeplane-controller", "-n", NS],
    ["list", "leases.coordination.k8s.io", "-n", NS], ["delete", "leases.coordination.k8s.io/routeplane-fleet-0123456789ab", "-n", NS],
    ["create", "secrets", "-n", NS], ["update", "secrets/routeplane-controller-tls", "-n", NS],
  ];
  const denied: string[][] = [
    ["list", "secrets", "-A"], ["list", "secrets", "-n", "team-a"], ["watch", "secrets", "-n", "team-a"], ["create", "secrets", "-n", "team-a"],
    ["update", "secrets/signing", "-n", "team-a"], ["update", "secrets/other", "-n", NS], ["delete", "secrets/routeplane-controller-tls", "-n", NS],
    ["create", RP, "-n", "team-a"], ["update", RP, "-n", "team-a"], ["patch", RP, "-n", "team-a"], ["delete", RP, "-n", "team-a"],
    ["get", "configmaps/x", "-n", "team-a"], ["update", "configmaps/x", "-n", "team-a"],
    ["delete", "events", "-n", "team-a"],
    ["update", `${VWC}/someone-elses`], ["delete", `${VWC}/routeplane-policies`], ["patch", `${VWC}/routeplane-policies`], ["list", VWC],
    ["update", `${MWC}/someone-elses`],
    ["get", "leases.coordination.k8s.io", "-n", "kube-system"], ["update", "leases.coordination.k8s.io", "-n", "team-a"], ["watch", "leases.coordination.k8s.io", "-n", NS], ["patch", "leases.coordination.k8s.io", "-n", NS],
    ["create", "pods", "-n", "team-a"], ["get", "pods", "-n", NS], ["create", "serviceaccounts/token", "-n", NS], ["impersonate", "serviceaccounts"],
  ];
  const wrong: string[] = [];
  for (const args of allowed) if ((await can(args)) !== "yes") wrong.push(`should be allowed: ${args.join(" ")}`);
  for (const args of denied) if ((await can(args)) !== "no") wrong.push(`should be denied: ${args.join(" ")}`);
  assert.deepEqual(wrong, []);

  // The whole list of what it may do (less what every authenticated user may), in its own namespace and another.
  const rules = async (namespace: string) => {
    const list = await k(["auth", "can-i", "--list", ...AS, "-n", namespace]);
    assert.equal(list.code, 0, list.stderr);
    return list.stdout.split("\n").slice(1).map((l) => l.trim().split(/\s{2,}/)).filter((cols) => cols.length === 4 && !cols[0].startsWith("selfsubject"))
      .map(([resource, , names, verbs]) => `${resource} ${names} ${verbs}`).sort();
  };
  const cluster = [
    "configmaps [] [list watch]",
    "events [] [create patch]",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io [] [create]",
    "mutatingwebhookconfigurations.admissionregistration.k8s.io [routeplane-sidecar-injector] [get update]",
    "routingpolicies.routeplane.dev [] [get list watch]",
    "routingpolicies.routeplane.dev/status [] [get patch update]",
    "secrets [] [get]",
    "tokenreviews.authentication.k8s.io [] [create]",
    "validatingwebhookconfigurations.admissionregistration.k8s.io [] [create]",
    "validatingwebhookconfigurations.admissionregistration.k8s.io [routeplane-policies] [get update]",
  ];
  assert.deepEqual(await rules("team-a"), cluster);
  // In its own namespace it may also create the shared serving certificate's Secret (kubectl merges the two rules) and renew it.
  assert.deepEqual(await rules(NS), [...cluster.filter((r) => r !== "secrets [] [get]"), "leases.coordination.k8s.io [] [get list create update delete]", "secrets [] [get create]", "secrets [routeplane-controller-tls] [update]"].sort());
});

test("the controller running as that ServiceAccount, with only these rules: webhooks registered, policy Ready with events, leader Lease and fleet report, a sidecar served after a TokenReview", async () => {
  assert.ok(appliedRbac, "the RBAC objects are applied by the test before");
  // A kubeconfig for the ServiceAccount: the e2e cluster's server and CA, the account's token.
  const admin = readFileSync(kubeconfigPath(), "utf8");
  const server = /^\s*server: (\S+)$/m.exec(admin)![1];
  const ca = /^\s*certificate-authority: (\S+)$/m.exec(admin)![1];
  const token = await k(["create", "token", SA, "-n", NS, "--duration", "10m"]);
  assert.equal(token.code, 0, token.stderr);
  const saKubeconfig = path.join(cache, "controller.kubeconfig");
  writeFileSync(saKubeconfig, `apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: ${server}
    certificate-authority: ${ca}
users:
- name: controller
  user:
    token: ${token.stdout.trim()}
contexts:
- name: e2e
  context:
    cluster: e2e
    user: controller
current-context: e2e
`, { mode: 0o600 });

  assert.equal((await k(["create", "namespace", team])).code, 0);
  const keys = generateKeyPair();
  const keyFile = path.join(cache, "team.key");
  writeFileSync(keyFile, keys.privateKeyPem, { mode: 0o600 });
  assert.equal((await k(["create", "secret", "generic", "signing", "-n", team, `--from-file=signing.key=${keyFile}`])).code, 0);
  assert.equal((await k(["create", "serviceaccount", "sidecar", "-n", team])).code, 0);

  webhookCreated = (await k(["get", "validatingwebhookconfiguration", "routeplane-policies"])).code !== 0;
  injectorCreated = (await k(["get", "mutatingwebhookconfiguration", "routeplane-sidecar-injector"])).code !== 0;
  const logs: string[] = [];
  const port = await freePort();
  controller = await startController({
    kubeconfig: saKubeconfig, port, leaseNamespace: NS, identity: "deploy-test",
    // Ignore: should this test die before `after`, the leftover configuration refuses no policy.
    webhookUrl: `https://127.0.0.1:${port}/validate`, webhookFailurePolicy: "Ignore",
    // The certificate every replica shares, made and stored by this one (RBAC allows create in its namespace).
    tlsSecret: `${NS}/routeplane-controller-tls`,
    statusIntervalMs: 200, log: (l) => logs.push(l),
  });
  await controller.synced;
  const tlsSecret = JSON.parse((await k(["get", "secret", "routeplane-controller-tls", "-n", NS, "-o", "json"])).stdout);
  assert.equal(tlsSecret.type, "kubernetes.io/tls");
  assert.equal(Buffer.from(tlsSecret.data["ca.crt"], "base64").toString(), controller.caPem, "the served CA is the stored one");
  const hook = JSON.parse((await k(["get", "validatingwebhookconfiguration", "routeplane-policies", "-o", "json"])).stdout);
  assert.ok(hook.webhooks[0].clientConfig.caBundle, "the controller registered its webhook with its CA");
  const injector = JSON.parse((await k(["get", "mutatingwebhookconfiguration", "routeplane-sidecar-injector", "-o", "json"])).stdout);
  assert.ok(injector.webhooks[0].clientConfig.caBundle, "and its sidecar injector");

  const made = bufferIo();
  assert.equal(await run(["manifest", path.join(REPO, "examples/support"), "--name", "support", "--namespace", team, "--signing-secret", "signing"], made), 0, made.stderr);
  const applied = await k(["apply", "-f", "-"], made.stdout);
  assert.equal(applied.code, 0, applied.stderr);
  const ready = await k(["wait", "--for=condition=Ready", "--timeout=60s", "-n", team, "rp/support"]);
  assert.equal(ready.code, 0, `${ready.stderr}\n${logs.join("\n")}`);
  await eventually("the Compiled event", async () => {
    const items = JSON.parse((await k(["get", "events", "-n", team, "-o", "json"])).stdout).items as { reason: string }[];
    return items.some((e) => e.reason === "Compiled") ? true : undefined;
  });
  const lease = JSON.parse((await k(["get", "lease", "routeplane-controller", "-n", NS, "-o", "json"])).stdout);
  assert.equal(lease.spec.holderIdentity, "deploy-test");

  // A sidecar's token, reviewed by the apiserver at the controller's request (tokenreviews create).
  const sidecarToken = (await k(["create", "token", "sidecar", "-n", team, "--audience", "routeplane", "--duration", "10m"])).stdout.trim();
  const status = await new Promise<number>((resolve, reject) => {
    request(controller!.url + bundlePath(team, "support"), { ca: controller!.caPem, headers: { authorization: `Bearer ${sidecarToken}`, "routeplane-sidecar": "pod-a" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    }).on("error", reject).end();
  });
  assert.equal(status, 200);
  await eventually("a fleet report Lease", async () => {
    const list = await k(["get", "leases", "-n", NS, "-l", "routeplane.dev/fleet-report=true", "-o", "name"]);
    return list.stdout.trim() ? true : undefined;
  });

  await controller.stop();
  controller = undefined;
  // Nothing the controller asked for was refused by RBAC.
  assert.doesNotMatch(logs.join("\n"), /is forbidden: User/, logs.join("\n"));
  // Stopping released the leader Lease and deleted the fleet report.
  assert.equal(JSON.parse((await k(["get", "lease", "routeplane-controller", "-n", NS, "-o", "json"])).stdout).spec.holderIdentity ?? "", "");
  assert.equal((await k(["get", "leases", "-n", NS, "-l", "routeplane.dev/fleet-report=true", "-o", "name"])).stdout.trim(), "");
});
