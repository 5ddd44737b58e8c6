// The controller's serving certificate (admission webhooks and sidecars):
// a self-made CA and a certificate for the names the controller is reached
// by, generated at start unless --tls-cert/--tls-key are given. The CA goes
// into the webhook configurations' caBundle (the controller patches them) and
// to sidecars (--controller-ca). In production cert-manager can issue the
// certificate and inject the caBundle instead (docs/kubernetes.md).
import { isIP } from "node:net";
import forge from "node-forge";

export interface ServingCertificate {
  caPem: string;
  certPem: string;
  keyPem: string;
}

const YEAR_MS = 365 * 24 * 3600 * 1000;

function serial(): string {
  // Positive, 16 bytes: the first hex digit below 8.
  return "0" + forge.util.bytesToHex(forge.random.getBytesSync(15));
}

/** A CA and a server certificate for `hosts` (DNS names or IP addresses), valid for a year. */
export function makeServingCertificate(hosts: string[], commonName = "routeplane-controller"): ServingCertificate {
  const pki = forge.pki;
  const now = new Date(Date.now() - 60_000);
  const caKeys = pki.rsa.generateKeyPair(2048);
  const ca = pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  ca.validity.notBefore = now;
  ca.validity.notAfter = new Date(now.getTime() + YEAR_MS);
  const caName = [{ name: "commonName", value: `${commonName} CA` }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([{ name: "basicConstraints", cA: true, critical: true }, { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true }]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const keys = pki.rsa.generateKeyPair(2048);
  const cert = pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = now;
  cert.validity.notAfter = new Date(now.getTime() + YEAR_MS);
  cert.setSubject([{ name: "commonName", value: commonName }]);
  cert.setIssuer(caName);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
  ]);
  cert.sign(caKeys.privateKey, forge.md.sha256.create());
  return { caPem: pki.certificateToPem(ca), certPem: pki.certificateToPem(cert), keyPem: pki.privateKeyToPem(keys.privateKey) };
}
