// Replicas sharing their serving certificate in a Secret (--tls-secret), on
// the real apiserver: the first makes it, the others read it; whichever
// renews it first in its last third writes it at the version it read, the
// others adopt theirs (a race loses with a 409, never with two CAs); a Secret
// made by an older routeplane, without ca.key, is said, not renewed. A Secret
// holding what cannot be served is replaced, never adopted.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { ServingTls, certificateProblem, kubeClients, makeServingCertificate, type ServingCertificate } from "../controller/index.ts";
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

/** What the Secret holds now, and its resourceVersion. */
async function stored(name: string): Promise<{ tls: Record<string, string>; resourceVersion: string; type: string }> {
  const r = await kubectl(["get", "secret", name, "-n", ns, "-o", "json"]);
  assert.equal(r.code, 0, r.stderr);
  const secret = JSON.parse(r.stdout);
  const tls = Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
  return { tls, resourceVersion: secret.metadata.resourceVersion, type: secret.type };
}

/** Creates (or overwrites) a Secret with these keys, as someone with kubectl might. */
async function putSecret(name: string, data: Record<string, string>): Promise<void> {
  const body = { apiVersion: "v1", kind: "Secret", metadata: { name, namespace: ns }, type: "Opaque", data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) };
  const r = await kubectl(["apply", "-f", "-"], { input: JSON.stringify(body) });
  assert.equal(r.code, 0, r.stderr);
}

const asSecret = (t: ServingCertificate) => ({ "tls.crt": t.certPem, "tls.key": t.keyPem, "ca.crt": t.caPem, ...(t.caKeyPem ? { "ca.key": t.caKeyPem } : {}) });
const usable = (t: ServingCertificate) => certificateProblem(t, { cert: "tls.crt", key: "tls.key", ca: "ca.crt" }, { hosts: ["localhost"] });

test("a Secret holding what cannot be served is not adopted: replaced at the version read (from its CA when that can still issue), said, and served", async () => {
  const clients = kubeClients(kubeconfigPath());
  const good = makeServingCertificate(["localhost"]);
  const other = makeServingCertificate(["localhost"]);
  const cases: [string, Record<string, string>, RegExp, "its CA" | "a new CA"][] = [
    ["not PEM", { "tls.crt": "garbage", "tls.key": "garbage", "ca.crt": "garbage" }, /tls\.crt holds no PEM certificate/, "a new CA"],
    ["the key of another certificate", asSecret({ ...good, keyPem: other.keyPem }), /the key in tls\.key does not belong to the certificate in tls\.crt/, "its CA"],
    ["an expired certificate", asSecret(makeServingCertificate(["localhost"], { validityMs: -60_000 })), /the certificate in tls\.crt expired at/, "its CA"],
    ["a certificate for another name", asSecret(makeServingCertificate(["elsewhere.example"])), /the certificate in tls\.crt is not for localhost/, "its CA"],
    ["no key", { "tls.crt": good.certPem, "ca.crt": good.caPem }, /it lacks tls\.key/, "a new CA"],
  ];
  for (const [i, [what, data, why, issuer]] of cases.entries()) {
    const name = `garbage-${i}`;
    await putSecret(name, data);
    const before = await stored(name);
    const logs: string[] = [];
    const serving = await ServingTls.start(secret(name), { hosts: ["localhost"], clients, log: (l) => logs.push(l) });
    assert.equal(usable(serving.current), undefined, what);
    const after = await stored(name);
    assert.equal(after.tls["tls.crt"], serving.current.certPem, `${what}: the Secret holds what is served`);
    assert.notEqual(after.resourceVersion, before.resourceVersion, what);
    assert.equal(after.type, before.type, `${what}: a Secret's type cannot change; kept`);
    assert.match(logs.join("\n"), new RegExp(`the Secret ${ns}/${name} could not be used \\(.*${why.source}.*\\); replaced it with a new certificate`), what);
    if (issuer === "its CA") assert.equal(serving.current.caPem, data["ca.crt"], `${what}: issued by the Secret's CA (caBundle and sidecars' trust unchanged)`);
    else assert.notEqual(serving.current.caPem, data["ca.crt"], what);
  }

  // Two replicas starting at once on garbage: both read the same version, one replaces it, the other (409) adopts that.
  await putSecret("garbage-race", { "tls.crt": "garbage", "tls.key": "garbage", "ca.crt": "garbage" });
  const options = { hosts: ["localhost"], clients, log: () => undefined };
  const [a, b] = await Promise.all([ServingTls.start(secret("garbage-race"), options), ServingTls.start(secret("garbage-race"), options)]);
  assert.equal(a.current.certPem, b.current.certPem);
  assert.equal((await stored("garbage-race")).tls["tls.crt"], a.current.certPem);

  // A replica serving a good Secret that someone overwrites with garbage: it keeps serving, replaces it with its own CA, and says why.
  await putSecret("overwritten", asSecret(good));
  const logs: string[] = [];
  const serving = await ServingTls.start(secret("overwritten"), { hosts: ["localhost"], clients, log: (l) => logs.push(l) });
  assert.equal(serving.current.certPem, good.certPem);
  await putSecret("overwritten", { "tls.crt": other.certPem, "tls.key": good.keyPem, "ca.crt": other.caPem });
  assert.equal(await serving.check(), "renewed");
  assert.equal(usable(serving.current), undefined);
  assert.equal(serving.current.caPem, good.caPem, "issued by the CA it served (the Secret's ca.key is gone)");
  assert.equal((await stored("overwritten")).tls["tls.crt"], serving.current.certPem);
  assert.match(logs.join("\n"), new RegExp(`the Secret ${ns}/overwritten could not be used \\(the key in tls\\.key does not belong to the certificate in tls\\.crt\\); replaced it with a new certificate`));
  assert.equal(await serving.check(), "unchanged");
});

test("a certificate already due for renewal when a replica starts (the replicas were down when it fell due) is renewed at once, not at the first periodic check", async () => {
  // Valid for 20 more seconds of 80: in its last third, not expired.
  const due = makeServingCertificate(["localhost"], { validityMs: 20_000 });
  await putSecret("due", asSecret(due));
  const logs: string[] = [];
  const serving = await ServingTls.start(secret("due"), { hosts: ["localhost"], clients: kubeClients(kubeconfigPath()), log: (l) => logs.push(l) });
  assert.notEqual(serving.current.certPem, due.certPem, "not the certificate due for renewal");
  assert.equal(serving.counts.renewed, 1);
  assert.equal(serving.current.caPem, due.caPem, "renewed with the same CA");
  assert.ok(serving.notAfter.getTime() > Date.now() + 364 * DAY);
  assert.equal((await stored("due")).tls["tls.crt"], serving.current.certPem, "written to the Secret for the other replicas");
  assert.match(logs.join("\n"), /serving certificate renewed: valid until/);
});
