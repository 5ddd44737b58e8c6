// The controller's serving certificate over time. Where it comes from:
//   generated  — made at start (a CA and a certificate), kept in memory;
//   secret     — shared by the replicas in a Secret (--tls-secret): the first
//                to start makes it, the others read it; one holding what cannot
//                be served (not a pair, expired, for other names) is replaced,
//                never adopted;
//   files      — --tls-cert/--tls-key/--tls-ca, e.g. cert-manager's Secret
//                mounted into the pod;
//   given      — PEM handed to startController (tests, benchmarks).
// A periodic check keeps it current without a restart: a certificate in the
// last third of its life is renewed with the same CA (generated, secret —
// so the webhooks' caBundle and the sidecars' trust stay valid), a Secret
// another replica renewed is adopted, and changed files are reloaded (the
// kubelet updates a mounted Secret when cert-manager renews it). Listeners
// (the HTTPS server's setSecureContext, the webhooks' caBundle) hear of every
// change.
import { readFileSync } from "node:fs";
import { canIssue, certificateProblem, certificateValidity, dueForRenewal, issueServingCertificate, makeServingCertificate, type ServingCertificate } from "./certs.ts";
import { readTlsSecret, writeTlsSecret, type IncompleteTlsSecret, type KubeClients, type TlsSecret } from "./kube.ts";

export type TlsSource =
  | { kind: "generated" }
  | { kind: "secret"; namespace: string; name: string }
  | { kind: "files"; cert: string; key: string; ca: string }
  | { kind: "given"; tls: ServingCertificate };

export interface ServingTlsOptions {
  /** Names a made certificate is for. */
  hosts: string[];
  /** How long a made certificate is valid (default a year). */
  validityMs?: number;
  /** For the secret source. */
  clients?: KubeClients;
  log: (line: string) => void;
}

export type CheckResult = "unchanged" | "renewed" | "reloaded";

export class ServingTls {
  current: ServingCertificate;
  readonly counts = { renewed: 0, reloaded: 0 };
  private readonly listeners: ((tls: ServingCertificate, previous: ServingCertificate) => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private checking: Promise<CheckResult> | null = null;
  private warned = "";

  private readonly source: TlsSource;
  private readonly options: ServingTlsOptions;

  private constructor(source: TlsSource, options: ServingTlsOptions, tls: ServingCertificate) {
    this.source = source;
    this.options = options;
    this.current = tls;
  }

  static async start(source: TlsSource, options: ServingTlsOptions): Promise<ServingTls> {
    const serving = await ServingTls.open(source, options);
    // Already due (the replicas were down when it fell due, files nobody renewed): renewed, or said, now — the first
    // periodic check may be an hour away, and the certificate may not last that long.
    if (dueForRenewal(serving.current.certPem)) {
      await serving.check().catch((err: Error) => options.log(`serving certificate: ${err.message}; retrying at the next check`));
    }
    return serving;
  }

  private static async open(source: TlsSource, options: ServingTlsOptions): Promise<ServingTls> {
    const make = () => makeServingCertificate(options.hosts, { validityMs: options.validityMs });
    switch (source.kind) {
      case "generated":
        return new ServingTls(source, options, make());
      case "given":
        return new ServingTls(source, options, source.tls);
      case "files": {
        // Checked now, so a pair that cannot be served is said naming the file, not as the HTTPS server's OpenSSL error.
        const tls = readFiles(source);
        const problem = certificateProblem(tls, source);
        if (problem) throw new Error(`the serving certificate cannot be used: ${problem}`);
        return new ServingTls(source, options, tls);
      }
      case "secret": {
        const c = options.clients!;
        for (let attempt = 0; attempt < 3; attempt++) {
          const found = await readTlsSecret(c, source.namespace, source.name);
          if (found === undefined) {
            const made = make();
            if (await writeTlsSecret(c, source.namespace, source.name, made, null)) return new ServingTls(source, options, made);
            // Another replica created it first: read theirs.
            continue;
          }
          const problem = checkSecret(found, options.hosts, new Date());
          if (typeof problem !== "string") return new ServingTls(source, options, problem.tls);
          // Never served: replaced at the version read, so of replicas starting together one replaces it and the others read theirs.
          const made = freshCertificate("tls" in found ? [found.tls] : [], options);
          if (await writeTlsSecret(c, source.namespace, source.name, made, found)) {
            options.log(replacedLine(source, problem, made, "tls" in found ? found.tls : undefined));
            return new ServingTls(source, options, made);
          }
        }
        throw new Error(`the Secret ${source.namespace}/${source.name} could not be created or read`);
      }
    }
  }

  /** When the current certificate expires. */
  get notAfter(): Date {
    return certificateValidity(this.current.certPem).notAfter;
  }

  onChange(listener: (tls: ServingCertificate, previous: ServingCertificate) => void): void {
    this.listeners.push(listener);
  }

  /** Checks now and then: every twentieth of the certificate's life, at least every hour (and at most every 0.5 s). */
  startChecking(): void {
    const { notBefore, notAfter } = certificateValidity(this.current.certPem);
    const every = Math.min(3600_000, Math.max(500, (notAfter.getTime() - notBefore.getTime()) / 20));
    this.timer = setInterval(() => {
      this.check().catch((err: Error) => this.options.log(`serving certificate: ${err.message}; retrying in ${Math.round(every / 1000)} s`));
    }, every);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check (never two at once). */
  check(now = new Date()): Promise<CheckResult> {
    this.checking ??= this.checkOnce(now).finally(() => (this.checking = null));
    return this.checking;
  }

  private async checkOnce(now: Date): Promise<CheckResult> {
    const s = this.source;
    if (s.kind === "given") return "unchanged";
    if (s.kind === "files") {
      const read = readFiles(s);
      if (read.certPem !== this.current.certPem || read.keyPem !== this.current.keyPem || read.caPem !== this.current.caPem) {
        // Files caught between two writes (a certificate without its key) wait for the next check; so do files that cannot be served.
        const problem = certificateProblem(read, s, { now });
        if (problem) {
          this.warnOnce(`${problem}; still serving the previous ones`);
          return "unchanged";
        }
        return this.adopt(read, "reloaded");
      }
      if (dueForRenewal(this.current.certPem, now)) this.warnOnce(`the certificate in ${s.cert} expires at ${this.notAfter.toISOString()}; whoever issues it (e.g. cert-manager) has not renewed it yet`);
      return "unchanged";
    }
    if (s.kind === "generated") {
      if (!dueForRenewal(this.current.certPem, now)) return "unchanged";
      return this.adopt(this.renew(this.current), "renewed");
    }
    // The Secret: adopt what another replica stored; renew when due.
    const c = this.options.clients!;
    const read = await readTlsSecret(c, s.namespace, s.name);
    if (read === undefined) {
      this.warnOnce(`the Secret ${s.namespace}/${s.name} is gone; serving the certificate in memory (a restarted replica makes a new one)`);
      return "unchanged";
    }
    const found = checkSecret(read, this.options.hosts, now);
    if (typeof found === "string") {
      // Not adopted: keep serving ours and put a fresh one in its place, from the CA served until now when it can
      // issue (the caBundle and the sidecars' trust stay valid), else the Secret's, else a new one.
      const made = freshCertificate([this.current, "tls" in read ? read.tls : undefined], this.options, now);
      // At the version read: if another replica replaced it meanwhile, this write fails and the next check adopts theirs.
      if (!(await writeTlsSecret(c, s.namespace, s.name, made, read))) return "unchanged";
      this.options.log(replacedLine(s, found, made, this.current));
      return this.adopt(made, "renewed");
    }
    let result: CheckResult = "unchanged";
    if (found.tls.certPem !== this.current.certPem) result = this.adopt(found.tls, "reloaded");
    if (!dueForRenewal(found.tls.certPem, now)) return result;
    if (!found.tls.caKeyPem) {
      this.warnOnce(`the certificate in Secret ${s.namespace}/${s.name} expires at ${this.notAfter.toISOString()} and cannot be renewed: the Secret has no ca.key (an older routeplane made it); delete the Secret and restart the replicas, then update each namespace's routeplane-trust with the new CA`);
      return result;
    }
    if (!canIssue(found.tls, now)) {
      this.warnOnce(`the certificate in Secret ${s.namespace}/${s.name} expires at ${this.notAfter.toISOString()} and cannot be renewed: its ca.key is not the key of ca.crt, or that CA has expired; delete the Secret and restart the replicas, then update each namespace's routeplane-trust with the new CA`);
      return result;
    }
    const renewed = this.renew(found.tls);
    // At the version read: if another replica renewed meanwhile, this write fails and the next check adopts theirs.
    if (!(await writeTlsSecret(c, s.namespace, s.name, renewed, found))) return result;
    return this.adopt(renewed, "renewed");
  }

  private renew(from: ServingCertificate): ServingCertificate {
    if (!from.caKeyPem) throw new Error("no CA key to renew the certificate with");
    return issueServingCertificate({ caPem: from.caPem, caKeyPem: from.caKeyPem }, this.options.hosts, this.options.validityMs);
  }

  private adopt(tls: ServingCertificate, how: "renewed" | "reloaded"): CheckResult {
    const previous = this.current;
    this.current = tls;
    this.counts[how]++;
    this.warned = "";
    this.options.log(`serving certificate ${how}: valid until ${this.notAfter.toISOString()}${tls.caPem !== previous.caPem ? " (a new CA)" : ""}`);
    for (const l of this.listeners) l(tls, previous);
    return how;
  }

  private warnOnce(line: string): void {
    if (this.warned === line) return;
    this.warned = line;
    this.options.log(line);
  }
}

// A Secret's parts, as a problem names them.
const SECRET_PLACES = { cert: "tls.crt", key: "tls.key", ca: "ca.crt" };

/**
 * Why the Secret must not be served (it is replaced instead): it lacks a part, or holds what cannot be
 * served now for the controller's names — edited by hand, another tool's, expired, made for other
 * names. The Secret itself when it can be served.
 */
function checkSecret(found: TlsSecret | IncompleteTlsSecret, hosts: string[], now: Date): string | TlsSecret {
  if ("incomplete" in found) return `it lacks ${found.incomplete}`;
  return certificateProblem(found.tls, SECRET_PLACES, { now, hosts }) ?? found;
}

/**
 * A new certificate for the controller's names, issued by the first of `from` whose CA can still issue
 * (so the webhooks' caBundle and the sidecars' trust stay valid), else with a new CA.
 */
function freshCertificate(from: (ServingCertificate | undefined)[], options: ServingTlsOptions, now = new Date()): ServingCertificate {
  for (const ca of from) {
    if (!ca || !canIssue(ca, now)) continue;
    try {
      return issueServingCertificate(ca, options.hosts, options.validityMs);
    } catch {
      // A CA node-forge cannot sign with (not RSA): the next one, or a new CA.
    }
  }
  return makeServingCertificate(options.hosts, { validityMs: options.validityMs });
}

function replacedLine(s: { namespace: string; name: string }, problem: string, made: ServingCertificate, was: ServingCertificate | undefined): string {
  return `the Secret ${s.namespace}/${s.name} could not be used (${problem}); replaced it with a new certificate ${made.caPem === was?.caPem ? "from the same CA" : "and a new CA"}`;
}

function readFiles(s: { cert: string; key: string; ca: string }): ServingCertificate {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(`cannot read the ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { certPem: read(s.cert, "TLS certificate (--tls-cert)"), keyPem: read(s.key, "TLS key (--tls-key)"), caPem: read(s.ca, "TLS CA (--tls-ca)") };
}
