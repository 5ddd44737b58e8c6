// Replicas sharing their serving certificate in a Secret (--tls-secret), on
// the real apiserver: the first makes it, the others read it; whichever
// renews it first in its last third writes it at the version it read, the
// others adopt theirs (a race loses with a 409, never with two CAs); a Secret
// made by an older routeplane, without ca.key, is said, not renewed.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ServingTls, kubeClients, makeServingCertificate } from "../controller/index.ts";
import { kubeconfigPath, kubectl, uniqueName } from "./support.ts";

const DAY = 24 * 3600 * 1000;
const ns = uniqueName("tls");
const secret = (name: string) => ({ kind: "secret" as const, namespace: ns, name });

before(async () => {
  assert.equal((await kubectl(["create", "namespace", ns])).code, 0);
});
after(async () => {
  await kubectl(["delete", "namespace", ns, "--wait=false"]);
});

test("two replicas share one certificate; one renews it, the other adopts the renewal; a race for the renewal leaves one certificate", async () => {
  const clients = kubeClients(kubeconfigPath());
  const logs: string[] = [];
  const options = { hosts: ["localhost"], clients, log: (l: string) => logs.push(l) };
  const [a, b] = await Promise.all([ServingTls.start(secret("shared"), options), ServingTls.start(secret("shared"), options)]);
  assert.equal(a.current.certPem, b.current.certPem, "both replicas serve the certificate the first one made");
  const stored = JSON.parse((await kubectl(["get", "secret", "shared", "-n", ns, "-o", "json"])).stdout);
  assert.equal(stored.type, "kubernetes.io/tls");
  assert.deepEqual(Object.keys(stored.data).sort(), ["ca.crt", "ca.key", "tls.crt", "tls.key"]);

  const later = new Date(Date.now() + 300 * DAY);
  assert.equal(await a.check(later), "renewed");
  assert.equal(await b.check(), "reloaded", "the other replica adopts the renewal at its next check");
  assert.equal(b.current.certPem, a.current.certPem);
  assert.equal(b.current.caPem, a.current.caPem);

  // Both find it due at once: a write at a stale version is refused (409); after a check each, both serve what the Secret holds.
  const evenLater = new Date(Date.now() + 600 * DAY);
  const results = await Promise.all([a.check(evenLater), b.check(evenLater)]);
  assert.ok(results.includes("renewed"), results.join());
  const final = JSON.parse((await kubectl(["get", "secret", "shared", "-n", ns, "-o", "json"])).stdout);
  const served = Buffer.from(final.data["tls.crt"], "base64").toString("utf8");
  await a.check();
  await b.check();
  assert.equal(a.current.certPem, served);
  assert.equal(b.current.certPem, served);
});

test("a Secret without ca.key (an older routeplane) is served, and when due the log says how to replace it", async () => {
  const made = makeServingCertificate(["localhost"]);
  const files = ["tls.crt", "tls.key", "ca.crt"].map((k, i) => `--from-literal=${k}=${[made.certPem, made.keyPem, made.caPem][i]}`);
  assert.equal((await kubectl(["create", "secret", "generic", "old", "-n", ns, ...files])).code, 0);
  const logs: string[] = [];
  const serving = await ServingTls.start(secret("old"), { hosts: ["localhost"], clients: kubeClients(kubeconfigPath()), log: (l) => logs.push(l) });
  assert.equal(serving.current.certPem, made.certPem);
  assert.equal(await serving.check(new Date(Date.now() + 300 * DAY)), "unchanged");
  assert.match(logs.join("\n"), /cannot be renewed: the Secret has no ca.key .*delete the Secret and restart the replicas/);
});
