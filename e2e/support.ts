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
