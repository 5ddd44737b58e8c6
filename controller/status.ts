// The RoutingPolicy's status from a build and the fleet, per the Kubernetes
// API conventions: conditions with CamelCase reasons and human messages,
// lastTransitionTime kept while a condition's status does not change,
// observedGeneration on the status and each condition.
import type { Diagnostic } from "../compiler/index.ts";
import { canonicalJson } from "../bundle/index.ts";
import { isCompileDiagnostic, type PolicyBuild, type Publication } from "./build.ts";
import type { RolloutStatus } from "./rollout.ts";
import type { Condition, ConditionType, Finding, RoutingPolicy, RoutingPolicyStatus } from "./resources.ts";

/** Findings listed in status (the counts cover all). */
export const MAX_FINDINGS = 20;

export interface FleetCounts {
  total: number;
  onRevision: number;
  nacked: number;
  lastNack?: { sidecar: string; revision: string; reason: string; time: string };
  /** Learned shares the sidecars apply, by version: how many apply it, its per-route shares, when it was first reported. */
  shares?: Record<string, SharesReport>;
}

export interface SharesReport {
  sidecars: number;
  routes: Record<string, Record<string, number>>;
  since: string;
}

/** The first 12 hex digits of a revision (`sha256:…`), as `kubectl get rp` shows it. */
export function shortRevision(revision: string): string {
  return revision.replace(/^sha256:/, "").slice(0, 12);
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function findingsOf(diags: Diagnostic[]): NonNullable<RoutingPolicyStatus["findings"]> {
  const count = (s: string) => diags.filter((d) => d.severity === s).length;
  const items: Finding[] = diags.slice(0, MAX_FINDINGS).map((d) => ({ code: d.code, severity: d.severity, file: d.file, line: d.span.start.line, message: d.message }));
  const errors = count("error");
  const warnings = count("warning");
  return { errors, warnings, notes: count("info"), summary: `${plural(errors, "error")}, ${plural(warnings, "warning")}`, items };
}

const firstError = (diags: Diagnostic[]) => diags.find((d) => d.severity === "error");
const where = (d: Diagnostic) => `${d.code} at ${d.file}:${d.span.start.line}:${d.span.start.col}: ${d.message}`;

/**
 * The status a reconcile writes. `served` is what sidecars are given now: this build's
 * publication, or the last good one while this build fails.
 */
export function statusOf(rp: RoutingPolicy, build: PolicyBuild, served: Publication | null, fleet: FleetCounts, rollout: RolloutStatus | undefined, now: Date): RoutingPolicyStatus {
  const generation = rp.metadata?.generation ?? 0;
  const previous = new Map((rp.status?.conditions ?? []).map((c) => [c.type, c]));
  const conditions: Condition[] = [];
  const set = (type: ConditionType, status: Condition["status"], reason: string, message: string) => {
    const old = previous.get(type);
    const lastTransitionTime = old && old.status === status ? old.lastTransitionTime : now.toISOString();
    conditions.push({ type, status, observedGeneration: generation, lastTransitionTime, reason, message });
  };
  const diags = build.diagnostics;
  // A problem before the compiler answered (missing sources, or the compile hit a limit) is a Compiled problem.
  const sourceProblem = build.problems.find((p) => p.stage === "sources" || p.stage === "compile");
  const signProblem = build.problems.find((p) => p.stage === "sign");
  const compileError = firstError(diags.filter(isCompileDiagnostic));
  const analysisError = firstError(diags.filter((d) => !isCompileDiagnostic(d)));
  // A controller that restarted while the spec is broken has no bytes of the last good revision (no
  // bundle store), but the sidecars still run it: status keeps naming it.
  const before = !served && rp.status?.revision ? rp.status : null;
  const keeping = served && served !== build.publication ? `; sidecars keep revision ${shortRevision(served.revision)}`
    : before ? `; sidecars keep revision ${shortRevision(before.revision!)} (their last known good; the controller restarted since)` : "";

  // Compiled
  if (sourceProblem) set("Compiled", "False", sourceProblem.reason, sourceProblem.message + keeping);
  else if (compileError) set("Compiled", "False", "CompileFailed", `${where(compileError)}${keeping}`);
  else set("Compiled", "True", "Compiled", `${plural(Object.keys(build.files).length, "file")} compiled`);
  // Analyzed
  const findings = findingsOf(diags);
  if (sourceProblem || compileError) set("Analyzed", "Unknown", "NotCompiled", "the policy did not compile");
  else if (analysisError) set("Analyzed", "False", "FindingsWithErrors", `${where(analysisError)}${keeping}`);
  else set("Analyzed", "True", "Analyzed", `${findings.summary}; every guarantee proved`);
  // Signed
  if (build.failedAt === "sources" || build.failedAt === "compile") set("Signed", "Unknown", "NotCompiled", "nothing to sign");
  else if (signProblem) set("Signed", "False", signProblem.reason, signProblem.message + keeping);
  else if (build.publication) set("Signed", "True", "Signed", `revision ${shortRevision(build.publication.revision)}, serial ${build.publication.serial}`);
  // RolledOut: the rollout of the served revision is complete (status.rollout says where it stands).
  const { shares, ...counts } = fleet;
  const sidecars = { ...counts, summary: `${fleet.onRevision}/${fleet.total}` };
  if (!served || !rollout) set("RolledOut", "Unknown", "NothingToServe", "no revision has been signed yet");
  else if (rollout.phase === "Complete") set("RolledOut", "True", fleet.total === 0 ? "NoSidecars" : "RolledOut", fleet.total === 0 ? `revision ${shortRevision(served.revision)} is served; no sidecar is subscribed` : rollout.message);
  else if (rollout.phase === "RolledBack") set("RolledOut", "False", "RolledBack", rollout.message);
  else set("RolledOut", "False", fleet.nacked > 0 ? "Nacked" : "RollingOut", fleet.nacked > 0 && fleet.lastNack ? `${rollout.message}; ${fleet.lastNack.sidecar} refused it: ${fleet.lastNack.reason}` : rollout.message);
  // Ready: this generation is built, signed and rolled out.
  const built = build.publication !== null && served === build.publication;
  if (!built) set("Ready", "False", build.failedAt === null ? "NotServed" : "BuildFailed", `generation ${generation} is not served${keeping || "; no revision is served"}`);
  else if (rollout?.phase === "RolledBack") set("Ready", "False", "RolledBack", `generation ${generation} was rolled back; apply a fixed policy`);
  else if (rollout?.phase !== "Complete") set("Ready", "False", "RollingOut", rollout?.message ?? "not rolled out yet");
  else set("Ready", "True", "Ready", `revision ${shortRevision(served!.revision)} on ${sidecars.summary} sidecars`);

  return {
    observedGeneration: generation,
    ...(served ? { revision: served.revision, shortRevision: shortRevision(served.revision), serial: served.serial, policyName: served.policyName } : {}),
    ...(before ? { revision: before.revision, shortRevision: before.shortRevision, serial: before.serial, policyName: before.policyName } : {}),
    conditions,
    findings,
    sidecars,
    ...(rollout ? { rollout } : {}),
    ...adaptationOf(rp, shares ?? {}, fleet.total),
  };
}

/**
 * The adaptation state: the mode the spec asks for, and the learned shares most sidecars apply
 * (version, how many, per-route shares, since when) — from what the sidecars report with their polls.
 */
function adaptationOf(rp: RoutingPolicy, shares: Record<string, SharesReport>, total: number): Pick<RoutingPolicyStatus, "adaptation"> {
  const mode = rp.spec.adaptation?.mode ?? "off";
  const versions = Object.entries(shares).sort(([va, a], [vb, b]) => b.sidecars - a.sidecars || (va < vb ? 1 : -1));
  if (mode === "off" && versions.length === 0) return {};
  const top = versions[0];
  return {
    adaptation: {
      mode,
      version: top?.[0] ?? null,
      sidecars: `${top?.[1].sidecars ?? 0}/${total}`,
      ...(top ? { since: top[1].since, routes: top[1].routes } : {}),
      ...(versions.length > 1 ? { otherVersions: versions.length - 1 } : {}),
    },
  };
}

/** Whether the stored status already says this (key order aside: the apiserver sorts object keys). */
export function sameStatus(a: RoutingPolicyStatus | undefined, b: RoutingPolicyStatus): boolean {
  return canonicalJson(a ?? null) === canonicalJson(b);
}
