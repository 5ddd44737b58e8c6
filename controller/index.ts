// The Kubernetes controller: RoutingPolicies compiled, admitted, signed and
// pushed to sidecars (docs/kubernetes.md, ADR 13).
export { startController } from "./controller.ts";
export type { ControllerOptions, RunningController } from "./controller.ts";
export { buildPolicy, diagnosticLine } from "./build.ts";
export type { PolicyBuild, Publication, BuildInputs } from "./build.ts";
export { reviewPolicy } from "./admission.ts";
export { CompileWorker, COMPILE_DEFAULTS } from "./compile-worker.ts";
export type { Compile, CompileWorkerOptions } from "./compile-worker.ts";
export type { CompileJob, CompileOutcome } from "./compile-job.ts";
export { statusOf, shortRevision } from "./status.ts";
export { Distribution } from "./distribution.ts";
export type { Targets } from "./distribution.ts";
export { advanceRollout, inStep, rollbackPublication, rolloutPlan } from "./rollout.ts";
export type { RolloutGate, RolloutPlan, RolloutStatus, StepCounts } from "./rollout.ts";
export { WorkQueue } from "./work-queue.ts";
export { makeServingCertificate } from "./certs.ts";
export { GROUP, VERSION, PLURAL, KIND, policyNameOf, serialOf } from "./resources.ts";
export type { RoutingPolicy, RoutingPolicySpec, RoutingPolicyStatus } from "./resources.ts";
export { toYaml } from "./yaml.ts";
export type { AdmissionReview } from "./admission.ts";
export { injectSidecar, sidecarContainer, selects, INJECT_LABEL, POLICY_LABEL, TRUST_CONFIGMAP } from "./injection.ts";
export { reconcile, RECONCILE_STAGES } from "./reconcile.ts";
export type { ReconcileDeps, PolicyMemory } from "./reconcile.ts";
export { controllerTracing } from "./tracing.ts";
export { EventRecorder } from "./events.ts";
