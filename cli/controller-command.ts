// controller: run the Kubernetes controller (docs/kubernetes.md).
import { writeFileSync } from "node:fs";
import { certificateProblem, MAX_TIMER_MS, startController } from "../controller/index.ts";
import { readTextFile, UsageError } from "./usage.ts";
import { EXIT, exitSoonAfterShutdown, type Io } from "./io.ts";

export interface ControllerCommandOptions {
  kubeconfig?: string;
  namespace?: string;
  "configmap-selector"?: string;
  listen?: string;
  host?: string[];
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-ca"?: string;
  "webhook-url"?: string;
  "webhook-service"?: string;
  "webhook-failure-policy"?: string;
  "write-ca"?: string;
  "lease-namespace"?: string;
  "no-leader-election"?: boolean;
  "sidecar-image"?: string;
  "sidecar-controller-url"?: string;
  "otlp-endpoint"?: string;
  "tls-secret"?: string;
  "compile-timeout"?: string;
  "compile-memory"?: string;
}

// Node's timers take at most 2^31-1 ms; a longer delay fires at once, so every compile would time out immediately.
const MAX_COMPILE_TIMEOUT_S = Math.floor(MAX_TIMER_MS / 1000);

function positive(opts: ControllerCommandOptions, name: "compile-timeout" | "compile-memory", unit: string): number | undefined {
  const text = opts[name];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !(n > 0)) throw new UsageError(`--${name} takes a positive number of ${unit}, not ${JSON.stringify(text)}`);
  return n;
}

export async function cmdController(io: Io, opts: ControllerCommandOptions): Promise<number> {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d+)$/.exec(opts.listen ?? "0.0.0.0:8443");
  if (!m) throw new UsageError(`--listen takes [host:]port, not ${opts.listen}`);
  const tlsFiles = [opts["tls-cert"], opts["tls-key"], opts["tls-ca"]];
  if (tlsFiles.some((f) => f !== undefined) && !tlsFiles.every((f) => f !== undefined)) throw new UsageError("give all of --tls-cert, --tls-key and --tls-ca, or none (a certificate is then generated)");
  if (opts["tls-secret"] && opts["tls-cert"]) throw new UsageError("give --tls-secret or --tls-cert/--tls-key/--tls-ca, not both");
  if (opts["tls-secret"] !== undefined && !/^[a-z0-9-]+\/[a-z0-9.-]+$/.test(opts["tls-secret"])) throw new UsageError(`--tls-secret takes namespace/name, not ${opts["tls-secret"]}`);
  if (opts["webhook-url"] && opts["webhook-service"]) throw new UsageError("give --webhook-url or --webhook-service, not both");
  const policy = opts["webhook-failure-policy"] ?? "Fail";
  if (policy !== "Fail" && policy !== "Ignore") throw new UsageError(`--webhook-failure-policy is Fail or Ignore, not ${policy}`);
  const selector = opts["configmap-selector"];
  if (selector !== undefined && !/^[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*(?:,[A-Za-z0-9./_-]+=[A-Za-z0-9._-]*)*$/.test(selector)) {
    throw new UsageError(`--configmap-selector takes labels like key=value[,key2=value2], not ${JSON.stringify(selector)}`);
  }
  const timeout = positive(opts, "compile-timeout", "seconds");
  if (timeout !== undefined && timeout > MAX_COMPILE_TIMEOUT_S) throw new UsageError(`--compile-timeout is at most ${MAX_COMPILE_TIMEOUT_S} seconds (about 24 days), not ${opts["compile-timeout"]}`);
  const memoryMb = positive(opts, "compile-memory", "MB");
  let servingFiles: { cert: string; key: string; ca: string } | undefined;
  if (opts["tls-cert"]) {
    servingFiles = { cert: opts["tls-cert"], key: opts["tls-key"]!, ca: opts["tls-ca"]! };
    // Read and checked here for a clear error now; the controller reads them again when they change (cert-manager renewing).
    const read = { certPem: readTextFile(servingFiles.cert, "TLS certificate"), keyPem: readTextFile(servingFiles.key, "TLS key"), caPem: readTextFile(servingFiles.ca, "TLS CA") };
    const problem = certificateProblem(read, { cert: `--tls-cert ${servingFiles.cert}`, key: `--tls-key ${servingFiles.key}`, ca: `--tls-ca ${servingFiles.ca}` });
    if (problem) throw new UsageError(`${problem}; give a certificate, its key and the CA that issued it (or none of the three: a certificate is then generated)`);
  }
  const listenProblem = (err: NodeJS.ErrnoException) => {
    const where = `${m[1] ?? "0.0.0.0"}:${m[2]}`;
    if (err.code === "EADDRINUSE") return `cannot listen on ${where}: the address is in use (is another controller running?); choose another with --listen [host:]port`;
    if (err.code === "EACCES") return `cannot listen on ${where}: permission denied (ports below 1024 need privileges); choose another with --listen [host:]port`;
    return null;
  };
  const running = await startController({
    kubeconfig: opts.kubeconfig,
    namespace: opts.namespace,
    configMapSelector: opts["configmap-selector"],
    host: (m[1] ?? "0.0.0.0").replace(/^\[|\]$/g, ""),
    port: Number(m[2]),
    hosts: opts.host,
    tlsFiles: servingFiles,
    webhookUrl: opts["webhook-url"],
    webhookService: opts["webhook-service"],
    webhookFailurePolicy: policy,
    leaseNamespace: opts["no-leader-election"] ? false : opts["lease-namespace"],
    sidecarImage: opts["sidecar-image"],
    sidecarControllerUrl: opts["sidecar-controller-url"],
    otlpEndpoint: opts["otlp-endpoint"],
    tlsSecret: opts["tls-secret"],
    compile: { ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}), ...(memoryMb !== undefined ? { memoryMb } : {}) },
    log: (line) => io.err(`routeplane controller: ${line}`),
  }).catch((err: NodeJS.ErrnoException) => {
    const problem = listenProblem(err);
    if (problem) {
      io.err(`routeplane controller: ${problem}`);
      return null;
    }
    throw err;
  });
  if (!running) return EXIT.failed;
  if (opts["write-ca"]) writeFileSync(opts["write-ca"], running.caPem);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  io.err("routeplane controller: shutting down");
  await running.stop();
  return exitSoonAfterShutdown(EXIT.ok);
}
