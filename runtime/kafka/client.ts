// One way to make a kafkajs client for the adapter's loop and the sidecar's
// shares subscription; kafkajs loads only when Kafka is used.
import type { Kafka } from "kafkajs";

export async function kafkaClient(brokers: string[], clientId: string): Promise<Kafka> {
  const k = await import("kafkajs");
  return new k.Kafka({ clientId, brokers, logLevel: k.logLevel.NOTHING, connectionTimeout: 3000, requestTimeout: 10_000, retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 } });
}
