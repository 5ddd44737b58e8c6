// The request space as BDD variables. Every signal is a boolean (its match);
// numeric outputs are cut at the thresholds the policy mentions; categorical
// outputs get one variable per value the policy mentions (plus "anything
// else" where the domain is open). Facts that relate them (a context band
// and its token count, a score and its threshold, one value per header, PII
// types and the PII match) are constraints. docs/analysis.md lists them and
// where the model over-approximates.
import type { CmpOp, Condition, JsonObject, JsonValue, PluginUse } from "../../bundle/index.ts";
import { CONVERSATION_BOUNDS, PII_DETECTION_ORDER, SIGNAL_TYPES, inBand, memberConfidence, partitionWinner, scoreValue, type Output, type ScoreConfig } from "../../bundle/index.ts";
import { categoryValues, outputsOf, type CheckedSignal } from "../conditions.ts";
import type { CheckedPolicy } from "../check.ts";
import type { DecisionPredicate } from "../guarantees.ts";
import { Bdd, FALSE, TRUE, type Node } from "./bdd.ts";

interface NumericVar {
  thresholds: number[]; // sorted, distinct
  ge: Map<number, Node>;
  gt: Map<number, Node>;
  min: number;
  max: number | null;
  integer: boolean;
}

interface CategoryVar {
  values: string[]; // the values with variables
  eq: Map<string, Node>;
  closed: boolean; // no value outside `values` is possible
}

interface WitnessPlan {
  name: string;
  s: CheckedSignal;
  matched: Node;
  outs: { name: string; bool?: Node; number?: NumericVar; category?: CategoryVar }[];
}

/** A concrete request, as given signal values the engine accepts, plus a readable description. */
export interface Witness {
  signals: JsonObject;
  description: string[];
}

/** [smaller, larger] counts of one conversation: the engine's user turns are some of its messages, a repeated call some of its calls. */
const COUNT_BOUNDS: readonly [string, string][] = [
  ["@conversation.user_turns", "@conversation.messages"],
  ["@conversation.tool_repeats", "@conversation.tool_calls"],
];

const THRESHOLDED = new Set(["jailbreak", "complexity", "embedding", "fact_check", "knowledge"]);

/** Combinations of input cells a derived score's link may take; beyond, its value is free (scoreLink). */
const SCORE_COMBINATIONS = 20_000;

/** An interval of numbers, each end included or not (∞ never included). */
interface Interval {
  lo: number;
  loC: boolean;
  hi: number;
  hiC: boolean;
}

/**
 * The engine adds and multiplies in floating point: each result may be off from the exact one by
 * half a unit in the last place, and a tiny product may underflow to 0. So every end the analysis
 * computes is moved outwards by more than that and included: the interval then holds every value
 * the engine can compute (sound: the model may only grow), at the price of calling reachable a
 * threshold that only exact arithmetic would miss by a rounding error.
 */
function widen(r: Interval): Interval {
  const slack = (x: number) => Math.abs(x) * 2 ** -50 + 2 ** -1020;
  return {
    lo: Number.isFinite(r.lo) ? r.lo - slack(r.lo) : r.lo,
    loC: Number.isFinite(r.lo),
    hi: Number.isFinite(r.hi) ? r.hi + slack(r.hi) : r.hi,
    hiC: Number.isFinite(r.hi),
  };
}

function scale(r: Interval, w: number): Interval {
  if (w === 0) return { lo: 0, loC: true, hi: 0, hiC: true };
  const a = { x: r.lo * w, c: r.loC };
  const z = { x: r.hi * w, c: r.hiC };
  return widen(w > 0 ? { lo: a.x, loC: a.c, hi: z.x, hiC: z.c } : { lo: z.x, loC: z.c, hi: a.x, hiC: a.c });
}

function add(a: Interval, b: Interval): Interval {
  return widen({ lo: a.lo + b.lo, loC: a.loC && b.loC, hi: a.hi + b.hi, hiC: a.hiC && b.hiC });
}

/** How a witness describes one signal's given values (null: not worth saying). */
function lineOf(p: WitnessPlan, given: JsonObject): string | null {
  let telling = "";
  for (const o of p.outs) {
    const v = given[o.name];
    if (v !== undefined && v !== false && v !== 0 && v !== "" && v !== "none" && v !== "(other)" && v !== "und") telling += `${telling ? ", " : ""}${o.name}=${JSON.stringify(typeof v === "number" ? Number(v.toPrecision(6)) : v)}`;
  }
  // Signals that match, with their telling outputs; and scores or labels that matter without a match (a class score in a condition).
  if (given.matched === true) return telling ? `${p.name} (${telling})` : p.name;
  return telling && p.s.type !== "context" ? `${p.name} (${telling}, no match)` : null;
}

/** A score's outputs for a value: the value and each band. */
function scoreOutputs(sc: ScoreConfig, v: number): JsonObject {
  const out: JsonObject = { value: v };
  for (const [band, r] of Object.entries(sc.bands ?? {})) out[band] = inBand(v, r);
  return out;
}

/** Whether some number of `a` is above some number of `b` (or equal to it, when `tie` wins ties). */
function exceeds(a: Interval, b: Interval, tie: boolean): boolean {
  if (a.hi > b.lo) return true;
  return tie && a.hi === b.lo && a.hiC && b.loC;
}

/** Whether two intervals share a number. */
function overlaps(a: Interval, b: Interval): boolean {
  const lo = Math.max(a.lo, b.lo);
  const hi = Math.min(a.hi, b.hi);
  if (lo < hi) return true;
  if (lo > hi) return false;
  const inA = (x: number) => (x > a.lo || (x === a.lo && a.loC)) && (x < a.hi || (x === a.hi && a.hiC));
  const inB = (x: number) => (x > b.lo || (x === b.lo && b.loC)) && (x < b.hi || (x === b.hi && b.hiC));
  return inA(lo) && inB(lo);
}

/**
 * The quantity a signal output measures. Different signals that measure the
 * same thing share variables: every context signal sees one token count,
 * every language signal one language, every jailbreak signal one score,
 * every header signal on one header one value. A PII type the signal does
 * not look for is never reported (null here: constant false).
 */
export function quantityKey(s: CheckedSignal, output: string): string | null {
  switch (s.type) {
    case "context":
      return "@tokens";
    case "language":
      return `@language.${output}`;
    case "jailbreak":
      return `@${s.type}.${output}`;
    case "complexity":
      // One heuristic score per request; a level is this signal's own band over it.
      return output === "score" ? "@complexity.score" : `${s.name}.${output}`;
    case "header":
      return `@header:${String(s.config.name).toLowerCase()}`;
    case "metadata":
      return `@metadata:${String(s.config.key)}`;
    case "modality":
      return `@modality.${output}`; // the engine reports every modality, whatever the signal looks for
    case "conversation":
      return `@conversation.${output}`; // one shape per request, whatever the signal's bounds
    case "pii":
      if (output === "count") return `${s.name}.${output}`;
      return (s.config.types as string[]).includes(output) ? piiKey(output, s.config.types as string[]) : null;
    default:
      return `${s.name}.${output}`;
  }
}

/**
 * The quantity "an item of PII type `t` is found" for a detector looking for
 * `types`: the same for every detector that looks for the same types before
 * `t` in the engine's detection order (an item overlapping an earlier find is
 * not reported, so those decide what `t` finds; bundle/catalog.ts).
 */
export function piiKey(t: string, types: readonly string[]): string {
  const earlier = PII_DETECTION_ORDER.slice(0, PII_DETECTION_ORDER.indexOf(t as (typeof PII_DETECTION_ORDER)[number])).filter((x) => types.includes(x));
  return earlier.length ? `@pii.${t}|${earlier.join(",")}` : `@pii.${t}`;
}

export class RequestModel {
  readonly bdd: Bdd;
  /** Per quantity, the constraints that give its variables meaning (order of thresholds, one value). */
  private readonly structure = new Map<string, Node[]>();
  /** Per signal, the facts tying its match to its quantities. */
  private readonly factOf = new Map<string, Node>();
  private readonly factQuantities = new Map<string, Set<string>>();
  private readonly signalOfVar = new Map<number, string>();
  private readonly quantityOfVar = new Map<number, string>();
  private readonly varsOfQuantity = new Map<string, number[]>();
  private readonly structureNode = new Map<string, Node>();
  private readonly signals: Map<string, CheckedSignal>;
  private readonly matched = new Map<string, Node>();
  private readonly bools = new Map<string, Node>(); // "sig.out"
  private readonly numbers = new Map<string, NumericVar>();
  private readonly categories = new Map<string, CategoryVar>();

  /** Whether derived scores are tied to their inputs (off only for bench/solvers, which gives that part to Z3). */
  private readonly scoreLinks: boolean;

  constructor(policy: CheckedPolicy, maxNodes = Infinity, options: { scoreLinks?: boolean } = {}) {
    this.scoreLinks = options.scoreLinks !== false;
    this.bdd = new Bdd(maxNodes);
    this.signals = new Map(policy.signals.map((s) => [s.name, s]));
    // Pass 1: what the conditions mention.
    const mentions = new Map<string, Set<number | string>>();
    const mentionKey = (key: string | null, v: number | string) => {
      if (key !== null) (mentions.get(key) ?? mentions.set(key, new Set()).get(key)!).add(v);
    };
    const mention = (sigOut: string, v: number | string) => {
      const dot = sigOut.indexOf(".");
      const sig = this.signals.get(sigOut.slice(0, dot));
      if (sig) mentionKey(quantityKey(sig, sigOut.slice(dot + 1)), v);
    };
    const visit = (c: Condition): void => {
      switch (c.op) {
        case "and":
        case "or":
          c.args.forEach(visit);
          return;
        case "not":
          visit(c.arg);
          return;
        case "cmp":
          mention(`${c.signal}.${c.output}`, c.value);
          return;
        case "in":
          for (const v of c.values) mention(`${c.signal}.${c.output}`, v);
          return;
        default:
          return;
      }
    };
    const visitPredicate = (p: DecisionPredicate): void => {
      if (p.op === "and" || p.op === "or") p.args.forEach(visitPredicate);
      else if (p.op === "not") visitPredicate(p.arg);
      else if (p.op === "request") visit(p.cond);
    };
    for (const r of policy.routes) visit(r.when);
    for (const a of policy.assumptions) {
      visit(a.when);
      visit(a.require);
    }
    for (const g of policy.guarantees) {
      visit(g.when);
      visitPredicate(g.require);
    }
    // Signal facts mention thresholds too.
    for (const s of policy.signals) {
      const c = s.config;
      if (s.type === "context") {
        if (typeof c.min_tokens === "number") mention(`${s.name}.tokens`, c.min_tokens);
        if (typeof c.max_tokens === "number") mention(`${s.name}.tokens`, c.max_tokens);
      }
      if (THRESHOLDED.has(s.type)) mention(`${s.name}.score`, (c.threshold as number | undefined) ?? 0.5);
      if (s.type === "score") {
        mention(`${s.name}.value`, (c.threshold as number | undefined) ?? 0.5);
        for (const band of Object.values((c as unknown as ScoreConfig).bands ?? {})) for (const t of [band.min, band.max]) if (t !== undefined) mention(`${s.name}.value`, t);
      }
      if (s.type === "keyword") mention(`${s.name}.count`, 1);
      for (const band of Object.values((c.levels as Record<string, { min?: number; max?: number }> | undefined) ?? {})) for (const t of [band.min, band.max]) if (t !== undefined) mention(`${s.name}.score`, t);
      if (s.type === "conversation") {
        for (const [out, min, max] of CONVERSATION_BOUNDS) for (const k of [min, max]) if (typeof c[k] === "number") mention(`${s.name}.${out}`, c[k] as number);
        for (const f of (c.response_format as string[] | undefined) ?? []) mention(`${s.name}.response_format`, f);
      }
      for (const v of [...((c.values as string[] | undefined) ?? []), ...((c.languages as string[] | undefined) ?? [])]) mention(`${s.name}.${SIGNAL_TYPES[s.type].primary}`, v);
    }
    // What plugins and models compare with: a guard's jailbreak threshold, a model's context window.
    for (const p of policy.plugins) if (p.type === "jailbreak_guard") mentionKey("@jailbreak.score", (p.config.threshold as number | undefined) ?? 0.5);
    for (const m of policy.models) if (m.context_window !== null) mentionKey("@tokens", m.context_window);
    // A conversation's counts bound each other: every threshold of the smaller is one of the larger too (COUNT_BOUNDS).
    for (const [small, large] of COUNT_BOUNDS) for (const t of mentions.get(small) ?? []) mentionKey(large, t);
    // Pass 2: variables, in signal order so each signal's variables sit together.
    for (const s of policy.signals) {
      const m = this.bdd.newVar();
      this.matched.set(s.name, m);
      this.signalOfVar.set(this.bdd.varOf(m), s.name);
      const outputs = outputsOf(s);
      for (const [name, out] of Object.entries(outputs)) {
        const key = quantityKey(s, name);
        if (key === null || this.bools.has(key) || this.numbers.has(key) || this.categories.has(key)) continue;
        this.structure.set(key, []);
        if (out.type === "bool") this.bools.set(key, this.quantityVar(key));
        else if (out.type === "number") this.numbers.set(key, this.numeric(key, out, [...(mentions.get(key) ?? [])].filter((v): v is number => typeof v === "number"), out.integer === true || name === "tokens" || name === "count"));
        else this.categories.set(key, this.category(key, s, out, [...(mentions.get(key) ?? [])].map(String)));
      }
    }
    // What blocking plugins test exists even without a signal that reads it: the jailbreak
    // score, and each PII type a blocking pii_redact looks for.
    if (!this.numbers.has("@jailbreak.score") && mentions.has("@jailbreak.score")) {
      this.structure.set("@jailbreak.score", []);
      this.numbers.set("@jailbreak.score", this.numeric("@jailbreak.score", { type: "number", min: 0, max: 1 }, [...mentions.get("@jailbreak.score")!].filter((v): v is number => typeof v === "number"), false));
    }
    for (const p of policy.plugins) {
      if (p.type !== "pii_redact" || p.config.mode !== "block") continue;
      for (const t of p.config.types as string[]) {
        const key = piiKey(t, p.config.types as string[]);
        if (this.bools.has(key)) continue;
        this.structure.set(key, []);
        this.bools.set(key, this.quantityVar(key));
      }
    }
    // The token count exists even without context signals when models declare their windows.
    if (!this.numbers.has("@tokens") && mentions.has("@tokens")) {
      this.structure.set("@tokens", []);
      this.numbers.set("@tokens", this.numeric("@tokens", { type: "number", min: 0, max: null }, [...mentions.get("@tokens")!].filter((v): v is number => typeof v === "number"), true));
    }
    // User turns are at most the messages, one call repeated at most the calls: small ≥ t ⇒ large ≥ t (the
    // contrapositive, large < t ⇒ small < t, comes with it). Part of the smaller count's structure.
    for (const [small, large] of COUNT_BOUNDS) {
      const s = this.numbers.get(small);
      const l = this.numbers.get(large);
      if (!s || !l) continue;
      for (const t of s.thresholds) {
        this.structure.get(small)!.push(this.bdd.implies(s.ge.get(t)!, l.ge.get(t)!), this.bdd.implies(s.gt.get(t)!, l.gt.get(t)!));
      }
    }
    for (const s of policy.signals) {
      const fact = this.facts(s);
      this.factOf.set(s.name, fact);
      this.factQuantities.set(s.name, new Set([...this.bdd.support(fact)].map((v) => this.quantityOfVar.get(v)).filter((q): q is string => q !== undefined)));
    }
    // The user's assumptions hold for every request the analysis considers.
    this.assumed = this.bdd.andAll(policy.assumptions.map((a) => this.bdd.implies(this.condition(a.when), this.condition(a.require))));
  }

  private quantityVar(key: string): Node {
    const n = this.bdd.newVar();
    this.quantityOfVar.set(this.bdd.varOf(n), key);
    (this.varsOfQuantity.get(key) ?? this.varsOfQuantity.set(key, []).get(key)!).push(this.bdd.varOf(n));
    return n;
  }


  /** The conjunction of the policy's `assume` blocks (TRUE when it has none). */
  readonly assumed: Node = TRUE;

  /**
   * `f` conjoined with exactly the facts it depends on: the structure of the
   * quantities it mentions and the facts of the signals it mentions (and of
   * the quantities those facts mention). Every other fact belongs to a signal
   * whose match occurs nowhere here, so it can always be met by choosing that
   * match: satisfiability is the same as with every fact, at a fraction of
   * the size.
   */
  constrain(f: Node): Node {
    return f === FALSE ? FALSE : this.bdd.and(f, this.factsFor(f));
  }

  /** The facts `constrain` adds to `f`, without `f`: the same for a formula and its negation. */
  factsFor(f: Node): Node {
    const signals = new Set<string>();
    const quantities = new Set<string>();
    const support = this.bdd.support(f);
    // Assumptions are few and small: every question takes all of them.
    if (this.assumed !== TRUE) for (const v of this.bdd.support(this.assumed)) support.add(v);
    for (const v of support) {
      const s = this.signalOfVar.get(v);
      if (s !== undefined) signals.add(s);
      const q = this.quantityOfVar.get(v);
      if (q !== undefined) quantities.add(q);
    }
    // A derived score's value and bands, and a partition's winner, mean something only with their
    // fact (the link to their inputs or members); a partition's fact reads its members' matches, so
    // their facts come too.
    // Until nothing changes: a partition's member may be a derived score, whose link then comes too.
    for (let grew = true; grew; ) {
      grew = false;
      const before = signals.size;
      if (this.derivedOfQuantity.size > 0) {
        for (const q of quantities) {
          const derived = this.derivedOfQuantity.get(q);
          if (derived !== undefined) signals.add(derived);
        }
        for (const s of [...signals]) for (const m of this.factSignals.get(s) ?? []) signals.add(m);
      }
      const quantitiesBefore = quantities.size;
      for (const s of signals) for (const q of this.factQuantities.get(s)!) quantities.add(q);
      grew = this.derivedOfQuantity.size > 0 && (signals.size > before || quantities.size > quantitiesBefore);
    }
    const parts = [this.assumed, ...[...signals].map((s) => this.factOf.get(s)!), ...[...quantities].flatMap((q) => this.structure.get(q)!)];
    // Conjoin from the bottom of the variable order up: intermediate diagrams stay small.
    const b = this.bdd;
    parts.sort((x, y) => b.varOf(y) - b.varOf(x));
    return b.andAll(parts);
  }

  private numeric(key: string, out: Output & { type: "number" }, mentioned: number[], integer: boolean): NumericVar {
    const thresholds = [...new Set(mentioned)].sort((a, b) => a - b);
    const v: NumericVar = { thresholds, ge: new Map(), gt: new Map(), min: out.min, max: out.max, integer };
    for (const t of thresholds) {
      v.ge.set(t, this.quantityVar(key));
      v.gt.set(t, this.quantityVar(key));
    }
    const b = this.bdd;
    const parts = this.structure.get(key)!;
    // Order and range: x > t ⇒ x ≥ t; x ≥ t' (t' > t) ⇒ x > t; nothing below min or above max.
    thresholds.forEach((t, i) => {
      parts.push(b.implies(v.gt.get(t)!, v.ge.get(t)!));
      if (i > 0) parts.push(b.implies(v.ge.get(t)!, v.gt.get(thresholds[i - 1])!));
      if (t <= out.min) parts.push(v.ge.get(t)!);
      if (t < out.min) parts.push(v.gt.get(t)!);
      if (out.max !== null && t > out.max) parts.push(b.not(v.ge.get(t)!));
      if (out.max !== null && t >= out.max) parts.push(b.not(v.gt.get(t)!));
      // Whole numbers: x > t ⇒ x ≥ ⌊t⌋ + 1 is implied by the thresholds only when that is one of them.
      if (integer && Number.isInteger(t) && v.ge.has(t + 1)) parts.push(b.iff(v.gt.get(t)!, v.ge.get(t + 1)!));
    });
    return v;
  }

  private category(key: string, s: CheckedSignal, out: Output & { type: "category" }, mentioned: string[]): CategoryVar {
    const domain = categoryValues(s, out);
    const values = [...new Set(mentioned)];
    // Header and metadata values are "" when absent, and a classifier that is offline, fails or
    // is unsure chooses no label (""): that value always has a variable.
    if ((s.type === "header" || s.type === "metadata" || s.type === "domain" || s.type === "knowledge") && !values.includes("")) values.push("");
    if (s.type === "feedback") for (const v of ["negative", "positive", "none"]) if (!values.includes(v)) values.push(v);
    // A partition's winner and a knowledge base's label are always one of theirs (or none): closed.
    if ((s.type === "partition" || s.type === "knowledge") && domain) for (const v of domain) if (!values.includes(v)) values.push(v);
    // Closed: the engine can produce no value outside `values` (docs/analysis.md, "What the model assumes").
    const closed = domain !== null && domain.every((d) => values.includes(d)) && s.type !== "header" && s.type !== "metadata" && s.type !== "language";
    const c: CategoryVar = { values, eq: new Map(values.map((v) => [v, this.quantityVar(key)])), closed };
    const b = this.bdd;
    const parts = this.structure.get(key)!;
    const vars = [...c.eq.values()];
    for (let i = 0; i < vars.length; i++) for (let j = i + 1; j < vars.length; j++) parts.push(b.not(b.and(vars[i], vars[j])));
    if (closed) parts.push(b.orAll(vars));
    return c;
  }

  /** What the engine guarantees about one signal's values. */
  private facts(s: CheckedSignal): Node {
    const b = this.bdd;
    const m = this.matched.get(s.name)!;
    const c = s.config;
    const facts: Node[] = [];
    switch (s.type) {
      case "context": {
        const lo = typeof c.min_tokens === "number" ? this.cmp(s.name, "tokens", ">=", c.min_tokens) : TRUE;
        const hi = typeof c.max_tokens === "number" ? this.cmp(s.name, "tokens", "<=", c.max_tokens) : TRUE;
        facts.push(b.iff(m, b.and(lo, hi)));
        break;
      }
      case "knowledge":
        // The label is an entry's exactly when the similarity reaches the threshold (runtime knowledgeValue):
        // a fact between the outputs, so it comes with either of them.
        for (const out of ["label", "score"]) this.derivedOfQuantity.set(`${s.name}.${out}`, s.name);
        facts.push(b.iff(m, this.cmp(s.name, "score", ">=", (c.threshold as number | undefined) ?? 0.5)));
        facts.push(b.iff(m, b.not(this.eq(s.name, "label", ""))));
        break;
      case "jailbreak":
      case "complexity":
      case "embedding":
      case "fact_check":
        if (c.aggregation !== "any") facts.push(b.iff(m, this.cmp(s.name, "score", ">=", (c.threshold as number | undefined) ?? 0.5)));
        for (const [level, range] of Object.entries((c.levels as Record<string, { min?: number; max?: number }> | undefined) ?? {})) {
          // A level means something only with this fact (its band over the score): it comes with the level.
          this.derivedOfQuantity.set(`${s.name}.${level}`, s.name);
          const lo = range.min === undefined ? TRUE : this.cmp(s.name, "score", ">=", range.min);
          const hi = range.max === undefined ? TRUE : this.cmp(s.name, "score", "<", range.max);
          facts.push(b.iff(this.boolOut(s.name, level), b.and(lo, hi)));
        }
        break;
      case "keyword":
        facts.push(b.implies(m, this.cmp(s.name, "count", ">=", 1)));
        break;
      case "pii":
      case "modality": {
        // Types it does not look for are constant false (quantityKey); the match is "any type found".
        facts.push(b.iff(m, b.orAll((c.types as string[]).map((t) => this.boolOut(s.name, t)))));
        break;
      }
      case "header":
      case "metadata": {
        const values = c.values as string[] | undefined;
        facts.push(values ? b.iff(m, b.orAll(values.map((v) => this.eq(s.name, "value", v)))) : b.iff(m, b.not(this.eq(s.name, "value", ""))));
        if (values) facts.push(b.implies(m, b.not(this.eq(s.name, "value", ""))));
        break;
      }
      case "language": {
        const langs = c.languages as string[] | undefined;
        if (langs) facts.push(b.implies(m, b.orAll(langs.map((l) => this.eq(s.name, "code", l)))));
        break;
      }
      case "feedback":
        facts.push(b.iff(m, b.not(this.eq(s.name, "label", "none"))));
        break;
      case "conversation": {
        // The match is every bound given (catalog conversationMatches); the outputs themselves are
        // independent quantities (docs/analysis.md: user turns ≤ messages is not modelled).
        const parts: Node[] = [];
        for (const [out, min, max] of CONVERSATION_BOUNDS) {
          if (typeof c[min] === "number") parts.push(this.cmp(s.name, out, ">=", c[min] as number));
          if (typeof c[max] === "number") parts.push(this.cmp(s.name, out, "<=", c[max] as number));
        }
        if (typeof c.system === "boolean") parts.push(c.system ? this.boolOut(s.name, "system") : b.not(this.boolOut(s.name, "system")));
        if (Array.isArray(c.response_format)) parts.push(b.orAll((c.response_format as string[]).map((f) => this.eq(s.name, "response_format", f))));
        facts.push(b.iff(m, b.andAll(parts)));
        break;
      }
      case "score": {
        const sc = c as unknown as ScoreConfig;
        for (const out of Object.keys(outputsOf(s))) this.derivedOfQuantity.set(`${s.name}.${out}`, s.name);
        facts.push(b.iff(m, this.cmp(s.name, "value", ">=", sc.threshold ?? 0.5)));
        for (const [band, range] of Object.entries(sc.bands ?? {})) {
          const lo = range.min === undefined ? TRUE : this.cmp(s.name, "value", ">=", range.min);
          const hi = range.max === undefined ? TRUE : this.cmp(s.name, "value", "<", range.max);
          facts.push(b.iff(this.boolOut(s.name, band), b.and(lo, hi)));
        }
        facts.push(this.scoreLink(s, sc));
        break;
      }
      case "partition": {
        for (const out of Object.keys(outputsOf(s))) this.derivedOfQuantity.set(`${s.name}.${out}`, s.name);
        facts.push(this.partitionFact(s));
        break;
      }
      default:
        break;
    }
    return b.andAll(facts);
  }

  /**
   * A partition, as the engine decides it: exactly one winner (a member, or "none" without a
   * default); a member wins only when it matches (or is the default and no member matches), and
   * only when no matching member has a higher confidence (or an equal one and comes first); the
   * partition matches when some member won. Confidences are compared cell against cell: a wins
   * over b in their current cells when some value of a's cell exceeds some value of b's (or equals
   * it, a listed first); both read one quantity (two jailbreak signals): a wins only if listed first.
   */
  private partitionFact(s: CheckedSignal): Node {
    const b = this.bdd;
    const members = s.config.members as string[];
    const fallback = s.config.default as string | undefined;
    // Members' facts come with the partition's (an embedding's match is its score reaching the threshold).
    this.factSignals.set(s.name, members);
    const won = (m: string) => this.eq(s.name, "winner", m);
    const anyMatch = b.orAll(members.map((m) => this.matched.get(m)!));
    const facts: Node[] = [b.iff(this.matched.get(s.name)!, fallback === undefined ? b.not(won("none")) : TRUE)];
    if (fallback === undefined) facts.push(b.iff(won("none"), b.not(anyMatch)));
    else facts.push(b.implies(b.not(anyMatch), won(fallback)));
    const confidence = (m: string): { key: string | null; derived: boolean; cells: { pred: Node; range: Interval }[] } => {
      const member = this.signals.get(m)!;
      const out = ["score", "value"].find((o) => outputsOf(member)[o]?.type === "number");
      const key = out === undefined ? null : quantityKey(member, out);
      const v = key === null ? undefined : this.numbers.get(key);
      return { key, derived: member.type === "score", cells: v ? this.cells(v) : [{ pred: TRUE, range: out === undefined ? { lo: 1, loC: true, hi: 1, hiC: true } : { lo: -Infinity, loC: false, hi: Infinity, hiC: false } }] };
    };
    const conf = new Map(members.map((m) => [m, confidence(m)]));
    members.forEach((a, i) => {
      facts.push(b.iff(this.boolOut(s.name, a), won(a)));
      const self = a === fallback ? b.or(this.matched.get(a)!, b.not(anyMatch)) : this.matched.get(a)!;
      facts.push(b.implies(won(a), self));
      members.forEach((o, j) => {
        if (o === a) return;
        const ca = conf.get(a)!;
        const co = conf.get(o)!;
        const first = i < j;
        let beats: Node;
        if (ca.key !== null && ca.key === co.key) beats = first ? TRUE : FALSE;
        // Which of two derived scores over shared inputs is higher is one large relation (16.9
        // million nodes for the 100-route benchmark against 3.9 without it): not modelled (sound:
        // more requests, never fewer; docs/analysis.md "Partitions").
        else if (ca.derived || co.derived) beats = TRUE;
        else {
          const pairs: Node[] = [];
          for (const x of ca.cells) for (const y of co.cells) if (exceeds(x.range, y.range, first)) pairs.push(b.and(x.pred, y.pred));
          beats = b.orAll(pairs);
        }
        facts.push(b.implies(b.and(won(a), this.matched.get(o)!), beats));
      });
    });
    return b.andAll(facts);
  }

  /**
   * What a derived score's value can be given its inputs, exactly: each input's thresholds cut it
   * into cells (a point or an open interval between thresholds, whole numbers for counts); over a
   * combination of cells the weighted sum ranges over an interval (the image of a box), clamped;
   * the score's value is in one of its own cells that meet that interval. The relation is built
   * by recursion over the inputs, each combination once — at most SCORE_COMBINATIONS of them;
   * beyond that the value is left free within its range (sound: more requests, never fewer),
   * and `approximated` names the score.
   */
  private scoreLink(s: CheckedSignal, sc: ScoreConfig): Node {
    const b = this.bdd;
    const value = this.numbers.get(`${s.name}.value`);
    if (!value || !this.scoreLinks) return TRUE;
    // Terms that read one quantity (two jailbreak signals: the engine scans once) are one input
    // with their weights added: `jb1.score - jb2.score` is always 0.
    const byQuantity = new Map<string, { weight: number; cells: { pred: Node; range: Interval }[] }>();
    sc.terms.forEach((t, i) => {
      const input = this.signals.get(t.signal)!;
      const key = quantityKey(input, t.output);
      const v = key === null ? undefined : this.numbers.get(key);
      const out = outputsOf(input)[t.output] as Output & { type: "number" };
      const id = v ? key! : `#${i}`;
      const known = byQuantity.get(id);
      if (known) known.weight += t.weight;
      else byQuantity.set(id, { weight: t.weight, cells: v ? this.cells(v) : [{ pred: TRUE, range: { lo: out.min, loC: true, hi: out.max ?? Infinity, hiC: out.max !== null } }] });
    });
    const inputs = [...byQuantity.values()];
    const combinations = inputs.reduce((n, i) => n * i.cells.length, 1);
    if (combinations > SCORE_COMBINATIONS) {
      this.approximated.push(s.name);
      return TRUE;
    }
    const valueCells = this.cells(value);
    const clamp = (r: Interval): Interval => {
      let { lo, loC, hi, hiC } = r;
      if (sc.min !== undefined) {
        if (hi < sc.min || (hi === sc.min && !hiC)) return { lo: sc.min, loC: true, hi: sc.min, hiC: true };
        if (lo < sc.min || (lo === sc.min && !loC)) [lo, loC] = [sc.min, true];
      }
      if (sc.max !== undefined) {
        if (lo > sc.max || (lo === sc.max && !loC)) return { lo: sc.max, loC: true, hi: sc.max, hiC: true };
        if (hi > sc.max || (hi === sc.max && !hiC)) [hi, hiC] = [sc.max, true];
      }
      return { lo, loC, hi, hiC };
    };
    const memo = new Map<string, Node>();
    const go = (i: number, acc: Interval): Node => {
      if (i === inputs.length) {
        const r = clamp(acc);
        return b.orAll(valueCells.filter((c) => overlaps(c.range, r)).map((c) => c.pred));
      }
      const key = `${i}|${acc.lo}|${acc.loC}|${acc.hi}|${acc.hiC}`;
      const hit = memo.get(key);
      if (hit !== undefined) return hit;
      const parts = inputs[i].cells.map((c) => b.and(c.pred, go(i + 1, add(acc, scale(c.range, inputs[i].weight)))));
      const n = b.orAll(parts);
      memo.set(key, n);
      return n;
    };
    const k = sc.constant ?? 0;
    return go(0, { lo: k, loC: true, hi: k, hiC: true });
  }

  /** A derived score's or a partition's output quantities (value, bands; winner, members) → the signal. */
  private readonly derivedOfQuantity = new Map<string, string>();
  /** A partition → its members, whose facts its own fact needs. */
  private readonly factSignals = new Map<string, string[]>();

  /** Each numeric quantity's variables, by threshold (bench/solvers hands their meaning to another solver). */
  numericQuantities(): { key: string; integer: boolean; min: number; max: number | null; atoms: { threshold: number; ge: number; gt: number }[] }[] {
    return [...this.numbers].map(([key, v]) => ({
      key, integer: v.integer, min: v.min, max: v.max,
      atoms: v.thresholds.map((t) => ({ threshold: t, ge: this.bdd.varOf(v.ge.get(t)!), gt: this.bdd.varOf(v.gt.get(t)!) })),
    }));
  }

  /** Derived scores whose link to their inputs was too large to model (docs/analysis.md). */
  readonly approximated: string[] = [];

  /** A numeric quantity's cells: each a predicate over its variables and the values it allows. */
  private cells(v: NumericVar): { pred: Node; range: Interval }[] {
    const b = this.bdd;
    const ts = v.thresholds;
    const hiMax = v.max ?? Infinity;
    const out: { pred: Node; range: Interval }[] = [];
    const push = (pred: Node, r: Interval) => {
      let range = r;
      if (v.integer) {
        // Whole numbers only: an open end moves to the next whole number inside.
        const lo = r.loC && Number.isInteger(r.lo) ? r.lo : Math.floor(r.lo) + 1;
        const hi = !Number.isFinite(r.hi) ? r.hi : r.hiC && Number.isInteger(r.hi) ? r.hi : Math.ceil(r.hi) - 1;
        if (lo > hi) return;
        range = { lo, loC: true, hi, hiC: Number.isFinite(hi) };
      }
      if (range.lo > range.hi || (range.lo === range.hi && !(range.loC && range.hiC))) return;
      out.push({ pred, range });
    };
    if (ts.length === 0) {
      push(TRUE, { lo: v.min, loC: true, hi: hiMax, hiC: v.max !== null });
      return out;
    }
    push(b.not(v.ge.get(ts[0])!), { lo: v.min, loC: true, hi: Math.min(ts[0], hiMax), hiC: ts[0] > hiMax });
    ts.forEach((t, i) => {
      push(b.and(v.ge.get(t)!, b.not(v.gt.get(t)!)), { lo: t, loC: true, hi: t, hiC: true });
      const next = ts[i + 1];
      if (next !== undefined) push(b.and(v.gt.get(t)!, b.not(v.ge.get(next)!)), { lo: t, loC: false, hi: next, hiC: false });
      else push(v.gt.get(t)!, { lo: t, loC: false, hi: hiMax, hiC: v.max !== null });
    });
    return out;
  }

  private key(signal: string, output: string): string | null {
    return quantityKey(this.signals.get(signal)!, output);
  }

  private boolOut(signal: string, output: string): Node {
    const k = this.key(signal, output);
    return k === null ? FALSE : (this.bools.get(k) ?? FALSE);
  }

  private eq(signal: string, output: string, value: string): Node {
    const k = this.key(signal, output);
    const cat = k === null ? undefined : this.categories.get(k);
    if (!cat) return FALSE;
    const v = cat.eq.get(value);
    if (v !== undefined) return v;
    // A value nobody mentioned: possible only as "anything else".
    return FALSE;
  }

  private cmp(signal: string, output: string, op: CmpOp, value: number | string): Node {
    const b = this.bdd;
    if (typeof value === "string") {
      const e = this.eq(signal, output, value);
      return op === "==" ? e : b.not(e);
    }
    const k = this.key(signal, output);
    const n = k === null ? undefined : this.numbers.get(k);
    if (!n || !n.ge.has(value)) throw new Error(`internal error: threshold ${value} of ${signal}.${output} was not collected`);
    const ge = n.ge.get(value)!;
    const gt = n.gt.get(value)!;
    switch (op) {
      case ">":
        return gt;
      case ">=":
        return ge;
      case "<":
        return b.not(ge);
      case "<=":
        return b.not(gt);
      case "==":
        return b.and(ge, b.not(gt));
      default:
        return b.not(b.and(ge, b.not(gt)));
    }
  }

  /**
   * What keyword signals among `names` say about each other, as clauses over
   * their matches: a match of `all: [order, refund]` is a match of
   * `any: [refund]`; `all: [refund]` and `none: [refund]` never match together.
   * Phrases are compared as the engine matches them (folded unless
   * case-sensitive, with the same whole-word setting). Not a global fact (it
   * would tie every route to its neighbours' keyword lists and undo the
   * projection in regions.ts): the analysis asks for it where it matters.
   */
  keywordClauses(names: Iterable<string>): Node {
    const b = this.bdd;
    const lists = [...new Set(names)].map((n) => this.keywordListsOf(n)).filter((l): l is KeywordLists => l !== null);
    const parts: Node[] = [];
    for (const a of lists) {
      for (const c of lists) {
        if (a === c) continue;
        const ma = this.matched.get(a.name)!;
        const mc = this.matched.get(c.name)!;
        if (keywordImplies(a, c)) parts.push(b.implies(ma, mc));
        if (keywordExcludes(a, c)) parts.push(b.implies(ma, b.not(mc)));
      }
    }
    return b.andAll(parts);
  }

  /** The phrases of a keyword signal, as the engine compares them (empty for other signals). */
  phrasesOf(name: string): ReadonlySet<string> {
    return this.keywordListsOf(name)?.phrases ?? NO_PHRASES;
  }

  /** A keyword signal's lists, normalized once (null for other signals): the analysis asks per route pair. */
  private keywordListsOf(name: string): KeywordLists | null {
    let l = this.keywordCache.get(name);
    if (l === undefined) {
      const s = this.signals.get(name);
      this.keywordCache.set(name, (l = s && s.type === "keyword" ? keywordLists(s) : null));
    }
    return l;
  }

  private readonly keywordCache = new Map<string, KeywordLists | null>();

  /** Requests of more than `n` tokens (FALSE when the policy never mentions `n` as a token count). */
  tokensAbove(n: number): Node {
    return this.numbers.get("@tokens")?.gt.get(n) ?? FALSE;
  }

  /** The requests a plugin blocks, as the engine runs it (FALSE for plugins that never block). */
  blocks(p: PluginUse): Node {
    const b = this.bdd;
    if (p.type === "jailbreak_guard" && p.config.action !== "flag") {
      return this.numbers.get("@jailbreak.score")?.ge.get((p.config.threshold as number | undefined) ?? 0.5) ?? FALSE;
    }
    if (p.type === "pii_redact" && p.config.mode === "block") return b.orAll((p.config.types as string[]).map((t) => this.bools.get(piiKey(t, p.config.types as string[])) ?? FALSE));
    return FALSE;
  }

  /** A route or guarantee condition as a BDD over the request variables. */
  condition(c: Condition): Node {
    const b = this.bdd;
    switch (c.op) {
      case "true":
        return TRUE;
      case "false":
        return FALSE;
      case "not":
        return b.not(this.condition(c.arg));
      case "and":
        return b.andAll(c.args.map((a) => this.condition(a)));
      case "or":
        return b.orAll(c.args.map((a) => this.condition(a)));
      case "signal":
        return c.output === undefined ? this.matched.get(c.signal)! : this.boolOut(c.signal, c.output);
      case "cmp":
        return this.cmp(c.signal, c.output, c.cmp, c.value);
      case "in":
        return b.orAll(c.values.map((v) => this.eq(c.signal, c.output, v)));
    }
  }

  /** A concrete request in `region` (a formula passed through `constrain`), or null when it is empty. */
  witness(region: Node): Witness | null {
    const sat = this.bdd.anySat(region);
    return sat ? this.witnessOf(sat) : null;
  }

  /**
   * The concrete request for a partial assignment (variable index → value)
   * that already satisfies every fact of the variables it sets; the rest is
   * completed consistently.
   */
  witnessOf(assignment: ReadonlyMap<number, boolean>): Witness {
    const base = this.baseline();
    // Only what the assignment touches differs from the baseline: its quantities, and the
    // signals that set or read them. Everything else is the baseline's (consistent) values.
    const quantities = new Set<string>();
    const touched = new Set<string>();
    for (const v of assignment.keys()) {
      const q = this.quantityOfVar.get(v);
      if (q !== undefined) quantities.add(q);
      const sig = this.signalOfVar.get(v);
      if (sig !== undefined) touched.add(sig);
    }
    for (const q of quantities) for (const sig of this.readers.get(q) ?? []) touched.add(sig);
    const sat = new Map(assignment);
    this.complete(sat, quantities, touched, base.sat);
    const value = (n: Node): boolean => sat.get(this.bdd.varOf(n)) ?? base.sat.get(this.bdd.varOf(n)) ?? false;
    const signals: JsonObject = {};
    for (const p of this.witnessPlan()) signals[p.name] = touched.has(p.name) ? this.describe(p, value).given : base.signals.get(p.name)!.given;
    const pinned = { ...signals };
    const full = new Map([...base.sat, ...sat]);
    this.unpinScores(signals, (n) => this.bdd.evaluate(n, full));
    // Described from the values given in the end (the solver may have moved a score's inputs); a
    // score left to the engine as the engine computes it from them.
    const description: string[] = [];
    for (const p of this.witnessPlan()) {
      let line: string | null;
      if (!touched.has(p.name)) line = base.signals.get(p.name)!.line;
      else if (signals[p.name] !== undefined || p.s.type !== "score") line = lineOf(p, (signals[p.name] ?? pinned[p.name]) as JsonObject);
      else {
        const sc = p.s.config as unknown as ScoreConfig;
        const v = scoreValue(sc, (signal, output) => (signals[signal] as JsonObject | undefined)?.[output]);
        line = lineOf(p, { ...scoreOutputs(sc, v), matched: v >= (sc.threshold ?? 0.5) });
      }
      if (line) description.push(line);
    }
    return { signals, description };
  }

  /**
   * A witness fixes each signal's values, a derived score's too. Where it can, it gives the score's
   * inputs values (each in the cell the witness chose for it) whose weighted sum lands in the cell
   * chosen for the score, and leaves the score out, so the engine computes it as it would for a
   * request: along the segment from the inputs' lowest-sum corner to their highest, the sum moves
   * linearly, so one point of it is in the score's cell when the model says the cells go together.
   * Whole-number inputs are rounded and checked; when a score cannot be met that way (or another
   * score shares its inputs and moves them), its value stays given.
   */
  private unpinScores(signals: JsonObject, holds: (n: Node) => boolean): void {
    const scores = [...this.signals.values()].filter((s) => s.type === "score");
    if (scores.length === 0) {
      this.unpinPartitions(signals);
      return;
    }
    const cellOf = (v: NumericVar) => this.cells(v).find((c) => holds(c.pred))?.range ?? null;
    const readersOf = (key: string) => this.witnessPlan().flatMap((p) => p.outs.filter((o) => quantityKey(p.s, o.name) === key).map((o) => ({ signal: p.name, output: o.name })));
    const read = (signal: string, output: string) => (signals[signal] as JsonObject | undefined)?.[output];
    const inCell = (x: number, r: Interval) => (x > r.lo || (x === r.lo && r.loC)) && (x < r.hi || (x === r.hi && r.hiC));
    const solved: string[] = [];
    for (const s of scores) {
      const sc = s.config as unknown as ScoreConfig;
      const target = this.numbers.get(`${s.name}.value`);
      const goal = target && cellOf(target);
      if (!goal) continue;
      const inputs = sc.terms.map((t) => {
        const key = quantityKey(this.signals.get(t.signal)!, t.output);
        const v = key === null ? undefined : this.numbers.get(key);
        return { t, key, v, cell: v ? cellOf(v) : null };
      });
      if (inputs.some((i) => !i.v || !i.cell || i.key === null)) continue;
      const ends = inputs.map((i) => {
        const r = i.cell!;
        // Ends inside the cell: open ends moved in a little, an unbounded end some way above the other.
        const hiEnd = Number.isFinite(r.hi) ? r.hi : Math.max(r.lo, 0) + 1e6;
        const width = hiEnd - r.lo;
        const lo = r.loC ? r.lo : r.lo + Math.min(1e-6, width / 4);
        const hi = r.hiC && Number.isFinite(r.hi) ? r.hi : hiEnd - Math.min(1e-6, width / 4);
        return i.t.weight >= 0 ? [lo, hi] : [hi, lo];
      });
      const at = (lambda: number, round: (x: number) => number = Math.round) => inputs.map((i, k) => {
        const x = ends[k][0] + lambda * (ends[k][1] - ends[k][0]);
        return i.v!.integer ? round(x) : x;
      });
      const sum = (xs: number[]) => scoreValue(sc, (signal, output) => xs[sc.terms.findIndex((t) => t.signal === signal && t.output === output)]);
      const [low, high] = [sum(at(0)), sum(at(1))];
      // The point of the segment whose sum is the middle of what the goal and the segment share.
      const from = Math.max(goal.lo, Math.min(low, high));
      const to = Math.min(Number.isFinite(goal.hi) ? goal.hi : Math.max(low, high), Math.max(low, high));
      const want = (from + to) / 2;
      const lambdas = high === low ? [0, 0.5, 1] : [(want - low) / (high - low)].map((l) => Math.min(1, Math.max(0, l)));
      // Whole numbers: rounded, and towards either end (the nearest whole number may leave the goal).
      const candidates = lambdas.flatMap((l) => [at(l), at(l, Math.floor), at(l, Math.ceil)]);
      // A goal that is one number (`s.value == 0.7`, or a band's edge): each real-valued input whose
      // cell is not a point solved for it in turn (the sum before the clamp), then nudged by a few
      // units in the last place until the engine's sum is exact.
      if (goal.lo === goal.hi) {
        const raw: ScoreConfig = { ...sc, min: undefined, max: undefined };
        for (let j = 0; j < inputs.length; j++) {
          if (inputs[j].v!.integer || inputs[j].cell!.lo === inputs[j].cell!.hi) continue;
          for (const xs of lambdas.map((l) => at(l))) {
            const rest = scoreValue(raw, (signal, output) => {
              const k = sc.terms.findIndex((t) => t.signal === signal && t.output === output);
              return k === j ? 0 : xs[k];
            });
            const x0 = (goal.lo - rest) / inputs[j].t.weight;
            const step = Number.EPSILON * Math.max(1, Math.abs(x0));
            for (let ulp = 0; ulp <= 16 && Number.isFinite(x0); ulp++) for (const x of [x0 + ulp * step, x0 - ulp * step]) candidates.push(xs.map((y, k) => (k === j ? x : y)));
          }
        }
      }
      const found = candidates.find((xs) => inCell(sum(xs), goal) && xs.every((x, k) => inCell(x, inputs[k].cell!)));
      if (!found) continue;
      inputs.forEach((i, k) => {
        for (const r of readersOf(i.key!)) if (signals[r.signal]) (signals[r.signal] as JsonObject)[r.output] = found[k];
      });
      solved.push(s.name);
    }
    // Unpinned only when every solved score still lands in its cell with the inputs as they ended up.
    for (const name of solved) {
      const sc = this.signals.get(name)!.config as unknown as ScoreConfig;
      const goal = cellOf(this.numbers.get(`${name}.value`)!)!;
      if (inCell(scoreValue(sc, read), goal)) delete signals[name];
    }
    this.unpinPartitions(signals);
  }

  /** A partition's winner is left to the engine when its members' values in the witness elect it. */
  private unpinPartitions(signals: JsonObject): void {
    for (const s of this.signals.values()) {
      if (s.type !== "partition" || !signals[s.name]) continue;
      const pinned = (signals[s.name] as JsonObject).winner;
      const member = (m: string) => {
        const given = signals[m] as JsonObject | undefined;
        if (given === undefined) return { matched: false, confidence: 0 };
        // A member left to the engine (a score) is judged by what it will compute: not known here.
        return { matched: given.matched === true, confidence: memberConfidence(given) };
      };
      const members = s.config.members as string[];
      if (members.some((m) => signals[m] === undefined)) continue;
      if (partitionWinner(members, s.config.default as string | undefined, member) === pinned) delete signals[s.name];
    }
  }

  /** One signal's given values under an assignment, and how a witness describes it (null: not worth saying). */
  private describe(p: WitnessPlan, value: (n: Node) => boolean): { given: JsonObject; line: string | null } {
    const given: Record<string, JsonValue> = { matched: value(p.matched) };
    for (const o of p.outs) given[o.name] = o.bool !== undefined ? value(o.bool) : o.number ? this.pickNumber(o.number, value) : o.category ? this.pickCategory(o.category, value, p.s) : false;
    return { given, line: lineOf(p, given) };
  }

  /** The completion of the empty assignment, and each signal's values under it: shared by every witness. */
  private baseline(): { sat: Map<number, boolean>; signals: Map<string, { given: JsonObject; line: string | null }> } {
    if (this.base) return this.base;
    const sat = new Map<number, boolean>();
    this.complete(sat, new Set(this.structure.keys()), new Set(this.matched.keys()), sat);
    const value = (n: Node): boolean => sat.get(this.bdd.varOf(n)) ?? false;
    // Untouched signals that do not match are left out of descriptions: their scores are arbitrary.
    const untouched = (d: { given: JsonObject; line: string | null }) => (d.given.matched === true ? d : { given: d.given, line: null });
    this.base = { sat, signals: new Map(this.witnessPlan().map((p) => [p.name, untouched(this.describe(p, value))])) };
    for (const [sig, qs] of this.factQuantities) {
      for (const q of qs) (this.readers.get(q) ?? this.readers.set(q, new Set()).get(q)!).add(sig);
    }
    for (const p of this.witnessPlan()) {
      for (const o of p.outs) {
        const key = quantityKey(p.s, o.name);
        if (key !== null) (this.readers.get(key) ?? this.readers.set(key, new Set()).get(key)!).add(p.name);
      }
    }
    return this.base;
  }

  private base: ReturnType<RequestModel["baseline"]> | null = null;
  /** Per quantity, the signals whose facts or outputs read it. */
  private readonly readers = new Map<string, Set<string>>();

  /** Per signal, where each output's value comes from: made once, used by every witness. */
  private witnessPlan(): WitnessPlan[] {
    if (this.plan) return this.plan;
    this.plan = [...this.signals].map(([name, s]) => ({
      name,
      s,
      matched: this.matched.get(name)!,
      outs: Object.keys(outputsOf(s)).map((out) => {
        const key = quantityKey(s, out);
        return key === null ? { name: out } : { name: out, bool: this.bools.get(key), number: this.numbers.get(key), category: this.categories.get(key) };
      }),
    }));
    return this.plan;
  }

  private plan: WitnessPlan[] | null = null;

  /**
   * Extends a witness to every variable, consistently with every fact: first
   * each quantity the witness left open (within its structure), then each
   * signal's match from its fact. This is the argument of `constrain` made
   * concrete.
   */
  private complete(sat: Map<number, boolean>, quantities: ReadonlySet<string>, signals: ReadonlySet<string>, base: ReadonlyMap<number, boolean>): void {
    const b = this.bdd;
    for (const key of quantities) {
      const vars = this.varsOfQuantity.get(key) ?? [];
      if (vars.every((v) => sat.has(v))) continue;
      // The structure with the witness's choices so far, solved for the rest.
      let whole = this.structureNode.get(key);
      if (whole === undefined) this.structureNode.set(key, (whole = b.andAll(this.structure.get(key)!)));
      const rest = b.satUnder(whole, sat);
      for (const v of vars) if (!sat.has(v)) sat.set(v, rest?.get(v) ?? false);
    }
    for (const name of signals) {
      // A fact may read quantities the witness did not touch: those keep their baseline values.
      for (const q of this.factQuantities.get(name)!) {
        if (!quantities.has(q)) for (const v of this.varsOfQuantity.get(q) ?? []) if (!sat.has(v)) sat.set(v, base.get(v) ?? false);
      }
      const v = b.varOf(this.matched.get(name)!);
      if (sat.has(v)) continue;
      sat.set(v, false);
      if (!b.evaluate(this.factOf.get(name)!, sat)) sat.set(v, true);
    }
  }

  private pickNumber(v: NumericVar, value: (n: Node) => boolean): number {
    let lo: number | null = null;
    let strict = false;
    for (const t of v.thresholds) {
      if (value(v.ge.get(t)!)) {
        lo = t;
        strict = value(v.gt.get(t)!);
      }
    }
    const above = (t: number) => v.thresholds.find((x) => x > t);
    if (lo === null) {
      const first = v.thresholds[0];
      if (first === undefined) return Number.isFinite(v.min) ? v.min : 0;
      // Below the first threshold: halfway from the least value, or one below when there is none.
      const x = v.integer ? Math.ceil(first) - 1 : Number.isFinite(v.min) ? (v.min + Math.min(first, v.max ?? first)) / 2 : first - 1;
      return Math.min(Math.max(v.min, x), v.max ?? Infinity);
    }
    if (!strict) return lo;
    const next = above(lo) ?? (v.max ?? lo + 2);
    return v.integer ? Math.floor(lo) + 1 : (lo + next) / 2;
  }

  private pickCategory(c: CategoryVar, value: (n: Node) => boolean, s: CheckedSignal): string {
    for (const [v, n] of c.eq) if (value(n)) return v;
    if (s.type === "language") return "und";
    return "(other)";
  }
}

interface KeywordLists { name: string; any: Set<string>; all: Set<string>; none: Set<string>; phrases: Set<string> }

const NO_PHRASES: ReadonlySet<string> = new Set();

function keywordLists(s: CheckedSignal): KeywordLists {
  const cs = s.config.case_sensitive === true;
  const whole = s.config.whole_word !== false;
  const keys = (l: unknown) => new Set(((l as string[] | undefined) ?? []).map((p) => `${cs ? "c" : "f"}${whole ? "w" : "s"}:${cs ? p : p.toLowerCase()}`));
  const [any, all, none] = [keys(s.config.any), keys(s.config.all), keys(s.config.none)];
  return { name: s.name, any, all, none, phrases: new Set([...any, ...all, ...none]) };
}

const within = (a: Set<string>, c: Set<string>) => [...a].every((x) => c.has(x));
const meets = (a: Set<string>, c: Set<string>) => [...a].some((x) => c.has(x));

/** A's match guarantees B's: B's required phrases are among A's, one of B's alternatives is certainly present, B's exclusions are A's. */
function keywordImplies(a: KeywordLists, c: KeywordLists): boolean {
  return within(c.all, a.all) && within(c.none, a.none) && (c.any.size === 0 || meets(a.all, c.any) || (a.any.size > 0 && within(a.any, c.any)));
}

/** A's match rules B's out: a phrase A needs is one B forbids (or every alternative A offers is). */
function keywordExcludes(a: KeywordLists, c: KeywordLists): boolean {
  return meets(a.all, c.none) || (a.any.size > 0 && within(a.any, c.none));
}
