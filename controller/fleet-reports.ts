// The fleet across controller replicas. A sidecar polls one replica, which
// alone knows what it runs; each replica therefore publishes its policies'
// counts in a Lease of its own (`routeplane-fleet-<replica>`, annotation
// `routeplane.dev/fleet`, renewed while it lives), and the leader adds the
// live reports of the others to its own counts. Counts are per revision
// (ETag), so a report made before a publish never counts for the new one.
import { createHash } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { addHealth } from "../bundle/index.ts";
import type { Distribution } from "./distribution.ts";
import { statusCode } from "./kube.ts";
import type { StepCounts } from "./rollout.ts";
import type { FleetCounts } from "./status.ts";

const LABEL = "routeplane.dev/fleet-report";
const ANNOTATION = "routeplane.dev/fleet";

/** One replica's counts for one policy. */
export interface PolicyReport {
  newest: string | null;
  fleet: FleetCounts;
  candidate: string | null;
  step: StepCounts;
}

export class FleetReports {
  private readonly api: k8s.CoordinationV1Api;
  private readonly name: string;
  private last = "";
  private lastWrite = 0;
  private timer: NodeJS.Timeout | null = null;
  private others: { at: number; reports: Record<string, PolicyReport>[] } = { at: 0, reports: [] };
  writes = 0;

  private readonly namespace: string;
  private readonly identity: string;
  private readonly distribution: Distribution;
  private readonly keys: () => string[];
  private readonly ttlSeconds: number;

  constructor(kc: k8s.KubeConfig, namespace: string, identity: string, distribution: Distribution, keys: () => string[], ttlSeconds = 30) {
    this.namespace = namespace;
    this.identity = identity;
    this.distribution = distribution;
    this.keys = keys;
    this.ttlSeconds = ttlSeconds;
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.name = `routeplane-fleet-${createHash("sha256").update(identity).digest("hex").slice(0, 12)}`;
  }

  /** This replica's counts, per policy with sidecars or a revision. */
  local(): Record<string, PolicyReport> {
    const out: Record<string, PolicyReport> = {};
    for (const key of this.keys()) {
      const fleet = this.distribution.counts(key);
      const step = this.distribution.stepCounts(key);
      if (fleet.total === 0 && step.inStep === 0) continue;
      out[key] = { newest: this.distribution.current(key)?.etag ?? null, fleet, candidate: this.distribution.current(key)?.etag ?? null, step };
    }
    return out;
  }

  /** Writes this replica's report when it changed (at most once a second) or is half its lifetime old. */
  async publish(): Promise<void> {
    const report = JSON.stringify(this.local());
    const now = Date.now();
    if (report === this.last && now - this.lastWrite < (this.ttlSeconds * 1000) / 2) return;
    const body: k8s.V1Lease = {
      metadata: { name: this.name, namespace: this.namespace, labels: { [LABEL]: "true" }, annotations: { [ANNOTATION]: report } },
      spec: { holderIdentity: this.identity, leaseDurationSeconds: this.ttlSeconds, renewTime: new k8s.V1MicroTime() },
    };
    try {
      const existing = await this.api.readNamespacedLease({ name: this.name, namespace: this.namespace });
      await this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body: { ...body, metadata: { ...existing.metadata, ...body.metadata } } });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
      await this.api.createNamespacedLease({ namespace: this.namespace, body });
    }
    this.last = report;
    this.lastWrite = now;
    this.writes++;
  }

  /**
   * Publishes this replica's report every second; on the leader, also notices when another
   * replica's report of a policy changed (a sidecar there ACKed, NACKed, came or went) and
   * calls `onRemoteChange` for it, since nothing else tells the leader.
   */
  start(onError: (err: Error) => void, options: { leading?: () => boolean; onRemoteChange?: (key: string) => void } = {}): void {
    let seen = new Map<string, string>();
    const watchRemote = async () => {
      if (!options.leading?.() || !options.onRemoteChange) return;
      const now = new Map<string, string>();
      for (const r of await this.remote()) for (const [key, p] of Object.entries(r)) now.set(key, (now.get(key) ?? "") + JSON.stringify(p));
      for (const key of new Set([...now.keys(), ...seen.keys()])) if (now.get(key) !== seen.get(key)) options.onRemoteChange(key);
      seen = now;
    };
    const tick = () => {
      Promise.all([this.publish(), watchRemote()]).catch(onError).finally(() => {
        this.timer = setTimeout(tick, 1000);
        this.timer.unref();
      });
    };
    tick();
  }

  /** The other replicas' live reports (cached for a second). */
  async remote(): Promise<Record<string, PolicyReport>[]> {
    if (Date.now() - this.others.at < 1000) return this.others.reports;
    const list = await this.api.listNamespacedLease({ namespace: this.namespace, labelSelector: `${LABEL}=true` });
    const now = Date.now();
    const reports = list.items
      .filter((l) => l.metadata?.name !== this.name)
      // A replica that stopped renewing is gone; its sidecars poll another replica by now.
      .filter((l) => l.spec?.renewTime && now - new Date(l.spec.renewTime).getTime() < (l.spec.leaseDurationSeconds ?? this.ttlSeconds) * 1000)
      .map((l) => {
        try {
          return JSON.parse(l.metadata?.annotations?.[ANNOTATION] ?? "{}") as Record<string, PolicyReport>;
        } catch {
          return {};
        }
      });
    this.others = { at: now, reports };
    return reports;
  }

  /** The whole fleet of a policy: this replica's sidecars and the others' reports for the same revisions. */
  async total(key: string): Promise<{ fleet: FleetCounts; step: StepCounts }> {
    const fleet = { ...this.distribution.counts(key) };
    const step = { ...this.distribution.stepCounts(key) };
    const newest = this.distribution.current(key)?.etag ?? null;
    for (const r of await this.remote()) {
      const p = r[key];
      if (!p) continue;
      fleet.total += p.fleet.total;
      for (const [version, r] of Object.entries(p.fleet.shares ?? {})) {
        const mine = (fleet.shares ??= {})[version];
        fleet.shares[version] = mine ? { ...mine, sidecars: mine.sidecars + r.sidecars, since: r.since < mine.since ? r.since : mine.since } : r;
      }
      if (p.newest === newest) {
        fleet.onRevision += p.fleet.onRevision;
        fleet.nacked += p.fleet.nacked;
        if (p.fleet.lastNack && (!fleet.lastNack || p.fleet.lastNack.time > fleet.lastNack.time)) fleet.lastNack = p.fleet.lastNack;
      }
      // A replica still serving an older revision has not published this one yet: its sidecars cannot be judged.
      if (p.candidate !== newest) step.pending = true;
      else {
        step.inStep += p.step.inStep;
        step.onRevision += p.step.onRevision;
        step.nacked += p.step.nacked;
        if (p.step.lastNack && !step.lastNack) step.lastNack = p.step.lastNack;
        if (p.step.health && step.health) step.health = { candidate: addHealth(step.health.candidate, p.step.health.candidate), stable: addHealth(step.health.stable, p.step.health.stable) };
      }
    }
    return { fleet, step };
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    try {
      await this.api.deleteNamespacedLease({ name: this.name, namespace: this.namespace });
    } catch {
      // Gone already, or the apiserver is down: the report expires by itself.
    }
  }
}
