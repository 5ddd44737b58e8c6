// keygen, sign, verify: Ed25519 keys and bundle signatures.
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  describeBundleReadError, generateKeyPair, readBundle, serializeBundle, signBundle, verifyBundleSignature,
} from "../bundle/index.ts";
import { readTextFile, UsageError } from "./usage.ts";
import { EXIT, type Io } from "./io.ts";

export function cmdKeygen(io: Io, opts: { out?: string; force?: boolean }): number {
  const base = opts.out ?? "routeplane";
  const keyFile = `${base}.key`;
  const pubFile = `${base}.pub`;
  if (!opts.force && (existsSync(keyFile) || existsSync(pubFile))) {
    throw new UsageError(`${keyFile} or ${pubFile} already exists; pass --force to overwrite`);
  }
  const pair = generateKeyPair();
  // Mode 0600 even when --force replaces a file that was readable by others.
  writeFileSync(keyFile, pair.privateKeyPem, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  writeFileSync(pubFile, pair.publicKeyPem);
  io.out(`wrote ${keyFile} (private, keep it secret) and ${pubFile}; key id ${pair.keyId}`);
  io.err(`routeplane keygen: ${path.resolve(keyFile)} is a private signing key (mode 0600): keep it out of git (add \`*.key\` to .gitignore) and in your CI's secret store; commit only ${pubFile}`);
  return EXIT.ok;
}

export function loadBundleFile(io: Io, file: string) {
  const read = readBundle(readTextFile(file, "bundle"));
  if (!read.ok) io.err(`${file}: ${describeBundleReadError(read.error)}`);
  return read.ok ? read.bundle : null;
}

export function cmdSign(io: Io, file: string | undefined, opts: { key?: string; output?: string }): number {
  if (!file) throw new UsageError("sign needs a bundle file");
  if (!opts.key) throw new UsageError("sign needs --key <private.key>");
  const pem = readTextFile(opts.key, "private key");
  const bundle = loadBundleFile(io, file);
  if (!bundle) return EXIT.failed;
  let signed;
  try {
    signed = signBundle(bundle, pem);
  } catch (err) {
    throw new UsageError(`cannot sign with ${opts.key}: ${(err as Error).message}`);
  }
  const out = opts.output ?? file;
  writeFileSync(out, serializeBundle(signed));
  io.out(`signed ${out} with key ${signed.signatures.map((s) => s.keyId).join(", ")}`);
  return EXIT.ok;
}

export function cmdVerify(io: Io, file: string | undefined, opts: { pub?: string[]; "allow-unproved"?: boolean }): number {
  if (!file) throw new UsageError("verify needs a bundle file");
  if (!opts.pub || opts.pub.length === 0) throw new UsageError("verify needs --pub <public.pub> (repeatable)");
  const keys = opts.pub.map((p) => readTextFile(p, "public key"));
  const bundle = loadBundleFile(io, file);
  if (!bundle) return EXIT.failed;
  let result;
  try {
    result = verifyBundleSignature(bundle, keys);
  } catch (err) {
    throw new UsageError(`cannot read public key: ${(err as Error).message}`);
  }
  if (!result.ok) {
    io.err(`${file}: verification failed: ${result.detail}`);
    return EXIT.failed;
  }
  // What a sidecar would refuse besides the signature: a failed guarantee always, an unproved one unless allowed.
  const { manifest } = bundle;
  const failed = bundle.verification.guarantees.filter((g) => g.status === "failed");
  const unproved = bundle.verification.guarantees.filter((g) => g.status === "unchecked");
  const where = `revision ${manifest.revision}, policy ${manifest.policy}, serial ${manifest.serial}${manifest.rollback ? " (rollback)" : ""}`;
  if (failed.length > 0 || (unproved.length > 0 && !opts["allow-unproved"])) {
    const names = (gs: typeof failed) => gs.map((g) => `"${g.name}"`).join(", ");
    io.err(`${file}: signature ok (${where}), but sidecars refuse it: ${failed.length ? `failed guarantees ${names(failed)}` : `unproved guarantees ${names(unproved)} (compiled with --allow-unproved; pass --allow-unproved to accept, as \`serve --allow-unproved\` does)`}`);
    return EXIT.failed;
  }
  const proved = bundle.verification.guarantees.length - unproved.length;
  io.out(`${file}: ok, ${where}, signed by ${result.keyId}; ${proved} guarantee${proved === 1 ? "" : "s"} proved${unproved.length ? `, ${unproved.length} unproved (allowed)` : ""}`);
  return EXIT.ok;
}
