// Multi-pattern matching: one pass over the text finds every keyword of
// every keyword signal (and every regex's required literal), so the cost
// does not grow with the number of lists. The automaton is compiled to a
// dense DFA over the characters that occur in the patterns: one table read
// per character of text.

export class AhoCorasick {
  /** ASCII character code → class (0: a character no pattern contains); a small table stays in cache. */
  private readonly asciiClass = new Uint16Array(128);
  /** The same for the rest of Unicode. */
  private readonly otherClass = new Map<number, number>();
  private readonly classes: number;
  /** delta[state * classes + class] → next state. */
  private readonly delta: Uint16Array | Int32Array;
  /** Pattern ids ending at each state (including via failure links). */
  private readonly out: number[][];
  private readonly lengths: number[];
  /** 1 where some pattern ends: the common state needs no array access. */
  private readonly accepting: Uint8Array;

  /**
   * `patterns[i]` is reported as id `i`. With `foldCase`, patterns must be
   * lower-case and each upper-case letter falls in its lower-case letter's
   * class, so the text is matched case-insensitively without being copied.
   * `aliases` (character → character of the patterns) puts more text
   * characters in a pattern character's class, the same way.
   */
  constructor(patterns: string[], foldCase = false, aliases: Readonly<Record<string, string>> = {}) {
    let next = 1;
    const assign = (code: number, cls: number) => {
      if (code < 128) this.asciiClass[code] = cls;
      else this.otherClass.set(code, cls);
    };
    for (const p of patterns) {
      for (let i = 0; i < p.length; i++) {
        const code = p.charCodeAt(i);
        if (this.classOf(code) !== 0) continue;
        const cls = next++;
        assign(code, cls);
        if (foldCase) {
          const upper = String.fromCharCode(code).toUpperCase();
          if (upper.length === 1 && upper.charCodeAt(0) !== code && upper.toLowerCase() === String.fromCharCode(code)) assign(upper.charCodeAt(0), cls);
        }
      }
    }
    for (const [from, to] of Object.entries(aliases)) {
      const cls = this.classOf(to.charCodeAt(0));
      if (cls !== 0 && this.classOf(from.charCodeAt(0)) === 0) assign(from.charCodeAt(0), cls);
    }
    this.classes = next;
    this.lengths = patterns.map((p) => p.length);
    // Trie with sparse children first.
    const children: Map<number, number>[] = [new Map()];
    const out: number[][] = [[]];
    patterns.forEach((p, id) => {
      let s = 0;
      for (let i = 0; i < p.length; i++) {
        const c = this.classOf(p.charCodeAt(i));
        let t = children[s].get(c);
        if (t === undefined) {
          t = children.length;
          children.push(new Map());
          out.push([]);
          children[s].set(c, t);
        }
        s = t;
      }
      out[s].push(id);
    });
    // Breadth-first: failure links folded into a full transition table. States
    // are renumbered in breadth-first order, so the shallow states most text
    // stays in, share cache lines, and the table is 16-bit when it can be: a
    // request scans it with cold caches (other processes ran in between), and
    // every line it touches is a miss.
    const k = this.classes;
    const order: number[] = [0];
    const fail = new Int32Array(children.length);
    const trieDelta = new Int32Array(children.length * k);
    for (let q = 0; q < order.length; q++) {
      const r = order[q];
      if (r !== 0) out[r] = out[r].concat(out[fail[r]].filter((id) => !out[r].includes(id)));
      for (let c = 0; c < k; c++) {
        const t = children[r].get(c);
        if (t === undefined) {
          trieDelta[r * k + c] = r === 0 ? 0 : trieDelta[fail[r] * k + c];
        } else {
          trieDelta[r * k + c] = t;
          fail[t] = r === 0 ? 0 : trieDelta[fail[r] * k + c];
          order.push(t);
        }
      }
    }
    const renumber = new Int32Array(children.length);
    order.forEach((old, at) => (renumber[old] = at));
    const delta = children.length <= 0x10000 ? new Uint16Array(children.length * k) : new Int32Array(children.length * k);
    for (let at = 0; at < order.length; at++) {
      const old = order[at];
      for (let c = 0; c < k; c++) delta[at * k + c] = renumber[trieDelta[old * k + c]];
    }
    this.delta = delta;
    this.out = order.map((old) => out[old]);
    this.accepting = Uint8Array.from(this.out, (o) => (o.length > 0 ? 1 : 0));
  }

  private classOf(code: number): number {
    return code < 128 ? this.asciiClass[code] : (this.otherClass.get(code) ?? 0);
  }

  /** Calls `onMatch(id, start, end)` for every occurrence; `end` is exclusive. */
  search(text: string, onMatch: (id: number, start: number, end: number) => void): void {
    const { delta, asciiClass, otherClass, classes, out, lengths, accepting } = this;
    let s = 0;
    for (let i = 0; i < text.length; i++) {
      const code = text.charCodeAt(i);
      s = delta[s * classes + (code < 128 ? asciiClass[code] : (otherClass.get(code) ?? 0))];
      if (accepting[s] === 0) continue;
      const hits = out[s];
      for (let j = 0; j < hits.length; j++) onMatch(hits[j], i + 1 - lengths[hits[j]], i + 1);
    }
  }
}
