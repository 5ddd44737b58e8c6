// The controller's view of the cluster through @kubernetes/client-node:
// informers that restart after errors (with backoff), and the few calls it
// makes. Everything else in controller/ sees plain objects.
import * as k8s from "@kubernetes/client-node";
import type { ServingCertificate } from "./certs.ts";
import { GROUP, PLURAL, VERSION, type RoutingPolicy } from "./resources.ts";

export interface KubeClients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  auth: k8s.AuthenticationV1Api;
  admission: k8s.AdmissionregistrationV1Api;
}

export function kubeClients(kubeconfig?: string): KubeClients {
  const kc = new k8s.KubeConfig();
  if (kubeconfig) kc.loadFromFile(kubeconfig);
  else kc.loadFromDefault();
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
    auth: kc.makeApiClient(k8s.AuthenticationV1Api),
    admission: kc.makeApiClient(k8s.AdmissionregistrationV1Api),
  };
}

/** The HTTP status of a client-node error, if it has one. */
export function statusCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

export interface ResilientInformer<T extends k8s.KubernetesObject> {
  informer: k8s.Informer<T> & k8s.ObjectCache<T>;
  /** Resolves once the first list has succeeded. */
  synced: Promise<void>;
  hasSynced(): boolean;
  restarts(): number;
  stop(): Promise<void>;
}

/**
 * An informer that starts again after any error, with backoff (0.5 s doubling to 30 s):
 * a restarted apiserver or a dropped watch never leaves the caches stale for good.
 */
export function resilientInformer<T extends k8s.KubernetesObject>(
  kc: k8s.KubeConfig, path: string, list: () => Promise<k8s.KubernetesListObject<T>>, onError: (err: unknown, delayMs: number) => void, labelSelector?: string,
): ResilientInformer<T> {
  const informer = k8s.makeInformer<T>(kc, path, list, labelSelector);
  let stopped = false;
  let synced = false;
  let restarts = 0;
  let delay = 500;
  let timer: NodeJS.Timeout | null = null;
  let resolveSynced: () => void = () => {};
  const syncedPromise = new Promise<void>((resolve) => (resolveSynced = resolve));
  /** The start in progress (its list, then the watch it opens). */
  let starting: Promise<unknown> = Promise.resolve();
  const start = () => {
    starting = informer.start().then(() => {
      synced = true;
      delay = 500;
      resolveSynced();
    }, (err: unknown) => retry(err));
  };
  const retry = (err: unknown) => {
    if (stopped || timer) return;
    onError(err, delay);
    timer = setTimeout(() => {
      timer = null;
      restarts++;
      start();
    }, delay);
    delay = Math.min(delay * 2, 30_000);
  };
  // The backoff resets only when a start succeeds (its list came back): "connect" fires before the
  // list, so resetting there kept a missing CRD retrying (and logging) every 0.5 s.
  informer.on("error", (err?: unknown) => retry(err));
  start();
  return {
    informer,
    synced: syncedPromise,
    hasSynced: () => synced,
    restarts: () => restarts,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      await informer.stop().catch(() => undefined);
      // client-node's ListWatch opens its watch once a list in flight returns, even after stop(): wait for
      // that start to finish and stop again, or the watch keeps the process alive (a failed start hung 30 s).
      await starting.catch(() => undefined);
      await informer.stop().catch(() => undefined);
    },
  };
}

export function policyInformer(c: KubeClients, namespace: string | undefined, onError: (err: unknown, delayMs: number) => void): ResilientInformer<RoutingPolicy> {
  const path = namespace ? `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}` : `/apis/${GROUP}/${VERSION}/${PLURAL}`;
  const list = async () => (namespace
    ? await c.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: PLURAL })
    : await c.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as k8s.KubernetesListObject<RoutingPolicy>;
  return resilientInformer(c.kc, path, list, onError);
}

/**
 * ConfigMaps the policies may read: every one (the default), or those matching `labelSelector`
 * (--configmap-selector), so a cluster's other ConfigMaps are neither listed nor kept in memory.
 */
export function configMapInformer(c: KubeClients, namespace: string | undefined, labelSelector: string | undefined, onError: (err: unknown, delayMs: number) => void): ResilientInformer<k8s.V1ConfigMap> {
  const path = namespace ? `/api/v1/namespaces/${namespace}/configmaps` : "/api/v1/configmaps";
  const list = () => (namespace ? c.core.listNamespacedConfigMap({ namespace, labelSelector }) : c.core.listConfigMapForAllNamespaces({ labelSelector }));
  return resilientInformer(c.kc, path, list, onError, labelSelector);
}

/** Reads a Secret; undefined when it does not exist. */
export async function readSecret(c: KubeClients, namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
  try {
    return await c.core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (statusCode(err) === 404) return undefined;
    throw err;
  }
}

/** Replaces a policy's status (JSON patch `add /status`, which works whether or not it has one). */
export async function writeStatus(c: KubeClients, rp: RoutingPolicy, status: RoutingPolicy["status"]): Promise<void> {
  await c.custom.patchNamespacedCustomObjectStatus({
    group: GROUP, version: VERSION, plural: PLURAL, namespace: rp.metadata!.namespace!, name: rp.metadata!.name!,
    body: [{ op: "add", path: "/status", value: status }],
  });
}

export const WEBHOOK_CONFIGURATION = "routeplane-policies";

/** A webhook configuration kind: how to read, create and replace it. */
interface WebhookKind<C extends { metadata?: k8s.V1ObjectMeta; webhooks?: W[] }, W extends { name: string; clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig }> {
  read(name: string): Promise<C>;
  create(body: C): Promise<unknown>;
  replace(name: string, body: C): Promise<unknown>;
  make(webhooks: W[]): C;
}

/**
 * Registers a webhook: creates its configuration when missing, and otherwise sets the webhook's
 * client config and caBundle (a configuration from deploy/ keeps its failure policy and selectors).
 */
async function ensureWebhook<C extends { metadata?: k8s.V1ObjectMeta; webhooks?: W[] }, W extends { name: string; clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig }>(
  kind: WebhookKind<C, W>, name: string, webhook: W,
): Promise<void> {
  let existing: C | undefined;
  try {
    existing = await kind.read(name);
  } catch (err) {
    if (statusCode(err) !== 404) throw err;
  }
  if (!existing) {
    await kind.create(kind.make([webhook]));
    return;
  }
  const webhooks = (existing.webhooks ?? []).map((w) => (w.name === webhook.name ? { ...w, clientConfig: { ...w.clientConfig, ...webhook.clientConfig } } : w));
  if (!webhooks.some((w) => w.name === webhook.name)) webhooks.push(webhook);
  await kind.replace(name, { ...existing, webhooks });
}

const labels = { "app.kubernetes.io/part-of": "routeplane" };

/** Registers the validating webhook for RoutingPolicies. */
export async function ensureValidatingWebhook(c: KubeClients, clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig, failurePolicy: "Fail" | "Ignore"): Promise<void> {
  await ensureWebhook<k8s.V1ValidatingWebhookConfiguration, k8s.V1ValidatingWebhook>({
    read: (name) => c.admission.readValidatingWebhookConfiguration({ name }),
    create: (body) => c.admission.createValidatingWebhookConfiguration({ body }),
    replace: (name, body) => c.admission.replaceValidatingWebhookConfiguration({ name, body }),
    make: (webhooks) => ({ metadata: { name: WEBHOOK_CONFIGURATION, labels }, webhooks }),
  }, WEBHOOK_CONFIGURATION, {
    name: "policies.routeplane.dev",
    rules: [{ apiGroups: [GROUP], apiVersions: [VERSION], operations: ["CREATE", "UPDATE"], resources: [PLURAL], scope: "Namespaced" }],
    clientConfig,
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    failurePolicy,
    timeoutSeconds: 15,
  });
}

export const INJECTOR_CONFIGURATION = "routeplane-sidecar-injector";

/** Registers the sidecar injector for pods labelled routeplane.dev/inject=true. */
export async function ensureMutatingWebhook(c: KubeClients, clientConfig: k8s.AdmissionregistrationV1WebhookClientConfig): Promise<void> {
  await ensureWebhook<k8s.V1MutatingWebhookConfiguration, k8s.V1MutatingWebhook>({
    read: (name) => c.admission.readMutatingWebhookConfiguration({ name }),
    create: (body) => c.admission.createMutatingWebhookConfiguration({ body }),
    replace: (name, body) => c.admission.replaceMutatingWebhookConfiguration({ name, body }),
    make: (webhooks) => ({ metadata: { name: INJECTOR_CONFIGURATION, labels }, webhooks }),
  }, INJECTOR_CONFIGURATION, {
    name: "sidecar.routeplane.dev",
    rules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["pods"], scope: "Namespaced" }],
    objectSelector: { matchLabels: { "routeplane.dev/inject": "true" } },
    clientConfig,
    admissionReviewVersions: ["v1"],
    sideEffects: "None",
    // A labelled pod without its sidecar would reach models unchecked: refuse it while the injector is down.
    failurePolicy: "Fail",
    reinvocationPolicy: "Never",
    timeoutSeconds: 10,
  });
}

/**
 * The serving certificate every replica shares, kept in a Secret (type kubernetes.io/tls, with
 * ca.crt and, when the controller made the CA, ca.key): serving-tls.ts reads it, creates it when
 * missing (whichever replica comes first; the others read the winner's) and replaces it when it
 * renews the certificate. Without it each replica would make its own CA, and the webhooks'
 * caBundle would trust only the last one to start.
 */
export interface TlsSecret {
  tls: ServingCertificate;
  resourceVersion: string;
  /** The Secret's type, kept when it is replaced (the apiserver refuses to change it). */
  type: string;
}

/** A Secret without tls.crt, tls.key or ca.crt: `incomplete` names what it lacks. */
export interface IncompleteTlsSecret {
  incomplete: string;
  resourceVersion: string;
  type: string;
}

/** The shared certificate's Secret: undefined when missing. */
export async function readTlsSecret(c: KubeClients, namespace: string, name: string): Promise<TlsSecret | IncompleteTlsSecret | undefined> {
  const secret = await readSecret(c, namespace, name);
  if (!secret) return undefined;
  const d = secret.data ?? {};
  const decode = (v: string | undefined) => (v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8"));
  const [certPem, keyPem, caPem, caKeyPem] = [decode(d["tls.crt"]), decode(d["tls.key"]), decode(d["ca.crt"]), decode(d["ca.key"])];
  const at = { resourceVersion: secret.metadata?.resourceVersion ?? "", type: secret.type ?? "Opaque" };
  if (!certPem || !keyPem || !caPem) return { incomplete: (["tls.crt", "tls.key", "ca.crt"] as const).filter((k) => !d[k]).join(", "), ...at };
  return { tls: { certPem, keyPem, caPem, ...(caKeyPem ? { caKeyPem } : {}) }, ...at };
}

/**
 * Stores `tls` in the Secret: created when `at` is null, else replaced if still at the version read
 * (keeping its type). False when another replica got there first (409): read it again.
 */
export async function writeTlsSecret(c: KubeClients, namespace: string, name: string, tls: ServingCertificate, at: { resourceVersion: string; type: string } | null): Promise<boolean> {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const body: k8s.V1Secret = {
    metadata: { name, namespace, labels: { "app.kubernetes.io/part-of": "routeplane" }, ...(at !== null ? { resourceVersion: at.resourceVersion } : {}) },
    type: at?.type ?? "kubernetes.io/tls",
    data: { "tls.crt": b64(tls.certPem), "tls.key": b64(tls.keyPem), "ca.crt": b64(tls.caPem), ...(tls.caKeyPem ? { "ca.key": b64(tls.caKeyPem) } : {}) },
  };
  try {
    if (at === null) await c.core.createNamespacedSecret({ namespace, body });
    else await c.core.replaceNamespacedSecret({ namespace, name, body });
    return true;
  } catch (err) {
    if (statusCode(err) === 409) return false;
    throw err;
  }
}
