// Reconcile one RoutingPolicy, level-driven (controller-runtime's shape):
// whatever happened, make the served bundle and the status match the spec as
// it is now. A table of named stages, each a function of the scope:
// read → signing key → build → publish → status → events.
import type { V1Secret } from "@kubernetes/client-node";
import { buildPolicy, type PolicyBuild, type Publication } from "./build.ts";
import type { Distribution } from "./distribution.ts";
import type { EventReason, EventRecorder } from "./events.ts";
import type { ResilientInformer } from "./kube.ts";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { splitKey, type Condition, type RoutingPolicy, type RoutingPolicyStatus } from "./resources.ts";
import { sameStatus, shortRevision, statusOf } from "./status.ts";

/** What reconcile needs from the world (the controller wires the real ones; tests may fake them). */
export interface ReconcileDeps {
  policies: ResilientInformer<RoutingPolicy>["informer"];
  configMaps: ResilientInformer<V1ConfigMap>["informer"];
  readSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  writeStatus(rp: RoutingPolicy, status: RoutingPolicyStatus): Promise<void>;
  distribution: Distribution;
  events: EventRecorder;
  /** May this replica write status and events (the leader)? */
  leading(): boolean;
  /** Status writes per policy are at most one per this many ms. */
  statusIntervalMs: number;
}

/** Per policy, what the controller keeps in memory between reconciles. */
export interface PolicyMemory {
  /** The last publication that built: served while newer specs fail. */
  lastGood: Publication | null;
  /** The last build and what it was built from (reused while nothing it read changed). */
  build: PolicyBuild | null;
  builtFrom: string;
  lastStatusWrite: number;
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
  result: ReconcileResult;
  /** Set by a stage that ends the reconcile early. */
  done?: boolean;
}

export const RECONCILE_STAGES: { name: string; run: (s: Scope) => Promise<void> | void }[] = [
  { name: "read", run: read },
  { name: "signing key", run: signingKey },
  { name: "build", run: build },
  { name: "publish", run: publish },
  { name: "status", run: status },
  { name: "events", run: events },
];

export async function reconcile(key: string, deps: ReconcileDeps, memory: Map<string, PolicyMemory>): Promise<ReconcileResult> {
  const scope: Scope = { key, deps, memory, result: {} };
  for (const stage of RECONCILE_STAGES) {
    await stage.run(scope);
    if (scope.done) break;
  }
  return scope.result;
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
  s.mem = s.memory.get(s.key) ?? { lastGood: null, build: null, builtFrom: "", lastStatusWrite: 0 };
  s.memory.set(s.key, s.mem);
}

async function signingKey(s: Scope): Promise<void> {
  const { namespace } = splitKey(s.key);
  // Read at every reconcile (not watched: the controller needs only `get` on Secrets); a rotated key is
  // picked up by the next resync or edit.
  s.secret = await s.deps.readSecret(namespace, s.rp!.spec.signingKey.secretName);
}

function build(s: Scope): void {
  const rp = s.rp!;
  const { namespace } = splitKey(s.key);
  // What the build reads, by version: unchanged inputs give the same bytes, so the last build stands.
  const maps = (rp.spec.configMaps ?? []).map((r) => `${r.name}@${s.deps.configMaps.get(r.name, namespace)?.metadata?.resourceVersion ?? "-"}`);
  const from = JSON.stringify([rp.metadata?.uid, rp.metadata?.generation, maps, s.secret?.metadata?.resourceVersion ?? "-"]);
  if (s.mem!.build && s.mem!.builtFrom === from) {
    s.build = s.mem!.build;
    return;
  }
  s.build = buildPolicy(rp, {
    configMap: (ns, name) => s.deps.configMaps.get(name, ns),
    secret: (ns, name) => (ns === namespace && name === rp.spec.signingKey.secretName ? s.secret : undefined),
  });
  s.mem!.build = s.build;
  s.mem!.builtFrom = from;
}

function publish(s: Scope): void {
  if (s.build!.publication) s.mem!.lastGood = s.build!.publication;
  if (s.mem!.lastGood) s.deps.distribution.publish(s.key, s.mem!.lastGood);
}

async function status(s: Scope): Promise<void> {
  const served = s.mem!.lastGood;
  s.status = statusOf(s.rp!, s.build!, served, s.deps.distribution.counts(s.key), new Date());
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
  }
}
