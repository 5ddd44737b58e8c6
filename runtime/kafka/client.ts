// One way to make a kafkajs client for the adapter's loop and the sidecar's
// shares subscription; kafkajs loads only when Kafka is used.
import type { Kafka } from "kafkajs";

export async function kafkaClient(brokers: string[], clientId: string): Promise<Kafka> {
  const k = await import("kafkajs");
  return new k.Kafka({ clientId, brokers, logLevel: k.logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: 10_000, retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 } });
}

/**
 * Waits for `work` at most `ms`: kafkajs's disconnect can hang while a consumer is rejoining a group
 * or a broker is away, and shutting down must never hang on it (the process exits; the broker
 * notices a vanished member by its session timeout).
 */
export async function atMost(ms: number, work: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/** How long one disconnect may take when shutting down. */
export const DISCONNECT_MS = 5000;
