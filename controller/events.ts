// Events on RoutingPolicies (`kubectl describe rp` and `kubectl get events`),
// with specific reasons. The same event for the same object is written once
// per window, so a resync, a restarted apiserver or a crash loop of a
// dependency never storms the events API.
import type { CoreV1Api, CoreV1Event } from "@kubernetes/client-node";
import { COMPONENT, type RoutingPolicy } from "./resources.ts";

export type EventReason = "Compiled" | "CompileFailed" | "AnalysisFailed" | "SigningFailed" | "SourcesMissing" | "RolloutStep" | "RolledOut" | "Nacked" | "RolledBack";

export class EventRecorder {
  private readonly recent = new Map<string, number>();
  written = 0;
  suppressed = 0;

  private readonly core: CoreV1Api | null;
  private readonly windowMs: number;
  private readonly onError: (err: Error) => void;

  constructor(core: CoreV1Api | null, windowMs = 10 * 60_000, onError: (err: Error) => void = () => {}) {
    this.core = core;
    this.windowMs = windowMs;
    this.onError = onError;
  }

  record(rp: RoutingPolicy, type: "Normal" | "Warning", reason: EventReason, message: string): void {
    const uid = rp.metadata?.uid ?? "";
    const key = `${uid}\u0000${reason}\u0000${message}`;
    const now = Date.now();
    const last = this.recent.get(key);
    if (last !== undefined && now - last < this.windowMs) {
      this.suppressed++;
      return;
    }
    this.recent.set(key, now);
    if (this.recent.size > 10_000) for (const [k, t] of this.recent) if (now - t >= this.windowMs) this.recent.delete(k);
    if (!this.core) return;
    const namespace = rp.metadata?.namespace ?? "default";
    const stamp = new Date(now);
    const body: CoreV1Event = {
      metadata: { generateName: `${rp.metadata?.name ?? "routingpolicy"}.`, namespace },
      involvedObject: { apiVersion: rp.apiVersion, kind: rp.kind, name: rp.metadata?.name, namespace, uid, resourceVersion: rp.metadata?.resourceVersion },
      reason,
      message: message.slice(0, 1024),
      type,
      source: { component: COMPONENT },
      reportingComponent: COMPONENT,
      reportingInstance: process.env.POD_NAME ?? COMPONENT,
      firstTimestamp: stamp,
      lastTimestamp: stamp,
      count: 1,
    };
    this.written++;
    this.core.createNamespacedEvent({ namespace, body }).catch((err: Error) => this.onError(err));
  }
}
