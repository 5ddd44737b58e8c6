// Serving bundles to sidecars (ADR 13): a long-polled GET per policy whose
// next request is the ACK (If-None-Match: the ETag now active) or the NACK
// (routeplane-nack: the refused ETag and why). The fleet's state stays in
// memory, per policy: sidecar id → what it runs, what it refused, when it was
// last seen. A NACKed bundle is not offered again to that sidecar.
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  HEALTH_HEADER, NACK_HEADER, SHARES_HEADER, SIDECAR_HEADER, addHealth, emptyHealth, parseBundlePath, parseHealthHeader, parseNackHeader, parseSharesHeader, preferredWait,
  type DistributionError, type RevisionHealth,
} from "../bundle/index.ts";
import type { Publication } from "./build.ts";
import { inStep, type StepCounts } from "./rollout.ts";
import type { FleetCounts, SharesReport } from "./status.ts";

/** What a policy's sidecars get: the candidate for those in the rollout step, the stable revision for the rest. */
export interface Targets {
  stable: Publication | null;
  candidate: Publication | null;
  /** Percent of sidecars that get the candidate (100: all). */
  percent: number;
}

export interface SidecarState {
  id: string;
  active: string | null;
  nack: { etag: string; reason: string; time: Date } | null;
  lastSeen: number;
  /** Polls open now. */
  polling: number;
  /** What the sidecar last reported seeing on the revision it runs (canary analysis). */
  health: { etag: string; health: RevisionHealth } | null;
  /** The learned shares it applies (null: none), and when this replica first heard of that version. */
  shares: { version: string; routes: Record<string, Record<string, number>>; since: string } | null;
}

/** Who a token belongs to; null namespace: not a service account of any namespace. */
export type Authenticate = (token: string) => Promise<{ ok: true; namespace: string | null; user: string } | { ok: false; message: string; retryable?: boolean }>;

export interface DistributionOptions {
  authenticate: Authenticate;
  /** A sidecar counts while a poll is open or it polled within this long (ms). */
  presenceMs?: number;
  /** Called when a policy's fleet changed (a sidecar came, went, ACKed or NACKed). */
  onFleetChange?: (key: string) => void;
  /** Whether the caches are synced (503 before). */
  ready?: () => boolean;
  /**
   * Sidecar ids remembered per policy (default 50,000). Ids come from the client: past this, a
   * poll with a new id gets a retryable 503 instead of growing the controller's memory.
   */
  maxSidecarsPerPolicy?: number;
}

function fail(res: ServerResponse, status: number, code: DistributionError["error"]["code"], message: string, retryable: boolean): void {
  const body: DistributionError = { error: { code, message, retryable } };
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

export class Distribution {
  private readonly targets = new Map<string, Targets>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly fleets = new Map<string, Map<string, SidecarState>>();
  private readonly options: Required<DistributionOptions>;
  private readonly sweeper: NodeJS.Timeout;
  polls = { served: 0, notModified: 0, refused: 0 };
  private draining = false;

  constructor(options: DistributionOptions) {
    this.options = {
      authenticate: options.authenticate,
      presenceMs: options.presenceMs ?? 70_000,
      onFleetChange: options.onFleetChange ?? (() => {}),
      ready: options.ready ?? (() => true),
      maxSidecarsPerPolicy: options.maxSidecarsPerPolicy ?? 50_000,
    };
    // Sidecars that stopped polling leave the counts.
    this.sweeper = setInterval(() => this.sweep(), Math.min(5_000, this.options.presenceMs / 2));
    this.sweeper.unref();
  }

  /** Serves `pub` to every sidecar of policy `key` from now on, waking their polls. */
  publish(key: string, pub: Publication): void {
    this.setTargets(key, { stable: null, candidate: pub, percent: 100 });
  }

  /** Serves a rollout's targets, waking the polls of the policy when anything changed. */
  setTargets(key: string, t: Targets): void {
    const old = this.targets.get(key);
    if (old && old.stable?.etag === t.stable?.etag && old.candidate?.etag === t.candidate?.etag && old.percent === t.percent) return;
    this.targets.set(key, t);
    this.wake(key);
  }

  unpublish(key: string): void {
    this.targets.delete(key);
    this.wake(key);
  }

  /** The newest revision served for a policy (the candidate while a rollout runs). */
  current(key: string): Publication | undefined {
    const t = this.targets.get(key);
    return t?.candidate ?? t?.stable ?? undefined;
  }

  /** The bundle a sidecar should run. */
  targetFor(key: string, sidecarId: string): Publication | undefined {
    const t = this.targets.get(key);
    if (!t) return undefined;
    if (t.candidate && (!t.stable || inStep(key, sidecarId, t.percent))) return t.candidate;
    return t.stable ?? undefined;
  }

  /** The sidecars that get the candidate now, and what they say of it. */
  stepCounts(key: string): StepCounts {
    const t = this.targets.get(key);
    const out: StepCounts = { inStep: 0, onRevision: 0, nacked: 0 };
    if (!t?.candidate) return out;
    let latest = "";
    // What the sidecars running either side of the rollout saw: the canary analysis compares them.
    const health = { candidate: emptyHealth(), stable: emptyHealth() };
    for (const s of this.present(key)) {
      if (s.health?.etag === t.candidate.etag) health.candidate = addHealth(health.candidate, s.health.health);
      else if (t.stable && s.health?.etag === t.stable.etag) health.stable = addHealth(health.stable, s.health.health);
    }
    out.health = health;
    for (const s of this.present(key)) {
      if (this.targetFor(key, s.id) !== t.candidate) continue;
      out.inStep++;
      if (s.active === t.candidate.etag) out.onRevision++;
      else if (s.nack?.etag === t.candidate.etag) {
        out.nacked++;
        if (s.nack.time.toISOString() >= latest) {
          latest = s.nack.time.toISOString();
          out.lastNack = { sidecar: s.id, reason: s.nack.reason };
        }
      }
    }
    return out;
  }

  /** The fleet of a policy, counted against its newest revision. */
  counts(key: string): FleetCounts {
    const pub = this.current(key);
    let total = 0;
    let onRevision = 0;
    let nacked = 0;
    let lastNack: FleetCounts["lastNack"];
    for (const s of this.present(key)) {
      total++;
      if (pub && s.active === pub.etag) onRevision++;
      else if (pub && s.nack?.etag === pub.etag) {
        nacked++;
        if (!lastNack || lastNack.time < s.nack.time.toISOString()) lastNack = { sidecar: s.id, revision: pub.revision, reason: s.nack.reason, time: s.nack.time.toISOString() };
      }
    }
    const shares: Record<string, SharesReport> = {};
    for (const s of this.present(key)) {
      if (!s.shares) continue;
      const r = (shares[s.shares.version] ??= { sidecars: 0, routes: s.shares.routes, since: s.shares.since });
      r.sidecars++;
      if (s.shares.since < r.since) r.since = s.shares.since;
    }
    return { total, onRevision, nacked, ...(lastNack ? { lastNack } : {}), ...(Object.keys(shares).length ? { shares } : {}) };
  }

  /** When a shares version was first reported by any sidecar of the policy (now, for a new one). */
  private firstHeard(key: string, version: string): string {
    let first: string | null = null;
    for (const s of this.fleets.get(key)?.values() ?? []) if (s.shares?.version === version && (first === null || s.shares.since < first)) first = s.shares.since;
    return first ?? new Date().toISOString();
  }

  private present(key: string): SidecarState[] {
    const now = Date.now();
    return [...(this.fleets.get(key)?.values() ?? [])].filter((s) => s.polling > 0 || now - s.lastSeen < this.options.presenceMs);
  }

  private sweep(): void {
    const now = Date.now();
    for (const [key, fleet] of this.fleets) {
      let gone = false;
      for (const [id, s] of fleet) {
        if (s.polling === 0 && now - s.lastSeen >= this.options.presenceMs) {
          fleet.delete(id);
          gone = true;
        }
      }
      if (fleet.size === 0) this.fleets.delete(key);
      if (gone) this.options.onFleetChange(key);
    }
  }

  private wake(key: string): void {
    const set = this.waiters.get(key);
    if (!set) return;
    this.waiters.delete(key);
    for (const w of set) w();
  }

  /** Handles `GET /v1/policies/{ns}/{name}/bundle`; returns false when the path is not a bundle path. */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<boolean> {
    const target = parseBundlePath(pathname);
    if (!target) return false;
    if (req.method !== "GET") {
      res.writeHead(405, { allow: "GET", "content-type": "application/json" }).end(JSON.stringify({ error: { code: "bad-request", message: "only GET", retryable: false } }));
      return true;
    }
    if (!this.options.ready()) {
      fail(res, 503, "not-ready", "the controller is starting (caches not synced yet)", true);
      return true;
    }
    const auth = /^Bearer ([A-Za-z0-9\-_.~+/=]+)$/.exec(req.headers.authorization ?? "");
    if (!auth) {
      this.polls.refused++;
      fail(res, 401, "unauthenticated", "send the sidecar's service-account token (audience routeplane) as Authorization: Bearer <token>", false);
      return true;
    }
    const who = await this.options.authenticate(auth[1]);
    if (!who.ok) {
      this.polls.refused++;
      if (who.retryable) fail(res, 503, "not-ready", who.message, true);
      else fail(res, 401, "unauthenticated", who.message, false);
      return true;
    }
    if (who.namespace !== target.namespace) {
      this.polls.refused++;
      fail(res, 403, "forbidden", `${who.user} may not read policies of namespace ${target.namespace}: a sidecar reads only policies of its own namespace`, false);
      return true;
    }
    const key = `${target.namespace}/${target.name}`;
    const id = String(req.headers[SIDECAR_HEADER] ?? "").slice(0, 253) || `${who.user}@${req.socket.remoteAddress ?? "?"}`;
    const active = /^"[0-9a-f]{64}"$/.test(req.headers["if-none-match"] ?? "") ? req.headers["if-none-match"]! : null;
    const nackValue = req.headers[NACK_HEADER];
    const nack = typeof nackValue === "string" ? parseNackHeader(nackValue) : null;
    if (typeof nackValue === "string" && !nack) {
      fail(res, 400, "bad-request", `malformed ${NACK_HEADER} header: expected "<etag>"; reason="<percent-encoded text>"`, false);
      return true;
    }
    const healthValue = req.headers[HEALTH_HEADER];
    const health = typeof healthValue === "string" ? parseHealthHeader(healthValue) : null;
    if (typeof healthValue === "string" && !health) {
      fail(res, 400, "bad-request", `malformed ${HEALTH_HEADER} header: expected "<etag>"; requests=N; errors=N; latency_ms=N; ratings=N; quality=X`, false);
      return true;
    }
    const sharesValue = req.headers[SHARES_HEADER];
    const shares = typeof sharesValue === "string" ? parseSharesHeader(sharesValue) : null;
    if (typeof sharesValue === "string" && !shares) {
      fail(res, 400, "bad-request", `malformed ${SHARES_HEADER} header: expected "<version>"; <route>=<model>:<share>,…`, false);
      return true;
    }
    const known = this.fleets.get(key);
    if (known && !known.has(id) && known.size >= this.options.maxSidecarsPerPolicy) {
      fail(res, 503, "not-ready", `policy ${key} already has ${known.size} sidecars; ids of sidecars that stopped polling are forgotten after ${this.options.presenceMs / 1000} s`, true);
      return true;
    }
    const state = this.track(key, id, active, nack);
    // Only figures about the revision the sidecar says it runs count.
    if (health && health.etag === active) state.health = health;
    const sharesBefore = state.shares?.version ?? null;
    state.shares = shares ? { ...shares, since: state.shares?.version === shares.version ? state.shares.since : this.firstHeard(key, shares.version) } : null;
    // New learned shares on a sidecar change the policy's status (adaptation): look again.
    if ((state.shares?.version ?? null) !== sharesBefore) this.options.onFleetChange(key);
    const prefer = req.headers.prefer;
    const wait = preferredWait(Array.isArray(prefer) ? prefer.join(", ") : prefer);
    state.polling++;
    let closed = false;
    // A poll whose connection closes ends its own wait (not every poll of the policy).
    let stopWaiting: (() => void) | null = null;
    const onClose = () => {
      closed = true;
      stopWaiting?.();
    };
    res.on("close", onClose);
    try {
      const deadline = Date.now() + wait * 1000;
      for (;;) {
        const pub = this.targetFor(key, id);
        if (!pub) {
          fail(res, 404, "not-found", `no signed revision of policy ${key} (it does not exist, or has not compiled yet)`, true);
          return true;
        }
        if (pub.etag !== state.active && pub.etag !== state.nack?.etag) {
          this.polls.served++;
          res.writeHead(200, { "content-type": "application/json", etag: pub.etag, "cache-control": "no-store" }).end(pub.bytes);
          return true;
        }
        const left = deadline - Date.now();
        if (left <= 0 || closed || this.draining) break;
        await new Promise<void>((resolve) => {
          const set = this.waiters.get(key) ?? this.waiters.set(key, new Set()).get(key)!;
          const done = () => {
            clearTimeout(timer);
            set.delete(done);
            stopWaiting = null;
            resolve();
          };
          const timer = setTimeout(done, left);
          set.add(done);
          stopWaiting = done;
        });
        if (closed || this.draining) break;
      }
      this.polls.notModified++;
      if (!closed) res.writeHead(304, { etag: state.active ?? "" }).end();
      return true;
    } finally {
      res.off("close", onClose);
      state.polling--;
      state.lastSeen = Date.now();
    }
  }

  /** Records what a poll says about its sidecar; tells the controller when that changes the fleet. */
  private track(key: string, id: string, active: string | null, nack: { etag: string; reason: string } | null): SidecarState {
    const fleet = this.fleets.get(key) ?? this.fleets.set(key, new Map()).get(key)!;
    let state = fleet.get(id);
    const isNew = !state;
    if (!state) fleet.set(id, (state = { id, active: null, nack: null, lastSeen: Date.now(), polling: 0, health: null, shares: null }));
    const changed = isNew || state.active !== active || (nack !== null && state.nack?.etag !== nack.etag);
    state.active = active;
    if (nack) state.nack = { ...nack, time: state.nack?.etag === nack.etag ? state.nack.time : new Date() };
    // An ACK of the refused bundle (it activated after all) clears the refusal.
    if (state.nack && state.nack.etag === active) state.nack = null;
    state.lastSeen = Date.now();
    if (changed) this.options.onFleetChange(key);
    return state;
  }

  /**
   * Shutting down: every held poll is answered 304 now, so its sidecar polls again at once
   * (through the Service, another replica) instead of waiting for a cut connection's backoff.
   */
  drain(): void {
    this.draining = true;
    for (const key of [...this.waiters.keys()]) this.wake(key);
  }

  close(): void {
    clearInterval(this.sweeper);
    for (const key of [...this.waiters.keys()]) this.wake(key);
  }
}
