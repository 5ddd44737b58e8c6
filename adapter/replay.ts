// Off-policy estimates from recorded traffic (`routeplane replay`,
// docs/adaptation.md "Replay"): how a different split of a policy's routes
// would have done, from what the current one recorded — before shipping it.
// Every routing event says which model its route picked and with which
// probability (`selection.probability`); feedback says how good the answer
// was. Weighing each outcome by how much more (or less) often the other
// split would have picked that model gives an unbiased estimate of its
// quality (inverse propensity scoring), a lower-variance one that normalises
// the weights (SNIPS), and a doubly robust one that adds a per-(route, model)
// model of quality. Costs and latencies are observed on every request, so
// their estimates use all events, rated or not.
//
// What it can estimate: changes to how routes split traffic (weights, learned
// shares, adaptive bounds, candidates) with the same route conditions — a
// request's route is taken from its event. Telemetry keeps no request text,
// so a policy whose conditions differ cannot be replayed on it.
import { qualityOf } from "../bundle/index.ts";

/** What replay reads of a routing event. */
export interface LoggedDecision {
  requestId: string;
  route: string | null;
  model: string | null;
  /** The probability the logging policy picked `model` with (selection.probability). */
  probability: number;
  /** The route's cell (selection.context) when the route has context signals. */
  context?: string;
  costUsd: number | null;
  latencyMs: number;
}

/** What replay reads of a feedback event. */
export interface LoggedFeedback {
  requestId: string;
  rating: number | null;
  label: string | null;
}

/** A target policy: with which probability it picks each model on a route (in a cell of it); null when it has no such route. */
export type TargetPolicy = (route: string, context?: string) => Readonly<Record<string, number>> | null;

/** A value with a 95% confidence interval (normal approximation). */
export interface Estimate {
  value: number;
  low: number;
  high: number;
}

export interface ReplayResult {
  decisions: number;
  /** Events a target decision exists for (a route and a model, a route the target has). */
  comparable: number;
  /** Comparable events with usable feedback. */
  rated: number;
  skipped: { duplicates: number; noModel: number; routeNotInTarget: number; badProbability: number };
  feedback: { events: number; duplicates: number; unmatched: number; unusable: number };
  logged: { quality: Estimate | null; costUsd: Estimate | null; latencyMs: Estimate | null };
  target: { ips: Estimate | null; snips: Estimate | null; doublyRobust: Estimate | null; costUsd: Estimate | null; latencyMs: Estimate | null };
  /** (Σw)²/Σw² over rated events: how many logged answers the estimate is worth. */
  effectiveSampleSize: number;
  /** Mean target probability on (route, model) pairs never rated in the log: what only the model part of DR can speak for. */
  unsupported: number;
}

function interval(xs: number[]): Estimate | null {
  if (xs.length === 0) return null;
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const variance = n > 1 ? xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1) : 0;
  const half = 1.96 * Math.sqrt(variance / n);
  return { value: mean, low: mean - half, high: mean + half };
}

/** Self-normalised weighted mean of ys with weights ws, with a delta-method interval. */
function selfNormalised(ys: number[], ws: number[]): Estimate | null {
  const sw = ws.reduce((a, b) => a + b, 0);
  if (ys.length === 0 || sw <= 0) return null;
  const value = ys.reduce((a, y, i) => a + ws[i] * y, 0) / sw;
  const meanW = sw / ws.length;
  const spread = interval(ys.map((y, i) => (ws[i] * (y - value)) / meanW));
  const half = spread ? (spread.high - spread.low) / 2 : 0;
  return { value, low: value - half, high: value + half };
}

export function replay(decisions: readonly LoggedDecision[], feedback: readonly LoggedFeedback[], target: TargetPolicy): ReplayResult {
  const result: ReplayResult = {
    decisions: decisions.length,
    comparable: 0,
    rated: 0,
    skipped: { duplicates: 0, noModel: 0, routeNotInTarget: 0, badProbability: 0 },
    feedback: { events: feedback.length, duplicates: 0, unmatched: 0, unusable: 0 },
    logged: { quality: null, costUsd: null, latencyMs: null },
    target: { ips: null, snips: null, doublyRobust: null, costUsd: null, latencyMs: null },
    effectiveSampleSize: 0,
    unsupported: 0,
  };
  // The last usable feedback on a request counts (a user may change their mind).
  const quality = new Map<string, number>();
  const ids = new Set(decisions.map((d) => d.requestId));
  for (const f of feedback) {
    const q = qualityOf(f);
    if (q === null) result.feedback.unusable++;
    else if (!ids.has(f.requestId)) result.feedback.unmatched++;
    else {
      if (quality.has(f.requestId)) result.feedback.duplicates++;
      quality.set(f.requestId, q);
    }
  }

  interface Row { route: string; model: string; w: number; pi: Readonly<Record<string, number>>; q: number | null; cost: number | null; latency: number }
  const rows: Row[] = [];
  // A request logged twice (a producer's retry) counts once: the first.
  const seen = new Set<string>();
  for (const d of decisions) {
    if (seen.has(d.requestId)) {
      result.skipped.duplicates++;
      continue;
    }
    seen.add(d.requestId);
    if (d.route === null || d.model === null) {
      result.skipped.noModel++;
      continue;
    }
    if (!(d.probability > 0 && d.probability <= 1)) {
      result.skipped.badProbability++;
      continue;
    }
    const pi = target(d.route, d.context);
    if (!pi) {
      result.skipped.routeNotInTarget++;
      continue;
    }
    rows.push({ route: d.route, model: d.model, w: (pi[d.model] ?? 0) / d.probability, pi, q: quality.get(d.requestId) ?? null, cost: d.costUsd, latency: d.latencyMs });
  }
  result.comparable = rows.length;
  const rated = rows.filter((r) => r.q !== null);
  result.rated = rated.length;

  // The logging policy's own figures.
  result.logged.quality = interval(rated.map((r) => r.q!));
  const costed = rows.filter((r) => r.cost !== null);
  result.logged.costUsd = interval(costed.map((r) => r.cost!));
  result.logged.latencyMs = interval(rows.map((r) => r.latency));

  // Quality under the target.
  result.target.ips = interval(rated.map((r) => r.w * r.q!));
  result.target.snips = selfNormalised(rated.map((r) => r.q!), rated.map((r) => r.w));
  const sw = rated.reduce((a, r) => a + r.w, 0);
  const sw2 = rated.reduce((a, r) => a + r.w * r.w, 0);
  result.effectiveSampleSize = sw2 > 0 ? (sw * sw) / sw2 : 0;

  // The direct model: mean quality per (route, model), else per route, else overall.
  const cell = new Map<string, { sum: number; n: number }>();
  const bump = (key: string, q: number) => {
    const c = cell.get(key) ?? cell.set(key, { sum: 0, n: 0 }).get(key)!;
    c.sum += q;
    c.n++;
  };
  for (const r of rated) {
    bump(`${r.route}\u0000${r.model}`, r.q!);
    bump(`${r.route}\u0000`, r.q!);
    bump("\u0000", r.q!);
  }
  const mean = (key: string) => {
    const c = cell.get(key);
    return c && c.n > 0 ? c.sum / c.n : undefined;
  };
  const predict = (route: string, model: string) => mean(`${route}\u0000${model}`) ?? mean(`${route}\u0000`) ?? mean("\u0000") ?? 0;
  let unsupported = 0;
  result.target.doublyRobust = interval(rated.map((r) => {
    let direct = 0;
    for (const [m, p] of Object.entries(r.pi)) {
      direct += p * predict(r.route, m);
      if (p > 0 && !cell.has(`${r.route}\u0000${m}`)) unsupported += p;
    }
    return direct + r.w * (r.q! - predict(r.route, r.model));
  }));
  result.unsupported = rated.length ? unsupported / rated.length : 0;

  // Costs and latencies under the target, from every comparable request.
  result.target.costUsd = selfNormalised(costed.map((r) => r.cost!), costed.map((r) => r.w));
  result.target.latencyMs = selfNormalised(rows.map((r) => r.latency), rows.map((r) => r.w));
  return result;
}
