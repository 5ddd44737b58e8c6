// The canonical formatter behind `routeplane fmt`. It reprints the AST and
// weaves the comments back in by position: a comment on its own line stays
// on its own line before the code that followed it; a comment after code
// stays at the end of that code's line. fmt(fmt(x)) === fmt(x).
import type {
  Block, Comment, Expr, ExpectItem, Field, ObjectValue, PolicyFile, RouteStmt, Span, TestStmt, Value,
} from "../grammar/index.ts";

const INDENT = "  ";

class Printer {
  readonly out: string[] = [];
  private readonly comments: Comment[];
  private next = 0;
  private lastLine = 0; // last source line printed, for blank-line preservation
  depth = 0;

  constructor(comments: Comment[]) {
    this.comments = comments;
  }

  private emit(text: string): void {
    this.out.push(INDENT.repeat(this.depth) + text);
  }

  private blankIfGap(line: number): void {
    const prev = this.out[this.out.length - 1];
    if (this.lastLine > 0 && line > this.lastLine + 1 && prev !== undefined && prev !== "" && !prev.endsWith("{")) this.out.push("");
  }

  /** Prints comments that come before `offset` in the source. */
  flush(offset: number): void {
    while (this.next < this.comments.length && this.comments[this.next].span.start.offset < offset) {
      const c = this.comments[this.next++];
      if (c.trailing && this.out.length > 0 && this.out[this.out.length - 1] !== "") {
        this.out[this.out.length - 1] += `  ${c.text}`;
      } else {
        this.blankIfGap(c.span.start.line);
        this.emit(c.text);
      }
      this.lastLine = Math.max(this.lastLine, c.span.end.line);
    }
  }

  /** Ends the current group: trailing comments stay on their line, then one blank line. */
  separate(before: number): void {
    while (this.next < this.comments.length && this.comments[this.next].trailing && this.comments[this.next].span.start.offset < before) {
      this.flush(this.comments[this.next].span.end.offset);
    }
    if (this.out.length > 0 && this.out[this.out.length - 1] !== "") this.out.push("");
  }

  /** Prints one line of code standing for `span`. */
  line(text: string, span: Span, endLine = span.end.line): void {
    this.flush(span.start.offset);
    this.blankIfGap(span.start.line);
    this.emit(text);
    this.lastLine = endLine;
  }

  /** Whether any comment lies inside the span (then it must print on several lines). */
  hasCommentIn(span: Span): boolean {
    for (let i = this.next; i < this.comments.length; i++) {
      const o = this.comments[i].span.start.offset;
      if (o >= span.end.offset) return false;
      if (o > span.start.offset) return true;
    }
    return false;
  }
}

export function formatFile(file: PolicyFile): string {
  const p = new Printer(file.comments);
  const src = file.source;
  const heads = alignedHeads(file);
  let prev: Block | null = null;
  for (const block of file.blocks) {
    // Multi-line blocks, and changes of kind, always stand apart.
    if (prev && (printsMultiLine(prev, file.comments) || printsMultiLine(block, file.comments) || prev.kind !== block.kind)) {
      p.separate(block.span.start.offset);
    }
    printBlock(p, block, src, heads.get(block));
    prev = block;
  }
  p.flush(Infinity);
  return p.out.join("\n").replace(/\n{3,}/g, "\n\n") + "\n";
}

function printsMultiLine(b: Block, comments: Comment[]): boolean {
  switch (b.kind) {
    case "package":
    case "import":
      return false;
    case "model":
    case "signal":
    case "plugin":
    case "profile":
      return !oneLine(b.body.span) || commentInside(comments, b.body.span);
    case "route":
    case "default":
      return !oneLine(b.bodySpan) || commentInside(comments, b.bodySpan) || b.body.length > 3;
    case "test":
      return !oneLine(b.span) || commentInside(comments, b.span) || b.body.length > 3;
    case "guarantee":
    case "assume":
      return true;
  }
}

/** True when a comment starts strictly inside the span (comments are sorted by offset). */
function commentInside(comments: Comment[], span: Span): boolean {
  let lo = 0;
  let hi = comments.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (comments[mid].span.start.offset <= span.start.offset) lo = mid + 1;
    else hi = mid;
  }
  return lo < comments.length && comments[lo].span.start.offset < span.end.offset;
}

/**
 * Consecutive one-line `signal` (or `plugin`) declarations on adjacent lines
 * are aligned in columns, as authors tend to write them.
 */
function alignedHeads(file: PolicyFile): Map<Block, string> {
  const heads = new Map<Block, string>();
  type Decl = Extract<Block, { kind: "signal" | "plugin" }>;
  let run: Decl[] = [];
  const close = () => {
    if (run.length > 1) {
      const wt = Math.max(...run.map((b) => b.type.name.length));
      const wn = Math.max(...run.map((b) => b.name.name.length));
      for (const b of run) heads.set(b, `${b.kind} ${b.type.name.padEnd(wt)} ${b.name.name.padEnd(wn)}`);
    }
    run = [];
  };
  for (const b of file.blocks) {
    // Exactly the blocks printObjectBlock prints on one line, however the source spread them.
    const inline = (b.kind === "signal" || b.kind === "plugin") && !printsMultiLine(b, file.comments);
    if (!inline) {
      close();
      continue;
    }
    const prev = run[run.length - 1];
    if (prev && (prev.kind !== b.kind || b.span.start.line > prev.span.end.line + 1)) close();
    run.push(b as Decl);
  }
  close();
  return heads;
}

function printBlock(p: Printer, b: Block, src: string, alignedHead?: string): void {
  switch (b.kind) {
    case "package":
      return p.line(`package ${b.name.name}`, b.span);
    case "import":
      return p.line(`import ${str(b.path.value)}`, b.span);
    case "model":
      return printObjectBlock(p, `model ${b.name.name}`, b.body, b.span, src);
    case "profile":
      return printObjectBlock(p, `profile ${b.name.name}`, b.body, b.span, src);
    case "signal":
    case "plugin":
      return printObjectBlock(p, alignedHead ?? `${b.kind} ${b.type.name} ${b.name.name}`, b.body, b.span, src);
    case "route": {
      const before = b.before.length ? ` before ${b.before.map((n) => n.name).join(", ")}` : "";
      const profile = b.profile ? ` in ${b.profile.name}` : "";
      return printStmtBlock(p, `route ${b.name.name}${profile} priority ${num(b.priority.value, b.priority.span, src)}${before}`, b.body, b.span, b.bodySpan, src, "; ", routeStmt);
    }
    case "default":
      return printStmtBlock(p, b.profile ? `default in ${b.profile.name}` : "default", b.body, b.span, b.bodySpan, src, "; ", routeStmt);
    case "guarantee":
    case "assume": {
      p.line(`${b.kind} ${str(b.name.value)} {`, b.span, b.name.span.end.line);
      p.depth++;
      if (b.when) p.line(`when ${expr(b.when, src)}`, b.when.span);
      p.line(`require ${expr(b.require, src)}`, b.require.span);
      p.flush(b.span.end.offset);
      p.depth--;
      p.line("}", endSpan(b.span));
      return;
    }
    case "test":
      return printStmtBlock(p, `test ${str(b.name.value)}`, b.body, b.span, b.span, src, " ", testStmt);
  }
}

function endSpan(span: Span): Span {
  return { start: { ...span.end, offset: span.end.offset - 1, col: span.end.col - 1 }, end: span.end };
}

function oneLine(span: Span): boolean {
  return span.start.line === span.end.line;
}

function printObjectBlock(p: Printer, head: string, body: ObjectValue, span: Span, src: string): void {
  if (oneLine(body.span) && !p.hasCommentIn(body.span)) {
    p.line(`${head} ${value(body, src)}`, span);
    return;
  }
  p.line(`${head} {`, span, body.span.start.line);
  p.depth++;
  for (const f of body.fields) printField(p, f, src);
  p.flush(body.span.end.offset);
  p.depth--;
  p.line("}", endSpan(body.span));
}

function printField(p: Printer, f: Field, src: string): void {
  if (f.value.kind === "object" && !(oneLine(f.value.span) && !p.hasCommentIn(f.value.span))) {
    printObjectBlock(p, `${key(f.key.name)}:`, f.value, f.span, src);
    return;
  }
  if (f.value.kind === "list" && !oneLine(f.value.span) && f.value.items.length > 0) {
    // A list the author spread over lines stays one item per line.
    p.line(`${key(f.key.name)}: [`, f.span, f.value.span.start.line);
    p.depth++;
    for (const item of f.value.items) p.line(`${value(item, src)},`, item.span);
    p.flush(f.value.span.end.offset);
    p.depth--;
    p.line("]", endSpan(f.value.span));
    return;
  }
  p.line(`${key(f.key.name)}: ${value(f.value, src)}`, f.span);
}

function printStmtBlock<S extends { kind: string; span: Span }>(
  p: Printer, head: string, body: S[], span: Span, bodySpan: Span, src: string, sep: string,
  render: (s: S, src: string) => string,
): void {
  if (oneLine(bodySpan) && !p.hasCommentIn(bodySpan) && body.length <= 3) {
    p.line(`${head} { ${body.map((s) => render(s, src)).join(sep)} }`, span);
    return;
  }
  p.line(`${head} {`, span, bodySpan.start.line);
  p.depth++;
  for (const s of body) {
    if (s.kind === "select" || s.kind === "request") {
      const obj = (s as unknown as { body: ObjectValue }).body;
      const lead = s.kind === "select" ? `select ${(s as unknown as { algorithm: { name: string } }).algorithm.name}` : "request";
      printObjectBlock(p, lead, obj, s.span, src);
    } else {
      p.line(render(s, src), s.span);
    }
  }
  p.flush(span.end.offset);
  p.depth--;
  p.line("}", endSpan(span));
}

function routeStmt(s: RouteStmt, src: string): string {
  switch (s.kind) {
    case "when":
      return `when ${expr(s.expr, src)}`;
    case "use":
      return `use ${s.models.map((m, i) => (s.params[i] ? `${m.name} ${value(s.params[i]!, src)}` : m.name)).join(" fallback ")}`;
    case "select":
      return `select ${s.algorithm.name} ${value(s.body, src)}`;
    case "apply":
      return `apply ${s.plugins.map((a) => (a.overrides ? `${a.name.name} ${value(a.overrides, src)}` : a.name.name)).join(", ")}`;
  }
}

function testStmt(s: TestStmt, src: string): string {
  if (s.kind === "request") return `request ${value(s.body, src)}`;
  return `expect ${s.items.map((i) => expectItem(i, src)).join(", ")}`;
}

function expectItem(i: ExpectItem, src: string): string {
  switch (i.kind) {
    case "route":
    case "model":
      return `${i.kind} ${i.target.name}`;
    case "plugins":
      return `plugins ${value(i.list, src)}`;
    default:
      return i.kind;
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const KEYWORDS = new Set(["package", "import", "model", "signal", "plugin", "route", "default", "guarantee", "assume", "test", "when", "use", "fallback", "select", "apply", "and", "or", "not", "in", "true", "false"]);

function key(k: string): string {
  // `default` is a keyword the grammar also takes as a field name (a partition's).
  return IDENT.test(k) && (!KEYWORDS.has(k) || k === "default" || k === "model") ? k : str(k);
}

/**
 * A string literal the lexer reads back: JSON's quoting, except that JSON's
 * short escapes the lexer does not know (`\b`, `\f`) are written as `\u` escapes.
 */
export function str(s: string): string {
  return JSON.stringify(s).replace(/\\(\\|b|f)/g, (m, c: string) => (c === "b" ? "\\u0008" : c === "f" ? "\\u000c" : m));
}

/** Numbers keep the text the author wrote (`0.10` stays `0.10`). */
function num(_n: number, span: Span, src: string): string {
  return src.slice(span.start.offset, span.end.offset).replace(/\s+/g, "");
}

function value(v: Value, src: string): string {
  switch (v.kind) {
    case "string":
      return str(v.value);
    case "number":
      return num(v.value, v.span, src);
    case "bool":
      return String(v.value);
    case "ident":
      return v.name;
    case "list":
      return `[${v.items.map((i) => value(i, src)).join(", ")}]`;
    case "object":
      return v.fields.length === 0 ? "{}" : `{ ${v.fields.map((f) => `${key(f.key.name)}: ${value(f.value, src)}`).join(", ")} }`;
    case "arith": {
      // The parser drops parentheses in arithmetic; put back the ones precedence needs.
      const wrap = (x: Value, tight: boolean) => (tight ? `(${value(x, src)})` : value(x, src));
      const additive = (x: Value) => x.kind === "arith" && (x.op === "+" || x.op === "-");
      const leftTight = (v.op === "*" || v.op === "/") && additive(v.left);
      const rightTight = v.right.kind === "arith" && (v.op === "/" || ((v.op === "-" || v.op === "*") && additive(v.right)));
      return `${wrap(v.left, leftTight)} ${v.op} ${wrap(v.right, rightTight)}`;
    }
  }
}

function expr(e: Expr, src: string): string {
  switch (e.kind) {
    case "ref":
      return e.path.map((n) => n.name).join(".");
    case "literal":
      return value(e.value, src);
    case "paren":
      return `(${expr(e.expr, src)})`;
    case "not":
      return `not ${expr(e.arg, src)}`;
    case "and":
    case "or":
      return `${expr(e.left, src)} ${e.kind} ${expr(e.right, src)}`;
    case "compare":
      return `${expr(e.left, src)} ${e.op} ${expr(e.right, src)}`;
    case "applies":
      return `applies ${e.plugin.name}`;
  }
}
