// The end-to-end infrastructure, for other parts that need the real thing
// (bench/propagation starts the same kube-apiserver + etcd the tests use).
export { provisionKube, startKube, KUBERNETES_VERSION } from "./infra/kube.ts";
export type { KubeCluster } from "./infra/kube.ts";
export { provisionKafka, startKafka, KAFKA_VERSION } from "./infra/kafka.ts";
export { freePort } from "./infra/ports.ts";
