// Staged rollout (spec.rollout): a new revision goes to a growing share of a
// policy's sidecars — steps of percent, each sidecar in or out by a hash of
// its identity, so the same sidecars are in a step on every replica and after
// a restart — with a pause after each step is acknowledged, and an automatic
// rollback when more of a step's sidecars refuse it (NACK) than allowed.
// The state lives in status.rollout: the leader advances it, every replica
// serves from it. Pure functions: the reconcile calls them, tests drive them.
import { createHash } from "node:crypto";
import { bundleEtag, readBundle, serializeBundle, signBundle } from "../bundle/index.ts";
import type { Publication } from "./build.ts";
import type { RoutingPolicySpec } from "./resources.ts";

export interface RolloutPlan {
  steps: number[];
  pauseMs: number;
  maxNackPercent: number;
}

export interface RolloutStatus {
  /** The revision being rolled out (its ETag names the exact bytes). */
  revision: string;
  etag: string;
  /** What sidecars outside the step run: the last revision that rolled out fully. */
  stableRevision?: string;
  stableEtag?: string;
  /** Index into the plan's steps. */
  step: number;
  percent: number;
  stepStarted: string;
  /** When every sidecar of the step ran the revision (the pause starts then). */
  stepAcked?: string;
  phase: "Progressing" | "Complete" | "RolledBack";
  message: string;
}

/** What a step's sidecars say about the revision being rolled out. */
export interface StepCounts {
  inStep: number;
  onRevision: number;
  nacked: number;
  lastNack?: { sidecar: string; reason: string };
  /** Another replica has not yet reported on this revision: the counts are not whole, so nothing is judged. */
  pending?: boolean;
}

export function rolloutPlan(spec: RoutingPolicySpec): RolloutPlan {
  const r = spec.rollout ?? {};
  return { steps: r.steps?.length ? r.steps : [100], pauseMs: (r.pauseSeconds ?? 0) * 1000, maxNackPercent: r.maxNackPercent ?? 0 };
}

/** Whether a sidecar is among the first `percent` percent of a policy's sidecars (stable per identity). */
export function inStep(policyKey: string, sidecarId: string, percent: number): boolean {
  if (percent >= 100) return true;
  const h = createHash("sha256").update(`${policyKey}\u0000${sidecarId}`).digest();
  return h.readUInt32BE(0) % 100 < percent;
}

const short = (revision: string) => revision.replace(/^sha256:/, "").slice(0, 12);

/**
 * The next rollout state for the newest built revision `candidate`, given the stored state
 * (`prev`), whether a stable revision is known, and the step's counts. Called by the leader.
 */
export function advanceRollout(prev: RolloutStatus | undefined, candidate: Publication, stableKnown: Publication | null, plan: RolloutPlan, counts: StepCounts, now: Date): RolloutStatus {
  const at = now.toISOString();
  if (!prev || prev.etag !== candidate.etag) {
    // A new revision: it starts at the first step, against what ran fully before.
    const stable = stableKnown;
    const first = stable ? plan.steps[0] : 100;
    return {
      revision: candidate.revision, etag: candidate.etag,
      ...(stable ? { stableRevision: stable.revision, stableEtag: stable.etag } : {}),
      step: stable ? 0 : plan.steps.length - 1, percent: first, stepStarted: at, phase: "Progressing",
      message: stable ? `step 1/${plan.steps.length}: ${first}% of sidecars get revision ${short(candidate.revision)}` : `revision ${short(candidate.revision)} goes to every sidecar (no earlier revision to stage against)`,
    };
  }
  if (prev.phase !== "Progressing" || counts.pending) return prev;
  // Too many refusals in the step: back to the stable revision (when there is one to go back to).
  if (counts.inStep > 0 && counts.nacked * 100 > plan.maxNackPercent * counts.inStep && prev.stableEtag) {
    return {
      ...prev, phase: "RolledBack", stepAcked: undefined,
      message: `${counts.nacked}/${counts.inStep} sidecars of step ${prev.step + 1} refused revision ${short(prev.revision)}${counts.lastNack ? ` (${counts.lastNack.sidecar}: ${counts.lastNack.reason})` : ""}, more than maxNackPercent ${plan.maxNackPercent}%; rolled back to revision ${short(prev.stableRevision!)}`,
    };
  }
  const acked = counts.onRevision >= counts.inStep;
  if (!acked) return { ...prev, stepAcked: undefined, message: `step ${prev.step + 1}/${plan.steps.length} (${prev.percent}%): ${counts.onRevision}/${counts.inStep} sidecars run revision ${short(prev.revision)}${counts.nacked ? `, ${counts.nacked} refused it` : ""}` };
  const ackedAt = prev.stepAcked ?? at;
  const last = prev.step >= plan.steps.length - 1;
  if (last) return { ...prev, stepAcked: ackedAt, phase: "Complete", message: `revision ${short(prev.revision)} runs on every sidecar (${counts.onRevision}/${counts.inStep})` };
  if (now.getTime() - Date.parse(ackedAt) < plan.pauseMs) {
    return { ...prev, stepAcked: ackedAt, message: `step ${prev.step + 1}/${plan.steps.length} (${prev.percent}%) acknowledged by ${counts.onRevision} sidecars; pausing ${plan.pauseMs / 1000} s before ${plan.steps[prev.step + 1]}%` };
  }
  const step = prev.step + 1;
  return { ...prev, step, percent: plan.steps[step], stepStarted: at, stepAcked: undefined, message: `step ${step + 1}/${plan.steps.length}: ${plan.steps[step]}% of sidecars get revision ${short(prev.revision)}` };
}

/**
 * The rollback bundle (ADR 10): the stable revision's bundle, re-signed with the refused
 * bundle's serial and `rollback: true`, so every sidecar accepts it once — those that took
 * the refused revision and those that never did. Ed25519 is deterministic: every replica
 * makes the same bytes.
 */
export function rollbackPublication(stable: Publication, refused: Publication, privateKeyPem: string): Publication {
  const read = readBundle(stable.bytes);
  if (!read.ok) throw new Error("internal error: a served bundle does not read back");
  const bundle = { ...read.bundle, manifest: { ...read.bundle.manifest, serial: refused.serial, rollback: true }, signatures: [] };
  const bytes = serializeBundle(signBundle(bundle, privateKeyPem));
  return { bytes, etag: bundleEtag(bytes), revision: stable.revision, serial: refused.serial, policyName: stable.policyName };
}
