// A reduced ordered binary decision diagram package: the exact decision
// procedure behind the policy analysis. Nodes are hash-consed, so two
// formulas are equivalent exactly when they are the same node, and
// satisfiability is `node !== FALSE`.

export type Node = number;

export const FALSE: Node = 0;
export const TRUE: Node = 1;

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
  private readonly unique = new Map<string, Node>();
  private readonly andCache = new Map<string, Node>();
  private readonly orCache = new Map<string, Node>();
  private readonly notCache = new Map<Node, Node>();
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

  private make(v: number, low: Node, high: Node): Node {
    if (low === high) return low;
    const key = `${v},${low},${high}`;
    let n = this.unique.get(key);
    if (n === undefined) {
      n = this.vars.length;
      if (n >= this.maxNodes) throw new BddBudgetExceeded(`more than ${this.maxNodes} decision-diagram nodes`);
      this.vars.push(v);
      this.lows.push(low);
      this.highs.push(high);
      this.unique.set(key, n);
    }
    return n;
  }

  not(a: Node): Node {
    if (a === FALSE) return TRUE;
    if (a === TRUE) return FALSE;
    let r = this.notCache.get(a);
    if (r === undefined) {
      r = this.make(this.vars[a], this.not(this.lows[a]), this.not(this.highs[a]));
      this.notCache.set(a, r);
    }
    return r;
  }

  and(a: Node, b: Node): Node {
    if (a === FALSE || b === FALSE) return FALSE;
    if (a === TRUE) return b;
    if (b === TRUE || a === b) return a;
    return this.apply(a, b, this.andCache, (x, y) => this.and(x, y));
  }

  or(a: Node, b: Node): Node {
    if (a === TRUE || b === TRUE) return TRUE;
    if (a === FALSE) return b;
    if (b === FALSE || a === b) return a;
    return this.apply(a, b, this.orCache, (x, y) => this.or(x, y));
  }

  /** Shannon expansion of a binary operation on the topmost variable of `a` and `b`, memoized. */
  private apply(a: Node, b: Node, cache: Map<string, Node>, op: (x: Node, y: Node) => Node): Node {
    if (a > b) [a, b] = [b, a];
    const key = `${a},${b}`;
    let r = cache.get(key);
    if (r !== undefined) return r;
    const va = this.vars[a];
    const vb = this.vars[b];
    const v = Math.min(va, vb);
    const [a0, a1] = va === v ? [this.lows[a], this.highs[a]] : [a, a];
    const [b0, b1] = vb === v ? [this.lows[b], this.highs[b]] : [b, b];
    r = this.make(v, op(a0, b0), op(a1, b1));
    cache.set(key, r);
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
