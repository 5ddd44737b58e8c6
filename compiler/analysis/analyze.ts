// Stage "analyze": reason about every possible request at once. Each route's
// region (the requests it decides) is a BDD; findings come from emptiness
// and overlap of regions, and a guarantee is proved by showing that no
// region contains a request that breaks it. Findings carry a witness: a
// concrete valuation of the signals, which callers run through the decision
// engine (the compiler cannot import the runtime).
import { profileDefaultRoute, type Action, type ScoreConfig } from "../../bundle/index.ts";
import type { CheckedPolicy } from "../check.ts";
import { paramHolds, type DecisionPredicate } from "../guarantees.ts";
import { DiagnosticBag, FILE_START, type Diagnostic } from "../diagnostics.ts";
import { BddBudgetExceeded, FALSE, TRUE, type Node } from "./bdd.ts";
import { RouteRegions, type RegionQuery } from "./regions.ts";
import { RequestModel, type Witness } from "./model.ts";

/** What a witness must do when run through the engine. */
export interface WitnessCheck {
  code: string;
  subject: string;
  /** Built on first use when the finding's message does not need it (see `later`). */
  readonly witness: Witness;
  /** The routes the engine may pick for it; null means no route and no default. */
  expectRoutes: (string | null)[];
  /** The finding it stands for. */
  diagnostic?: Diagnostic;
  /** The profile whose routes the witness is decided by (absent: the policy's own). */
  profile?: string;
}

export interface GuaranteeResult {
  name: string;
  status: "proved" | "failed" | "unchecked";
  detail: string;
}

export interface Analysis {
  /** False when the analysis stopped at its budget: nothing was verified. */
  complete: boolean;
  witnesses: WitnessCheck[];
  guarantees: GuaranteeResult[];
  /** BDD nodes made: a measure of the work. */
  bddNodes: number;
  /** Which requests no route takes, in words (what reaches the default, or what is rejected). */
  coverage: string;
  /** Milliseconds per check, in order (absent when the analysis stopped early). */
  timings?: { check: string; ms: number }[];
}

/**
 * Decision-diagram nodes one analysis may make, per route (plus a base).
 * Routes mostly cost a few hundred nodes: the diagrams combined across
 * routes speak only of shared signals (regions.ts). A policy whose routes
 * share many thresholds can still grow much faster; the analysis then stops
 * with RP1009 rather than slow the build down, and the same policy always
 * stops at the same point.
 */
export const ANALYSIS_NODES_PER_ROUTE = 2_000;
export const ANALYSIS_NODE_BASE = 100_000;
/**
 * More per route that reads a derived score or a partition: scores share their inputs (the same jailbreak,
 * complexity and class scores), so such routes are never private to themselves, and the link of
 * each score to its inputs travels with them (bench/analysis: 100 routes, 34 reading one of 10
 * scores, make 395,000 nodes; 1,000 routes 4.4 million, in 3 s and 660 MB).
 */
export const ANALYSIS_NODES_PER_SCORE_ROUTE = 20_000;

/** The node budget of one analysis (see the constants above). */
export function analysisBudget(policy: CheckedPolicy): number {
  const scores = new Set(policy.signals.filter((s) => s.type === "score" || s.type === "partition").map((s) => s.name));
  const readers = scores.size === 0 ? 0 : policy.routes.filter((r) => {
    const used = new Set<string>();
    signalsOf(r.when, used);
    return [...used].some((s) => scores.has(s));
  }).length;
  return Math.min(ANALYSIS_MAX_NODES, ANALYSIS_NODE_BASE + ANALYSIS_NODES_PER_ROUTE * policy.routes.length + ANALYSIS_NODES_PER_SCORE_ROUTE * readers);
}

/** Never more than this, whatever the policy: about 1 GB of diagram at the most. */
export const ANALYSIS_MAX_NODES = 6_000_000;

export function analyzePolicy(policy: CheckedPolicy, diags: DiagnosticBag, maxNodes?: number): Analysis {
  if (policy.profiles.length === 0) return analyzeScope(policy, diags, maxNodes ?? analysisBudget(policy));
  return analyzeProfiles(policy, diags, maxNodes);
}

/**
 * A policy with profiles: each profile — and the policy's own routes — is analysed on its own, as
 * the engine decides each request by one of them. A definition is unused only when no profile uses
 * it; a guarantee holds only when it holds in every profile.
 */
function analyzeProfiles(policy: CheckedPolicy, diags: DiagnosticBag, maxNodes: number | undefined): Analysis {
  const scopes: { name: string; sub: CheckedPolicy }[] = [
    { name: "", sub: { ...policy, routes: policy.routes.filter((r) => r.profile === undefined), profiles: [], profileScope: "" } },
    ...policy.profiles.map((p) => ({
      name: p.name,
      sub: { ...policy, routes: policy.routes.filter((r) => r.profile === p.name), default: p.default, profiles: [], profileScope: p.name, origins: { ...policy.origins, default: policy.origins.profileDefaults.get(p.name) ?? null } },
    })),
  ];
  const UNUSED = new Set(["RP1005", "RP1006", "RP1007"]);
  const unusedCounts = new Map<string, { d: Diagnostic; n: number }>();
  const results: Analysis[] = [];
  for (const { name, sub } of scopes) {
    const local = new DiagnosticBag();
    const a = analyzeScope(sub, local, maxNodes ?? analysisBudget(sub));
    for (const d of local.items) {
      if (UNUSED.has(d.code)) {
        const key = `${d.code}\u0000${d.message}`;
        const seen = unusedCounts.get(key);
        unusedCounts.set(key, { d, n: (seen?.n ?? 0) + 1 });
        continue;
      }
      diags.items.push(d);
    }
    if (name !== "") {
      for (const w of a.witnesses) {
        w.profile = name;
        w.expectRoutes = w.expectRoutes.map((r) => (r === "default" ? profileDefaultRoute(name) : r));
      }
      a.coverage = `profile ${name}: ${a.coverage}`;
    }
    results.push(a);
  }
  for (const { d, n } of unusedCounts.values()) if (n === scopes.length) diags.items.push(d);
  const guarantees = policy.guarantees.map((g): GuaranteeResult => {
    const each = results.map((r, i) => ({ r: r.guarantees.find((x) => x.name === g.name)!, scope: scopes[i].name }));
    const failed = each.find((e) => e.r.status === "failed") ?? each.find((e) => e.r.status === "unchecked");
    if (failed) return { ...failed.r, detail: `${failed.scope ? `in profile ${failed.scope}: ` : ""}${failed.r.detail ?? ""}` };
    return { name: g.name, status: "proved", detail: `${each[0].r.detail} (in each profile, and the policy's own routes)` };
  });
  return {
    complete: results.every((r) => r.complete),
    witnesses: results.flatMap((r) => r.witnesses),
    guarantees,
    bddNodes: results.reduce((n, r) => n + r.bddNodes, 0),
    coverage: results.map((r) => r.coverage).join("; "),
  };
}

/** How findings name the default: "the default", or in a profile's analysis "the default of profile `p`". */
function theDefault(policy: CheckedPolicy): string {
  return policy.profileScope ? `the default of profile \`${policy.profileScope}\`` : "the default";
}

function analyzeScope(policy: CheckedPolicy, diags: DiagnosticBag, maxNodes: number): Analysis {
  // Findings are collected aside and only reported when the analysis completes.
  const local = new DiagnosticBag();
  const anchor = () => (policy.routes.length ? policy.origins.routes.get(policy.routes[0].name)! : { file: policy.roots[0], span: FILE_START });
  const incomplete = (why: string, help: string): Analysis => {
    diags.add("RP1009", anchor().file, anchor().span, `${why}; overlaps, dead routes and guarantees were not verified`, { help });
    return {
      complete: false,
      witnesses: [],
      guarantees: policy.guarantees.map((g) => ({ name: g.name, status: "unchecked", detail: "the analysis did not run to completion" })),
      bddNodes: 0,
      coverage: "not analysed",
    };
  };
  try {
    const result = analyzeWithin(policy, local, maxNodes);
    diags.items.push(...local.items);
    return result;
  } catch (err) {
    if (!(err instanceof BddBudgetExceeded)) throw err;
    return incomplete(`the policy is too large for the exact analysis (${err.message})`, "declare the signals a route combines next to each other (the analysis orders its variables as signals are declared), share fewer thresholds between routes, or split the policy; a guarantee left unproved is error RP1017 (`compile --allow-unproved` signs it, recorded as unchecked)");
  }
}

/** What the checks share: the request model, the route regions, and what earlier checks found. */
interface Scope {
  policy: CheckedPolicy;
  model: RequestModel;
  b: RequestModel["bdd"];
  diags: DiagnosticBag;
  space: RouteRegions;
  conds: Node[];
  n: number;
  /** Per route: whether some request reaches it (dead and shadowed routes are not live). */
  live: boolean[];
  record: (w: WitnessCheck) => void;
  origin: (route: string) => { file: string; span: import("../../grammar/index.ts").Span };
  regionOf: (i: number) => RegionQuery;
  /** The models' context windows, ascending. */
  windows: number[];
  /** `before` pairs, as "a\u0000b". */
  ordered: Set<string>;
  /** The signals each route's condition mentions (keyword shadowing). */
  routeSignals: Set<string>[];
  /** The requests no route takes, and what the coverage check says of them. */
  uncovered: RegionQuery;
  coverage: string;
  /** Every decision (routes, then the default) with its region (plugin chains). */
  decisions: { what: string; route: string | null; action: Action; at: { file: string; span: import("../../grammar/index.ts").Span }; region: RegionQuery; live: boolean }[];
  alwaysBlocked: Set<string | null>;
  guarantees: GuaranteeResult[];
}

/**
 * The analysis as a table of named checks, run in order and timed (after
 * OPA's compiler stages): each is a function of the shared scope, and later
 * checks read what earlier ones found (which routes are live, the decisions).
 */
const CHECKS: { name: string; run: (s: Scope) => void }[] = [
  { name: "dead and shadowed routes", run: deadAndShadowed },
  { name: "shadowing through keyword lists", run: keywordShadowing },
  { name: "redundant routes", run: redundantRoutes },
  { name: "partially shadowed routes", run: partialShadowing },
  { name: "ambiguous overlaps", run: ambiguousOverlaps },
  { name: "coverage", run: coverage },
  { name: "unused definitions", run: unusedDefinitions },
  { name: "fallback and plugin chains", run: actionChains },
  { name: "plugins after an always-blocking plugin", run: alwaysBlockingPlugins },
  { name: "context windows", run: contextWindows },
  { name: "guarantees", run: guarantees },
];

function analyzeWithin(policy: CheckedPolicy, diags: DiagnosticBag, maxNodes: number): Analysis {
  const model = new RequestModel(policy, maxNodes);
  const b = model.bdd;
  for (const name of model.approximated) {
    const s = policy.signals.find((x) => x.name === name)!;
    diags.add("RP1009", s.file, s.span, `derived score \`${name}\` has too many combinations of its inputs' thresholds to model exactly; the analysis takes its value as free within its range`, {
      help: "findings that depend on it may be spurious (their witnesses are still checked), dead routes and proofs still hold; compare its inputs with fewer thresholds, or give it fewer inputs",
    });
  }
  const witnesses: WitnessCheck[] = [];
  // Each witness belongs to the finding just reported (every finding is added before its witness).
  const record = (w: WitnessCheck) => {
    w.diagnostic = diags.items.at(-1);
    witnesses.push(w);
  };
  const origin = (route: string) => policy.origins.routes.get(route)!;
  const n = policy.routes.length;
  if (policy.assumptions.length > 0 && model.constrain(TRUE) === FALSE) {
    // Every question would hold vacuously: say so instead of proving anything.
    const [first, ...rest] = policy.assumptions;
    diags.add("RP1016", first.file, first.span, `the assumptions ${policy.assumptions.map((a) => `"${a.name}"`).join(", ")} contradict each other (with what the signals' definitions imply): no request satisfies them all`, {
      help: "an assumption must describe requests that can happen; remove or weaken one of them",
      related: rest.map((a) => ({ file: a.file, span: a.span, message: `assumption "${a.name}"` })),
    });
    return { complete: false, witnesses: [], guarantees: policy.guarantees.map((g) => ({ name: g.name, status: "unchecked", detail: "the policy's assumptions contradict each other" })), bddNodes: b.size, coverage: "not analysed" };
  }
  const conds = policy.routes.map((r) => model.condition(r.when));
  // Formulas the questions below combine with regions: their variables are never private to a route.
  const windows = [...new Set(policy.models.map((m) => m.context_window).filter((w): w is number => w !== null))].sort((x, y) => x - y);
  const shared = [
    ...policy.guarantees.flatMap((g) => [model.condition(g.when), ...requestConditions(g.require).map((c) => model.condition(c))]),
    ...policy.plugins.map((p) => model.blocks({ plugin: p.name, type: p.type, config: p.config })),
    ...windows.map((w) => model.tokensAbove(w)),
  ];
  const space = new RouteRegions(model, conds, shared);
  // Route i's region: it matches and every earlier route misses.
  const regionOf = (i: number): RegionQuery => ({ match: [i], missBefore: i });
  const live: boolean[] = [];
  const ordered = orderedPairs(policy.tieBreaks);

  const s: Scope = {
    policy, model, b, diags, space, conds, n, live, record, origin, regionOf, windows, ordered,
    routeSignals: [], uncovered: { missBefore: n }, coverage: "", decisions: [], alwaysBlocked: new Set(), guarantees: [],
  };
  const timings: { check: string; ms: number }[] = [];
  for (const check of CHECKS) {
    const t0 = performance.now();
    check.run(s);
    timings.push({ check: check.name, ms: performance.now() - t0 });
  }
  return { complete: true, witnesses, guarantees: s.guarantees, bddNodes: b.size, coverage: s.coverage, timings };
}

/**
 * Every pair of routes a chain of `before` orders, winner first: `a before b` and `b before c`
 * order a and c too (the checker has refused cycles, RP0509), so their overlap is not ambiguous.
 */
function orderedPairs(tieBreaks: readonly (readonly [string, string])[]): Set<string> {
  const after = new Map<string, string[]>();
  for (const [a, c] of tieBreaks) (after.get(a) ?? after.set(a, []).get(a)!).push(c);
  const out = new Set<string>();
  for (const start of after.keys()) {
    const stack = [...after.get(start)!];
    const seen = new Set<string>();
    while (stack.length) {
      const x = stack.pop()!;
      if (seen.has(x)) continue;
      seen.add(x);
      out.add(`${start}\u0000${x}`);
      stack.push(...(after.get(x) ?? []));
    }
  }
  return out;
}

/** dead and shadowed routes */
function deadAndShadowed(s: Scope): void {
  const { policy, diags, space, live, record, origin, regionOf } = s;
  policy.routes.forEach((r, i) => {
    const o = origin(r.name);
    if (!space.sat({ match: [i] })) {
      diags.add("RP1001", o.file, o.span, `route \`${r.name}\` can never match: no request satisfies its condition`, {
        help: "check the thresholds and values it compares; remove the route if it is obsolete",
      });
      live.push(false);
      return;
    }
    live.push(space.sat(regionOf(i)));
    if (!live[i]) {
      const winners = policy.routes.slice(0, i).filter((_, j) => space.sat({ match: [i, j] })).map((x) => x.name);
      diags.add("RP1002", o.file, o.span, `route \`${r.name}\` is shadowed: every request it matches is decided by ${winners.map((w) => `\`${w}\``).join(", ")} first`, {
        help: "raise its priority, narrow the earlier routes, or remove it",
        related: winners.map((w) => ({ file: origin(w).file, span: origin(w).span, message: `\`${w}\` takes these requests` })),
      });
      record(later("RP1002", r.name, winners, () => space.witness({ match: [i] })!));
    }
  });
}

/** shadowing through keyword lists that imply one another (`all: [order, refund]` after `any: [refund]`): a route every request of which one earlier route takes, once their keyword signals' relations are known. The signals each route's condition mentions (also used for partial shadowing below). */
function keywordShadowing(s: Scope): void {
  const { policy, model, b, diags, conds, live, record, origin } = s;
  const routeSignals = policy.routes.map((r) => {
    const set = new Set<string>();
    signalsOf(r.when, set);
    return set;
  });
  const routesByPhrase = new Map<string, Set<number>>();
  routeSignals.forEach((set, j) => set.forEach((sig) => model.phrasesOf(sig).forEach((p) => (routesByPhrase.get(p) ?? routesByPhrase.set(p, new Set()).get(p)!).add(j))));
  policy.routes.forEach((r, i) => {
    if (!live[i]) return;
    // Its own keyword signals may rule each other out (`all: [refund]` with `none: [refund]`).
    const own = model.keywordClauses(routeSignals[i]);
    if (own !== TRUE && model.constrain(b.and(conds[i], own)) === FALSE) {
      live[i] = false;
      const o = origin(r.name);
      diags.add("RP1001", o.file, o.span, `route \`${r.name}\` can never match: no request satisfies its condition (its keyword lists rule each other out)`, {
        help: "check the phrases its keyword signals require and forbid; remove the route if it is obsolete",
      });
      return;
    }
    const candidates = new Set<number>();
    for (const sig of routeSignals[i]) for (const p of model.phrasesOf(sig)) for (const j of routesByPhrase.get(p) ?? []) if (j < i && live[j]) candidates.add(j);
    for (const j of [...candidates].sort((x, y) => x - y)) {
      const clauses = model.keywordClauses([...routeSignals[i], ...routeSignals[j]]);
      if (clauses === TRUE || model.constrain(b.andAll([conds[i], b.not(conds[j]), clauses])) !== FALSE) continue;
      live[i] = false;
      const o = origin(r.name);
      const winner = policy.routes[j].name;
      diags.add("RP1002", o.file, o.span, `route \`${r.name}\` is shadowed: every request it matches is decided by \`${winner}\` first (their keyword lists imply it)`, {
        help: "raise its priority, narrow the earlier route, or remove it",
        related: [{ file: origin(winner).file, span: origin(winner).span, message: `\`${winner}\` takes these requests` }],
      });
      record(later("RP1002", r.name, [winner], () => model.witness(model.constrain(b.and(conds[i], clauses)))!));
      break;
    }
  });
  s.routeSignals = routeSignals;
}

/** redundant routes: without them, their requests would get the same models and plugins anyway */
function redundantRoutes(s: Scope): void {
  const { policy, diags, space, n, live, record, origin, regionOf } = s;
  policy.routes.forEach((r, i) => {
    if (!live[i]) return;
    const rest: RegionQuery = { ...regionOf(i), miss: [] };
    const takers: string[] = [];
    for (let j = i + 1; j < n && space.sat(rest); j++) {
      if (!space.sat({ ...rest, match: [i, j] })) continue;
      if (!sameAction(policy.routes[j].action, r.action)) return;
      takers.push(policy.routes[j].name);
      rest.miss!.push(j);
    }
    if (space.sat(rest)) {
      if (!policy.default || !sameAction(policy.default, r.action)) return;
      takers.push("default");
    }
    const o = origin(r.name);
    diags.add("RP1012", o.file, o.span, `route \`${r.name}\` is redundant: without it, its requests would go to ${takers.map((t) => (t === "default" ? theDefault(policy) : `\`${t}\``)).join(", ")} with the same models and plugins`, {
      help: "remove it, or change what it does",
    });
    record(later("RP1012", r.name, [r.name], () => space.witness(regionOf(i))!));
  });
}

/** partially shadowed routes: an earlier route that takes part of a route's requests, when one of the two looks only at signals the other looks at too — a special case carved out (`refund and urgent` before `refund`) or a broader rule first (`code > 0.5` before `code > 0.8`). Overlaps through signals only one of them looks at (two keyword lists that may both appear) are what priorities are for, and would make every pair of routes a note. */
function partialShadowing(s: Scope): void {
  const { policy, diags, space, live, record, origin, ordered, routeSignals } = s;
  const bySignal = new Map<string, number[]>();
  routeSignals.forEach((set, j) => set.forEach((x) => (bySignal.get(x) ?? bySignal.set(x, []).get(x)!).push(j)));
  // A route's rarest signal: every route whose signals contain this route's contains it.
  const rarest = routeSignals.map((set) => [...set].sort((x, y) => bySignal.get(x)!.length - bySignal.get(y)!.length || (x < y ? -1 : 1))[0]);
  const byRarest = new Map<string, number[]>();
  rarest.forEach((x, j) => x !== undefined && (byRarest.get(x) ?? byRarest.set(x, []).get(x)!).push(j));
  const within = (a: Set<string>, b: Set<string>) => [...a].every((x) => b.has(x));
  policy.routes.forEach((r, i) => {
    if (!live[i] || rarest[i] === undefined) return;
    const candidates = new Set<number>(bySignal.get(rarest[i])!.filter((j) => within(routeSignals[i], routeSignals[j])));
    for (const x of routeSignals[i]) for (const j of byRarest.get(x) ?? []) if (within(routeSignals[j], routeSignals[i])) candidates.add(j);
    // Equal priorities without `before` are RP1003's business (when they decide differently).
    const tied = (j: number) => policy.routes[j].priority === r.priority && !ordered.has(`${policy.routes[j].name}\u0000${r.name}`) && !ordered.has(`${r.name}\u0000${policy.routes[j].name}`);
    const winners = [...candidates].filter((j) => j < i && live[j] && !tied(j) && space.sat({ match: [i, j], missBefore: j }));
    winners.sort((x, y) => x - y);
    for (const j of winners) {
      const lost: RegionQuery = { match: [i, j], missBefore: j };
      const w = space.witness(lost)!;
      const winner = policy.routes[j];
      const o = origin(r.name);
      diags.add("RP1015", o.file, o.span, `route \`${r.name}\` is partially shadowed: \`${winner.name}\` (priority ${winner.priority}) takes the requests both match, e.g. ${w.description.join("; ") || "a request with no signal matching"}`, {
        help: `intended when \`${winner.name}\` should win these requests; otherwise raise \`${r.name}\`'s priority or narrow \`${winner.name}\``,
        related: [{ file: origin(winner.name).file, span: origin(winner.name).span, message: `\`${winner.name}\` takes them first` }],
      });
      record({ code: "RP1015", subject: `${r.name}<${winner.name}`, witness: w, expectRoutes: [winner.name] });
    }
  });
}

/** ambiguous overlaps at equal priority */
function ambiguousOverlaps(s: Scope): void {
  const { policy, diags, space, n, record, origin, ordered } = s;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n && policy.routes[j].priority === policy.routes[i].priority; j++) {
      const [a, c] = [policy.routes[i], policy.routes[j]];
      if (ordered.has(`${a.name}\u0000${c.name}`) || ordered.has(`${c.name}\u0000${a.name}`)) continue;
      if (sameAction(a.action, c.action) || !space.sat({ match: [i, j] })) continue;
      const o = origin(c.name);
      const w = space.witness({ match: [i, j] });
      diags.add("RP1003", o.file, o.span, `routes \`${a.name}\` and \`${c.name}\` have priority ${a.priority}, can match the same request, and decide differently`, {
        help: `say which wins: \`route ${c.name} priority ${c.priority} before ${a.name}\` (or the reverse), or change a priority`,
        related: [{ file: origin(a.name).file, span: origin(a.name).span, message: `\`${a.name}\` also matches${w ? `, e.g. ${w.description.join("; ")}` : ""}` }],
      });
      if (w) record({ code: "RP1003", subject: `${a.name}/${c.name}`, witness: w, expectRoutes: [a.name, c.name] });
    }
  }
}

/** coverage */
function coverage(s: Scope): void {
  const { policy, diags, space, n, record, origin } = s;
  const uncovered: RegionQuery = { missBefore: n };
  const leftOver = space.sat(uncovered) ? space.witness(uncovered)! : null;
  const example = (w: Witness) => w.description.join("; ") || "no signal matching";
  const coverage = !leftOver
    ? "every request is decided by a route"
    : policy.default
      // analyzeProfiles prefixes each profile's coverage with its name.
      ? `the default decides the requests no route takes, e.g. ${example(leftOver)}`
      : `requests no route takes are rejected (no default), e.g. ${example(leftOver)}`;
  if (policy.default === null && leftOver) {
    const w = leftOver;
    // A profile without a default: said at the profile's declaration.
    const profile = policy.profileScope ? policy.origins.profiles.get(policy.profileScope) : undefined;
    const anchor = profile ?? (policy.routes.length ? origin(policy.routes[0].name) : { file: policy.roots[0], span: FILE_START });
    const who = policy.profileScope ? `profile \`${policy.profileScope}\`` : "the policy";
    diags.add("RP1004", anchor.file, anchor.span, `${who} has no \`default\`, and some requests match no route; they are rejected (e.g. ${w.description.join("; ") || "a request with no signal matching"})`, {
      help: `add \`default${policy.profileScope ? ` in ${policy.profileScope}` : ""} { use <model> }\`, or a route for these requests`,
    });
    record({ code: "RP1004", subject: "default", witness: w, expectRoutes: [null] });
  }
  s.uncovered = uncovered;
  s.coverage = coverage;
}

/** unused definitions (only those in the files being compiled; imported catalogs offer more than one policy uses) */
function unusedDefinitions(s: Scope): void {
  const { policy, diags, routeSignals } = s;
  const roots = new Set(policy.roots);
  const usedSignals = new Set<string>();
  const usedModels = new Set<string>();
  const usedPlugins = new Set<string>();
  const collect = (a: Action | null) => {
    if (!a) return;
    for (const m of modelsReached(a)) usedModels.add(m);
    if (a.select.algorithm === "adaptive") for (const sig of a.select.context ?? []) usedSignals.add(sig);
    for (const p of a.plugins) usedPlugins.add(p.plugin);
  };
  for (const r of policy.routes) collect(r.action);
  for (const set of routeSignals) for (const s of set) usedSignals.add(s);
  collect(policy.default);
  for (const g of policy.guarantees) for (const c of [g.when, ...requestConditions(g.require)]) signalsOf(c, usedSignals);
  for (const t of policy.tests) for (const s of Object.keys(t.request.signals)) usedSignals.add(s);
  // A derived score reads its inputs, whether or not a route reads it.
  for (const sig of policy.signals) if (sig.type === "score") for (const t of (sig.config as unknown as ScoreConfig).terms) usedSignals.add(t.signal);
  // A partition reads its members, whether or not a route names them.
  for (const sig of policy.signals) if (sig.type === "partition") for (const m of sig.config.members as string[]) usedSignals.add(m);
  const unused = (code: "RP1005" | "RP1006" | "RP1007", what: string, names: string[], used: Set<string>, origins: Map<string, { file: string; span: import("../../grammar/index.ts").Span }>) => {
    for (const n of names) {
      const o = origins.get(n);
      if (!o || used.has(n) || !roots.has(o.file)) continue;
      diags.add(code, o.file, o.span, `${what} \`${n}\` is never used`, { help: `use it in a route, or remove it` });
    }
  };
  unused("RP1005", "signal", policy.signals.map((s) => s.name), usedSignals, policy.origins.signals);
  unused("RP1006", "model", policy.models.map((m) => m.name), usedModels, policy.origins.models);
  unused("RP1007", "plugin", policy.plugins.map((p) => p.name), usedPlugins, policy.origins.plugins);
}

/** actions: fallback chains and plugin chains that contradict themselves */
function actionChains(s: Scope): void {
  const { policy, diags, origin } = s;
  const actions: { what: string; action: Action; at: { file: string; span: import("../../grammar/index.ts").Span } }[] = [
    ...policy.routes.map((r) => ({ what: `route \`${r.name}\``, action: r.action, at: origin(r.name) })),
    ...(policy.default && policy.origins.default ? [{ what: theDefault(policy), action: policy.default, at: policy.origins.default }] : []),
  ];
  for (const { what, action, at } of actions) {
    const seen = new Set<string>();
    for (const m of action.select.models) {
      if (seen.has(m)) diags.add("RP1010", at.file, at.span, `${what} lists model \`${m}\` twice: the second attempt repeats the first`, { help: "list each model once; a retry budget belongs to the sidecar" });
      seen.add(m);
    }
    const prompts = action.plugins.filter((p) => p.type === "system_prompt");
    if (prompts.length > 1) {
      diags.add("RP1011", at.file, at.span, `${what} applies ${prompts.length} system prompts (${prompts.map((p) => `\`${p.plugin}\``).join(", ")}), which are injected one after another`, { help: "merge them into one system_prompt plugin so the model gets one set of instructions" });
    }
    const redactors = action.plugins.filter((p) => p.type === "pii_redact");
    for (const blocker of redactors.filter((p) => p.config.mode === "block")) {
      for (const other of redactors.filter((p) => p !== blocker && p.config.mode !== "block")) {
        const shared = (blocker.config.types as string[]).filter((t) => (other.config.types as string[]).includes(t));
        if (shared.length > 0) {
          diags.add("RP1011", at.file, at.span, `${what} both blocks and redacts ${shared.join(", ")} (\`${blocker.plugin}\` and \`${other.plugin}\`)`, { help: "decide whether such requests are rejected or cleaned, and keep one plugin for those types" });
        }
      }
    }
  }
}

/** plugins after a plugin that blocks every request the route takes */
function alwaysBlockingPlugins(s: Scope): void {
  const { policy, model, b, diags, space, live, origin, regionOf, uncovered } = s;
  const decisions = [
    ...policy.routes.map((r, i) => ({ what: `route \`${r.name}\``, route: r.name as string | null, action: r.action, at: origin(r.name), region: regionOf(i), live: live[i] })),
    ...(policy.default && policy.origins.default ? [{ what: theDefault(policy), route: "default" as string | null, action: policy.default, at: policy.origins.default, region: uncovered, live: space.sat(uncovered) }] : []),
  ];
  const alwaysBlocked = new Set<string | null>();
  for (const d of decisions) {
    if (!d.live) continue;
    d.action.plugins.forEach((p, k) => {
      const blocks = model.blocks(p);
      if (blocks === FALSE || space.sat({ ...d.region, extra: [b.not(blocks)] })) return;
      alwaysBlocked.add(d.route);
      const after = d.action.plugins.slice(k + 1);
      if (after.length === 0) return;
      diags.add("RP1013", d.at.file, d.at.span, `${d.what} applies ${after.map((x) => `\`${x.plugin}\``).join(", ")} after \`${p.plugin}\`, which blocks every request the route takes: they never run`, {
        help: `remove them, or narrow \`${p.plugin}\` (its threshold or types) if some requests should get through`,
      });
    });
  }
  s.decisions = decisions;
  s.alwaysBlocked = alwaysBlocked;
}

/** context windows: requests longer than every model of a route can take, while a larger model exists */
function contextWindows(s: Scope): void {
  const { policy, model, b, diags, space, record, windows, decisions, alwaysBlocked } = s;
  const largest = windows.length ? windows[windows.length - 1] : null;
  for (const d of decisions) {
    if (!d.live || largest === null || alwaysBlocked.has(d.route)) continue;
    const specs = d.action.select.models.map((m) => policy.models.find((x) => x.name === m)!);
    if (specs.some((m) => m.context_window === null)) continue;
    const fits = Math.max(...specs.map((m) => m.context_window!));
    if (fits >= largest) continue;
    // Only requests some larger model could take: longer than every window is no one's to serve.
    const longer: RegionQuery = { ...d.region, extra: [model.tokensAbove(fits), b.not(model.tokensAbove(largest))] };
    if (!space.sat(longer)) continue;
    const bigger = policy.models.filter((m) => (m.context_window ?? 0) > fits).map((m) => `\`${m.name}\` (${m.context_window})`);
    const names = specs.map((m) => `\`${m.name}\` (${m.context_window})`).join(", ");
    const span = `${(fits + 1).toLocaleString("en-US")}–${largest.toLocaleString("en-US")} tokens`;
    diags.add("RP1014", d.at.file, d.at.span, `${d.what} can receive requests of ${span}, more than any of its models takes (${names}); ${bigger.join(", ")} could take them`, {
      help: `a model asked for more than its window fails the request; to serve them, bound the route with a context signal (e.g. \`signal context fits { max_tokens: ${fits} }\` and \`when … and fits\`) and route longer requests to a model with a larger window`,
    });
    record(later("RP1014", d.route ?? "default", [d.route], () => space.witness(longer)!));
  }
}

/** guarantees, over every request and every model an action can send it to */
function guarantees(s: Scope): void {
  const { policy, model, b, diags, space, record, regionOf, uncovered } = s;
  const outcomes: { route: string | null; action: Action | null; region: RegionQuery }[] = [
    ...policy.routes.map((r, i) => ({ route: r.name, action: r.action, region: regionOf(i) })),
    { route: policy.default ? "default" : null, action: policy.default, region: uncovered },
  ];
  const guarantees: GuaranteeResult[] = [];
  for (const g of policy.guarantees) {
    const scope = model.condition(g.when);
    let failed: { route: string | null; model: string | null; witness: Witness } | null = null;
    for (const out of outcomes) {
      const here: RegionQuery = { ...out.region, extra: [scope] };
      if (!space.sat(here)) continue;
      // A cascade's verifier reads the request and an answer: a guarantee about where requests go covers it.
      const models: (string | null)[] = out.action ? modelsReached(out.action) : [null];
      for (const m of models) {
        const bad: RegionQuery = { ...here, extra: [scope, b.not(requirement(g.require, out.route, m, out.action, policy, model))] };
        if (space.sat(bad)) {
          failed = { route: out.route, model: m, witness: space.witness(bad)! };
          break;
        }
      }
      if (failed) break;
    }
    if (failed) {
      const where = failed.route === null ? `rejected for want of a default${policy.profileScope ? ` in profile \`${policy.profileScope}\`` : ""}` : `decided by ${failed.route === "default" ? theDefault(policy) : `route \`${failed.route}\``}${failed.model ? ` and sent to \`${failed.model}\`` : ""}`;
      diags.add("RP1008", g.file, g.span, `guarantee "${g.name}" does not hold: a request with ${failed.witness.description.join("; ") || "no signal matching"} is ${where}`, {
        help: "change the routes so every such request satisfies the requirement (for instance, apply a redaction plugin or keep it on-prem), or narrow the guarantee",
      });
      record({ code: "RP1008", subject: g.name, witness: failed.witness, expectRoutes: [failed.route] });
      guarantees.push({ name: g.name, status: "failed", detail: `counter-example: ${failed.witness.description.join("; ")} → ${where}` });
    } else {
      const assuming = policy.assumptions.length ? `; assuming ${policy.assumptions.map((a) => `"${a.name}"`).join(", ")}` : "";
      guarantees.push({ name: g.name, status: "proved", detail: `holds for every request, on every model its route may choose (fallbacks and adaptive candidates included)${assuming}` });
    }
  }
  s.guarantees = guarantees;
}

/**
 * A witness check whose witness is built when first read: a witness spells out
 * every signal, which adds up on large policies with many findings, and only
 * `lint` replays them. Holds the analysis's diagram until then.
 */
function later(code: string, subject: string, expectRoutes: (string | null)[], build: () => Witness): WitnessCheck {
  let witness: Witness | undefined;
  return {
    code,
    subject,
    expectRoutes,
    get witness() {
      return (witness ??= build());
    },
  };
}

/** Every model an action may send the request to: its models, and a cascade's verifier. */
export function modelsReached(a: Action): string[] {
  return a.select.algorithm === "cascade" && a.select.verifier !== undefined && !a.select.models.includes(a.select.verifier) ? [...a.select.models, a.select.verifier] : a.select.models;
}

function sameAction(a: Action, b: Action): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function signalsOf(c: import("../../bundle/index.ts").Condition, out: Set<string>): void {
  switch (c.op) {
    case "and":
    case "or":
      for (const a of c.args) signalsOf(a, out);
      return;
    case "not":
      signalsOf(c.arg, out);
      return;
    case "signal":
    case "cmp":
    case "in":
      out.add(c.signal);
      return;
    default:
      return;
  }
}

/** The request conditions inside a guarantee's requirement. */
function requestConditions(p: DecisionPredicate): import("../../bundle/index.ts").Condition[] {
  if (p.op === "and" || p.op === "or") return p.args.flatMap(requestConditions);
  if (p.op === "not") return requestConditions(p.arg);
  return p.op === "request" ? [p.cond] : [];
}


/** A guarantee's requirement for one decision (route, model, plugins), as a BDD over the request. */
function requirement(p: DecisionPredicate, route: string | null, modelName: string | null, action: Action | null, policy: CheckedPolicy, model: RequestModel): Node {
  const b = model.bdd;
  const spec = modelName ? policy.models.find((m) => m.name === modelName) : undefined;
  const rec = (q: DecisionPredicate): Node => requirement(q, route, modelName, action, policy, model);
  switch (p.op) {
    case "and":
      return b.andAll(p.args.map(rec));
    case "or":
      return b.orAll(p.args.map(rec));
    case "not":
      return b.not(rec(p.arg));
    case "model-is":
      return modelName !== null && p.models.includes(modelName) ? TRUE : FALSE;
    case "model-tag":
      return spec?.tags.includes(p.tag) ? TRUE : FALSE;
    case "model-field":
      return spec?.provider === p.value ? TRUE : FALSE;
    case "model-param":
      return modelName !== null && paramHolds(action?.params?.[modelName], p.param, p.cmp, p.value) ? TRUE : FALSE;
    case "route-is": {
      // Within a profile's analysis its default is route `<profile>.default`, as the engine names it.
      const named = route === "default" && policy.profileScope ? profileDefaultRoute(policy.profileScope) : route;
      return named !== null && p.routes.includes(named) ? TRUE : FALSE;
    }
    case "profile-is":
      return policy.profileScope !== undefined && p.profiles.includes(policy.profileScope) ? TRUE : FALSE;
    case "applies": {
      // A plugin runs unless an earlier one blocked the request (the engine skips the rest).
      if (action === null) return FALSE;
      const runs: Node[] = [];
      let notYetBlocked: Node = TRUE;
      for (const u of action.plugins) {
        if (u.plugin === p.plugin || u.type === p.plugin) runs.push(notYetBlocked);
        notYetBlocked = b.and(notYetBlocked, b.not(model.blocks(u)));
      }
      return b.orAll(runs);
    }
    case "blocked":
      // Rejected: no route and no default, or a plugin of the action blocks it.
      return action === null ? TRUE : b.orAll(action.plugins.map((u) => model.blocks(u)));
    case "request":
      return model.condition(p.cond);
  }
}
