// A reduced ordered binary decision diagram package: the exact decision
// procedure behind the policy analysis. Nodes are hash-consed, so two
// formulas are equivalent exactly when they are the same node, and
// satisfiability is `node !== FALSE`.

export type Node = number;

export const FALSE: Node = 0;
export const TRUE: Node = 1;

const OP_AND = 1;
const OP_OR = 2;
const OP_NOT = 3;

/** Thrown when a diagram outgrows its budget, so an analysis stops deterministically instead of running away. */
export class BddBudgetExceeded extends Error {}

export class Bdd {
  /** The most nodes this diagram may make; the same policy always stops at the same point. */
  readonly maxNodes: number;
  constructor(maxNodes = Infinity) {
    this.maxNodes = maxNodes;
  }

  // Node i: variable, low (var = false) and high (var = true) children.
  private readonly vars: number[] = [Infinity, Infinity];
  private readonly lows: Node[] = [0, 1];
  private readonly highs: Node[] = [0, 1];
  // Unique table: open addressing over node ids (0 = empty slot; terminals are never stored).
  private table = new Int32Array(1 << 12);
  // Computed table: a lossy cache of (op, a, b) → result, overwritten on collision as in CUDD.
  private static readonly CACHE_BITS = 18;
  private readonly cacheOp = new Int8Array(1 << Bdd.CACHE_BITS);
  private readonly cacheA = new Int32Array(1 << Bdd.CACHE_BITS);
  private readonly cacheB = new Int32Array(1 << Bdd.CACHE_BITS);
  private readonly cacheR = new Int32Array(1 << Bdd.CACHE_BITS);
  private varCount = 0;

  /** A fresh variable, ordered after every variable made before it. */
  newVar(): Node {
    return this.make(this.varCount++, FALSE, TRUE);
  }

  get variables(): number {
    return this.varCount;
  }

  get size(): number {
    return this.vars.length;
  }

  private static hash(v: number, low: number, high: number): number {
    let h = Math.imul(v, 0x9e3779b1) ^ Math.imul(low, 0x85ebca77) ^ Math.imul(high, 0xc2b2ae3d);
    h ^= h >>> 15;
    return Math.imul(h, 0x2c1b3c6d) >>> 0;
  }

  private make(v: number, low: Node, high: Node): Node {
    if (low === high) return low;
    const mask = this.table.length - 1;
    let i = Bdd.hash(v, low, high) & mask;
    for (;;) {
      const n = this.table[i];
      if (n === 0) break;
      if (this.vars[n] === v && this.lows[n] === low && this.highs[n] === high) return n;
      i = (i + 1) & mask;
    }
    const n = this.vars.length;
    if (n >= this.maxNodes) throw new BddBudgetExceeded(`more than ${this.maxNodes} decision-diagram nodes`);
    this.vars.push(v);
    this.lows.push(low);
    this.highs.push(high);
    this.table[i] = n;
    if (n * 2 > this.table.length) this.grow();
    return n;
  }

  private grow(): void {
    const table = new Int32Array(this.table.length * 2);
    const mask = table.length - 1;
    for (let n = 2; n < this.vars.length; n++) {
      let i = Bdd.hash(this.vars[n], this.lows[n], this.highs[n]) & mask;
      while (table[i] !== 0) i = (i + 1) & mask;
      table[i] = n;
    }
    this.table = table;
  }

  private cached(op: number, a: Node, b: Node): number {
    const i = (Bdd.hash(op, a, b) >>> (32 - Bdd.CACHE_BITS));
    return this.cacheOp[i] === op && this.cacheA[i] === a && this.cacheB[i] === b ? this.cacheR[i] : -1;
  }

  private remember(op: number, a: Node, b: Node, r: Node): void {
    const i = (Bdd.hash(op, a, b) >>> (32 - Bdd.CACHE_BITS));
    this.cacheOp[i] = op;
    this.cacheA[i] = a;
    this.cacheB[i] = b;
    this.cacheR[i] = r;
  }

  not(a: Node): Node {
    if (a === FALSE) return TRUE;
    if (a === TRUE) return FALSE;
    let r = this.cached(OP_NOT, a, 0);
    if (r < 0) {
      r = this.make(this.vars[a], this.not(this.lows[a]), this.not(this.highs[a]));
      this.remember(OP_NOT, a, 0, r);
    }
    return r;
  }

  and(a: Node, b: Node): Node {
    if (a === FALSE || b === FALSE) return FALSE;
    if (a === TRUE) return b;
    if (b === TRUE || a === b) return a;
    return this.apply(OP_AND, a, b);
  }

  or(a: Node, b: Node): Node {
    if (a === TRUE || b === TRUE) return TRUE;
    if (a === FALSE) return b;
    if (b === FALSE || a === b) return a;
    return this.apply(OP_OR, a, b);
  }

  /** Shannon expansion of a binary operation on the topmost variable of `a` and `b`, memoized. */
  private apply(op: number, a: Node, b: Node): Node {
    if (a > b) [a, b] = [b, a];
    let r = this.cached(op, a, b);
    if (r >= 0) return r;
    const va = this.vars[a];
    const vb = this.vars[b];
    const v = va < vb ? va : vb;
    const a0 = va === v ? this.lows[a] : a;
    const a1 = va === v ? this.highs[a] : a;
    const b0 = vb === v ? this.lows[b] : b;
    const b1 = vb === v ? this.highs[b] : b;
    r = op === OP_AND ? this.make(v, this.and(a0, b0), this.and(a1, b1)) : this.make(v, this.or(a0, b0), this.or(a1, b1));
    this.remember(op, a, b, r);
    return r;
  }

  implies(a: Node, b: Node): Node {
    return this.or(this.not(a), b);
  }

  iff(a: Node, b: Node): Node {
    return this.and(this.implies(a, b), this.implies(b, a));
  }

  andAll(nodes: Node[]): Node {
    return this.fold(nodes, TRUE, FALSE, (a, b) => this.and(a, b));
  }

  orAll(nodes: Node[]): Node {
    return this.fold(nodes, FALSE, TRUE, (a, b) => this.or(a, b));
  }

  /** Combines nodes from `unit`, stopping early at the operation's absorbing element. */
  private fold(nodes: Node[], unit: Node, absorbing: Node, op: (a: Node, b: Node) => Node): Node {
    let r = unit;
    for (const n of nodes) {
      r = op(r, n);
      if (r === absorbing) break;
    }
    return r;
  }

  /**
   * ∃vars. a: the formula with the given variables projected away. The
   * analysis uses it to drop variables only one route mentions, so the
   * diagrams it combines speak only of what routes share.
   */
  exists(a: Node, vars: ReadonlySet<number>): Node {
    if (vars.size === 0) return a;
    const memo = new Map<Node, Node>();
    const go = (n: Node): Node => {
      if (n <= TRUE) return n;
      let r = memo.get(n);
      if (r !== undefined) return r;
      const v = this.vars[n];
      r = vars.has(v) ? this.or(go(this.lows[n]), go(this.highs[n])) : this.make(v, go(this.lows[n]), go(this.highs[n]));
      memo.set(n, r);
      return r;
    };
    return go(a);
  }

  /** A node's children: `low` when its variable is false, `high` when true (for translating diagrams elsewhere). */
  children(n: Node): [low: Node, high: Node] {
    return [this.lows[n], this.highs[n]];
  }

  /** The variable index of a node made by `newVar`. */
  varOf(n: Node): number {
    return this.vars[n];
  }

  /** The variables a diagram depends on. */
  support(n: Node): Set<number> {
    const out = new Set<number>();
    const seen = new Set<Node>();
    const stack = [n];
    while (stack.length) {
      const x = stack.pop()!;
      if (x <= TRUE || seen.has(x)) continue;
      seen.add(x);
      out.add(this.vars[x]);
      stack.push(this.lows[x], this.highs[x]);
    }
    return out;
  }

  /** The value of a diagram under an assignment; unassigned variables count as false. */
  evaluate(n: Node, assignment: Map<number, boolean>): boolean {
    while (n > TRUE) n = assignment.get(this.vars[n]) ? this.highs[n] : this.lows[n];
    return n === TRUE;
  }

  /**
   * Values for the variables `assignment` leaves open that, with it, satisfy
   * `a` (preferring false, as anySat does), or null when none do. Makes no
   * nodes, so witnesses cost nothing against the budget.
   */
  satUnder(a: Node, assignment: ReadonlyMap<number, boolean>): Map<number, boolean> | null {
    const chosen = new Map<number, boolean>();
    const dead = new Set<Node>();
    const go = (x: Node): boolean => {
      if (x === TRUE) return true;
      if (x === FALSE || dead.has(x)) return false;
      const v = this.vars[x];
      const given = assignment.get(v);
      if (given !== undefined) {
        if (go(given ? this.highs[x] : this.lows[x])) return true;
      } else if (go(this.lows[x])) {
        chosen.set(v, false);
        return true;
      } else if (go(this.highs[x])) {
        chosen.set(v, true);
        return true;
      }
      dead.add(x);
      return false;
    };
    return go(a) ? chosen : null;
  }

  /** One satisfying assignment (variable index → value) of the variables on a path to TRUE, or null. */
  anySat(a: Node): Map<number, boolean> | null {
    if (a === FALSE) return null;
    const out = new Map<number, boolean>();
    let n = a;
    while (n !== TRUE) {
      // Prefer the low branch: witnesses then set as few signals as possible.
      if (this.lows[n] !== FALSE) {
        out.set(this.vars[n], false);
        n = this.lows[n];
      } else {
        out.set(this.vars[n], true);
        n = this.highs[n];
      }
    }
    return out;
  }
}
