// Staged rollout (spec.rollout): a new revision goes to a growing share of a
// policy's sidecars — steps of percent, each sidecar in or out by a hash of
// its identity, so the same sidecars are in a step on every replica and after
// a restart — with a pause after each step is acknowledged, and an automatic
// rollback when more of a step's sidecars refuse it (NACK) than allowed.
// The state lives in status.rollout: the leader advances it, every replica
// serves from it. Pure functions: the reconcile calls them, tests drive them.
import { createHash } from "node:crypto";
import { bundleEtag, readBundle, serializeBundle, signBundle, type RevisionHealth } from "../bundle/index.ts";
import type { Publication } from "./build.ts";
import type { RoutingPolicySpec } from "./resources.ts";

export interface RolloutPlan {
  steps: number[];
  pauseMs: number;
  maxNackPercent: number;
  /** Canary analysis (spec.rollout.analysis); null: steps advance on ACKs alone. */
  analysis: CanaryAnalysis | null;
}

/** When a canary revision is judged worse than the stable one (spec.rollout.analysis, with its defaults). */
export interface CanaryAnalysis {
  /** Requests each side needs before anything is judged (the step is held until then). */
  minRequests: number;
  /** Roll back when the candidate's 5xx rate exceeds the stable one's by more than this many percentage points (and the difference is significant, z ≥ 2). */
  maxErrorRatePoints: number;
  /** Roll back when the candidate's mean latency exceeds the stable one's by more than this percent … */
  maxLatencyIncreasePercent: number;
  /** … and by more than this many milliseconds (a few ms more on answers of a few ms is noise, not a regression). */
  minLatencyIncreaseMs: number;
  /** Roll back when the candidate's mean feedback quality (0–1) is lower by more than this, once each side has minRatings ratings. */
  maxQualityDrop: number;
  minRatings: number;
}

export const CANARY_DEFAULTS: CanaryAnalysis = { minRequests: 100, maxErrorRatePoints: 5, maxLatencyIncreasePercent: 50, minLatencyIncreaseMs: 50, maxQualityDrop: 0.1, minRatings: 30 };

/** One side of the comparison, as status shows it. */
export interface RevisionSummary {
  requests: number;
  /** 5xx share, 0–1. */
  errorRate: number;
  latencyMs: number | null;
  ratings: number;
  quality: number | null;
}

export interface AnalysisStatus {
  candidate: RevisionSummary;
  stable: RevisionSummary;
  verdict: "proceed" | "hold" | "rollback";
  reason: string;
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
  /** The last canary analysis of this revision (spec.rollout.analysis). */
  analysis?: AnalysisStatus;
}

/** What a step's sidecars say about the revision being rolled out. */
export interface StepCounts {
  inStep: number;
  onRevision: number;
  nacked: number;
  lastNack?: { sidecar: string; reason: string };
  /** Another replica has not yet reported on this revision: the counts are not whole, so nothing is judged. */
  pending?: boolean;
  /** What sidecars on the candidate and on the stable revision saw since they activated it (canary analysis). */
  health?: { candidate: RevisionHealth; stable: RevisionHealth };
}

export function rolloutPlan(spec: RoutingPolicySpec): RolloutPlan {
  const r = spec.rollout ?? {};
  const analysis = r.analysis ? { ...CANARY_DEFAULTS, ...Object.fromEntries(Object.entries(r.analysis).filter(([, v]) => v !== undefined)) } : null;
  return { steps: r.steps?.length ? r.steps : [100], pauseMs: (r.pauseSeconds ?? 0) * 1000, maxNackPercent: r.maxNackPercent ?? 0, analysis };
}

function summary(h: RevisionHealth): RevisionSummary {
  return {
    requests: h.requests,
    errorRate: h.requests > 0 ? h.errors / h.requests : 0,
    latencyMs: h.requests > 0 ? h.latencyMs / h.requests : null,
    ratings: h.ratings,
    quality: h.ratings > 0 ? h.quality / h.ratings : null,
  };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * Canary analysis: the candidate's sidecars against the stable revision's, from what each side
 * reported since it activated its revision (5xx rate, mean latency, feedback quality). Holds the
 * step until both sides have `minRequests`; rolls back when the candidate is worse beyond a limit.
 */
export function canaryAnalysis(a: CanaryAnalysis, health: { candidate: RevisionHealth; stable: RevisionHealth }): { gate: RolloutGate; analysis: AnalysisStatus } {
  const c = summary(health.candidate);
  const s = summary(health.stable);
  const judged = (verdict: AnalysisStatus["verdict"], reason: string) => ({
    gate: verdict === "proceed" ? ({ verdict } as RolloutGate) : { verdict, reason: verdict === "hold" ? `canary analysis ${reason}` : reason },
    analysis: { candidate: c, stable: s, verdict, reason },
  });
  if (c.requests < a.minRequests || s.requests < a.minRequests) {
    return judged("hold", `waiting for ${a.minRequests} requests on each side (candidate ${c.requests}, stable ${s.requests})`);
  }
  // Errors: a two-proportion z-test keeps a few unlucky requests from rolling back a good revision.
  const pooled = (health.candidate.errors + health.stable.errors) / (c.requests + s.requests);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / c.requests + 1 / s.requests));
  const diff = c.errorRate - s.errorRate;
  const z = se > 0 ? diff / se : diff > 0 ? Infinity : 0;
  if (diff * 100 > a.maxErrorRatePoints && z >= 2) {
    return judged("rollback", `5xx rate ${pct(c.errorRate)} on the candidate against ${pct(s.errorRate)} on the stable revision (+${(diff * 100).toFixed(1)} points, more than ${a.maxErrorRatePoints})`);
  }
  const slower = c.latencyMs !== null && s.latencyMs !== null ? c.latencyMs - s.latencyMs : 0;
  if (slower > a.minLatencyIncreaseMs && (slower / s.latencyMs!) * 100 > a.maxLatencyIncreasePercent) {
    return judged("rollback", `mean latency ${c.latencyMs!.toFixed(0)} ms on the candidate against ${s.latencyMs!.toFixed(0)} ms (more than +${a.maxLatencyIncreasePercent}% and +${a.minLatencyIncreaseMs} ms)`);
  }
  if (c.quality !== null && s.quality !== null && c.ratings >= a.minRatings && s.ratings >= a.minRatings && s.quality - c.quality > a.maxQualityDrop) {
    return judged("rollback", `feedback quality ${c.quality.toFixed(2)} on the candidate against ${s.quality.toFixed(2)} (a drop of more than ${a.maxQualityDrop})`);
  }
  return judged("proceed", `5xx ${pct(c.errorRate)} vs ${pct(s.errorRate)}, latency ${c.latencyMs!.toFixed(0)} vs ${s.latencyMs!.toFixed(0)} ms${c.quality !== null && s.quality !== null ? `, quality ${c.quality.toFixed(2)} vs ${s.quality.toFixed(2)}` : ""}: within the limits`);
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
/**
 * A verdict on the revision from outside the fleet's ACKs — the hook for canary analysis over
 * telemetry (issue 13): "hold" keeps the step, "rollback" rolls back as too many NACKs would.
 */
export type RolloutGate = { verdict: "proceed" } | { verdict: "hold" | "rollback"; reason: string };

export function advanceRollout(prev: RolloutStatus | undefined, candidate: Publication, stableKnown: Publication | null, plan: RolloutPlan, counts: StepCounts, now: Date, gate: RolloutGate = { verdict: "proceed" }): RolloutStatus {
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
  if (gate.verdict === "rollback" && prev.stableEtag) {
    return { ...prev, phase: "RolledBack", stepAcked: undefined, message: `revision ${short(prev.revision)} failed its canary analysis (${gate.reason}); rolled back to revision ${short(prev.stableRevision!)}` };
  }
  const acked = counts.onRevision >= counts.inStep;
  if (!acked) return { ...prev, stepAcked: undefined, message: `step ${prev.step + 1}/${plan.steps.length} (${prev.percent}%): ${counts.onRevision}/${counts.inStep} sidecars run revision ${short(prev.revision)}${counts.nacked ? `, ${counts.nacked} refused it` : ""}` };
  const ackedAt = prev.stepAcked ?? at;
  if (gate.verdict === "hold") return { ...prev, stepAcked: ackedAt, message: `step ${prev.step + 1}/${plan.steps.length} (${prev.percent}%) acknowledged; held: ${gate.reason}` };
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
