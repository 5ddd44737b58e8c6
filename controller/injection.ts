// The mutating admission webhook that adds the routeplane sidecar to pods
// labelled `routeplane.dev/inject: "true"`: a native sidecar (an init
// container with restartPolicy Always, Kubernetes ≥ 1.29) subscribed to the
// pod's RoutingPolicy — named by the label `routeplane.dev/policy`, or else
// the one policy of the namespace whose spec.selector matches the pod. The
// sidecar trusts only what the namespace's ConfigMap `routeplane-trust`
// holds (the policy's public key and the controller's CA), so the injector
// cannot hand it a key of its own choosing.
import type { V1Container, V1Pod, V1Volume } from "@kubernetes/client-node";
import type { RoutingPolicy } from "./resources.ts";

export const INJECT_LABEL = "routeplane.dev/inject";
export const POLICY_LABEL = "routeplane.dev/policy";
export const TRUST_CONFIGMAP = "routeplane-trust";
export const SIDECAR_NAME = "routeplane";
export const SIDECAR_PORT = 8080;

export interface InjectionOptions {
  /** The sidecar's image. */
  image: string;
  /** The controller's URL as pods reach it (its Service). */
  controllerUrl: string;
  /**
   * Resources of the injected container (docs/kubernetes.md: from the sidecar's measured
   * footprint, bench/footprint).
   */
  resources?: { requests: Record<string, string>; limits: Record<string, string> };
}

/**
 * From bench/footprint (docs/performance.md): examples/support idles at 96–97 MB and peaks at
 * 133–135 MB under load; a burst of 64 MiB of request bodies in flight (the default
 * --max-inflight-body-bytes) peaked at 385–451 MB. No CPU limit: one JavaScript thread does the
 * work, and throttling it adds latency to every request (about 0.25 vCPU per 1,000 req/s).
 */
export const DEFAULT_SIDECAR_RESOURCES = { requests: { cpu: "100m", memory: "128Mi" }, limits: { memory: "512Mi" } };

interface AdmissionRequest {
  uid: string;
  namespace?: string;
  operation?: string;
  object?: V1Pod;
}

export interface PodReview {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  request?: AdmissionRequest;
  response?: { uid: string; allowed: boolean; patchType?: "JSONPatch"; patch?: string; warnings?: string[]; status?: { code: number; message: string } };
}

/** Whether a label selector (matchLabels, matchExpressions) selects these labels. */
export function selects(selector: RoutingPolicy["spec"]["selector"], labels: Record<string, string>): boolean {
  if (!selector || (!selector.matchLabels && !selector.matchExpressions)) return false; // an empty selector selects no pods here
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels;
    const inValues = (e.values ?? []).includes(labels[e.key]);
    if (e.operator === "In" && !(has && inValues)) return false;
    if (e.operator === "NotIn" && has && inValues) return false;
    if (e.operator === "Exists" && !has) return false;
    if (e.operator === "DoesNotExist" && has) return false;
  }
  return true;
}

/** The container the webhook adds. */
export function sidecarContainer(namespace: string, policy: string, options: InjectionOptions): V1Container {
  return {
    name: SIDECAR_NAME,
    image: options.image,
    // A native sidecar: started before the app's containers, running beside them, stopped after.
    restartPolicy: "Always",
    args: [
      "serve", "--controller", options.controllerUrl, "--policy-ref", `${namespace}/${policy}`,
      "--controller-ca", "/var/run/routeplane/trust/controller-ca.crt", "--public-key", "/var/run/routeplane/trust/signing.pub",
      "--token-file", "/var/run/secrets/routeplane/token", "--state-dir", "/var/run/routeplane/state", "--listen", `127.0.0.1:${SIDECAR_PORT}`,
    ],
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      // Set explicitly: V8 sizes its young generation from the container's limit otherwise (docs/sidecar.md).
      { name: "NODE_OPTIONS", value: "--max-semi-space-size=16" },
    ],
    // It listens on the pod's loopback only (it holds the models' credentials), so the kubelet cannot probe it
    // over the pod IP; /readyz is for the app and for `kubectl exec`.
    resources: options.resources ?? DEFAULT_SIDECAR_RESOURCES,
    securityContext: { runAsNonRoot: true, runAsUser: 65532, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "RuntimeDefault" } },
    volumeMounts: [
      { name: "routeplane-token", mountPath: "/var/run/secrets/routeplane", readOnly: true },
      { name: "routeplane-trust", mountPath: "/var/run/routeplane/trust", readOnly: true },
      { name: "routeplane-state", mountPath: "/var/run/routeplane/state" },
    ],
  };
}

const VOLUMES: V1Volume[] = [
  // A token for the audience routeplane only (useless against the apiserver), rotated by the kubelet.
  { name: "routeplane-token", projected: { sources: [{ serviceAccountToken: { audience: "routeplane", expirationSeconds: 3600, path: "token" } }] } },
  { name: "routeplane-trust", configMap: { name: TRUST_CONFIGMAP } },
  { name: "routeplane-state", emptyDir: { sizeLimit: "64Mi" } },
];

/**
 * The webhook's answer: a JSON patch adding the sidecar, its volumes and the app containers'
 * OPENAI_BASE_URL; or the pod unchanged with a warning saying why.
 */
export function injectSidecar(review: PodReview, policies: readonly RoutingPolicy[], options: InjectionOptions): PodReview {
  const request = review.request;
  if (!request?.uid) throw new Error("not an AdmissionReview request (no request.uid)");
  const answer = (extra: Omit<NonNullable<PodReview["response"]>, "uid" | "allowed"> = {}): PodReview =>
    ({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: request.uid, allowed: true, ...extra } });
  const pod = request.object;
  const labels = pod?.metadata?.labels ?? {};
  if (!pod?.spec || labels[INJECT_LABEL] !== "true") return answer();
  if ([...(pod.spec.initContainers ?? []), ...pod.spec.containers].some((c) => c.name === SIDECAR_NAME)) return answer();
  const namespace = request.namespace ?? pod.metadata?.namespace ?? "default";
  const inNamespace = policies.filter((p) => p.metadata?.namespace === namespace);
  let policy = labels[POLICY_LABEL];
  if (policy && !inNamespace.some((p) => p.metadata?.name === policy)) {
    return answer({ warnings: [`routeplane: no RoutingPolicy ${namespace}/${policy} (label ${POLICY_LABEL}); the pod gets no sidecar`] });
  }
  if (!policy) {
    const matching = inNamespace.filter((p) => selects(p.spec.selector, labels));
    if (matching.length !== 1) {
      const why = matching.length === 0 ? "no RoutingPolicy's spec.selector matches it" : `several RoutingPolicies match it (${matching.map((p) => p.metadata?.name).join(", ")})`;
      return answer({ warnings: [`routeplane: ${why}; name one with the label ${POLICY_LABEL}; the pod gets no sidecar`] });
    }
    policy = matching[0].metadata!.name!;
  }
  const ops: { op: "add"; path: string; value: unknown }[] = [];
  // The projected token needs a service account; the ServiceAccount admission plugin sets it before
  // webhooks run, but a cluster without that plugin leaves it empty.
  if (!pod.spec.serviceAccountName) ops.push({ op: "add", path: "/spec/serviceAccountName", value: "default" });
  if (!pod.spec.initContainers) ops.push({ op: "add", path: "/spec/initContainers", value: [] });
  ops.push({ op: "add", path: "/spec/initContainers/-", value: sidecarContainer(namespace, policy, options) });
  if (!pod.spec.volumes) ops.push({ op: "add", path: "/spec/volumes", value: [] });
  for (const v of VOLUMES) ops.push({ op: "add", path: "/spec/volumes/-", value: v });
  // The app reaches models through the sidecar (OpenAI SDKs read OPENAI_BASE_URL), unless it says otherwise.
  pod.spec.containers.forEach((c, i) => {
    if ((c.env ?? []).some((e) => e.name === "OPENAI_BASE_URL")) return;
    if (!c.env) ops.push({ op: "add", path: `/spec/containers/${i}/env`, value: [] });
    ops.push({ op: "add", path: `/spec/containers/${i}/env/-`, value: { name: "OPENAI_BASE_URL", value: `http://127.0.0.1:${SIDECAR_PORT}/v1` } });
  });
  ops.push({ op: "add", path: "/metadata/annotations", value: { ...(pod.metadata?.annotations ?? {}), "routeplane.dev/injected": `${namespace}/${policy}` } });
  return answer({ patchType: "JSONPatch", patch: Buffer.from(JSON.stringify(ops)).toString("base64") });
}
