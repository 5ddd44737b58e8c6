// The controller's serving certificate is renewed before it expires, without
// a restart (controller/serving-tls.ts): a generated one with the same CA (so
// webhooks and sidecars keep trusting it), files reloaded when they change
// (cert-manager renewing a mounted Secret). The shared Secret of several
// replicas is tested against the real apiserver (e2e/serving-tls.test.ts).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect } from "node:tls";
import { ServingTls, certificateValidity, dueForRenewal, makeServingCertificate } from "../controller/index.ts";

const DAY = 24 * 3600 * 1000;
const dir = mkdtempSync(path.join(tmpdir(), "routeplane-tls-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The serial of the certificate a TLS client gets from `port`, verified against `ca` for localhost. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, servername: "localhost", ca, rejectUnauthorized: true }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on("error", reject);
  });
}

async function serve(serving: ServingTls): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: serving.current.certPem, key: serving.current.keyPem }, (_req, res) => res.end("ok"));
  serving.onChange((next) => server.setSecureContext({ cert: next.certPem, key: next.keyPem }));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, port: (server.address() as AddressInfo).port };
}

test("certificates: a CA of ten years, a serving certificate of a year, due for renewal in its last third", () => {
  const made = makeServingCertificate(["localhost"]);
  const ca = certificateValidity(made.caPem);
  const leaf = certificateValidity(made.certPem);
  assert.ok(ca.notAfter.getTime() - Date.now() > 9.9 * 365 * DAY);
  assert.ok(Math.abs(leaf.notAfter.getTime() - Date.now() - 365 * DAY) < DAY);
  assert.ok(made.caKeyPem, "the CA key comes along, to renew with");
  assert.equal(dueForRenewal(made.certPem, new Date(Date.now() + 200 * DAY)), false);
  assert.equal(dueForRenewal(made.certPem, new Date(Date.now() + 250 * DAY)), true);
});

test("a generated certificate is renewed in its last third with the same CA: new connections get it, clients trusting the CA accept it", async () => {
  const lines: string[] = [];
  const serving = await ServingTls.start({ kind: "generated" }, { hosts: ["localhost", "127.0.0.1"], log: (l) => lines.push(l) });
  const { server, port } = await serve(serving);
  try {
    const ca = serving.current.caPem;
    const before = await servedSerial(port, ca);
    assert.equal(await serving.check(), "unchanged");
    assert.equal(await serving.check(new Date(Date.now() + 300 * DAY)), "renewed");
    assert.equal(serving.current.caPem, ca, "the same CA: caBundle and sidecars' trust stay valid");
    const afterRenewal = await servedSerial(port, ca);
    assert.notEqual(afterRenewal, before);
    assert.ok(serving.notAfter.getTime() > Date.now() + 364 * DAY);
    assert.equal(serving.counts.renewed, 1);
    assert.match(lines.join("\n"), /serving certificate renewed: valid until/);
  } finally {
    server.close();
  }
});

test("certificate files are reloaded when they change (cert-manager renewing); a certificate without its key waits for the next check", async () => {
  const files = { cert: path.join(dir, "tls.crt"), key: path.join(dir, "tls.key"), ca: path.join(dir, "ca.crt") };
  const write = (c: { certPem: string; keyPem: string; caPem: string }) => {
    writeFileSync(files.cert, c.certPem);
    writeFileSync(files.key, c.keyPem);
    writeFileSync(files.ca, c.caPem);
  };
  const first = makeServingCertificate(["localhost"]);
  write(first);
  const lines: string[] = [];
  const serving = await ServingTls.start({ kind: "files", ...files }, { hosts: [], log: (l) => lines.push(l) });
  const cas: string[] = [];
  serving.onChange((next, previous) => next.caPem !== previous.caPem && cas.push(next.caPem));
  const { server, port } = await serve(serving);
  try {
    const before = await servedSerial(port, first.caPem);
    assert.equal(await serving.check(), "unchanged");
    // Half-written: the new certificate, the old key.
    const second = makeServingCertificate(["localhost"]);
    writeFileSync(files.cert, second.certPem);
    assert.equal(await serving.check(), "unchanged");
    assert.match(lines.join("\n"), /do not load together .*still serving the previous ones/);
    assert.equal(await servedSerial(port, first.caPem), before);
    write(second);
    assert.equal(await serving.check(), "reloaded");
    assert.notEqual(await servedSerial(port, second.caPem), before);
    assert.deepEqual(cas, [second.caPem], "listeners hear of the new CA (the webhooks' caBundle is updated)");
    // Files nobody renews: said once, when due.
    assert.equal(await serving.check(new Date(Date.now() + 300 * DAY)), "unchanged");
    assert.equal(await serving.check(new Date(Date.now() + 301 * DAY)), "unchanged");
    assert.equal(lines.filter((l) => /has not renewed it yet/.test(l)).length, 1);
  } finally {
    server.close();
  }
});
