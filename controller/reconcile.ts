// Reconcile one RoutingPolicy, level-driven (controller-runtime's shape):
// whatever happened, make the served bundle and the status match the spec as
// it is now. A table of named stages, each a function of the scope:
// read → signing key → build → publish → status → events.
import type { V1Secret } from "@kubernetes/client-node";
import { SpanStatusCode, trace, type Tracer } from "@opentelemetry/api";
import { buildPolicy, type PolicyBuild, type Publication } from "./build.ts";
import type { Compile } from "./compile-worker.ts";
import type { Distribution, Targets } from "./distribution.ts";
import { advanceRollout, canaryAnalysis, rollbackPublication, rolloutPlan, type AnalysisStatus, type RolloutGate, type RolloutStatus, type StepCounts } from "./rollout.ts";
import type { FleetCounts } from "./status.ts";
import type { EventReason, EventRecorder } from "./events.ts";
import type { ResilientInformer } from "./kube.ts";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { splitKey, type Condition, type RoutingPolicy, type RoutingPolicyStatus } from "./resources.ts";
import { sameStatus, shortRevision, statusOf } from "./status.ts";

/** What reconcile needs from the world (the controller wires the real ones; tests may fake them). */
export interface ReconcileDeps {
  policies: ResilientInformer<RoutingPolicy>["informer"];
  configMaps: ResilientInformer<V1ConfigMap>["informer"];
  /** The label selector the ConfigMap cache is limited to, if any (named in ConfigMapNotFound). */
  configMapSelector?: string;
  readSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  /** Compiles a policy's sources (the compile worker). */
  compile: Compile;
  writeStatus(rp: RoutingPolicy, status: RoutingPolicyStatus): Promise<void>;
  distribution: Distribution;
  /** The whole fleet of a policy (every replica's sidecars). */
  fleet(key: string): Promise<{ fleet: FleetCounts; step: StepCounts }>;
  events: EventRecorder;
  /** May this replica write status and events (the leader)? */
  leading(): boolean;
  /** Status writes per policy are at most one per this many ms. */
  statusIntervalMs: number;
  /** Spans per reconcile and stage, when tracing is configured. */
  tracer?: Tracer | null;
  /** A verdict on a rollout beyond ACKs (canary analysis, issue 13); default proceed. */
  rolloutGate?: (key: string, rollout: RolloutStatus) => RolloutGate;
}

/** Per policy, what the controller keeps in memory between reconciles. */
export interface PolicyMemory {
  /** The last publication that built: served while newer specs fail. */
  lastGood: Publication | null;
  /** Publications made since start, by ETag (the stable side of a rollout, rollbacks): the newest few. */
  history: Map<string, Publication>;
  /** The last build and what it was built from (reused while nothing it read changed). */
  build: PolicyBuild | null;
  builtFrom: string;
  lastStatusWrite: number;
  /**
   * The rollout state this replica decided as leader. The informer's copy of status lags behind
   * this replica's own writes, so a leader continues from what it decided, not from the cache;
   * cleared when leadership is gained (the stored status is then the truth).
   */
  rollout?: RolloutStatus;
}

export interface ReconcileResult {
  /** Reconcile again after this many ms (a rate-limited status write), if set. */
  requeueAfterMs?: number;
}

interface Scope {
  key: string;
  deps: ReconcileDeps;
  memory: Map<string, PolicyMemory>;
  rp?: RoutingPolicy;
  mem?: PolicyMemory;
  secret?: V1Secret;
  build?: PolicyBuild;
  status?: RoutingPolicyStatus;
  rollout?: RolloutStatus;
  targets?: Targets | null;
  counts?: { fleet: FleetCounts; step: StepCounts };
  result: ReconcileResult;
  /** Set by a stage that ends the reconcile early. */
  done?: boolean;
}

export const RECONCILE_STAGES: { name: string; run: (s: Scope) => Promise<void> | void }[] = [
  { name: "read", run: read },
  { name: "signing key", run: signingKey },
  { name: "build", run: build },
  { name: "fleet", run: async (s) => void (s.counts = await s.deps.fleet(s.key)) },
  { name: "rollout", run: rollout },
  { name: "publish", run: publish },
  { name: "status", run: status },
  { name: "events", run: events },
];

export async function reconcile(key: string, deps: ReconcileDeps, memory: Map<string, PolicyMemory>): Promise<ReconcileResult> {
  const scope: Scope = { key, deps, memory, result: {} };
  // Without a configured tracer the API's own is a no-op: one code path either way.
  const tracer = deps.tracer ?? trace.getTracer("routeplane-controller");
  // A span for the reconcile, a child per stage; an error marks both.
  return await tracer.startActiveSpan("reconcile", { attributes: { "routeplane.policy": key } }, async (root) => {
    try {
      for (const stage of RECONCILE_STAGES) {
        await tracer.startActiveSpan(`reconcile.${stage.name}`, async (span) => {
          try {
            await stage.run(scope);
          } catch (err) {
            span.recordException(err as Error);
            span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
            throw err;
          } finally {
            span.end();
          }
        });
        if (scope.done) break;
      }
      root.setAttributes({
        "routeplane.generation": scope.rp?.metadata?.generation ?? 0,
        ...(scope.mem?.lastGood ? { "routeplane.revision": scope.mem.lastGood.revision } : {}),
        ...(scope.rollout ? { "routeplane.rollout.phase": scope.rollout.phase } : {}),
      });
      return scope.result;
    } catch (err) {
      root.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
      throw err;
    } finally {
      root.end();
    }
  });
}

function read(s: Scope): void {
  const { namespace, name } = splitKey(s.key);
  s.rp = s.deps.policies.get(name, namespace);
  if (!s.rp) {
    // Deleted: nothing is served for it any more; its sidecars keep their last known good bundle.
    s.deps.distribution.unpublish(s.key);
    s.memory.delete(s.key);
    s.done = true;
    return;
  }
  s.mem = s.memory.get(s.key) ?? { lastGood: null, history: new Map(), build: null, builtFrom: "", lastStatusWrite: 0 };
  s.memory.set(s.key, s.mem);
}

async function signingKey(s: Scope): Promise<void> {
  const { namespace } = splitKey(s.key);
  // Read at every reconcile (not watched: the controller needs only `get` on Secrets); a rotated key is
  // picked up by the next resync or edit.
  s.secret = await s.deps.readSecret(namespace, s.rp!.spec.signingKey.secretName);
}

async function build(s: Scope): Promise<void> {
  const rp = s.rp!;
  const { namespace } = splitKey(s.key);
  // What the build reads, by version: unchanged inputs give the same bytes, so the last build stands.
  const maps = (rp.spec.configMaps ?? []).map((r) => `${r.name}@${s.deps.configMaps.get(r.name, namespace)?.metadata?.resourceVersion ?? "-"}`);
  const from = JSON.stringify([rp.metadata?.uid, rp.metadata?.generation, maps, s.secret?.metadata?.resourceVersion ?? "-"]);
  if (s.mem!.build && s.mem!.builtFrom === from) {
    s.build = s.mem!.build;
    return;
  }
  s.build = await buildPolicy(rp, {
    configMap: (ns, name) => s.deps.configMaps.get(name, ns),
    configMapSelector: s.deps.configMapSelector,
    secret: (ns, name) => (ns === namespace && name === rp.spec.signingKey.secretName ? s.secret : undefined),
  }, s.deps.compile);
  s.mem!.build = s.build;
  s.mem!.builtFrom = from;
}

const HISTORY = 4;

function remember(mem: PolicyMemory, pub: Publication): void {
  mem.history.delete(pub.etag);
  mem.history.set(pub.etag, pub);
  while (mem.history.size > HISTORY) mem.history.delete(mem.history.keys().next().value!);
}

/**
 * Where the newest revision stands among the sidecars (rollout.ts), and so what each sidecar
 * gets. The leader advances the stored state; other replicas serve what it stored.
 */
function rollout(s: Scope): void {
  const mem = s.mem!;
  if (s.build!.publication) {
    mem.lastGood = s.build!.publication;
    remember(mem, mem.lastGood);
  }
  const newest = mem.lastGood;
  if (!newest) {
    s.targets = null;
    return;
  }
  const stored = (s.deps.leading() ? mem.rollout : undefined) ?? s.rp!.status?.rollout;
  const hist = (etag: string | undefined) => (etag ? mem.history.get(etag) ?? null : null);
  const keyPem = s.secret?.data?.[s.rp!.spec.signingKey.key ?? "signing.key"];
  const rollbackOf = (r: RolloutStatus): Publication | null => {
    const stable = hist(r.stableEtag);
    const refused = hist(r.etag);
    if (!stable || !refused || !keyPem) return null;
    const rb = rollbackPublication(stable, refused, Buffer.from(keyPem, "base64").toString("utf8"));
    remember(mem, rb);
    return rb;
  };
  // What ran fully before a new revision: the completed one, an interrupted rollout's stable side, or the rollback.
  const stableOf = (r: RolloutStatus | undefined): Publication | null =>
    !r ? null : r.phase === "Complete" ? hist(r.etag) : r.phase === "Progressing" ? hist(r.stableEtag) : rollbackOf(r);
  let next: RolloutStatus | undefined;
  if (stored?.phase === "RolledBack" && stored.etag === newest.etag) next = stored; // refused once: never again
  else if (s.deps.leading()) {
    const plan = rolloutPlan(s.rp!.spec);
    const judging = stored && stored.etag === newest.etag && stored.phase === "Progressing";
    let gate = judging && s.deps.rolloutGate ? s.deps.rolloutGate(s.key, stored) : undefined;
    // Canary analysis while the candidate runs beside the stable revision: not at the last, 100% step, and
    // not in a step the hash put no sidecar in (it is acknowledged as empty, as without analysis).
    let analysis: AnalysisStatus | undefined;
    if (!gate && judging && plan.analysis && stored.stableEtag && stored.percent < 100 && s.counts!.step.inStep > 0 && s.counts!.step.health && !s.counts!.step.pending) {
      const judged = canaryAnalysis(plan.analysis, s.counts!.step.health);
      gate = judged.gate;
      analysis = judged.analysis;
    }
    next = advanceRollout(stored, newest, stored?.etag === newest.etag ? hist(stored.stableEtag) : stableOf(stored), plan, s.counts!.step, new Date(), gate);
    if (analysis && next.etag === stored!.etag) next = { ...next, analysis };
    // A pause ends without any event to say so: look again then.
    if (next.phase === "Progressing" && next.stepAcked) s.result.requeueAfterMs = Math.max(10, Date.parse(next.stepAcked) + plan.pauseMs - Date.now() + 10);
    // Progress is judged on the counts of what is published now: look again soon even if no sidecar moves
    // (a policy without sidecars completes its rollout this way).
    else if (next.phase === "Progressing") s.result.requeueAfterMs = 1000;
  } else if (stored?.etag === newest.etag) next = stored;
  s.rollout = next;
  mem.rollout = s.deps.leading() ? next : undefined;
  if (!next || next.phase === "Complete") s.targets = { stable: null, candidate: newest, percent: 100 };
  else if (next.phase === "Progressing") s.targets = { stable: hist(next.stableEtag), candidate: newest, percent: next.percent };
  else {
    // Rolled back: everyone gets the rollback bundle; without the stable revision (a cold start), nothing new.
    const rb = rollbackOf(next);
    s.targets = rb ? { stable: rb, candidate: null, percent: 0 } : null;
  }
}

function publish(s: Scope): void {
  if (s.targets) s.deps.distribution.setTargets(s.key, s.targets);
  else s.deps.distribution.unpublish(s.key);
}

async function status(s: Scope): Promise<void> {
  const served = s.mem!.lastGood;
  s.status = statusOf(s.rp!, s.build!, served, s.counts!.fleet, s.rollout, new Date());
  if (!s.deps.leading() || sameStatus(s.rp!.status, s.status)) return;
  const wait = s.mem!.lastStatusWrite + s.deps.statusIntervalMs - Date.now();
  if (wait > 0) {
    s.result.requeueAfterMs = wait;
    return;
  }
  s.mem!.lastStatusWrite = Date.now();
  await s.deps.writeStatus(s.rp!, s.status);
}

/** Events for what changed, judged against the stored status (so a restarted controller repeats nothing). */
function events(s: Scope): void {
  if (!s.deps.leading() || !s.status) return;
  const before = new Map((s.rp!.status?.conditions ?? []).map((c) => [c.type, c]));
  const now = new Map((s.status.conditions ?? []).map((c) => [c.type, c]));
  const changed = (type: Condition["type"]) => {
    const a = before.get(type);
    const b = now.get(type);
    return b !== undefined && (a === undefined || a.status !== b.status || a.reason !== b.reason || a.observedGeneration !== b.observedGeneration);
  };
  const emit = (type: "Normal" | "Warning", reason: EventReason, message: string) => s.deps.events.record(s.rp!, type, reason, message);
  const c = (type: Condition["type"]) => now.get(type)!;
  const generation = s.rp!.metadata?.generation ?? 0;
  if (changed("Compiled") && c("Compiled").status === "False") emit("Warning", c("Compiled").reason === "CompileFailed" ? "CompileFailed" : "SourcesMissing", `generation ${generation}: ${c("Compiled").message}`);
  if (changed("Analyzed") && c("Analyzed").status === "False") emit("Warning", "AnalysisFailed", `generation ${generation}: ${c("Analyzed").message}`);
  if (changed("Signed")) {
    const signed = c("Signed");
    if (signed.status === "False") emit("Warning", "SigningFailed", `generation ${generation}: ${signed.message}`);
    if (signed.status === "True" && s.build!.publication) {
      const p = s.build!.publication;
      emit("Normal", "Compiled", `generation ${generation}: revision ${shortRevision(p.revision)}, serial ${p.serial}, ${s.status.findings?.summary ?? ""}; served to sidecars`);
    }
  }
  if (changed("RolledOut")) {
    const r = c("RolledOut");
    if (r.status === "True" && r.reason === "RolledOut") emit("Normal", "RolledOut", r.message);
    if (r.reason === "Nacked") emit("Warning", "Nacked", r.message);
    if (r.reason === "RolledBack") emit("Warning", "RolledBack", r.message);
  }
  const was = s.rp!.status?.rollout;
  if (s.rollout?.phase === "Progressing" && (was?.etag !== s.rollout.etag || was.step !== s.rollout.step)) {
    emit("Normal", "RolloutStep", s.rollout.message);
  }
}
