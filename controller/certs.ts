// The controller's serving certificate (admission webhooks and sidecars):
// a self-made CA and a certificate for the names the controller is reached
// by, generated at start unless --tls-cert/--tls-key are given. The CA goes
// into the webhook configurations' caBundle (the controller patches them) and
// to sidecars (--controller-ca). The CA lives ten years; the serving
// certificate a year, and is renewed with the same CA before it expires
// (serving-tls.ts), so neither the caBundle nor the sidecars' trust changes.
// In production cert-manager can issue the certificate and inject the
// caBundle instead (docs/kubernetes.md).
// node-forge makes the controller's own (RSA) certificates; any certificate
// the controller reads — files from cert-manager, the shared Secret — is read
// with node:crypto, which reads every key type (forge reads only RSA, and
// cert-manager issues ECDSA as readily).
import { createPrivateKey, X509Certificate, type KeyObject } from "node:crypto";
import { isIP } from "node:net";
import { createSecureContext } from "node:tls";
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

/**
 * A serial number from 16 random bytes: a positive DER integer in its shortest form, so the first
 * byte is 01–7f. (OpenSSL refuses a serial padded with zeros — "illegal padding" — so one
 * certificate in 256 of the former "0" + 15 random bytes could not be served.)
 */
export function certificateSerial(random = forge.random.getBytesSync(16)): string {
  const first = random.charCodeAt(0) & 0x7f || 0x01;
  return forge.util.bytesToHex(String.fromCharCode(first) + random.slice(1, 16));
}

const caName = (commonName: string) => [{ name: "commonName", value: `${commonName} CA` }];

/** A certificate for `publicKey`, named `subject`, signed by `signer`, valid from a minute ago for `validityMs`. */
function certificate(publicKey: forge.pki.PublicKey, subject: forge.pki.CertificateField[], issuer: forge.pki.CertificateField[], extensions: object[], signer: forge.pki.PrivateKey, validityMs: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  const from = new Date(Date.now() - 60_000);
  cert.publicKey = publicKey;
  cert.serialNumber = certificateSerial();
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

/** When a certificate (PEM; the first of a chain) starts and stops being valid. */
export function certificateValidity(pem: string): { notBefore: Date; notAfter: Date } {
  const cert = new X509Certificate(pem);
  return { notBefore: cert.validFromDate, notAfter: cert.validToDate };
}

/** Where the parts of a serving certificate come from, to name them in a problem (file paths, a Secret's keys). */
export interface CertificatePlaces {
  cert: string;
  key: string;
  ca: string;
}

const errorText = (err: unknown) => (err as Error).message.replace(/^error:[0-9A-F]+:/, "");

/** Every certificate in a PEM text (a chain, a CA bundle); throws on a block that is not one. */
function certificatesIn(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((block) => new X509Certificate(block));
}

const signedBy = (cert: X509Certificate, issuer: X509Certificate) => cert.raw.equals(issuer.raw) || (cert.checkIssued(issuer) && cert.verify(issuer.publicKey));

/** Whether the chain (leaf first, then intermediates) leads to one of the CAs. */
function chainsTo(chain: X509Certificate[], cas: X509Certificate[]): boolean {
  let cert = chain[0];
  for (let step = 0; step < chain.length; step++) {
    if (cas.some((ca) => signedBy(cert, ca))) return true;
    const next = chain.find((c) => c !== cert && signedBy(cert, c));
    if (!next) return false;
    cert = next;
  }
  return false;
}

/**
 * What is wrong with a serving certificate the controller did not just make itself (files from
 * cert-manager, the shared Secret), naming the part at fault: undefined when it can be served now —
 * the certificate and key are PEM and belong together, it is valid at `now`, it is for every name in
 * `hosts`, and it is issued by the CA clients are given. An empty CA is accepted (an ACME issuer
 * leaves cert-manager's ca.crt empty: the apiserver then trusts its system roots).
 */
export function certificateProblem(tls: { certPem: string; keyPem: string; caPem: string }, places: CertificatePlaces, { now = new Date(), hosts = [] }: { now?: Date; hosts?: string[] } = {}): string | undefined {
  let chain: X509Certificate[];
  try {
    chain = certificatesIn(tls.certPem);
  } catch (err) {
    return `${places.cert} holds a certificate that cannot be read (${errorText(err)})`;
  }
  if (chain.length === 0) return `${places.cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  const leaf = chain[0];
  let key: KeyObject;
  try {
    key = createPrivateKey(tls.keyPem);
  } catch (err) {
    return `${places.key} holds no PEM private key that can be read (${errorText(err)})`;
  }
  if (!leaf.checkPrivateKey(key)) return `the key in ${places.key} does not belong to the certificate in ${places.cert}`;
  if (now < leaf.validFromDate) return `the certificate in ${places.cert} is not valid before ${leaf.validFromDate.toISOString()}`;
  if (now > leaf.validToDate) return `the certificate in ${places.cert} expired at ${leaf.validToDate.toISOString()}`;
  const missing = hosts.filter((h) => (isIP(h) ? leaf.checkIP(h) : leaf.checkHost(h)) === undefined);
  if (missing.length > 0) return `the certificate in ${places.cert} is not for ${missing.join(", ")} (it is for ${leaf.subjectAltName ?? leaf.subject.replace(/\n/g, ", ")})`;
  if (tls.caPem.trim() !== "") {
    let cas: X509Certificate[];
    try {
      cas = certificatesIn(tls.caPem);
    } catch (err) {
      return `${places.ca} holds a CA certificate that cannot be read (${errorText(err)})`;
    }
    if (cas.length === 0) return `${places.ca} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
    if (!chainsTo(chain, cas)) return `the certificate in ${places.cert} is not issued by the CA in ${places.ca} (clients given that CA would refuse it)`;
  }
  // What the HTTPS server does with them: a last check for anything node:crypto reads but TLS does not.
  try {
    createSecureContext({ cert: tls.certPem, key: tls.keyPem });
  } catch (err) {
    return `the certificate in ${places.cert} and the key in ${places.key} do not load together (${errorText(err)})`;
  }
  return undefined;
}

/** Whether a certificate is in the last third of its life (when cert-manager renews, by default). */
export function dueForRenewal(pem: string, now = new Date()): boolean {
  const { notBefore, notAfter } = certificateValidity(pem);
  return notAfter.getTime() - now.getTime() < (notAfter.getTime() - notBefore.getTime()) / 3;
}

/** Whether a CA (PEM, with its key) can issue a certificate now: a valid CA certificate, and the key is its own. */
export function canIssue(ca: { caPem: string; caKeyPem?: string }, now = new Date()): ca is { caPem: string; caKeyPem: string } {
  if (!ca.caKeyPem) return false;
  try {
    const cert = new X509Certificate(ca.caPem);
    return cert.ca && cert.checkPrivateKey(createPrivateKey(ca.caKeyPem)) && cert.validFromDate <= now && now < cert.validToDate;
  } catch {
    return false;
  }
}
