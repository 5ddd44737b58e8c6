// Helpers for end-to-end tests: the infrastructure the global setup started,
// and unique names so tests never share a namespace or a topic.
import { randomBytes } from "node:crypto";

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the end-to-end tests with \`npm run test:e2e\`, which starts the infrastructure`);
  return v;
}

export const kafkaBrokers = (): string[] => required("KAFKA_BROKERS").split(",");
export const kubeconfigPath = (): string => required("KUBECONFIG");
/** kubectl of the apiserver's own release (the machine's kubectl may be outside the supported skew). */
export const kubectlPath = (): string => required("ROUTEPLANE_KUBECTL");

/** A DNS-1123 name unique to this test run, e.g. `smoke-3f9a1c`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

export async function eventually<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${last ? `: ${(last as Error).message}` : ""}`);
}

/** Runs the provisioned kubectl against the test cluster as a user would; never throws for a non-zero exit. */
export async function kubectl(args: string[], options: { input?: string; cacheDir?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const { spawn } = await import("node:child_process");
  const cache = options.cacheDir ? ["--cache-dir", options.cacheDir] : [];
  return await new Promise((resolve, reject) => {
    const child = spawn(kubectlPath(), ["--kubeconfig", kubeconfigPath(), ...cache, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}
