// The semantic difference between two versions of a policy: every region of
// requests whose decision (route, models, plugins) changes, each with an
// example request. Both versions are encoded over one request model; a signal
// whose definition changed becomes two signals (old and new), related only
// by what the model knows about their shared quantities.
import type { Action, Condition, JsonObject } from "../../bundle/index.ts";
import type { CheckedPolicy } from "../check.ts";
import type { CheckedSignal } from "../conditions.ts";
import { FALSE, type Node } from "./bdd.ts";
import { RequestModel, type Witness } from "./model.ts";

export interface Outcome {
  route: string | null; // null: rejected (no route, no default)
  models: string[];
  plugins: string[];
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
  return { route, models: action ? action.select.models : [], plugins: action ? action.plugins.map((p) => p.plugin) : [] };
}

const same = (a: Outcome, b: Outcome) => a.route === b.route && a.models.join() === b.models.join() && a.plugins.join() === b.plugins.join();

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

export function diffPolicies(before: CheckedPolicy, after: CheckedPolicy): PolicyDiff {
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
  const b = model.bdd;

  const regions = (routes: { name: string; when: Condition; action: Action }[], fallback: Action | null) => {
    const out: { outcome: Outcome; region: Node }[] = [];
    let earlier = FALSE;
    for (const r of routes) {
      const cond = model.condition(r.when);
      out.push({ outcome: outcomeOf(r.name, r.action), region: b.and(cond, b.not(earlier)) });
      earlier = b.or(earlier, cond);
    }
    out.push({ outcome: outcomeOf(fallback ? "default" : null, fallback), region: b.not(earlier) });
    return out;
  };
  const olds = regions(before.routes, before.default);
  const news = regions(afterRoutes, after.default);
  const changes: DecisionChange[] = [];
  for (const o of olds) {
    for (const n of news) {
      if (same(o.outcome, n.outcome)) continue;
      const both = model.constrain(b.and(o.region, n.region));
      if (both === FALSE) continue;
      changes.push({ before: o.outcome, after: n.outcome, ...sides(model.witness(both)!) });
    }
  }
  return { changes, redefined };
}
