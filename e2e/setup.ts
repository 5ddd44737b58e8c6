// Global setup for the end-to-end tests (node --test-global-setup): starts a
// real Kafka broker and a real kube-apiserver with etcd once per run, exports
// KAFKA_BROKERS, KUBECONFIG and ROUTEPLANE_KUBECTL (a kubectl of the
// apiserver's release) to the test processes, and stops everything at the
// end. A component that does not start fails the run with its name and the
// tail of its log.
import { provisionKafka, startKafka, KAFKA_VERSION, type KafkaBroker } from "./infra/kafka.ts";
import { provisionKube, startKube, KUBERNETES_VERSION, type KubeCluster } from "./infra/kube.ts";
import { log, rssMiB } from "./infra/steps.ts";

let kafka: KafkaBroker | null = null;
let kube: KubeCluster | null = null;

export async function globalSetup(): Promise<void> {
  const t0 = performance.now();
  try {
    // Provisioning is cached by version; only the first run on a machine builds.
    const [lib, bins] = await Promise.all([provisionKafka(KAFKA_VERSION), provisionKube(KUBERNETES_VERSION)]);
    [kafka, kube] = await Promise.all([startKafka(lib), startKube(bins)]);
  } catch (err) {
    await globalTeardown();
    throw err;
  }
  process.env.KAFKA_BROKERS = kafka.brokers;
  process.env.KUBECONFIG = kube.kubeconfig;
  process.env.ROUTEPLANE_KUBECTL = kube.kubectl;
  const mem = [kafka, ...kube.processes].map((p) => `${p.name} ${rssMiB(p.pid)?.toFixed(0) ?? "?"} MiB`).join(", ");
  log(`infrastructure ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: Kafka ${KAFKA_VERSION} at ${kafka.brokers}, kube-apiserver ${KUBERNETES_VERSION} at ${kube.server}; memory: ${mem}`);
}

export async function globalTeardown(): Promise<void> {
  await Promise.all([kafka?.stop(), kube?.stop()]);
  kafka = null;
  kube = null;
}
