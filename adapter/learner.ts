// The learning core of adaptation (docs/adaptation.md, ADR 17): for each
// adaptive route, which share of its traffic each candidate model should get,
// from what the route's requests cost, how long they took and how their
// answers were rated — always inside the bounds the policy declares.
//
// Per (route, model): a Beta posterior of answer quality (feedback in [0, 1])
// and running means of cost and latency, each starting from the model's
// priors in the policy and discounted by the route's newer observations (a
// half-life), so old evidence fades and a changed model is noticed. Per model,
// across routes: a fast-discounted mean of how far quality falls from what the
// routes expect — a model-wide shift (a provider that degrades) is seen in a
// few hundred requests instead of a few hundred per route, and applied once it
// is clear of noise. Shares are Thompson sampling's probability matching: each
// candidate's probability of being the best by the route's objective, moved
// inside the bounds; before a route has enough evidence, its traffic stays
// where the priors put it.
import { contextCells, withinBounds, type AdaptiveBounds } from "../bundle/index.ts";
import { betaDraw, seededRandom } from "./random.ts";

/** A route's objective: score = quality·q + cost_usd·cost + latency_ms·latency (the compiler lowers `objective` to these). */
export interface Objective {
  quality: number;
  cost_usd: number;
  latency_ms: number;
}

/** What the policy says about a candidate before any traffic (null: unknown). */
export interface CandidatePrior {
  quality: number | null;
  costUsd: number | null;
  latencyMs: number | null;
}

export interface AdaptiveRoute extends AdaptiveBounds {
  route: string;
  objective: Objective;
  priors: Readonly<Record<string, CandidatePrior>>;
}

/** One request's outcome on a route, joined with its feedback if any. */
export interface Observation {
  route: string;
  /** The route's cell (contextCell) when the route has context signals: learned there and in the route. */
  cell?: string | null;
  model: string;
  /** The answer's rating in [0, 1] (a label counts 1 or 0); absent without feedback. */
  quality?: number | null;
  costUsd?: number | null;
  latencyMs?: number | null;
}

export interface LearnerOptions {
  /** A route's evidence halves after this many newer observations of the route (rated ones, for quality; default 2000). */
  halfLife?: number;
  /** The model-wide shift's half-life, in the model's observations on every route (default 50). */
  modelHalfLife?: number;
  /** A model-wide shift is applied once it is this many standard errors from zero (default 2). */
  shiftZ?: number;
  /** Quality observations a route needs before its traffic moves from the priors (default 20). */
  minEvidence?: number;
  /** How many observations the priors weigh (default 2). */
  priorStrength?: number;
  /** Draws per estimate of the shares (default 256). */
  samples?: number;
  seed?: number;
}

export const LEARNER_DEFAULTS: Required<Omit<LearnerOptions, "seed">> = {
  halfLife: 2000,
  modelHalfLife: 50,
  shiftZ: 2,
  minEvidence: 20,
  priorStrength: 2,
  samples: 256,
};

interface Mean {
  sum: number;
  w: number;
}

interface Arm {
  /** Beta pseudo-counts of quality (the prior's included). */
  a: number;
  b: number;
  cost: Mean;
  latency: Mean;
}

interface RouteState {
  arms: Record<string, Arm>;
  /** Quality observations so far (not discounted): the minimum-evidence rule. */
  evidence: number;
  observations: number;
}

interface Shift {
  /** The shift now (a discounted mean of residuals). */
  value: number;
  /** Discounted sum of squared residuals, and of observations (for the shift's standard error). */
  sq: number;
  w: number;
}

/** Everything the learner knows, as JSON (kept in a compacted topic; restored after a restart). */
export interface LearnerState {
  version: 1;
  routes: Record<string, RouteState>;
  /** route → cell → what the route's requests in that cell taught (routes with context signals). */
  cells?: Record<string, Record<string, RouteState>>;
  shifts: Record<string, Shift>;
}

/** What the learner believes about one candidate of a route (status, reports). */
export interface CandidateEstimate {
  quality: number;
  shift: number;
  costUsd: number;
  latencyMs: number;
  score: number;
}

const DEFAULT_QUALITY = 0.5;

export class Learner {
  private readonly routes = new Map<string, AdaptiveRoute>();
  /** route → its cells, for routes with context signals. */
  private readonly cellsOf = new Map<string, Set<string>>();
  private readonly options: Required<Omit<LearnerOptions, "seed">>;
  private readonly rand: () => number;
  private readonly decay: number;
  private readonly shiftDecay: number;
  private state: LearnerState;

  constructor(routes: readonly AdaptiveRoute[], options: LearnerOptions = {}, state?: LearnerState) {
    for (const r of routes) {
      this.routes.set(r.route, r);
      if (r.context?.length) this.cellsOf.set(r.route, new Set(contextCells(r.context)));
    }
    this.options = { ...LEARNER_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) };
    this.rand = seededRandom(options.seed ?? 1);
    this.decay = 2 ** (-1 / this.options.halfLife);
    this.shiftDecay = 2 ** (-1 / this.options.modelHalfLife);
    this.state = { version: 1, routes: dict(), shifts: dict() };
    if (state) this.restore(state);
  }

  /**
   * Learns from one observation; false when its route or model is not an adaptive candidate here.
   * An observation in a cell of the route teaches both the cell and the route (the route's split
   * serves the cells that have too little evidence of their own); a cell the route does not have is
   * learned by the route only.
   */
  observe(o: Observation): boolean {
    const route = this.routes.get(o.route);
    if (!route || !route.models.includes(o.model)) return false;
    const rs = this.routeState(route);
    const rated = isFiniteNumber(o.quality);
    const q = rated ? Math.min(1, Math.max(0, o.quality!)) : null;
    if (q !== null) {
      // The model-wide shift: a fast-discounted mean of how far the model's answers fall from what
      // each route expected of it. A model that degrades everywhere is seen after a few dozen answers
      // on any routes; a route that has not seen it yet moves anyway. As the routes learn the new
      // level themselves, the shift returns to zero.
      const arm = rs.arms[o.model];
      const shift = (this.state.shifts[o.model] ??= { value: 0, sq: 0, w: 0 });
      const residual = q - arm.a / (arm.a + arm.b);
      shift.w = shift.w * this.shiftDecay + 1;
      shift.value += (residual - shift.value) / shift.w;
      shift.sq = shift.sq * this.shiftDecay + residual * residual;
      // Every other model's shift fades slowly with every rating: a model no route picks any more is tried again.
      for (const [m, other] of Object.entries(this.state.shifts)) if (m !== o.model) other.value *= this.decay;
    }
    this.learn(route, rs, o, q);
    const cell = typeof o.cell === "string" && this.cellsOf.get(route.route)?.has(o.cell) ? o.cell : null;
    if (cell !== null) this.learn(route, this.cellState(route, cell), o, q);
    return true;
  }

  /** One observation into a route's or a cell's arms. */
  private learn(route: AdaptiveRoute, rs: RouteState, o: Observation, q: number | null): void {
    // Older evidence of every candidate fades (towards the priors): costs and latencies with each
    // request, quality with each rated one (feedback may be sparse).
    for (const m of route.models) this.fade(route, m, rs.arms[m], q !== null);
    const arm = rs.arms[o.model];
    rs.observations++;
    if (isFiniteNumber(o.costUsd)) add(arm.cost, o.costUsd);
    if (isFiniteNumber(o.latencyMs) && o.latencyMs >= 0) add(arm.latency, o.latencyMs);
    if (q !== null) {
      arm.a += q;
      arm.b += 1 - q;
      rs.evidence++;
    }
  }

  /**
   * The share of the route's traffic each candidate should get now, inside the route's bounds; with
   * `cell`, the cell's own split once it has the minimum evidence, the route's until then.
   */
  shares(routeName: string, cell?: string): Record<string, number> {
    const route = this.routes.get(routeName);
    if (!route) throw new Error(`no adaptive route ${routeName}`);
    const own = cell === undefined ? undefined : this.state.cells?.[routeName]?.[cell];
    if (own && own.evidence >= this.options.minEvidence) return this.thompson(route, own);
    return this.thompson(route, this.routeState(route));
  }

  /** The cells of a route with enough evidence of their own, and their shares. */
  cellShares(routeName: string): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [cell, cs] of Object.entries(this.state.cells?.[routeName] ?? {})) if (cs.evidence >= this.options.minEvidence) out[cell] = this.shares(routeName, cell);
    return out;
  }

  /** Thompson sampling's probability matching over one route's or cell's arms, inside the route's bounds. */
  private thompson(route: AdaptiveRoute, rs: RouteState): Record<string, number> {
    const n = route.models.length;
    const wanted: Record<string, number> = {};
    if (rs.evidence < this.options.minEvidence || n === 1) {
      // Not enough evidence: the best by the policy's priors leads, the rest explore.
      const prior = (m: string) => {
        const arm = this.priorArm(route, m);
        const mean = (x: Mean) => (x.w > 0 ? x.sum / x.w : 0);
        return route.objective.quality * (arm.a / (arm.a + arm.b)) + route.objective.cost_usd * mean(arm.cost) + route.objective.latency_ms * mean(arm.latency);
      };
      let best = route.models[0];
      for (const m of route.models) if (prior(m) > prior(best)) best = m;
      for (const m of route.models) wanted[m] = m === best ? 1 - route.explore : route.explore / (n - 1);
      return withinBounds(route, wanted);
    }
    for (const m of route.models) wanted[m] = 0;
    const means = Object.fromEntries(route.models.map((m) => [m, meansOf(rs.arms[m])]));
    const shifts = Object.fromEntries(route.models.map((m) => [m, this.shiftOf(m)]));
    for (let i = 0; i < this.options.samples; i++) {
      let best = route.models[0];
      let bestScore = -Infinity;
      for (const m of route.models) {
        const arm = rs.arms[m];
        const q = betaDraw(arm.a, arm.b, this.rand) + shifts[m];
        const score = route.objective.quality * q + route.objective.cost_usd * means[m].cost + route.objective.latency_ms * means[m].latency;
        if (score > bestScore) {
          bestScore = score;
          best = m;
        }
      }
      wanted[best]++;
    }
    return withinBounds(route, wanted);
  }

  /** Posterior means per candidate (quality with the model-wide shift, cost, latency, the objective's score). */
  estimates(routeName: string): Record<string, CandidateEstimate> {
    const route = this.routes.get(routeName);
    if (!route) throw new Error(`no adaptive route ${routeName}`);
    const rs = this.routeState(route);
    const out: Record<string, CandidateEstimate> = {};
    for (const m of route.models) {
      const arm = rs.arms[m];
      const shift = this.shiftOf(m);
      const quality = arm.a / (arm.a + arm.b);
      const { cost, latency } = meansOf(arm);
      out[m] = { quality, shift, costUsd: cost, latencyMs: latency, score: route.objective.quality * (quality + shift) + route.objective.cost_usd * cost + route.objective.latency_ms * latency };
    }
    return out;
  }

  /** Quality observations of a route (or of one of its cells) so far. */
  evidence(routeName: string, cell?: string): number {
    return (cell === undefined ? this.state.routes[routeName] : this.state.cells?.[routeName]?.[cell])?.evidence ?? 0;
  }

  snapshot(): LearnerState {
    return structuredClone(this.state);
  }

  private restore(state: LearnerState): void {
    if (state?.version !== 1 || typeof state.routes !== "object" || typeof state.shifts !== "object") throw new Error("not a learner state of version 1");
    const next: LearnerState = { version: 1, routes: dict(), shifts: dict() };
    // A route, cell or candidate the policy no longer has is dropped; a new one starts from its priors.
    const restored = (route: AdaptiveRoute, rs: RouteState): RouteState => {
      const arms: Record<string, Arm> = dict();
      for (const m of route.models) {
        const arm = rs?.arms?.[m];
        arms[m] = arm && validArm(arm) ? structuredClone(arm) : this.priorArm(route, m);
      }
      return { arms, evidence: Number(rs?.evidence) || 0, observations: Number(rs?.observations) || 0 };
    };
    for (const [name, rs] of Object.entries(state.routes)) {
      const route = this.routes.get(name);
      if (route) next.routes[name] = restored(route, rs);
    }
    if (typeof state.cells === "object" && state.cells !== null) {
      for (const [name, cells] of Object.entries(state.cells)) {
        const route = this.routes.get(name);
        const known = this.cellsOf.get(name);
        if (!route || !known || typeof cells !== "object" || cells === null) continue;
        for (const [cell, cs] of Object.entries(cells)) if (known.has(cell)) ((next.cells ??= dict())[name] ??= dict())[cell] = restored(route, cs);
      }
    }
    for (const [m, s] of Object.entries(state.shifts)) if ([s?.value, s?.sq, s?.w].every(isFiniteNumber)) next.shifts[m] = { ...s };
    this.state = next;
  }

  private routeState(route: AdaptiveRoute): RouteState {
    let rs = this.state.routes[route.route];
    if (!rs) {
      rs = { arms: dict(), evidence: 0, observations: 0 };
      for (const m of route.models) rs.arms[m] = this.priorArm(route, m);
      this.state.routes[route.route] = rs;
    }
    return rs;
  }

  private cellState(route: AdaptiveRoute, cell: string): RouteState {
    const cells = ((this.state.cells ??= dict())[route.route] ??= dict());
    let cs = cells[cell];
    if (!cs) {
      cs = { arms: dict(), evidence: 0, observations: 0 };
      for (const m of route.models) cs.arms[m] = this.priorArm(route, m);
      cells[cell] = cs;
    }
    return cs;
  }

  private priorArm(route: AdaptiveRoute, m: string): Arm {
    const p = route.priors[m] ?? { quality: null, costUsd: null, latencyMs: null };
    const s = this.options.priorStrength;
    // Kept off 0 and 1: a prior that is certain could never learn.
    const q = Math.min(0.99, Math.max(0.01, p.quality ?? DEFAULT_QUALITY));
    return {
      a: s * q,
      b: s * (1 - q),
      cost: p.costUsd === null ? { sum: 0, w: 0 } : { sum: s * p.costUsd, w: s },
      latency: p.latencyMs === null ? { sum: 0, w: 0 } : { sum: s * p.latencyMs, w: s },
    };
  }

  /** Evidence beyond the prior fades by the route's decay (quality only when `rated`). */
  private fade(route: AdaptiveRoute, m: string, arm: Arm, rated: boolean): void {
    const prior = this.priorArm(route, m);
    const d = this.decay;
    if (rated) {
      arm.a = prior.a + (arm.a - prior.a) * d;
      arm.b = prior.b + (arm.b - prior.b) * d;
    }
    arm.cost = { sum: prior.cost.sum + (arm.cost.sum - prior.cost.sum) * d, w: prior.cost.w + (arm.cost.w - prior.cost.w) * d };
    arm.latency = { sum: prior.latency.sum + (arm.latency.sum - prior.latency.sum) * d, w: prior.latency.w + (arm.latency.w - prior.latency.w) * d };
  }

  /** The model-wide quality shift, or 0 while it is within `shiftZ` standard errors of zero (noise). */
  private shiftOf(m: string): number {
    const s = this.state.shifts[m];
    if (!s || s.w < 10) return 0;
    const se = Math.sqrt(Math.max(1e-6, s.sq / s.w) / s.w);
    return Math.abs(s.value) > this.options.shiftZ * se ? s.value : 0;
  }
}

/**
 * An object keyed by names from the policy (routes, cells, models) without a prototype, so a name
 * like `__proto__` or `constructor` is a key like any other.
 */
function dict<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

function meansOf(arm: Arm): { cost: number; latency: number } {
  return { cost: arm.cost.w > 0 ? arm.cost.sum / arm.cost.w : 0, latency: arm.latency.w > 0 ? arm.latency.sum / arm.latency.w : 0 };
}

function add(mean: Mean, v: number): void {
  mean.sum += v;
  mean.w += 1;
}

function validArm(arm: Arm): boolean {
  return [arm.a, arm.b, arm.cost?.sum, arm.cost?.w, arm.latency?.sum, arm.latency?.w].every(isFiniteNumber) && arm.a > 0 && arm.b > 0;
}
