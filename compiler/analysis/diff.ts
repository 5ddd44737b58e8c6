// The semantic difference between two versions of a policy: every region of
// requests whose decision (route, models, plugins) changes, each with an
// example request. Both versions are encoded over one request model; a signal
// whose definition changed becomes two signals (old and new), related only
// by what the model knows about their shared quantities.
import { canonicalJson, type Action, type Condition, type JsonObject, type ModelParams } from "../../bundle/index.ts";
import type { CheckedPolicy } from "../check.ts";
import type { CheckedSignal } from "../conditions.ts";
import type { Node } from "./bdd.ts";
import { RequestModel, type Witness } from "./model.ts";
import { RouteRegions } from "./regions.ts";

export interface Outcome {
  route: string | null; // null: rejected (no route, no default)
  models: string[];
  plugins: string[];
  /** The route's per-use parameters by model ({} when none): a changed cap is a changed decision. */
  params: Record<string, ModelParams>;
}

export interface DecisionChange {
  before: Outcome;
  after: Outcome;
  /** The example request, described with the policies' own signal names. */
  example: string[];
  /** The example as given signal values for each version's engine. */
  signalsBefore: JsonObject;
  signalsAfter: JsonObject;
}

export interface PolicyDiff {
  changes: DecisionChange[];
  /** Signals whose definition changed between the versions. */
  redefined: string[];
}

const NEW = "__new__";

function renamed(c: Condition, names: Map<string, string>): Condition {
  switch (c.op) {
    case "and":
    case "or":
      return { op: c.op, args: c.args.map((a) => renamed(a, names)) };
    case "not":
      return { op: "not", arg: renamed(c.arg, names) };
    case "signal":
    case "cmp":
    case "in":
      return { ...c, signal: names.get(c.signal) ?? c.signal };
    default:
      return c;
  }
}

function outcomeOf(route: string | null, action: Action | null): Outcome {
  return { route, models: action ? action.select.models : [], plugins: action ? action.plugins.map((p) => p.plugin) : [], params: action?.params ?? {} };
}

const same = (a: Outcome, b: Outcome) => a.route === b.route && a.models.join() === b.models.join() && a.plugins.join() === b.plugins.join() && canonicalJson(a.params) === canonicalJson(b.params);

/** A joint witness split into what each version's engine is given, under its own signal names. */
function sides(w: Witness): { example: string[]; signalsBefore: JsonObject; signalsAfter: JsonObject } {
  const before: JsonObject = {};
  const after: JsonObject = {};
  for (const [k, v] of Object.entries(w.signals)) {
    if (k.endsWith(NEW)) after[k.slice(0, -NEW.length)] = v;
    else {
      before[k] = v;
      if (!(k in after)) after[k] = v;
    }
  }
  // A redefined signal's new value wins on the new side.
  for (const [k, v] of Object.entries(w.signals)) if (k.endsWith(NEW)) after[k.slice(0, -NEW.length)] = v;
  return { example: w.description.map((d) => d.replaceAll(NEW, " (new)")), signalsBefore: before, signalsAfter: after };
}

/**
 * The routes (and default) whose decisions the diff must look at. A route is
 * *kept* when both versions have it with the same condition and action and the
 * kept routes stay in the same relative order (the longest such run). A
 * request's decision can only change where its old or its new winner is not
 * kept: were both kept, the same route would give the same outcome, and two
 * different kept routes would each have to come before the other. So one
 * edited route in 10,000 costs about 20,000 region questions, not 10⁸.
 */
function keptRoutes(before: CheckedPolicy, afterRoutes: { name: string; when: Condition; action: Action }[], after: CheckedPolicy): { oldKept: boolean[]; newKept: boolean[]; defaultKept: boolean } {
  const newIndex = new Map(afterRoutes.map((r, j) => [r.name, j]));
  // Old routes with an identical twin, as (old index, new index) in old order.
  const twins: [number, number][] = [];
  before.routes.forEach((r, i) => {
    const j = newIndex.get(r.name);
    if (j === undefined) return;
    const n = afterRoutes[j];
    if (JSON.stringify(r.when) === JSON.stringify(n.when) && JSON.stringify(r.action) === JSON.stringify(n.action)) twins.push([i, j]);
  });
  const oldKept = before.routes.map(() => false);
  const newKept = afterRoutes.map(() => false);
  for (const k of longestIncreasing(twins.map(([, j]) => j))) {
    oldKept[twins[k][0]] = true;
    newKept[twins[k][1]] = true;
  }
  return { oldKept, newKept, defaultKept: JSON.stringify(before.default) === JSON.stringify(after.default) };
}

/** Positions of a longest strictly increasing subsequence (patience sorting, O(n log n)). */
function longestIncreasing(xs: number[]): number[] {
  const tails: number[] = []; // tails[l]: position ending the best run of length l + 1
  const prev: number[] = new Array(xs.length).fill(-1);
  xs.forEach((x, k) => {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (xs[tails[mid]] < x) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[k] = tails[lo - 1];
    tails[lo] = k;
  });
  const out: number[] = [];
  for (let k = tails.length ? tails[tails.length - 1] : -1; k >= 0; k = prev[k]) out.push(k);
  return out.reverse();
}

/**
 * @param options.allPairs look at every pair of old and new winners, not only those with a changed route
 *   (the test's reference for the pruning)
 */
export function diffPolicies(before: CheckedPolicy, after: CheckedPolicy, options: { allPairs?: boolean } = {}): PolicyDiff {
  const oldSignals = new Map(before.signals.map((s) => [s.name, s]));
  const newNames = new Map<string, string>();
  const signals: CheckedSignal[] = [...before.signals];
  const redefined: string[] = [];
  for (const s of after.signals) {
    const o = oldSignals.get(s.name);
    if (o && o.type === s.type && JSON.stringify(o.config) === JSON.stringify(s.config)) continue;
    if (o) redefined.push(s.name);
    const name = o ? `${s.name}${NEW}` : s.name;
    newNames.set(s.name, name);
    signals.push({ ...s, name });
  }
  const afterRoutes = after.routes.map((r) => ({ ...r, when: renamed(r.when, newNames) }));
  // The model only reads signals, route conditions and guarantees.
  const joint = { ...before, signals, routes: [...before.routes, ...afterRoutes], guarantees: [] } as CheckedPolicy;
  const model = new RequestModel(joint);

  // One condition per distinct diagram: a kept route's two copies are one, so its private
  // variables stay private and projection keeps the combined diagrams small, as in the analysis.
  const conditions: Node[] = [];
  const slotOf = new Map<Node, number>();
  const slot = (c: Condition) => {
    const node = model.condition(c);
    let k = slotOf.get(node);
    if (k === undefined) slotOf.set(node, (k = conditions.push(node) - 1));
    return k;
  };
  const oldSlots = before.routes.map((r) => slot(r.when));
  const newSlots = afterRoutes.map((r) => slot(r.when));
  const space = new RouteRegions(model, conditions, [], [oldSlots, newSlots]);

  // Each version's winners: its routes in decision order, then the default (which takes what is left).
  const winners = (routes: { name: string; action: Action }[], slots: number[], fallback: Action | null, order: number, kept: boolean[], defaultKept: boolean) => [
    ...routes.map((r, i) => ({ outcome: outcomeOf(r.name, r.action), kept: kept[i], match: [slots[i]], missBeforeIn: { order, index: i } })),
    { outcome: outcomeOf(fallback ? "default" : null, fallback), kept: defaultKept, match: [] as number[], missBeforeIn: { order, index: routes.length } },
  ];
  const { oldKept, newKept, defaultKept } = options.allPairs
    ? { oldKept: before.routes.map(() => false), newKept: afterRoutes.map(() => false), defaultKept: false }
    : keptRoutes(before, afterRoutes, after);
  const olds = winners(before.routes, oldSlots, before.default, 0, oldKept, defaultKept);
  const news = winners(afterRoutes, newSlots, after.default, 1, newKept, defaultKept);
  const changed = news.filter((n) => !n.kept);
  const changes: DecisionChange[] = [];
  for (const o of olds) {
    // A kept old winner can only meet a changed new one.
    for (const n of o.kept ? changed : news) {
      if (same(o.outcome, n.outcome)) continue;
      const w = space.witness({ match: [...o.match, ...n.match], missBeforeIn: [o.missBeforeIn, n.missBeforeIn] });
      if (w) changes.push({ before: o.outcome, after: n.outcome, ...sides(w) });
    }
  }
  return { changes, redefined };
}
