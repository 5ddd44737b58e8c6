// The controller's serving certificate is renewed before it expires, without
// a restart (controller/serving-tls.ts): a generated one with the same CA (so
// webhooks and sidecars keep trusting it), files reloaded when they change
// (cert-manager renewing a mounted Secret). The shared Secret of several
// replicas is tested against the real apiserver (e2e/serving-tls.test.ts).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { connect, createSecureContext } from "node:tls";
import { X509Certificate } from "node:crypto";
import forge from "node-forge";
import { ServingTls, certificateProblem, certificateSerial, certificateValidity, dueForRenewal, makeServingCertificate, type ServingCertificate } from "../controller/index.ts";

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

type Pem = Pick<ServingCertificate, "certPem" | "keyPem" | "caPem">;

/**
 * An ECDSA (P-256) CA and a certificate for localhost it issued, made with openssl as cert-manager
 * makes them with `privateKey.algorithm: ECDSA`; with `intermediate`, the certificate is issued by
 * an intermediate CA and tls.crt holds both (the chain), ca.crt the root.
 */
function opensslEcdsa(name: string, { days = 30, intermediate = false } = {}): Pem {
  const at = path.join(dir, name);
  mkdirSync(at);
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: at, stdio: "ignore" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", String(days), "-subj", "/CN=test ECDSA CA"]);
  writeFileSync(path.join(at, "leaf.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  writeFileSync(path.join(at, "ca.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n");
  let issuer = "ca";
  if (intermediate) {
    openssl(["req", "-new", ...ec, "-keyout", "mid.key", "-out", "mid.csr", "-subj", "/CN=test ECDSA intermediate"]);
    openssl(["x509", "-req", "-in", "mid.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "mid.crt", "-days", String(days), "-extfile", "ca.ext"]);
    issuer = "mid";
  }
  openssl(["req", "-new", ...ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=routeplane-controller"]);
  openssl(["x509", "-req", "-in", "tls.csr", "-CA", `${issuer}.crt`, "-CAkey", `${issuer}.key`, "-CAcreateserial", "-out", "tls.crt", "-days", String(days), "-extfile", "leaf.ext"]);
  const read = (f: string) => readFileSync(path.join(at, f), "utf8");
  return { certPem: read("tls.crt") + (intermediate ? read("mid.crt") : ""), keyPem: read("tls.key"), caPem: read("ca.crt") };
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

test("serial numbers are positive DER integers in their shortest form, whatever the random bytes (OpenSSL refuses a certificate whose serial starts 00 00: \"illegal padding\")", () => {
  const bytes = (first: number[]) => String.fromCharCode(...first, ...new Array(16 - first.length).fill(0xab));
  for (const random of [bytes([0, 0]), bytes([0, 0x5e]), bytes([0x80]), bytes([0xff]), bytes([1])]) {
    const serial = certificateSerial(random);
    assert.match(serial, /^[0-9a-f]{32}$/, serial);
    const first = parseInt(serial.slice(0, 2), 16);
    assert.ok(first >= 0x01 && first <= 0x7f, `${serial}: the first byte is neither 00 (padding) nor ≥ 80 (negative)`);
  }
  assert.notEqual(certificateSerial(), certificateSerial());
  // The one in 256 that used to break: random bytes starting 00, in a certificate OpenSSL (TLS, X509Certificate) reads.
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = forge.pki.createCertificate();
  Object.assign(cert, { publicKey: keys.publicKey, serialNumber: certificateSerial(bytes([0, 0])) });
  cert.validity.notAfter = new Date(Date.now() + DAY);
  cert.setSubject([{ name: "commonName", value: "localhost" }]);
  cert.setIssuer([{ name: "commonName", value: "localhost" }]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  const pem = forge.pki.certificateToPem(cert);
  assert.doesNotThrow(() => new X509Certificate(pem));
  assert.doesNotThrow(() => createSecureContext({ cert: pem, key: forge.pki.privateKeyToPem(keys.privateKey) }));
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
    assert.match(lines.join("\n"), /the key in .*tls\.key does not belong to the certificate in .*tls\.crt; still serving the previous ones/);
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

test("an ECDSA certificate in --tls-cert files (cert-manager issues them as readily as RSA): served, its validity read, its renewal reloaded", async () => {
  const files = { cert: path.join(dir, "ec.crt"), key: path.join(dir, "ec.key"), ca: path.join(dir, "ec-ca.crt") };
  const write = (c: Pem) => {
    writeFileSync(files.cert, c.certPem);
    writeFileSync(files.key, c.keyPem);
    writeFileSync(files.ca, c.caPem);
  };
  const first = opensslEcdsa("ec-1", { days: 30 });
  write(first);
  const lines: string[] = [];
  const serving = await ServingTls.start({ kind: "files", ...files }, { hosts: [], log: (l) => lines.push(l) });
  assert.ok(Math.abs(serving.notAfter.getTime() - Date.now() - 30 * DAY) < DAY, serving.notAfter.toISOString());
  // The periodic check's interval comes from the certificate's validity.
  serving.startChecking();
  serving.stop();
  const { server, port } = await serve(serving);
  try {
    const before = await servedSerial(port, first.caPem);
    assert.equal(await serving.check(), "unchanged");
    assert.equal(await serving.check(new Date(Date.now() + 25 * DAY)), "unchanged");
    assert.match(lines.join("\n"), /ec\.crt expires at .*has not renewed it yet/);
    const second = opensslEcdsa("ec-2", { days: 30, intermediate: true });
    write(second);
    assert.equal(await serving.check(), "reloaded");
    assert.notEqual(await servedSerial(port, second.caPem), before, "the renewed chain, trusted through its root");
  } finally {
    server.close();
  }
});

test("certificate files that cannot be served are refused at start naming the file, and not adopted when they change", async () => {
  const files = { cert: path.join(dir, "bad.crt"), key: path.join(dir, "bad.key"), ca: path.join(dir, "bad-ca.crt") };
  const write = (c: Pem) => {
    writeFileSync(files.cert, c.certPem);
    writeFileSync(files.key, c.keyPem);
    writeFileSync(files.ca, c.caPem);
  };
  const good = makeServingCertificate(["localhost"]);
  const other = makeServingCertificate(["localhost"]);
  const ec = opensslEcdsa("ec-3");
  const cases: [string, Pem, RegExp][] = [
    ["the key of another certificate", { ...good, keyPem: other.keyPem }, /the key in .*bad\.key does not belong to the certificate in .*bad\.crt/],
    ["an ECDSA key for an RSA certificate", { ...good, keyPem: ec.keyPem }, /the key in .*bad\.key does not belong to the certificate in .*bad\.crt/],
    ["no certificate", { ...good, certPem: "not a certificate\n" }, /bad\.crt holds no PEM certificate/],
    ["a key that is not one", { ...good, keyPem: "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n" }, /bad\.key holds no PEM private key that can be read/],
    ["an expired certificate", makeServingCertificate(["localhost"], { validityMs: -60_000 }), /the certificate in .*bad\.crt expired at \d{4}-/],
    ["another CA", { ...good, caPem: other.caPem }, /the certificate in .*bad\.crt is not issued by the CA in .*bad-ca\.crt/],
  ];
  for (const [what, pem, message] of cases) {
    write(pem);
    await assert.rejects(ServingTls.start({ kind: "files", ...files }, { hosts: [], log: () => undefined }), (err: Error) => {
      assert.match(err.message, /^the serving certificate cannot be used: /, what);
      assert.match(err.message, message, what);
      return true;
    });
  }
  write(good);
  const lines: string[] = [];
  const serving = await ServingTls.start({ kind: "files", ...files }, { hosts: [], log: (l) => lines.push(l) });
  for (const [what, pem, message] of cases) {
    write(pem);
    assert.equal(await serving.check(), "unchanged", what);
    assert.match(lines.at(-1) ?? "", message, what);
    assert.match(lines.at(-1) ?? "", /still serving the previous ones$/, what);
    assert.equal(serving.current.certPem, good.certPem, what);
  }
  assert.equal(certificateProblem(ec, { cert: "tls.crt", key: "tls.key", ca: "ca.crt" }), undefined, "ECDSA, issued by its CA");
  assert.equal(certificateProblem(opensslEcdsa("ec-4", { intermediate: true }), { cert: "tls.crt", key: "tls.key", ca: "ca.crt" }), undefined, "a chain through an intermediate to the root in ca.crt");
  assert.equal(certificateProblem({ ...good, caPem: "" }, { cert: "tls.crt", key: "tls.key", ca: "ca.crt" }), undefined, "no CA (an ACME issuer): the apiserver's system roots");
});

test("a certificate read from the shared Secret must be for every name the controller is reached by (DNS names and IP addresses)", () => {
  const places = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" };
  const made = makeServingCertificate(["routeplane-controller.routeplane-system.svc", "127.0.0.1"]);
  assert.equal(certificateProblem(made, places, { hosts: ["routeplane-controller.routeplane-system.svc", "127.0.0.1"] }), undefined);
  assert.match(certificateProblem(made, places, { hosts: ["routeplane-controller.routeplane-system.svc", "localhost", "::1"] }) ?? "", /^the certificate in tls\.crt is not for localhost, ::1 \(it is for DNS:routeplane-controller\.routeplane-system\.svc, IP Address:127\.0\.0\.1\)$/);
});

test("certificate files already due for renewal when the controller starts are said at once, not at the first periodic check", async () => {
  const files = { cert: path.join(dir, "due.crt"), key: path.join(dir, "due.key"), ca: path.join(dir, "due-ca.crt") };
  // Valid for 20 more seconds of 80: in its last third, not expired.
  const due = makeServingCertificate(["localhost"], { validityMs: 20_000 });
  writeFileSync(files.cert, due.certPem);
  writeFileSync(files.key, due.keyPem);
  writeFileSync(files.ca, due.caPem);
  const lines: string[] = [];
  const serving = await ServingTls.start({ kind: "files", ...files }, { hosts: [], log: (l) => lines.push(l) });
  assert.equal(serving.current.certPem, due.certPem, "still served: nothing else to serve");
  assert.match(lines.join("\n"), /due\.crt expires at .*has not renewed it yet/);
});
