// The decision engine: a bundle compiled into closures, then for each request
// signals → route → model → plugins. Imports only bundle/, never the compiler.
import { contextCell, priorShares, sharesProblem, sidecarOwnedHeader, type ScoreConfig, validateBundle, type Action, type Bundle, type Condition, type ModelSpec, type ModelParams, type PluginUse, type ProfileSpec, type Selection } from "../../bundle/index.ts";
import { loadTextModels, piiTypesOf, textModelsLoaded, type TextModelNeeds } from "./detectors.ts";
import { KeywordIndex, RequestContext, compileSignal, type Extractor, type OutputValue, type SignalValue } from "./signals.ts";
import type { Request } from "./request.ts";
import { validateHeaderName, validateHeaderValue } from "node:http";

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
  selection: { algorithm: string; candidates: string[]; shares?: Record<string, number>; context?: string; params?: Record<string, ModelParams> };
}

export interface Decision {
  /** The winning route's name, "default", or null when nothing matched and there is no default. */
  route: string | null;
  model: string | null;
  /** Models to try, in order, when the chosen one fails. */
  fallbacks: string[];
  /**
   * The probability with which `model` was picked: its share for weighted and adaptive selections
   * (over request ids), 1 otherwise. Recorded in telemetry so that `replay` can weigh the outcome.
   */
  probability: number;
  /** The cell of an adaptive route with context signals (`long,!code`: contextCell) whose shares picked the model. */
  context?: string;
  /** The profile whose routes decided (absent: the policy's own routes). */
  profile?: string;
  /** Plugins that ran, in order (a plugin after a blocking one does not run). */
  plugins: string[];
  blocked: Blocked | null;
  trace: DecisionTrace | null;
  /** With `signals: true` (or a trace): the signals computed, by name. */
  signals?: Record<string, SignalValue>;
}

export interface DecideOptions {
  trace?: boolean;
  /** Return the signals computed for the decision (cheap, unlike a trace: the route index stays on). */
  signals?: boolean;
}

export interface EngineOptions {
  /** Skip routes whose keyword and regex signals cannot hold (default true). Off only to test the index. */
  index?: boolean;
}

/** Runtime facts the engine may use: observed latency (fastest) and learned shares (adaptive). */
export interface Feedback {
  latencyMs?: Record<string, number>;
  /**
   * route → model → share, learned by the adapter. Used for a route only when inside its bounds
   * (sharesProblem); otherwise the route keeps the shares its priors give.
   */
  shares?: Record<string, Record<string, number>>;
  /** route → cell → model → share: per-cell splits of routes with context signals, checked the same way; a cell without one uses the route's. */
  cells?: Record<string, Record<string, Record<string, number>>>;
}

type Pred = (ctx: Evaluation) => boolean;

const CASES = [false, true] as const;

interface CompiledRoute {
  name: string;
  /** The profile it belongs to ("": the policy's own routes). */
  profile: string;
  when: Pred;
  action: Action;
  /**
   * Signals of which at least one must be true for the condition to hold,
   * all of them keyword or literal-bearing regex signals; null when the
   * condition has no such set. A route whose set has no phrase in the text is
   * skipped without evaluating anything (see `triggers`).
   */
  trigger: number[] | null;
}

/**
 * Per-request memo of signal values. The arrays belong to the engine and are
 * reused by every request (decide is synchronous); a stamp per slot says
 * whether the value is this request's, so nothing is cleared or allocated.
 */
class Evaluation {
  readonly ctx: RequestContext;
  readonly epoch: number;
  private readonly extractors: Extractor[];
  private readonly values: SignalValue[];
  private readonly stamps: Uint32Array;
  /** Indices of the signals computed so far, in the order they were computed. */
  private readonly order: number[] = [];
  constructor(engine: Engine, request: Request, memo: { values: SignalValue[]; stamps: Uint32Array; epoch: number }) {
    this.extractors = engine.extractors;
    this.ctx = new RequestContext(request, engine.keywordIndex);
    if (engine.hasDerived) {
      const index = engine.signalIndex;
      this.ctx.signalValue = (signal) => this.signal(index.get(signal)!);
    }
    this.values = memo.values;
    this.stamps = memo.stamps;
    this.epoch = memo.epoch;
  }
  signal(index: number): SignalValue {
    if (this.stamps[index] === this.epoch) return this.values[index];
    const v = this.extractors[index](this.ctx);
    this.values[index] = v;
    this.stamps[index] = this.epoch;
    this.order.push(index);
    return v;
  }
  /** Signals computed for this request by name, in signal order (without scanning every signal's slot). */
  computed(names: readonly string[]): Record<string, SignalValue> {
    // The order list is this request's own and read only here: sorted in place.
    const order = this.order.sort((a, b) => a - b);
    const out: Record<string, SignalValue> = {};
    for (let i = 0; i < order.length; i++) out[names[order[i]]] = this.values[order[i]];
    return out;
  }
}

export class Engine {
  readonly bundle: Bundle;
  readonly extractors: Extractor[] = [];
  readonly signalNames: string[] = [];
  readonly signalCount: number;
  /** Signal name → its index; and whether any signal reads others (a derived score, a partition). */
  readonly signalIndex: ReadonlyMap<string, number>;
  readonly hasDerived: boolean;
  private readonly routes: CompiledRoute[];
  private readonly profiles = new Map<string, ProfileSpec>();
  private readonly profileByModel = new Map<string, string>();
  /** [path prefix, profile], longest first. */
  private readonly prefixes: [string, string][];
  private readonly models: Map<string, ModelSpec>;
  private feedback: Feedback = {};
  private readonly selections = new Map<Selection, Chosen | { shares: Record<string, number> }>();
  /** Per adaptive selection with context signals: their conditions, and the shares of each cell seen since the last feedback. */
  private readonly contexts = new Map<Selection, { names: string[]; holds: Pred[]; cells: Map<string, Record<string, number>> }>();
  private readonly keywords: KeywordIndex;
  private readonly useIndex: boolean;
  get keywordIndex(): KeywordIndex {
    return this.keywords;
  }
  /** Route indices each indexed signal can make candidates, and routes that are always candidates. */
  private readonly routesBySignal: number[][];
  private readonly alwaysRoutes: number[] = [];
  /** Per signal: the epoch of the last request whose text contains one of its phrases. */
  private readonly possible: Uint32Array;
  private readonly memo: { values: SignalValue[]; stamps: Uint32Array; epoch: number };

  /** Loads what the bundle's signals need (tokenizer, language model), then builds the engine. */
  static async load(bundle: Bundle, options: EngineOptions = {}): Promise<Engine> {
    validateBundleForEngine(bundle);
    await loadTextModels(needsOf(bundle));
    return new Engine(bundle, options);
  }

  /** Prefer Engine.load: the constructor needs the bundle's text models already loaded. */
  constructor(bundle: Bundle, options: EngineOptions = {}) {
    validateBundleForEngine(bundle);
    if (!textModelsLoaded(needsOf(bundle))) throw new Error("internal error: use Engine.load(bundle) to load the text models this bundle needs");
    this.bundle = bundle;
    this.useIndex = options.index !== false;
    const keywords = new KeywordIndex();
    this.keywords = keywords;
    const index = new Map<string, number>();
    for (const spec of bundle.policy.signals) {
      index.set(spec.name, this.extractors.length);
      this.signalNames.push(spec.name);
      this.extractors.push(compileSignal(spec, keywords, this.extractors.length));
    }
    this.signalIndex = index;
    this.hasDerived = bundle.policy.signals.some((s) => s.type === "score" || s.type === "partition");
    const indexed = keywords.indexedSignals();
    this.signalCount = this.extractors.length;
    this.memo = { values: new Array(this.signalCount), stamps: new Uint32Array(this.signalCount), epoch: 0 };
    this.possible = new Uint32Array(this.signalCount);
    this.models = new Map(bundle.policy.models.map((m) => [m.name, m]));
    const contextBands = new Map(bundle.policy.signals.filter((s) => s.type === "context").map((s) => [
      s.name,
      { min: (s.config.min_tokens as number | undefined) ?? 0, max: (s.config.max_tokens as number | undefined) ?? Infinity },
    ]));
    const types = new Map(bundle.policy.signals.map((s) => [s.name, s.type]));
    for (const p of bundle.policy.profiles ?? []) {
      this.profiles.set(p.name, p);
      for (const m of p.models) this.profileByModel.set(m, p.name);
    }
    this.prefixes = (bundle.policy.profiles ?? []).filter((p) => p.path_prefix !== null).map((p) => [p.path_prefix!, p.name] as [string, string]).sort((a, b) => b[0].length - a[0].length);
    this.routes = bundle.policy.routes.map((r) => ({
      name: r.name,
      profile: r.profile ?? "",
      when: compileCondition(r.when, index, contextBands, (s) => types.get(s)),
      action: r.action,
      trigger: triggers(r.when, index, indexed),
    }));
    for (const action of [...bundle.policy.routes.map((r) => r.action), ...(bundle.policy.default ? [bundle.policy.default] : []), ...(bundle.policy.profiles ?? []).flatMap((p) => (p.default ? [p.default] : []))]) {
      const sel = action.select;
      if (sel.algorithm !== "adaptive" || !sel.context?.length) continue;
      // A context signal holds exactly when `when <signal>` would.
      const holds = sel.context.map((signal) => compileCondition({ op: "signal", signal }, index, contextBands, (x) => types.get(x)));
      this.contexts.set(sel, { names: sel.context, holds, cells: new Map() });
    }
    this.routesBySignal = Array.from({ length: this.signalCount }, () => []);
    this.routes.forEach((r, i) => {
      if (r.trigger === null) this.alwaysRoutes.push(i);
      else for (const sig of r.trigger) this.routesBySignal[sig].push(i);
    });
  }

  get revision(): string {
    return this.bundle.manifest.revision;
  }

  /**
   * Whether a condition over this bundle's signals holds for a request, with
   * every signal computed as `decide` computes it. For checking claims about
   * requests (guarantees, assumptions) against the engine; not on the hot path.
   */
  holds(cond: Condition, request: Request): boolean {
    const index = new Map(this.signalNames.map((n, i) => [n, i]));
    const pred = compileCondition(cond, index);
    if (++this.memo.epoch === 0xffffffff) {
      this.memo.stamps.fill(0);
      this.possible.fill(0);
      this.memo.epoch = 1;
    }
    return pred(new Evaluation(this, request, this.memo));
  }

  setFeedback(feedback: Feedback): void {
    this.feedback = feedback;
    this.selections.clear();
    for (const c of this.contexts.values()) c.cells.clear();
  }

  /**
   * The profile a request gets: the one whose path prefix the path starts with (the longest; the
   * prefix, then `/` or the end), else the one that lists the requested model name, else "" (the
   * policy's own routes).
   */
  profileFor(model: unknown, path?: string): string {
    if (path !== undefined) for (const [prefix, name] of this.prefixes) if (path === prefix || path.startsWith(`${prefix}/`)) return name;
    return typeof model === "string" ? (this.profileByModel.get(model) ?? "") : "";
  }

  decide(request: Request, options: DecideOptions = {}): Decision {
    // Epochs start at 1, so a fresh stamp (0) never looks current; wrap-around clears the stamps.
    if (++this.memo.epoch === 0xffffffff) {
      this.memo.stamps.fill(0);
      this.possible.fill(0);
      this.memo.epoch = 1;
    }
    const ev = new Evaluation(this, request, this.memo);
    const profile = this.profiles.size === 0 ? "" : request.profile !== undefined ? (this.profiles.has(request.profile) ? request.profile : "") : this.profileFor(request.body?.model);
    // Given values can make any signal true, so only requests without them use the index.
    const useIndex = this.useIndex && !ev.ctx.hasGiven;
    const marked = useIndex ? this.markPossible(ev) : null;
    let winner: CompiledRoute | null = null;
    const evaluations: RouteEvaluation[] | null = options.trace ? [] : null;
    if (marked && !evaluations) {
      // Fast path: only the routes the text can trigger, plus those the index cannot judge, in order.
      for (const i of this.candidates(marked)) {
        if (this.routes[i].profile !== profile) continue;
        if (this.routes[i].when(ev)) {
          winner = this.routes[i];
          break;
        }
      }
    } else {
      for (const route of this.routes) {
        if (route.profile !== profile) continue;
        if (winner) {
          if (!evaluations) break;
          evaluations.push({ route: route.name, matched: null });
          continue;
        }
        const matched = useIndex && route.trigger !== null && !this.anyPossible(route.trigger, ev.epoch) ? false : route.when(ev);
        evaluations?.push({ route: route.name, matched });
        if (matched) winner = route;
      }
    }
    const fallback = profile === "" ? this.bundle.policy.default : this.profiles.get(profile)!.default;
    const action = winner ? winner.action : fallback;
    // A profile's default decides as route `<profile>.default`: learned shares and telemetry keep them apart.
    const routeName = winner ? winner.name : action ? (profile === "" ? "default" : `${profile}.default`) : null;
    let decision: Decision;
    if (!action) {
      decision = {
        route: null, model: null, fallbacks: [], probability: 1, plugins: [],
        blocked: { plugin: "", status: 404, message: profile === "" ? "no route matched this request and the policy has no default" : `no route of profile \`${profile}\` matched this request and it has no default` },
        trace: evaluations && this.trace(ev, evaluations, "no route matched and there is no default", [], { algorithm: "none", candidates: [] }),
      };
    } else {
      const chosen = this.select(action.select, routeName!, request, ev);
      const outcomes = runPlugins(action.plugins, ev, evaluations !== null);
      const ran: string[] = [];
      let blocked: Blocked | null = null;
      for (let i = 0; i < outcomes.length; i++) {
        const o = outcomes[i];
        if (o.effect !== "skipped") ran.push(o.plugin);
        if (o.effect === "blocked") blocked = blockInfo(action.plugins[i], o);
      }
      decision = {
        route: routeName,
        model: chosen.model,
        fallbacks: chosen.fallbacks,
        probability: chosen.shares ? chosen.shares[chosen.model] : 1,
        ...(chosen.context !== undefined ? { context: chosen.context } : {}),
        plugins: ran,
        blocked,
        trace: evaluations && this.trace(ev, evaluations, winner ? `route \`${winner.name}\` is the first, by priority, whose condition holds` : "no route's condition holds, so the default applies", outcomes, { algorithm: action.select.algorithm, candidates: action.select.models, shares: chosen.shares, ...(chosen.context !== undefined ? { context: chosen.context } : {}), ...(action.params ? { params: action.params } : {}) }),
      };
    }
    // Added last rather than spread in: one object, built once.
    if (profile !== "") decision.profile = profile;
    if (options.signals) decision.signals = this.computedSignals(ev);
    return decision;
  }

  private computedSignals(ev: Evaluation): Record<string, SignalValue> {
    return ev.computed(this.signalNames);
  }

  /** Stamps the signals whose phrases occur in the text; returns them. */
  private markPossible(ev: Evaluation): number[] {
    const marked: number[] = [];
    for (const cs of CASES) {
      if (!this.keywords.has(cs)) continue;
      this.keywords.markPossible(ev.ctx.keywordHits(this.keywords, cs), cs, this.possible, ev.epoch, marked);
    }
    return marked;
  }

  /** Candidate route indices in evaluation order. */
  private candidates(marked: number[]): number[] {
    if (marked.length === 0) return this.alwaysRoutes;
    const out = this.alwaysRoutes.slice();
    for (const sig of marked) for (const r of this.routesBySignal[sig]) out.push(r);
    // Insertion sort with de-duplication: the list is short, and mostly sorted already.
    let n = 0;
    for (let i = 0; i < out.length; i++) {
      const v = out[i];
      let j = n - 1;
      while (j >= 0 && out[j] > v) j--;
      if (j >= 0 && out[j] === v) continue;
      for (let k = n; k > j + 1; k--) out[k] = out[k - 1];
      out[j + 1] = v;
      n++;
    }
    out.length = n;
    return out;
  }

  private anyPossible(trigger: number[], epoch: number): boolean {
    for (let i = 0; i < trigger.length; i++) if (this.possible[trigger[i]] === epoch) return true;
    return false;
  }

  private trace(ev: Evaluation, routes: RouteEvaluation[], reason: string, plugins: PluginOutcome[], selection: DecisionTrace["selection"]): DecisionTrace {
    return { revision: this.revision, signals: this.computedSignals(ev), routes, reason, plugins, selection };
  }

  private select(sel: Selection, route: string, request: Request, ev: Evaluation): { model: string; fallbacks: string[]; shares?: Record<string, number>; context?: string } {
    const context = this.contexts.get(sel);
    if (context) {
      // An adaptive route with context signals: the cell's shares (computed once per cell and feedback change).
      const holds: boolean[] = [];
      for (const h of context.holds) holds.push(h(ev));
      const cell = contextCell(context.names, holds);
      let shares = context.cells.get(cell);
      if (!shares) {
        const adaptive = sel as Extract<Selection, { algorithm: "adaptive" }>;
        const own = this.feedback.cells?.[route]?.[cell];
        shares = this.adaptiveShares(adaptive, own && sharesProblem(adaptive, own) === null ? own : this.feedback.shares?.[route]);
        context.cells.set(cell, shares);
      }
      return { ...pick(sel.models, shares, request.id ?? ev.ctx.lastUser), context: cell };
    }
    // Orders and shares depend only on the policy and the feedback: computed once per feedback change.
    let cached = this.selections.get(sel);
    if (!cached) {
      cached = this.prepareSelection(sel, route);
      this.selections.set(sel, cached);
    }
    if ("model" in cached) return cached;
    return pick(sel.models, cached.shares, request.id ?? ev.ctx.lastUser);
  }

  /** Learned shares when inside the selection's bounds, else the shares its priors give. */
  private adaptiveShares(sel: Extract<Selection, { algorithm: "adaptive" }>, learned: Record<string, number> | undefined): Record<string, number> {
    if (learned && sharesProblem(sel, learned) === null) return Object.fromEntries(sel.models.map((m) => [m, learned[m]]));
    return priorShares(sel, (m) => this.models.get(m));
  }

  private prepareSelection(sel: Selection, route: string): Chosen | { shares: Record<string, number> } {
    const models = sel.models;
    switch (sel.algorithm) {
      case "use":
      case "static":
      case "cascade":
      case "hedge":
        // The sidecar asks them in order (a cascade by confidence, a hedge by time): the first, then the rest.
        return Object.freeze({ model: models[0], fallbacks: Object.freeze(models.slice(1)) as string[] });
      case "cheapest":
        return ordered(models, (m) => {
          const c = this.models.get(m)?.cost;
          return c ? c.input + c.output : Infinity;
        });
      case "fastest":
        return ordered(models, (m) => this.feedback.latencyMs?.[m] ?? this.models.get(m)?.latency_ms ?? Infinity);
      case "weighted":
        return { shares: normalize(models, sel.weights) };
      case "adaptive":
        return { shares: this.adaptiveShares(sel, this.feedback.shares?.[route]) };
    }
  }

}

/** Most levels of `not`, `and` and `or` in one bundle condition (leaves count as one); the compiler refuses deeper conditions with the same limit (compiler/conditions.ts). */
export const MAX_CONDITION_DEPTH = 256;

/** Bundles that passed validateBundleForEngine (a bundle is never changed after it is read). */
const VALIDATED = new WeakSet<Bundle>();

/**
 * Load-time checks for bundles that did not come from this compiler (a
 * signature proves who made a bundle, not that it is sane): every condition
 * at most MAX_CONDITION_DEPTH deep (walked without recursion, before anything
 * recurses over it); the bundle schema (which checks each plugin use's config
 * for its type); every reference resolved (referencesProblem); every header a
 * `header_mutation` sets or removes a valid HTTP field name and value (no CR,
 * LF, NUL: no request splitting) that the sidecar does not own
 * (bundle/headers.ts); every model endpoint an http(s) URL without whitespace
 * or control characters. Throws an Error naming the route, plugin or model.
 */
export function validateBundleForEngine(bundle: Bundle): void {
  // Engine.load checks before loading text models, the constructor for callers that skip load: once per bundle.
  if (VALIDATED.has(bundle)) return;
  const policy = bundle.policy;
  for (const route of policy.routes) {
    const stack: [Condition, number][] = [[route.when, 1]];
    while (stack.length > 0) {
      const [c, depth] = stack.pop()!;
      if (depth > MAX_CONDITION_DEPTH) throw new Error(`bundle refused: the condition of route \`${route.name}\` is nested more than ${MAX_CONDITION_DEPTH} levels deep`);
      if (c.op === "not") stack.push([c.arg, depth + 1]);
      else if (c.op === "and" || c.op === "or") for (const a of c.args) stack.push([a, depth + 1]);
    }
  }
  const schema = validateBundle(bundle);
  if (!schema.ok) throw new Error(`bundle refused: it does not match the bundle schema: ${schema.errors.slice(0, 3).map((e) => `${e.path} ${e.message}`).join("; ")}`);
  const refs = referencesProblem(policy);
  if (refs !== null) throw new Error(`bundle refused: ${refs}`);
  const headerConfigs = [
    ...policy.plugins.map((p) => ({ where: `plugin \`${p.name}\``, type: p.type, config: p.config })),
    ...[...policy.routes.map((r) => ({ name: `route \`${r.name}\``, action: r.action })), ...(policy.default ? [{ name: "the default", action: policy.default }] : [])].flatMap(({ name, action }) =>
      action.plugins.map((u) => ({ where: `plugin \`${u.plugin}\` in ${name}`, type: u.type, config: u.config })),
    ),
  ];
  for (const { where, type, config } of headerConfigs) {
    if (type !== "header_mutation") continue;
    const set = (config.set ?? {}) as Record<string, unknown>;
    const remove = (config.remove ?? []) as unknown[];
    for (const [name, value] of Object.entries(set)) {
      const problem = headerProblem(name, value);
      if (problem) throw new Error(`bundle refused: ${where} sets ${problem}`);
      const owned = sidecarOwnedHeader(name);
      if (owned !== null) throw new Error(`bundle refused: ${where} sets header ${JSON.stringify(name)}: ${owned}`);
    }
    for (const name of remove) {
      if (typeof name !== "string" || headerProblem(name, "") !== null) throw new Error(`bundle refused: ${where} removes an invalid header name ${JSON.stringify(name)}`);
      const owned = sidecarOwnedHeader(name);
      if (owned !== null) throw new Error(`bundle refused: ${where} removes header ${JSON.stringify(name)}: ${owned}`);
    }
  }
  for (const m of policy.models) {
    const problem = endpointProblem(m.endpoint);
    if (problem) throw new Error(`bundle refused: model \`${m.name}\` has ${problem}`);
  }
  VALIDATED.add(bundle);
}

/**
 * The first reference in a (schema-valid) policy that does not resolve, or
 * null: names unique per kind (and no route called `default`, the name a
 * decision gives the default); every model a route's or the default's
 * selection names is defined, weighted selections have one weight per model
 * and not all zero, adaptive floors leave room for every model; every plugin a
 * route applies is declared, with the same type. (A condition naming an
 * undefined signal is refused when the engine compiles it: signalIndex.)
 */
export function referencesProblem(policy: Bundle["policy"]): string | null {
  for (const [kind, list] of [["signal", policy.signals], ["model", policy.models], ["plugin", policy.plugins], ["route", policy.routes]] as const) {
    const seen = new Set<string>();
    for (const { name } of list) {
      if (seen.has(name)) return `${kind} \`${name}\` is defined twice`;
      seen.add(name);
    }
  }
  if (policy.routes.some((r) => r.name === "default")) return "a route is named `default`, the name of the default's decisions";
  const models = new Set(policy.models.map((m) => m.name));
  const signals = new Set(policy.signals.map((s) => s.name));
  const types = new Map(policy.signals.map((s) => [s.name, s.type]));
  for (const s of policy.signals) {
    // A score reads other signals, never a score or a partition; a partition reads signals and
    // scores, never a partition: no cycle can make evaluation recurse.
    if (s.type === "score") {
      const c = s.config as unknown as ScoreConfig;
      if (c.min !== undefined && c.max !== undefined && c.min > c.max) return `score \`${s.name}\` has min ${c.min} above max ${c.max}`;
      for (const [band, r] of Object.entries(c.bands ?? {})) if (r.min !== undefined && r.max !== undefined && r.min >= r.max) return `band \`${band}\` of score \`${s.name}\` is empty`;
      for (const t of c.terms) {
        const type = types.get(t.signal);
        if (type === undefined) return `score \`${s.name}\` reads undefined signal \`${t.signal}\``;
        if (type === "score" || type === "partition") return `score \`${s.name}\` reads ${type} \`${t.signal}\`: a score reads other signals' outputs only`;
      }
    }
    if (s.type === "partition") {
      const members = s.config.members as string[];
      for (const m of members) {
        const type = types.get(m);
        if (type === undefined) return `partition \`${s.name}\` has undefined member \`${m}\``;
        if (type === "partition") return `partition \`${s.name}\` has partition \`${m}\` as a member: members are other signals`;
      }
      if (s.config.default !== undefined && !members.includes(s.config.default as string)) return `partition \`${s.name}\`'s default \`${String(s.config.default)}\` is not one of its members`;
    }
  }
  const plugins = new Map(policy.plugins.map((p) => [p.name, p.type]));
  const profiles = new Set<string>();
  const claimed = new Set<string>();
  for (const p of policy.profiles ?? []) {
    if (profiles.has(p.name)) return `profile \`${p.name}\` is defined twice`;
    profiles.add(p.name);
    for (const key of [...p.models.map((m) => `model name "${m}"`), ...(p.path_prefix === null ? [] : [`path prefix "${p.path_prefix}"`])]) {
      if (claimed.has(key)) return `two profiles claim ${key}`;
      claimed.add(key);
    }
  }
  for (const r of policy.routes) if (r.profile !== undefined && !profiles.has(r.profile)) return `route \`${r.name}\` belongs to undefined profile \`${r.profile}\``;
  const actions: [string, Action][] = [
    ...policy.routes.map((r): [string, Action] => [`route \`${r.name}\``, r.action]),
    ...(policy.default ? [["the default", policy.default] as [string, Action]] : []),
    ...(policy.profiles ?? []).flatMap((p): [string, Action][] => (p.default ? [[`the default of profile \`${p.name}\``, p.default]] : [])),
  ];
  for (const [where, action] of actions) {
    const sel = action.select;
    for (const m of sel.models) if (!models.has(m)) return `${where} selects undefined model \`${m}\``;
    if (sel.algorithm === "cascade" && sel.verifier !== undefined && !models.has(sel.verifier)) return `${where} grades answers with undefined model \`${sel.verifier}\``;
    for (const m in action.params ?? {}) if (!sel.models.includes(m) && !(sel.algorithm === "cascade" && sel.verifier === m)) return `${where} sets parameters for model \`${m}\`, which it does not use`;
    if (sel.algorithm === "weighted" && (sel.weights.length !== sel.models.length || sel.weights.every((w) => w === 0))) {
      return `${where} has ${sel.weights.length} weights for ${sel.models.length} models${sel.weights.length === sel.models.length ? ", all zero" : ""}`;
    }
    if (sel.algorithm === "adaptive" && sel.floor * sel.models.length > 1) return `${where} has an adaptive floor of ${sel.floor} for each of ${sel.models.length} models`;
    if (sel.algorithm === "adaptive") for (const s of sel.context ?? []) if (!signals.has(s)) return `${where} learns by undefined context signal \`${s}\``;
    for (const use of action.plugins) {
      const type = plugins.get(use.plugin);
      if (type === undefined) return `${where} applies undefined plugin \`${use.plugin}\``;
      if (type !== use.type) return `${where} applies plugin \`${use.plugin}\` as type ${use.type}, but it is declared as ${type}`;
    }
  }
  return null;
}

/** Why a header cannot go on the wire (RFC 9110 field name and value, as node:http checks them), or null. */
export function headerProblem(name: string, value: unknown): string | null {
  try {
    validateHeaderName(name);
  } catch {
    return `an invalid header name ${JSON.stringify(name)}`;
  }
  try {
    if (typeof value !== "string") throw new TypeError("not a string");
    validateHeaderValue(name, value);
  } catch {
    return `header \`${name}\` to a value with a line break or control character: ${JSON.stringify(value)}`;
  }
  return null;
}

function endpointProblem(endpoint: unknown): string | null {
  if (typeof endpoint !== "string" || /[\u0000-\u0020\u007f]/.test(endpoint)) return `an endpoint with whitespace or control characters: ${JSON.stringify(endpoint)}`;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return `an endpoint that is not a URL: ${JSON.stringify(endpoint)}`;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return `an endpoint that is not http(s): ${JSON.stringify(endpoint)}`;
  if (url.username || url.password) return `an endpoint with credentials in it (use api_key_env): ${JSON.stringify(url.origin)}`;
  return null;
}

function needsOf(bundle: Bundle): TextModelNeeds {
  const types = new Set(bundle.policy.signals.map((s) => s.type));
  return { tokens: types.has("context") || types.has("complexity"), language: types.has("language") };
}

type Chosen = { readonly model: string; readonly fallbacks: string[] };

function ordered(models: string[], key: (m: string) => number): Chosen {
  // Stable: ties keep the policy's order. Frozen: the result is shared by every decision.
  const sorted = models.map((m, i) => ({ m, i, k: key(m) })).sort((a, b) => a.k - b.k || a.i - b.i).map((x) => x.m);
  return Object.freeze({ model: sorted[0], fallbacks: Object.freeze(sorted.slice(1)) as string[] });
}

function normalize(models: string[], weights: number[]): Record<string, number> {
  const total = weights.reduce((a, b) => a + b, 0);
  return Object.fromEntries(models.map((m, i) => [m, weights[i] / total]));
}

/**
 * FNV-1a with murmur3's finalizer: a cheap, stable hash so that one request id
 * always gets the same model, and ids that differ in one character (UUIDs,
 * counters) spread evenly (FNV-1a alone leaves its high bits poorly mixed).
 */
export function unitHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
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

/** Runs the plugins in order; `detailed` adds the human-readable details a trace shows. */
function runPlugins(plugins: PluginUse[], ev: Evaluation, detailed: boolean): PluginOutcome[] {
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
          out.push({ plugin: p.plugin, type: p.type, effect: "applied", detail: detailed ? `jailbreak score ${score}${score >= threshold ? " (flagged)" : ""}` : undefined });
        }
        break;
      }
      case "pii_redact": {
        const { set, key } = piiTypesOf(p);
        const found = ev.ctx.pii(set, key);
        const mode = (c.mode as string | undefined) ?? "redact";
        if (found.length > 0 && mode === "block") {
          blocked = true;
          out.push({ plugin: p.plugin, type: p.type, effect: "blocked", detail: `found ${[...new Set(found.map((f) => f.type))].join(", ")}` });
        } else {
          const detail = !detailed ? undefined : found.length ? `${mode}s ${found.length} item(s): ${[...new Set(found.map((f) => f.type))].join(", ")}` : "nothing to redact";
          out.push({ plugin: p.plugin, type: p.type, effect: "applied", detail });
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

type Bands = Map<string, { min: number; max: number }>;

/**
 * A set of indexed signals at least one of which must be true whenever the
 * condition holds, or null when there is none. Sound by construction: `and`
 * inherits any conjunct's set, `or` needs a set from every disjunct, and
 * anything else (negation, other signal types, outputs) gives no set.
 */
export function triggers(cond: Condition, index: Map<string, number>, indexed: Set<number>): number[] | null {
  switch (cond.op) {
    case "false":
      return [];
    case "signal": {
      const i = index.get(cond.signal)!;
      return cond.output === undefined && indexed.has(i) ? [i] : null;
    }
    case "cmp": {
      // keyword.count > 0, >= 1, == 2 … all need a phrase of the signal.
      const i = index.get(cond.signal)!;
      const v = cond.value;
      const needsHit = cond.output === "count" && typeof v === "number" && ((cond.cmp === ">" && v >= 0) || ((cond.cmp === ">=" || cond.cmp === "==") && v >= 1));
      return needsHit && indexed.has(i) ? [i] : null;
    }
    case "and": {
      let best: number[] | null = null;
      for (const a of cond.args) {
        const t = triggers(a, index, indexed);
        if (t !== null && (best === null || t.length < best.length)) best = t;
      }
      return best;
    }
    case "or": {
      const all = new Set<number>();
      for (const a of cond.args) {
        const t = triggers(a, index, indexed);
        if (t === null) return null;
        for (const x of t) all.add(x);
      }
      return [...all];
    }
    default:
      return null;
  }
}

/**
 * A context check settled by the prompt's byte count when it can be: tokens
 * never exceed UTF-8 bytes, so short prompts need no tokenizer. Returns null
 * when the bound does not decide; given values and a known count are exact.
 */
function byBytes(ev: Evaluation, signal: string, decide: (maxTokens: number) => boolean | null): boolean | null {
  if (ev.ctx.tokensKnown || ev.ctx.request.signals[signal] !== undefined) return null;
  return decide(ev.ctx.bytes);
}

/**
 * What computing a signal costs, roughly (measured in docs/performance.md):
 * headers and keyword hits are free once the text is scanned; PII and
 * jailbreak detectors scan again; token counts run the tokenizer; language
 * identification is ~95 µs; embedding and domain may call a model server.
 */
const SIGNAL_COST: Record<string, number> = {
  header: 1, metadata: 1, modality: 1, reask: 1, feedback: 1, keyword: 1,
  regex: 2, pii: 3, jailbreak: 3, context: 4, complexity: 5, language: 8, embedding: 20, domain: 20,
};

/** The cost of deciding a condition: its signals' costs, each counted once. */
function conditionCost(cond: Condition, typeOf: (signal: string) => string | undefined, seen = new Set<string>()): number {
  switch (cond.op) {
    case "and":
    case "or":
      return cond.args.reduce((sum, a) => sum + conditionCost(a, typeOf, seen), 0);
    case "not":
      return conditionCost(cond.arg, typeOf, seen);
    case "signal":
    case "cmp":
    case "in": {
      if (seen.has(cond.signal)) return 0;
      seen.add(cond.signal);
      return SIGNAL_COST[typeOf(cond.signal) ?? ""] ?? 5;
    }
    default:
      return 0;
  }
}

/**
 * `and` and `or` try their cheapest operands first: the result is the same
 * (conditions have no side effects), but an expensive signal — a tokenizer
 * run, a language model, a call to an embeddings endpoint — is computed only
 * when the cheap ones do not settle the condition.
 */
function cheapestFirst(args: Condition[], typeOf: (signal: string) => string | undefined): Condition[] {
  return args.map((a, i) => ({ a, i, cost: conditionCost(a, typeOf) })).sort((x, y) => x.cost - y.cost || x.i - y.i).map((x) => x.a);
}

function compileCondition(cond: Condition, index: Map<string, number>, bands: Bands = new Map(), typeOf: (signal: string) => string | undefined = () => undefined): Pred {
  const sub = (c: Condition) => compileCondition(c, index, bands, typeOf);
  switch (cond.op) {
    case "true":
      return () => true;
    case "false":
      return () => false;
    case "not": {
      const a = sub(cond.arg);
      return (ev) => !a(ev);
    }
    case "and": {
      const args = cheapestFirst(cond.args, typeOf).map(sub);
      return (ev) => {
        for (const a of args) if (!a(ev)) return false;
        return true;
      };
    }
    case "or": {
      const args = cheapestFirst(cond.args, typeOf).map(sub);
      return (ev) => {
        for (const a of args) if (a(ev)) return true;
        return false;
      };
    }
    case "signal": {
      const i = signalIndex(cond.signal, index);
      const out = cond.output;
      const band = bands.get(cond.signal);
      if (band && out === undefined) {
        const name = cond.signal;
        // tokens ≤ bytes: a band whose minimum exceeds the bytes cannot hold; one whose maximum covers them holds if its minimum is at most 1.
        const decide = (bytes: number) => (band.min > bytes ? false : bytes <= band.max && band.min <= (bytes > 0 ? 1 : 0) ? true : null);
        return (ev) => byBytes(ev, name, decide) ?? ev.signal(i).matched;
      }
      return out === undefined ? (ev) => ev.signal(i).matched : (ev) => ev.signal(i).outputs[out] === true;
    }
    case "cmp": {
      const i = signalIndex(cond.signal, index);
      const { output, value } = cond;
      const test = comparator(cond.cmp, value);
      if (bands.has(cond.signal) && output === "tokens" && typeof value === "number") {
        const name = cond.signal;
        const op = cond.cmp;
        // Only the upper bound is known: `tokens > v` and `tokens >= v` are false when bytes are below v; `<`, `<=` true.
        const decide = (bytes: number): boolean | null => {
          if (op === ">" && bytes <= value) return false;
          if ((op === ">" && value < 1) || (op === ">=" && value <= 1)) return bytes > 0 ? true : null; // a non-empty prompt has a token
          if (op === ">=" && bytes < value) return false;
          if (op === "<" && bytes < value) return true;
          if (op === "<=" && bytes <= value) return true;
          return null;
        };
        return (ev) => byBytes(ev, name, decide) ?? test(ev.signal(i).outputs[output]);
      }
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
