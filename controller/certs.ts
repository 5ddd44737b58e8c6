// The controller's serving certificate (admission webhooks and sidecars):
// a self-made CA and a certificate for the names the controller is reached
// by, generated at start unless --tls-cert/--tls-key are given. The CA goes
// into the webhook configurations' caBundle (the controller patches them) and
// to sidecars (--controller-ca). The CA lives ten years; the serving
// certificate a year, and is renewed with the same CA before it expires
// (serving-tls.ts), so neither the caBundle nor the sidecars' trust changes.
// In production cert-manager can issue the certificate and inject the
// caBundle instead (docs/kubernetes.md).
import { isIP } from "node:net";
import forge from "node-forge";

export interface ServingCertificate {
  caPem: string;
  certPem: string;
  keyPem: string;
  /** The CA's private key, when the controller made the CA (it can then renew the certificate). */
  caKeyPem?: string;
}

const DAY_MS = 24 * 3600 * 1000;
export const CA_VALIDITY_MS = 10 * 365 * DAY_MS;
export const CERT_VALIDITY_MS = 365 * DAY_MS;

function serial(): string {
  // Positive, 16 bytes: the first hex digit below 8.
  return "0" + forge.util.bytesToHex(forge.random.getBytesSync(15));
}

const caName = (commonName: string) => [{ name: "commonName", value: `${commonName} CA` }];

/** A certificate for `publicKey`, named `subject`, signed by `signer`, valid from a minute ago for `validityMs`. */
function certificate(publicKey: forge.pki.PublicKey, subject: forge.pki.CertificateField[], issuer: forge.pki.CertificateField[], extensions: object[], signer: forge.pki.PrivateKey, validityMs: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  const from = new Date(Date.now() - 60_000);
  cert.publicKey = publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = from;
  cert.validity.notAfter = new Date(from.getTime() + 60_000 + validityMs);
  cert.setSubject(subject);
  cert.setIssuer(issuer);
  cert.setExtensions(extensions);
  cert.sign(signer as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return cert;
}

/** A serving certificate for `hosts` (DNS names or IP addresses), signed by the CA given in PEM. */
export function issueServingCertificate(ca: { caPem: string; caKeyPem: string }, hosts: string[], validityMs = CERT_VALIDITY_MS, commonName = "routeplane-controller"): ServingCertificate {
  const caCert = forge.pki.certificateFromPem(ca.caPem);
  const keys = forge.pki.rsa.generateKeyPair(2048);
  const cert = certificate(keys.publicKey, [{ name: "commonName", value: commonName }], caCert.subject.attributes, [
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })) },
  ], forge.pki.privateKeyFromPem(ca.caKeyPem), validityMs);
  return { caPem: ca.caPem, caKeyPem: ca.caKeyPem, certPem: forge.pki.certificateToPem(cert), keyPem: forge.pki.privateKeyToPem(keys.privateKey) };
}

/** A new CA (ten years) and a serving certificate for `hosts` (a year, or `validityMs`). */
export function makeServingCertificate(hosts: string[], { validityMs = CERT_VALIDITY_MS, commonName = "routeplane-controller" }: { validityMs?: number; commonName?: string } = {}): ServingCertificate {
  const caKeys = forge.pki.rsa.generateKeyPair(2048);
  const name = caName(commonName);
  const ca = certificate(caKeys.publicKey, name, name, [{ name: "basicConstraints", cA: true, critical: true }, { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true }], caKeys.privateKey, Math.max(CA_VALIDITY_MS, validityMs));
  return issueServingCertificate({ caPem: forge.pki.certificateToPem(ca), caKeyPem: forge.pki.privateKeyToPem(caKeys.privateKey) }, hosts, validityMs, commonName);
}

/** When a certificate (PEM) starts and stops being valid. */
export function certificateValidity(pem: string): { notBefore: Date; notAfter: Date } {
  const cert = forge.pki.certificateFromPem(pem);
  return { notBefore: cert.validity.notBefore, notAfter: cert.validity.notAfter };
}

/** Whether a certificate is in the last third of its life (when cert-manager renews, by default). */
export function dueForRenewal(pem: string, now = new Date()): boolean {
  const { notBefore, notAfter } = certificateValidity(pem);
  return notAfter.getTime() - now.getTime() < (notAfter.getTime() - notBefore.getTime()) / 3;
}
