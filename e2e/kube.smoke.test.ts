// The kube-apiserver works for what the controller needs: a CRD that becomes
// Established, custom resources created, updated and watched through an
// informer that restarts after errors, and the status subresource written.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { eventually, kubeconfigPath, uniqueName } from "./support.ts";

const GROUP = "smoke.routeplane.dev";
const VERSION = "v1alpha1";
const PLURAL = "probes";

interface Probe extends k8s.KubernetesObject {
  spec: { message: string };
  status?: { observed?: string };
}

function client(): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfigPath());
  return kc;
}

test("client-node: CRD established, custom resources created, updated, watched (with restart) and status written", async () => {
  const kc = client();
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const namespace = uniqueName("smoke");
  await core.createNamespace({ body: { metadata: { name: namespace } } });

  await ext.createCustomResourceDefinition({
    body: {
      metadata: { name: `${PLURAL}.${GROUP}` },
      spec: {
        group: GROUP,
        scope: "Namespaced",
        names: { plural: PLURAL, singular: "probe", kind: "Probe", listKind: "ProbeList" },
        versions: [{
          name: VERSION, served: true, storage: true, subresources: { status: {} },
          schema: { openAPIV3Schema: { type: "object", properties: {
            spec: { type: "object", properties: { message: { type: "string" } }, required: ["message"] },
            status: { type: "object", properties: { observed: { type: "string" } } },
          } } },
        }],
      },
    },
  }).catch((err: { code?: number }) => {
    if (err.code !== 409) throw err; // already there from an earlier test in this run
  });
  await eventually("the CRD to be Established", async () => {
    const crd = await ext.readCustomResourceDefinition({ name: `${PLURAL}.${GROUP}` });
    return crd.status?.conditions?.some((c) => c.type === "Established" && c.status === "True") ? true : undefined;
  });

  // An informer whose first list fails: the restart-on-error logic must bring it back.
  const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`;
  let failNextList = true;
  const list = async () => {
    if (failNextList) {
      failNextList = false;
      throw new Error("injected list failure");
    }
    return (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL })) as k8s.KubernetesListObject<Probe>;
  };
  const informer = k8s.makeInformer<Probe>(kc, path, list);
  const events: string[] = [];
  let errors = 0;
  let stopped = false;
  informer.on("add", (o) => events.push(`add ${o.metadata?.name} ${o.spec.message}`));
  informer.on("update", (o) => events.push(`update ${o.metadata?.name} ${o.spec.message}`));
  informer.on("error", () => {
    errors++;
    if (!stopped) setTimeout(() => void informer.start().catch(() => undefined), 500);
  });
  await informer.start().catch(() => undefined);
  try {
    await eventually("the informer to recover from the failed list", () => (errors >= 1 && !failNextList ? true : undefined));

    const name = uniqueName("probe");
    await custom.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, body: { apiVersion: `${GROUP}/${VERSION}`, kind: "Probe", metadata: { name }, spec: { message: "hello" } } });
    await eventually("the informer to see the new resource", () => (events.includes(`add ${name} hello`) ? true : undefined));

    const current = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as Probe;
    current.spec.message = "updated";
    await custom.replaceNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: current });
    await eventually("the informer to see the update", () => (events.includes(`update ${name} updated`) ? true : undefined));
    assert.equal(informer.get(name, namespace)?.spec.message, "updated");

    // The status subresource: written on its own, invisible to spec writes.
    const latest = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as Probe;
    latest.status = { observed: "rev-1" };
    await custom.replaceNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name, body: latest });
    const read = (await custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL, name })) as Probe;
    assert.equal(read.status?.observed, "rev-1");
    assert.equal(read.spec.message, "updated");
  } finally {
    stopped = true;
    await informer.stop();
  }
});

test("RBAC is enforced: an unknown token is rejected", async () => {
  const kc = client();
  const user = kc.getCurrentUser()!;
  const bad = new k8s.KubeConfig();
  bad.loadFromOptions({
    clusters: kc.clusters,
    users: [{ name: "nobody", token: "not-a-valid-token" }],
    contexts: [{ name: "bad", cluster: kc.getCurrentCluster()!.name, user: "nobody" }],
    currentContext: "bad",
  });
  assert.ok(user.token, "the harness authenticates with a static token");
  await assert.rejects(bad.makeApiClient(k8s.CoreV1Api).listNamespace(), (err: { code?: number }) => err.code === 401);
});
