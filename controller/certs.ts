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
  const caName = [{ name: "commonName", value: `${commonName} CA` }];
  /** A year-long certificate for `keys`, named `subject`, signed by `signer`. */
  const certificate = (keys: forge.pki.rsa.KeyPair, subject: forge.pki.CertificateField[], extensions: object[], signer: forge.pki.rsa.PrivateKey) => {
    const cert = pki.createCertificate();
    cert.publicKey = keys.publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = now;
    cert.validity.notAfter = new Date(now.getTime() + YEAR_MS);
    cert.setSubject(subject);
    cert.setIssuer(caName);
    cert.setExtensions(extensions);
    cert.sign(signer, forge.md.sha256.create());
    return cert;
  };
  const caKeys = pki.rsa.generateKeyPair(2048);
  const ca = certificate(caKeys, caName, [{ name: "basicConstraints", cA: true, critical: true }, { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true }], caKeys.privateKey);
  const keys = pki.rsa.generateKeyPair(2048);
  const cert = certificate(keys, [{ name: "commonName", value: commonName }], [
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
  ], caKeys.privateKey);
  return { caPem: pki.certificateToPem(ca), certPem: pki.certificateToPem(cert), keyPem: pki.privateKeyToPem(keys.privateKey) };
}
