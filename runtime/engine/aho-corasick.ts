// Multi-pattern matching: one pass over the text finds every keyword of
// every keyword signal, so the cost does not grow with the number of lists.

export class AhoCorasick {
  private readonly goto: Map<number, number>[] = [new Map()];
  private readonly fail: number[] = [0];
  private readonly out: number[][] = [[]];
  private readonly lengths: number[] = [];

  /** `patterns[i]` is reported as id `i`. */
  constructor(patterns: string[]) {
    patterns.forEach((p, id) => {
      this.lengths.push(p.length);
      let s = 0;
      for (let i = 0; i < p.length; i++) {
        const c = p.charCodeAt(i);
        let next = this.goto[s].get(c);
        if (next === undefined) {
          next = this.goto.length;
          this.goto.push(new Map());
          this.fail.push(0);
          this.out.push([]);
          this.goto[s].set(c, next);
        }
        s = next;
      }
      this.out[s].push(id);
    });
    // Breadth-first failure links.
    const queue: number[] = [];
    for (const s of this.goto[0].values()) queue.push(s);
    for (let q = 0; q < queue.length; q++) {
      const r = queue[q];
      for (const [c, s] of this.goto[r]) {
        queue.push(s);
        let f = this.fail[r];
        while (f !== 0 && !this.goto[f].has(c)) f = this.fail[f];
        const g = this.goto[f].get(c);
        this.fail[s] = g !== undefined && g !== s ? g : 0;
        this.out[s] = this.out[s].concat(this.out[this.fail[s]]);
      }
    }
  }

  /** Calls `onMatch(id, start)` for every occurrence; `end` is exclusive. */
  search(text: string, onMatch: (id: number, start: number, end: number) => void): void {
    let s = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      let next = this.goto[s].get(c);
      while (next === undefined && s !== 0) {
        s = this.fail[s];
        next = this.goto[s].get(c);
      }
      s = next ?? 0;
      const hits = this.out[s];
      for (let k = 0; k < hits.length; k++) {
        const id = hits[k];
        onMatch(id, i + 1 - this.lengths[id], i + 1);
      }
    }
  }
}
