// The decision engine: a bundle compiled into closures, then for each request
// signals → route → model → plugins. Imports only bundle/, never the compiler.
import type { Action, Bundle, Condition, ModelSpec, PluginUse, Selection } from "../../bundle/index.ts";
import { findPii, loadTextModels, textModelsLoaded, type TextModelNeeds } from "./detectors.ts";
import { KeywordIndex, RequestContext, compileSignal, type Extractor, type OutputValue, type SignalValue } from "./signals.ts";
import type { Request } from "./request.ts";

export interface PluginOutcome {
  plugin: string;
  type: string;
  effect: "applied" | "blocked" | "skipped";
  detail?: string;
}

export interface Blocked {
  plugin: string;
  status: number;
  message: string;
}

export interface RouteEvaluation {
  route: string;
  matched: boolean | null; // null: not evaluated, a higher-priority route had already won
}

/** Why the engine decided what it did: enough to debug a policy from the terminal. */
export interface DecisionTrace {
  revision: string;
  signals: Record<string, SignalValue>;
  routes: RouteEvaluation[];
  reason: string;
  plugins: PluginOutcome[];
  selection: { algorithm: string; candidates: string[]; shares?: Record<string, number> };
}

export interface Decision {
  /** The winning route's name, "default", or null when nothing matched and there is no default. */
  route: string | null;
  model: string | null;
  /** Models to try, in order, when the chosen one fails. */
  fallbacks: string[];
  /** Plugins that ran, in order (a plugin after a blocking one does not run). */
  plugins: string[];
  blocked: Blocked | null;
  trace: DecisionTrace | null;
}

export interface DecideOptions {
  trace?: boolean;
}

/** Runtime facts the engine may use: observed latency (fastest) and learned weights (adaptive). */
export interface Feedback {
  latencyMs?: Record<string, number>;
  /** route → model → weight; projected into the policy's adaptation bounds before use. */
  weights?: Record<string, Record<string, number>>;
}

type Pred = (ctx: Evaluation) => boolean;

interface CompiledRoute {
  name: string;
  when: Pred;
  action: Action;
}

/** Per-request memo of signal values. */
class Evaluation {
  readonly ctx: RequestContext;
  readonly values: (SignalValue | undefined)[];
  readonly engine: Engine;
  constructor(engine: Engine, request: Request) {
    this.engine = engine;
    this.ctx = new RequestContext(request);
    this.values = new Array(engine.signalCount);
  }
  signal(index: number): SignalValue {
    let v = this.values[index];
    if (v === undefined) {
      v = this.engine.extractors[index](this.ctx);
      this.values[index] = v;
    }
    return v;
  }
}

export class Engine {
  readonly bundle: Bundle;
  readonly extractors: Extractor[] = [];
  readonly signalNames: string[] = [];
  readonly signalCount: number;
  private readonly routes: CompiledRoute[];
  private readonly models: Map<string, ModelSpec>;
  private feedback: Feedback = {};

  /** Loads what the bundle's signals need (tokenizer, language model), then builds the engine. */
  static async load(bundle: Bundle): Promise<Engine> {
    await loadTextModels(needsOf(bundle));
    return new Engine(bundle);
  }

  /** Prefer Engine.load: the constructor needs the bundle's text models already loaded. */
  constructor(bundle: Bundle) {
    if (!textModelsLoaded(needsOf(bundle))) throw new Error("internal error: use Engine.load(bundle) to load the text models this bundle needs");
    this.bundle = bundle;
    const keywords = new KeywordIndex();
    const index = new Map<string, number>();
    for (const spec of bundle.policy.signals) {
      index.set(spec.name, this.extractors.length);
      this.signalNames.push(spec.name);
      this.extractors.push(compileSignal(spec, keywords));
    }
    this.signalCount = this.extractors.length;
    this.models = new Map(bundle.policy.models.map((m) => [m.name, m]));
    this.routes = bundle.policy.routes.map((r) => ({ name: r.name, when: compileCondition(r.when, index), action: r.action }));
  }

  get revision(): string {
    return this.bundle.manifest.revision;
  }

  setFeedback(feedback: Feedback): void {
    this.feedback = feedback;
  }

  decide(request: Request, options: DecideOptions = {}): Decision {
    const ev = new Evaluation(this, request);
    let winner: CompiledRoute | null = null;
    const evaluations: RouteEvaluation[] | null = options.trace ? [] : null;
    for (const route of this.routes) {
      if (winner) {
        if (!evaluations) break;
        evaluations.push({ route: route.name, matched: null });
        continue;
      }
      const matched = route.when(ev);
      evaluations?.push({ route: route.name, matched });
      if (matched) winner = route;
    }
    const action = winner ? winner.action : this.bundle.policy.default;
    const routeName = winner ? winner.name : action ? "default" : null;
    if (!action) {
      return {
        route: null, model: null, fallbacks: [], plugins: [],
        blocked: { plugin: "", status: 404, message: "no route matched this request and the policy has no default" },
        trace: evaluations && this.trace(ev, evaluations, "no route matched and there is no default", [], { algorithm: "none", candidates: [] }),
      };
    }
    const chosen = this.select(action.select, routeName!, request, ev.ctx.lastUser);
    const outcomes = runPlugins(action.plugins, ev);
    const blockedBy = outcomes.find((o) => o.effect === "blocked");
    const blocked = blockedBy ? blockInfo(action.plugins.find((p) => p.plugin === blockedBy.plugin)!, blockedBy) : null;
    const reason = winner ? `route \`${winner.name}\` is the first, by priority, whose condition holds` : "no route's condition holds, so the default applies";
    return {
      route: routeName,
      model: chosen.model,
      fallbacks: chosen.fallbacks,
      plugins: outcomes.filter((o) => o.effect !== "skipped").map((o) => o.plugin),
      blocked,
      trace: evaluations && this.trace(ev, evaluations, reason, outcomes, { algorithm: action.select.algorithm, candidates: action.select.models, shares: chosen.shares }),
    };
  }

  private trace(ev: Evaluation, routes: RouteEvaluation[], reason: string, plugins: PluginOutcome[], selection: DecisionTrace["selection"]): DecisionTrace {
    const signals: Record<string, SignalValue> = {};
    ev.values.forEach((v, i) => {
      if (v) signals[this.signalNames[i]] = v;
    });
    return { revision: this.revision, signals, routes, reason, plugins, selection };
  }

  private select(sel: Selection, route: string, request: Request, text: string): { model: string; fallbacks: string[]; shares?: Record<string, number> } {
    const models = sel.models;
    switch (sel.algorithm) {
      case "use":
      case "static":
        return { model: models[0], fallbacks: models.slice(1) };
      case "cheapest":
        return ordered(models, (m) => {
          const c = this.models.get(m)?.cost;
          return c ? c.input + c.output : Infinity;
        });
      case "fastest":
        return ordered(models, (m) => this.feedback.latencyMs?.[m] ?? this.models.get(m)?.latency_ms ?? Infinity);
      case "weighted": {
        const shares = normalize(models, sel.weights);
        return pick(models, shares, request.id ?? text);
      }
      case "adaptive": {
        const shares = adaptiveShares(sel, this.feedback.weights?.[route], (m) => this.models.get(m));
        return pick(models, shares, request.id ?? text);
      }
    }
  }
}

function needsOf(bundle: Bundle): TextModelNeeds {
  const types = new Set(bundle.policy.signals.map((s) => s.type));
  return { tokens: types.has("context") || types.has("complexity"), language: types.has("language") };
}

function ordered(models: string[], key: (m: string) => number): { model: string; fallbacks: string[] } {
  // Stable: ties keep the policy's order.
  const sorted = models.map((m, i) => ({ m, i, k: key(m) })).sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.m);
  return { model: sorted[0], fallbacks: sorted.slice(1) };
}

function normalize(models: string[], weights: number[]): Record<string, number> {
  const total = weights.reduce((a, b) => a + b, 0);
  return Object.fromEntries(models.map((m, i) => [m, weights[i] / total]));
}

/** FNV-1a: a cheap, stable hash so that one request id always gets the same model. */
function unitHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 0x100000000;
}

function pick(models: string[], shares: Record<string, number>, key: string): { model: string; fallbacks: string[]; shares: Record<string, number> } {
  const u = unitHash(key);
  let acc = 0;
  let chosen = models[models.length - 1];
  for (const m of models) {
    acc += shares[m];
    if (u < acc) {
      chosen = m;
      break;
    }
  }
  const rest = models.filter((m) => m !== chosen).sort((a, b) => shares[b] - shares[a]);
  return { model: chosen, fallbacks: rest, shares };
}

/**
 * Shares for an adaptive selection, always inside the policy's bounds: every
 * candidate keeps at least `floor`, and at most `explore` of the traffic goes
 * to candidates other than the best by objective (plus their floors).
 */
export function adaptiveShares(
  sel: Extract<Selection, { algorithm: "adaptive" }>,
  learned: Record<string, number> | undefined,
  model: (name: string) => ModelSpec | undefined,
): Record<string, number> {
  const n = sel.models.length;
  const score = (m: string): number => {
    if (learned && typeof learned[m] === "number") return learned[m];
    const spec = model(m);
    const cost = spec?.cost ? (spec.cost.input + spec.cost.output) / 2 : 0;
    return sel.objective.quality * (spec?.quality ?? 0.5) + sel.objective.cost_usd * cost + sel.objective.latency_ms * (spec?.latency_ms ?? 0);
  };
  let best = sel.models[0];
  for (const m of sel.models) if (score(m) > score(best)) best = m;
  const free = 1 - sel.floor * n;
  const shares: Record<string, number> = {};
  for (const m of sel.models) {
    const extra = m === best ? free * (1 - sel.explore) + (n > 1 ? 0 : free * sel.explore) : (free * sel.explore) / (n - 1);
    shares[m] = sel.floor + extra;
  }
  return shares;
}

function runPlugins(plugins: PluginUse[], ev: Evaluation): PluginOutcome[] {
  const out: PluginOutcome[] = [];
  let blocked = false;
  for (const p of plugins) {
    if (blocked) {
      out.push({ plugin: p.plugin, type: p.type, effect: "skipped", detail: "an earlier plugin blocked the request" });
      continue;
    }
    const c = p.config;
    switch (p.type) {
      case "jailbreak_guard": {
        const threshold = (c.threshold as number | undefined) ?? 0.5;
        const score = ev.ctx.jailbreak;
        if (score >= threshold && c.action !== "flag") {
          blocked = true;
          out.push({ plugin: p.plugin, type: p.type, effect: "blocked", detail: `jailbreak score ${score} ≥ ${threshold}` });
        } else {
          out.push({ plugin: p.plugin, type: p.type, effect: "applied", detail: `jailbreak score ${score}${score >= threshold ? " (flagged)" : ""}` });
        }
        break;
      }
      case "pii_redact": {
        const found = findPii(ev.ctx.allText, new Set(c.types as string[]));
        const mode = (c.mode as string | undefined) ?? "redact";
        if (found.length > 0 && mode === "block") {
          blocked = true;
          out.push({ plugin: p.plugin, type: p.type, effect: "blocked", detail: `found ${[...new Set(found.map((f) => f.type))].join(", ")}` });
        } else {
          out.push({ plugin: p.plugin, type: p.type, effect: "applied", detail: found.length ? `${mode}s ${found.length} item(s): ${[...new Set(found.map((f) => f.type))].join(", ")}` : "nothing to redact" });
        }
        break;
      }
      default:
        out.push({ plugin: p.plugin, type: p.type, effect: "applied" });
    }
  }
  return out;
}

function blockInfo(use: PluginUse, outcome: PluginOutcome): Blocked {
  if (use.type === "jailbreak_guard") {
    return { plugin: use.plugin, status: (use.config.status as number | undefined) ?? 403, message: (use.config.message as string | undefined) ?? "request rejected: it looks like a jailbreak attempt" };
  }
  return { plugin: use.plugin, status: 400, message: `request rejected: it contains personal data (${outcome.detail?.replace(/^found /, "")})` };
}

function compileCondition(cond: Condition, index: Map<string, number>): Pred {
  switch (cond.op) {
    case "true":
      return () => true;
    case "false":
      return () => false;
    case "not": {
      const a = compileCondition(cond.arg, index);
      return (ev) => !a(ev);
    }
    case "and": {
      const args = cond.args.map((c) => compileCondition(c, index));
      return (ev) => {
        for (const a of args) if (!a(ev)) return false;
        return true;
      };
    }
    case "or": {
      const args = cond.args.map((c) => compileCondition(c, index));
      return (ev) => {
        for (const a of args) if (a(ev)) return true;
        return false;
      };
    }
    case "signal": {
      const i = signalIndex(cond.signal, index);
      const out = cond.output;
      return out === undefined ? (ev) => ev.signal(i).matched : (ev) => ev.signal(i).outputs[out] === true;
    }
    case "cmp": {
      const i = signalIndex(cond.signal, index);
      const { output, value } = cond;
      const test = comparator(cond.cmp, value);
      return (ev) => {
        const v = ev.signal(i).outputs[output];
        return v !== undefined && test(v);
      };
    }
    case "in": {
      const i = signalIndex(cond.signal, index);
      const { output } = cond;
      const values = new Set(cond.values);
      return (ev) => values.has(ev.signal(i).outputs[output] as string);
    }
  }
}

function comparator(op: string, value: number | string): (v: OutputValue) => boolean {
  switch (op) {
    case "==":
      return (v) => v === value;
    case "!=":
      return (v) => v !== value;
    case ">":
      return (v) => (v as number) > (value as number);
    case ">=":
      return (v) => (v as number) >= (value as number);
    case "<":
      return (v) => (v as number) < (value as number);
    default:
      return (v) => (v as number) <= (value as number);
  }
}

function signalIndex(name: string, index: Map<string, number>): number {
  const i = index.get(name);
  if (i === undefined) throw new Error(`bundle condition names undefined signal ${name}`);
  return i;
}
