// The routes' regions, projected onto what routes share. A variable that
// only one route mentions (its own keyword list, its own regex, its own
// context band's match) can be chosen freely for that route alone, so every
// question "is there a request with C_i and not C_1 … and not C_k?" is
// answered exactly after quantifying each route's private variables away:
// the diagrams combined across routes then speak only of shared signals and
// quantities, and stay small however many routes there are. Witnesses are
// rebuilt afterwards by choosing each route's private variables under the
// shared assignment (back-substitution), so they stay concrete and exact.
import { FALSE, TRUE, type Node } from "./bdd.ts";
import type { RequestModel, Witness } from "./model.ts";

/** A conjunction of route conditions (positive and negated) and shared formulas. */
export interface RegionQuery {
  /** Routes whose condition holds. */
  match?: number[];
  /** Routes whose condition does not hold. */
  miss?: number[];
  /** Every route before this index misses (the region left to route `missBefore`). */
  missBefore?: number;
  /** The same along another decision order given to the constructor: every route before position `index` of order `order` misses. */
  missBeforeIn?: { order: number; index: number }[];
  /** Formulas over variables no route owns privately (guarantees). */
  extra?: Node[];
}

export class RouteRegions {
  private readonly model: RequestModel;
  /** Per route: its condition (and its negation) with every fact it depends on. */
  private readonly pos: Node[] = [];
  private readonly neg: Node[] = [];
  /** The same with the route's private variables projected away. */
  private readonly posShared: Node[] = [];
  private readonly negShared: Node[] = [];
  /** below[i]: every route before i misses, projected. */
  private readonly below: Node[] = [TRUE];
  /** The extra decision orders (lists of condition indices) and their projected prefixes, as `below`. */
  private readonly orders: number[][];
  private readonly belowIn: Node[][];
  /** Per extra order: each condition's first position in it. */
  private readonly firstIn: Map<number, number>[];

  /**
   * @param conditions each route's condition, in decision order
   * @param shared formulas (guarantee scopes and requirements) whose variables no route may own
   * @param orders further decision orders over the same conditions (`diff`: the new version's routes, which
   *   share the conditions of the routes it kept); a condition used by several orders owns its variables once
   */
  /** What holds for every request: the assumptions (and their facts). */
  private readonly everywhere: Node;

  constructor(model: RequestModel, conditions: Node[], shared: Node[], orders: number[][] = []) {
    this.model = model;
    this.everywhere = model.constrain(TRUE);
    const b = model.bdd;
    const supports: Set<number>[] = [];
    for (const c of conditions) {
      const facts = model.factsFor(c);
      this.pos.push(b.and(c, facts));
      this.neg.push(b.and(b.not(c), facts));
      const support = b.support(c);
      for (const v of b.support(facts)) support.add(v);
      supports.push(support);
    }
    // A variable is private to a route when no other route and no shared formula mentions it.
    const owner = new Map<number, number>(); // variable → route index, or -1 when shared
    const own = (v: number, i: number) => {
      const o = owner.get(v);
      owner.set(v, o === undefined || o === i ? i : -1);
    };
    supports.forEach((support, i) => support.forEach((v) => own(v, i)));
    for (const f of shared) for (const v of b.support(model.constrain(f))) owner.set(v, -1);
    const privateVars: Set<number>[] = conditions.map(() => new Set());
    for (const [v, o] of owner) if (o >= 0) privateVars[o].add(v);
    conditions.forEach((_, i) => {
      this.posShared.push(b.exists(this.pos[i], privateVars[i]));
      this.negShared.push(b.exists(this.neg[i], privateVars[i]));
      this.below.push(b.and(this.below[i], this.negShared[i]));
    });
    this.orders = orders;
    this.firstIn = orders.map((order) => {
      const first = new Map<number, number>();
      order.forEach((c, k) => first.has(c) || first.set(c, k));
      return first;
    });
    this.belowIn = orders.map((order) => {
      const chain = [TRUE];
      order.forEach((c, k) => chain.push(b.and(chain[k], this.negShared[c])));
      return chain;
    });
  }

  /** The region as one diagram over shared variables (satisfiable exactly when the region is not empty). */
  shared(q: RegionQuery): Node {
    // A condition both required and refused: empty. (Projected separately, each half
    // could choose the condition's private variables its own way and look satisfiable.)
    if (this.contradicts(q)) return FALSE;
    // Every projected part already carries the facts it depends on (it was made from
    // `constrain`), so only the extra formulas need theirs; the conjunction then has all.
    const parts = [
      this.everywhere,
      ...(q.match ?? []).map((i) => this.posShared[i]),
      ...(q.miss ?? []).map((i) => this.negShared[i]),
      q.missBefore === undefined ? TRUE : this.below[q.missBefore],
      ...(q.missBeforeIn ?? []).map(({ order, index }) => this.belowIn[order][index]),
      ...(q.extra ?? []).map((f) => this.constrained(f)),
    ];
    return this.model.bdd.andAll(parts);
  }

  private contradicts(q: RegionQuery): boolean {
    return (q.match ?? []).some((i) =>
      (q.miss ?? []).includes(i) ||
      (q.missBefore !== undefined && i < q.missBefore) ||
      (q.missBeforeIn ?? []).some(({ order, index }) => (this.firstIn[order].get(i) ?? Infinity) < index));
  }

  private constrained(f: Node): Node {
    let c = this.constrainedCache.get(f);
    if (c === undefined) this.constrainedCache.set(f, (c = this.model.constrain(f)));
    return c;
  }

  private readonly constrainedCache = new Map<Node, Node>();

  /** Whether some request lies in the region. */
  sat(q: RegionQuery): boolean {
    return this.shared(q) !== FALSE;
  }

  /** A concrete request in the region, or null when it is empty. */
  witness(q: RegionQuery): Witness | null {
    const b = this.model.bdd;
    const first = b.anySat(this.shared(q));
    if (!first) return null;
    // Every completion of `first` satisfies each projected part, so each
    // route's own variables can be chosen in turn under what is fixed so far.
    const assignment = new Map(first);
    const pieces = [
      ...(q.match ?? []).map((i) => this.pos[i]),
      ...(q.miss ?? []).map((i) => this.neg[i]),
      ...Array.from({ length: q.missBefore ?? 0 }, (_, i) => this.neg[i]),
      ...(q.missBeforeIn ?? []).flatMap(({ order, index }) => this.orders[order].slice(0, index).map((c) => this.neg[c])),
    ];
    for (const piece of pieces) {
      const choice = b.satUnder(piece, assignment);
      if (!choice) throw new Error("internal error: a projected region has no concrete request");
      for (const [v, value] of choice) assignment.set(v, value);
    }
    return this.model.witnessOf(assignment);
  }
}
