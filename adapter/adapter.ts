// The adapter's core (`routeplane adapt`, docs/adaptation.md "The loop"):
// routing and feedback events in, learned shares out. It joins each feedback
// event to its routing event by request id within a window (either may come
// first: they travel on different topics), drops duplicates within the
// window, feeds the learner, and says when a new overlay is worth publishing.
// No I/O here: the command wires it to Kafka, the tests drive it directly,
// and its whole state — the learner's and the join's — is one JSON value
// kept in a compacted topic, so a restarted adapter counts nothing twice.
import {
  adaptiveRoutesOf, contextCells, overlayProblem, qualityOf, routeActions, type Bundle, type FeedbackEvent, type RoutingEvent, type SharesOverlay,
} from "../bundle/index.ts";
import { Learner, type AdaptiveRoute, type LearnerOptions, type LearnerState } from "./learner.ts";

export interface AdapterOptions {
  /** How long a routing event waits for its feedback, and a feedback event for its routing event (default 10 minutes). */
  joinWindowMs?: number;
  /** Request ids remembered for the join and for dedupe at most (default 200,000; the oldest go first). */
  maxRemembered?: number;
  learner?: LearnerOptions;
  now?: () => number;
}

export const ADAPTER_DEFAULTS = { joinWindowMs: 10 * 60_000, maxRemembered: 200_000 };

/** What the adapter counted (reported on /metrics and in its log). */
export interface AdapterCounters {
  routing: number;
  feedback: number;
  /** Feedback joined to its routing event and learned from. */
  joined: number;
  /** Routing events on a route that is not adaptive in the policy (nothing to learn; expected). */
  notAdaptive: number;
  /** Events seen before within the window (a producer's retry, a replayed partition). */
  duplicateRouting: number;
  duplicateFeedback: number;
  /** Feedback whose routing event did not come within the window, or came after it. */
  late: number;
  /** Feedback without a usable rating or label. */
  unusable: number;
  /** Failed answers (a 5xx after every fallback) learned as quality 0. */
  failures: number;
}

interface Remembered {
  at: number;
  /** For a routing event: the adaptive route and model, null when not adaptive. */
  route: string | null;
  model: string | null;
  /** The route's cell (selection.context) when it has context signals. */
  cell: string | null;
  /** Whether feedback for it was learned already. */
  rated: boolean;
}

interface Pending {
  at: number;
  quality: number;
}

/** The adapter's state as JSON: the learner, the join window and the publication counter. */
export interface AdapterState {
  version: 1;
  revision: string;
  learner: LearnerState;
  published: number;
  /** requestId → [at, route, model, rated, cell] of routing events in the window (cell absent when null). */
  seen: ([string, number, string | null, string | null, boolean] | [string, number, string | null, string | null, boolean, string | null])[];
  /** requestId → [at, quality] of feedback waiting for its routing event. */
  waiting: [string, number, number][];
  counters: AdapterCounters;
}

/** The adaptive routes of a bundle as the learner wants them: bounds, objective, priors from the model specs. */
export function adaptiveRoutesFromBundle(bundle: Bundle): AdaptiveRoute[] {
  const bounds = adaptiveRoutesOf(bundle);
  const specs = new Map(bundle.policy.models.map((m) => [m.name, m]));
  const actions = new Map(routeActions(bundle.policy));
  const out: AdaptiveRoute[] = [];
  for (const [route, b] of bounds) {
    const sel = actions.get(route)!.select;
    if (sel.algorithm !== "adaptive") continue;
    // Model specs give cost per million tokens, while events give USD per request: the cost prior is
    // left unknown rather than guessed in the wrong unit; observed costs fill it in.
    const priors = Object.fromEntries(b.models.map((m) => [m, { quality: specs.get(m)?.quality ?? null, costUsd: null, latencyMs: specs.get(m)?.latency_ms ?? null }]));
    out.push({ route, ...b, objective: sel.objective, priors });
  }
  return out;
}

const zeroCounters = (): AdapterCounters => ({ routing: 0, feedback: 0, joined: 0, notAdaptive: 0, duplicateRouting: 0, duplicateFeedback: 0, late: 0, unusable: 0, failures: 0 });

export class Adapter {
  readonly revision: string;
  readonly counters: AdapterCounters;
  private readonly bundle: Bundle;
  private readonly learner: Learner;
  private readonly routes: AdaptiveRoute[];
  /** route → its candidates: the per-event check of whether a decision is one to learn from. */
  private readonly candidates: Map<string, Set<string>>;
  /**
   * route → its cells, each mapped to the policy's own string: an event's cell is kept only when the
   * route has it, and as that string, so the join window holds no client-sized text.
   */
  private readonly cells: Map<string, Map<string, string>>;
  private readonly windowMs: number;
  private readonly maxRemembered: number;
  private readonly now: () => number;
  // Maps keep insertion order: the oldest entries come first, which is what expiry walks.
  private readonly seen = new Map<string, Remembered>();
  private readonly waiting = new Map<string, Pending>();
  private published: number;
  /** Observations learned since the last overlay. */
  private fresh = 0;

  constructor(bundle: Bundle, options: AdapterOptions = {}, state?: AdapterState) {
    this.bundle = bundle;
    this.revision = bundle.manifest.revision;
    this.routes = adaptiveRoutesFromBundle(bundle);
    this.candidates = new Map(this.routes.map((r) => [r.route, new Set(r.models)]));
    this.cells = new Map(this.routes.filter((r) => r.context).map((r) => [r.route, new Map(contextCells(r.context!).map((c) => [c, c]))]));
    this.windowMs = options.joinWindowMs ?? ADAPTER_DEFAULTS.joinWindowMs;
    this.maxRemembered = options.maxRemembered ?? ADAPTER_DEFAULTS.maxRemembered;
    this.now = options.now ?? Date.now;
    // Learned state carries over to a new revision for the routes and candidates it still has (the learner drops the rest).
    this.learner = new Learner(this.routes, options.learner, state?.learner);
    this.published = state?.published ?? 0;
    this.counters = { ...zeroCounters(), ...(state?.counters ?? {}) };
    for (const [id, at, route, model, rated, cell] of state?.seen ?? []) this.seen.set(id, { at, route, model, rated, cell: route === null ? null : this.cellOf(route, cell ?? undefined) });
    for (const [id, at, quality] of state?.waiting ?? []) this.waiting.set(id, { at, quality });
  }

  /** Whether the policy has any adaptive route (else there is nothing to learn or publish). */
  get adaptive(): boolean {
    return this.routes.length > 0;
  }

  routing(e: RoutingEvent): void {
    this.expire();
    if (this.seen.has(e.requestId)) {
      this.counters.duplicateRouting++;
      return;
    }
    this.counters.routing++;
    const adaptive = e.route !== null && e.model !== null && this.candidates.get(e.route)?.has(e.model) === true;
    const entry: Remembered = { at: this.now(), route: adaptive ? e.route : null, model: adaptive ? e.model : null, cell: adaptive ? this.cellOf(e.route!, e.selection.context) : null, rated: false };
    this.remember(entry, e.requestId);
    if (!adaptive) {
      this.counters.notAdaptive++;
      this.waiting.delete(e.requestId);
      return;
    }
    // A failed answer is a bad answer: the implicit feedback the sidecar already records.
    const failed = e.status >= 500 && e.blocked === null;
    if (failed) {
      this.counters.failures++;
      entry.rated = true;
    }
    this.learner.observe({ route: e.route!, cell: entry.cell, model: e.model!, costUsd: e.costUsd, latencyMs: e.latencyMs.upstream, quality: failed ? 0 : null });
    this.fresh++;
    const pending = this.waiting.get(e.requestId);
    if (pending) {
      this.waiting.delete(e.requestId);
      this.learnFeedback(entry, pending.quality);
    }
  }

  feedback(e: FeedbackEvent): void {
    this.expire();
    this.counters.feedback++;
    const quality = qualityOf(e);
    if (quality === null) {
      this.counters.unusable++;
      return;
    }
    const entry = this.seen.get(e.requestId);
    if (!entry) {
      // The routing event may still come (another topic, another partition): wait for it.
      if (this.waiting.has(e.requestId)) this.counters.duplicateFeedback++;
      else this.waiting.set(e.requestId, { at: this.now(), quality });
      return;
    }
    if (entry.route === null) return; // feedback on a route that does not adapt: nothing to learn
    if (entry.rated) {
      this.counters.duplicateFeedback++;
      return;
    }
    this.learnFeedback(entry, quality);
  }

  /** The route's own string for an event's cell, or null when the route has no such cell. */
  private cellOf(route: string, cell: string | undefined): string | null {
    return cell === undefined ? null : (this.cells.get(route)?.get(cell) ?? null);
  }

  private learnFeedback(entry: Remembered, quality: number): void {
    entry.rated = true;
    this.counters.joined++;
    this.learner.observe({ route: entry.route!, cell: entry.cell, model: entry.model!, quality });
    this.fresh++;
  }

  private remember(entry: Remembered, id: string): void {
    this.seen.set(id, entry);
    while (this.seen.size > this.maxRemembered) this.seen.delete(this.seen.keys().next().value!);
  }

  /** Forgets what is older than the window: routing events stop waiting for feedback, feedback for its routing event (late). */
  expire(): void {
    const horizon = this.now() - this.windowMs;
    for (const [id, r] of this.seen) {
      if (r.at >= horizon) break;
      this.seen.delete(id);
    }
    for (const [id, p] of this.waiting) {
      if (p.at >= horizon && this.waiting.size <= this.maxRemembered) break;
      this.waiting.delete(id);
      this.counters.late++;
    }
  }

  /** Observations learned since the last overlay was taken. */
  get pending(): number {
    return this.fresh;
  }

  /** The shares to publish now, checked against the policy's bounds exactly as the sidecar will check them. */
  overlay(): SharesOverlay {
    this.fresh = 0;
    this.published++;
    const routes = Object.fromEntries(this.routes.map((r) => [r.route, this.learner.shares(r.route)]));
    const cells: NonNullable<SharesOverlay["cells"]> = {};
    for (const r of this.routes) {
      if (!r.context) continue;
      const learned = this.learner.cellShares(r.route);
      if (Object.keys(learned).length > 0) cells[r.route] = learned;
    }
    const overlay: SharesOverlay = { version: `${this.revision.replace(/^sha256:/, "").slice(0, 12)}.${this.published}`, revision: this.revision, routes, ...(Object.keys(cells).length > 0 ? { cells } : {}) };
    const problem = overlayProblem(overlay, this.bundle);
    // The learner keeps shares inside the bounds by construction; if that ever broke, publishing would be refused by every sidecar.
    if (problem) throw new Error(`adapter produced shares outside the policy's bounds: ${problem}`);
    return overlay;
  }

  /** Per route, what the learner believes (for status and the log). */
  estimates(): Record<string, ReturnType<Learner["estimates"]>> {
    return Object.fromEntries(this.routes.map((r) => [r.route, this.learner.estimates(r.route)]));
  }

  snapshot(): AdapterState {
    return {
      version: 1,
      revision: this.revision,
      learner: this.learner.snapshot(),
      published: this.published,
      seen: [...this.seen].map(([id, r]) => (r.cell === null ? [id, r.at, r.route, r.model, r.rated] : [id, r.at, r.route, r.model, r.rated, r.cell])),
      waiting: [...this.waiting].map(([id, p]) => [id, p.at, p.quality]),
      counters: { ...this.counters },
    };
  }
}

/** What is wrong with a stored adapter state, or null (a state topic may hold anything). */
export function adapterStateProblem(value: unknown): string | null {
  if (typeof value !== "object" || value === null) return "not an object";
  const s = value as Partial<AdapterState>;
  if (s.version !== 1) return `version ${JSON.stringify(s.version)} is not 1`;
  if (typeof s.revision !== "string") return "no revision";
  if (typeof s.learner !== "object" || s.learner === null) return "no learner state";
  if (!Number.isSafeInteger(s.published)) return "no publication counter";
  if (!Array.isArray(s.seen) || !Array.isArray(s.waiting)) return "no join window";
  const text = (x: unknown) => typeof x === "string" || x === null;
  if (!s.seen.every((e) => Array.isArray(e) && typeof e[0] === "string" && Number.isFinite(e[1]) && text(e[2]) && text(e[3]) && typeof e[4] === "boolean" && (e[5] === undefined || text(e[5])))) return "a malformed entry in the join window";
  if (!s.waiting.every((e) => Array.isArray(e) && typeof e[0] === "string" && Number.isFinite(e[1]) && Number.isFinite(e[2]))) return "a malformed waiting feedback";
  return null;
}

/**
 * The adapter as saved (`saved`: the state topic's latest value, null for none), or from the priors
 * when the saved value cannot be used — then `ignored` says why. Never throws: a broken or hostile
 * state must not keep the adapter from running.
 */
export function restoreAdapter(bundle: Bundle, options: AdapterOptions, saved: string | null): { adapter: Adapter; ignored: string | null } {
  if (saved === null) return { adapter: new Adapter(bundle, options), ignored: null };
  let value: unknown;
  try {
    value = JSON.parse(saved);
  } catch {
    return { adapter: new Adapter(bundle, options), ignored: "the saved state is not JSON" };
  }
  const problem = adapterStateProblem(value);
  if (problem) return { adapter: new Adapter(bundle, options), ignored: `the saved state (${problem})` };
  try {
    return { adapter: new Adapter(bundle, options, value as AdapterState), ignored: null };
  } catch (err) {
    return { adapter: new Adapter(bundle, options), ignored: `the saved state cannot be restored (${(err as Error).message})` };
  }
}
