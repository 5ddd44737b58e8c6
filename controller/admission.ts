// The validating admission webhook: a RoutingPolicy whose sources have
// errors (compile errors or error findings of the analysis) is refused at
// `kubectl apply` with the diagnostics rendered as `routeplane check` shows
// them; warnings come back as admission warnings (kubectl prints
// `Warning: …`). A ConfigMap that does not exist yet is a warning, not a
// refusal: `kubectl apply -f dir/` may create it just after. A policy whose
// compile hits the controller's time or memory limit is refused.
import { buildPolicy, diagnosticLine, type BuildInputs } from "./build.ts";
import type { Compile } from "./compile-worker.ts";
import type { RoutingPolicy } from "./resources.ts";

/** Admission warnings kubectl shows (each is cut to the apiserver's 256-character limit). */
export const MAX_WARNINGS = 10;
const WARNING_CHARS = 250;

interface AdmissionRequest {
  uid: string;
  operation?: string;
  object?: RoutingPolicy;
}

export interface AdmissionReview {
  apiVersion: "admission.k8s.io/v1";
  kind: "AdmissionReview";
  request?: AdmissionRequest;
  response?: { uid: string; allowed: boolean; status?: { code: number; reason?: string; message: string }; warnings?: string[] };
}

const clip = (s: string) => (s.length > WARNING_CHARS ? `${s.slice(0, WARNING_CHARS - 1)}…` : s);

/** The webhook's answer to an AdmissionReview (v1). */
export async function reviewPolicy(review: AdmissionReview, inputs: BuildInputs, compile: Compile): Promise<AdmissionReview> {
  const request = review.request;
  if (!request?.uid) throw new Error("not an AdmissionReview request (no request.uid)");
  const answer = (allowed: boolean, extra: Omit<NonNullable<AdmissionReview["response"]>, "uid" | "allowed"> = {}): AdmissionReview =>
    ({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", response: { uid: request.uid, allowed, ...extra } });
  const rp = request.object;
  if (!rp || rp.kind !== "RoutingPolicy" || !rp.spec) return answer(true);
  const build = await buildPolicy(rp, inputs, compile, { sign: false });
  const name = `${rp.metadata?.namespace ?? ""}/${rp.metadata?.name ?? ""}`;
  const limit = build.problems.find((p) => p.stage === "compile");
  if (limit) return answer(false, { status: { code: 422, reason: "Invalid", message: `RoutingPolicy ${name} could not be checked: ${limit.message}` } });
  const diags = build.diagnostics;
  const warnings = [
    ...build.problems.map((p) => `${p.reason}: ${p.message}`),
    ...diags.filter((d) => d.severity === "warning").map(diagnosticLine),
  ];
  const shown = warnings.slice(0, MAX_WARNINGS).map(clip);
  if (warnings.length > MAX_WARNINGS) shown.push(`… and ${warnings.length - MAX_WARNINGS} more warnings (routeplane lint shows all)`);
  const errors = diags.filter((d) => d.severity === "error");
  if (errors.length > 0) {
    const message = `RoutingPolicy ${name} has ${errors.length} error${errors.length === 1 ? "" : "s"}; fix ${errors.length === 1 ? "it" : "them"} and apply again (\`routeplane lint\` shows the same locally):\n\n${build.errorFrames}`;
    return answer(false, { status: { code: 422, reason: "Invalid", message }, ...(shown.length ? { warnings: shown } : {}) });
  }
  return answer(true, shown.length ? { warnings: shown } : {});
}
