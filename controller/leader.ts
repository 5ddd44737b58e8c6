// Leader election on a coordination.k8s.io/v1 Lease, as client-go's
// leaderelection: lease 15 s, renew deadline 10 s, retry every 2 s. Expiry is
// judged by this replica's own clock from when it last saw the record change
// (never by comparing clocks across machines). Every replica serves sidecars;
// only the leader writes status and events and advances rollouts.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import * as k8s from "@kubernetes/client-node";
import { statusCode } from "./kube.ts";

export interface LeaderElectionOptions {
  namespace: string;
  name?: string;
  identity?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
  log?: (line: string) => void;
}

export class LeaderElector {
  readonly identity: string;
  private readonly api: k8s.CoordinationV1Api;
  private readonly o: Required<Omit<LeaderElectionOptions, "onStartedLeading" | "onStoppedLeading" | "onNewLeader" | "log">> & Pick<LeaderElectionOptions, "onStartedLeading" | "onStoppedLeading" | "onNewLeader" | "log">;
  private leading = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** The record as last seen, and when (this replica's clock) it last changed. */
  private observed: { holder: string; renew: string; at: number } | null = null;
  private lastRenew = 0;
  private leader = "";
  transitions = 0;

  constructor(kc: k8s.KubeConfig, options: LeaderElectionOptions) {
    this.api = kc.makeApiClient(k8s.CoordinationV1Api);
    this.identity = options.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.o = {
      name: "routeplane-controller",
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
      identity: this.identity,
    } as typeof this.o;
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The identity of the current leader, as last seen ("" when none). */
  currentLeader(): string {
    return this.leader;
  }

  start(): void {
    const tick = async () => {
      if (this.stopped) return;
      try {
        // Kept so that stop() waits for it: a renewal landing after the release would hold the lease again.
        this.inflight = this.tryAcquireOrRenew();
        await this.inflight;
      } catch (err) {
        this.o.log?.(`leader election: ${(err as Error).message}`);
      } finally {
        this.inflight = null;
      }
      // A leader that could not renew within the deadline steps down (another may hold the lease by now).
      if (this.leading && Date.now() - this.lastRenew > this.o.renewDeadlineMs) this.setLeading(false);
      if (!this.stopped) this.timer = setTimeout(tick, this.o.retryPeriodMs);
    };
    void tick();
  }

  private setLeading(on: boolean): void {
    if (this.leading === on) return;
    this.leading = on;
    this.o.log?.(on ? `leader election: ${this.identity} is the leader` : `leader election: ${this.identity} stopped leading`);
    if (on) this.o.onStartedLeading?.();
    else this.o.onStoppedLeading?.();
  }

  private async tryAcquireOrRenew(): Promise<void> {
    const now = new k8s.V1MicroTime();
    const durationSeconds = Math.round(this.o.leaseDurationMs / 1000);
    let lease: k8s.V1Lease | undefined;
    try {
      lease = await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
    } catch (err) {
      if (statusCode(err) !== 404) throw err;
    }
    const mine: k8s.V1LeaseSpec = { holderIdentity: this.identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
    if (!lease) {
      try {
        await this.api.createNamespacedLease({ namespace: this.o.namespace, body: { metadata: { name: this.o.name, namespace: this.o.namespace }, spec: mine } });
      } catch (err) {
        if (statusCode(err) === 409) return; // another replica created it first
        throw err;
      }
      this.acquired(this.identity);
      return;
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const renew = spec.renewTime ? new Date(spec.renewTime).toISOString() : "";
    if (!this.observed || this.observed.holder !== holder || this.observed.renew !== renew) this.observed = { holder, renew, at: Date.now() };
    if (holder !== this.leader) {
      this.leader = holder;
      if (holder) this.o.onNewLeader?.(holder);
    }
    const duration = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    const expired = holder === "" || Date.now() > this.observed.at + duration;
    if (holder !== this.identity && !expired) {
      this.setLeading(false);
      return;
    }
    const body: k8s.V1Lease = {
      ...lease,
      spec: holder === this.identity
        ? { ...spec, renewTime: now, leaseDurationSeconds: durationSeconds }
        : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 },
    };
    try {
      await this.api.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body });
    } catch (err) {
      if (statusCode(err) === 409) return; // changed under us: judged again at the next tick
      throw err;
    }
    if (holder !== this.identity) this.transitions++;
    this.acquired(this.identity);
  }

  private acquired(identity: string): void {
    this.lastRenew = Date.now();
    this.leader = identity;
    this.observed = null;
    this.setLeading(true);
  }

  /** The renewal in flight, if any (stop() waits for it before releasing). */
  private inflight: Promise<void> | null = null;

  /**
   * Stops electing; a leader releases the lease so another replica takes over at once. A renewal
   * in flight is waited for first (else it could land after the release and hold the lease again,
   * as a CI run once saw), and a release that meets a conflict reads the lease again and retries.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inflight?.catch(() => {});
    const wasLeading = this.leading;
    this.setLeading(false);
    if (!wasLeading) return;
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const lease = await this.api.readNamespacedLease({ name: this.o.name, namespace: this.o.namespace });
        if (lease.spec?.holderIdentity !== this.identity) return;
        await this.api.replaceNamespacedLease({ name: this.o.name, namespace: this.o.namespace, body: { ...lease, spec: { ...lease.spec, holderIdentity: "", leaseDurationSeconds: 1, renewTime: new k8s.V1MicroTime() } } });
        return;
      } catch (err) {
        if (statusCode(err) === 409 && attempt < 3) continue;
        this.o.log?.(`leader election: releasing the lease: ${(err as Error).message}`);
        return;
      }
    }
  }
}
