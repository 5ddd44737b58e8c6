// The RoutingPolicy custom resource (crds/routingpolicies.yaml) as types, and
// the names the controller uses for it.
import type { KubernetesObject } from "@kubernetes/client-node";
import type { CanaryAnalysis, RolloutStatus } from "./rollout.ts";

export const GROUP = "routeplane.dev";
export const VERSION = "v1alpha1";
export const PLURAL = "routingpolicies";
export const KIND = "RoutingPolicy";
/** Who the controller says it is in events and field managers. */
export const COMPONENT = "routeplane-controller";

export interface RoutingPolicySpec {
  sources?: Record<string, string>;
  configMaps?: { name: string; keys?: string[] }[];
  policyName?: string;
  signingKey: { secretName: string; key?: string };
  selector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  allowUnproved?: boolean;
  rollout?: { steps?: number[]; pauseSeconds?: number; maxNackPercent?: number; analysis?: Partial<CanaryAnalysis> };
  adaptation?: { mode?: "off" | "observe" | "on" };
}

export type ConditionType = "Compiled" | "Analyzed" | "Signed" | "RolledOut" | "Ready";

export interface Condition {
  type: ConditionType;
  status: "True" | "False" | "Unknown";
  observedGeneration?: number;
  lastTransitionTime: string;
  reason: string;
  message: string;
}

export interface Finding {
  code: string;
  severity: string;
  file: string;
  line: number;
  message: string;
}

export interface RoutingPolicyStatus {
  observedGeneration?: number;
  revision?: string;
  shortRevision?: string;
  serial?: number;
  policyName?: string;
  conditions?: Condition[];
  findings?: { errors: number; warnings: number; notes: number; summary: string; items: Finding[] };
  sidecars?: { total: number; onRevision: number; nacked: number; summary: string; lastNack?: { sidecar: string; revision: string; reason: string; time: string } };
  rollout?: RolloutStatus;
  /** spec.adaptation.mode and the learned shares the sidecars apply (docs/adaptation.md). */
  adaptation?: { mode: "off" | "observe" | "on"; version: string | null; sidecars: string; since?: string; routes?: Record<string, Record<string, number>>; otherVersions?: number };
}

export interface RoutingPolicy extends KubernetesObject {
  spec: RoutingPolicySpec;
  status?: RoutingPolicyStatus;
}

/** `namespace/name`, the work queue's key. */
export function keyOf(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ""}/${obj.metadata?.name ?? ""}`;
}

export function splitKey(key: string): { namespace: string; name: string } {
  const i = key.indexOf("/");
  return { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** The policy identity sidecars pin (ADR 10): spec.policyName, default `namespace/name`. */
export function policyNameOf(rp: RoutingPolicy): string {
  return rp.spec.policyName || keyOf(rp);
}

/**
 * The bundle's serial (ADR 13): creation time in seconds × 10⁶ + generation. It grows with
 * every spec change, is the same after a restart, and still grows when the policy is recreated.
 */
export function serialOf(rp: RoutingPolicy): number {
  const created = Math.floor(new Date(rp.metadata?.creationTimestamp ?? 0).getTime() / 1000);
  return created * 1_000_000 + Math.min(rp.metadata?.generation ?? 0, 999_999);
}
