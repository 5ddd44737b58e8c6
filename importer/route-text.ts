// Building .route source text: values, conditions with the fewest parentheses
// that keep their tree, and declarations. The importer writes text with these
// and then formats it with the compiler's formatter, so the output is
// canonical whatever is built here.

/** A condition as routeplane writes it. `text` leaves are printed as they are, at their precedence. */
export type RExpr =
  | { k: "leaf"; text: string; prec: 4 | 5 }
  | { k: "not"; arg: RExpr }
  | { k: "and" | "or"; left: RExpr; right: RExpr };

/** Precedence, loosest first: or 1, and 2, not 3, comparison 4, operand 5 (docs/language.md). */
function prec(e: RExpr): number {
  switch (e.k) {
    case "or": return 1;
    case "and": return 2;
    case "not": return 3;
    default: return e.prec;
  }
}

/**
 * Prints a condition. A left-nested chain `a and b and c` needs no parentheses
 * (the operators are left-associative); a right-nested one, or an `or` under an
 * `and`, keeps its parentheses, so the tree read back is the tree printed.
 */
export function printExpr(e: RExpr, min = 0): string {
  let s: string;
  switch (e.k) {
    case "leaf":
      s = e.text;
      break;
    case "not":
      s = `not ${printExpr(e.arg, 3)}`;
      break;
    case "and":
      s = `${printExpr(e.left, 2)} and ${printExpr(e.right, 3)}`;
      break;
    case "or":
      s = `${printExpr(e.left, 1)} or ${printExpr(e.right, 2)}`;
      break;
  }
  return prec(e) < min ? `(${s})` : s;
}

export const leaf = (text: string, p: 4 | 5 = 5): RExpr => ({ k: "leaf", text, prec: p });

const NUMBER = /^(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/** A number as the .route lexer reads it (a leading `-` is an operator there, and allowed before a number). */
export function numberText(n: number, written?: string): string {
  if (written !== undefined) {
    const w = written.replace(/^\+/, "");
    const abs = w.startsWith("-") ? w.slice(1) : w;
    if (NUMBER.test(abs) && Number(w) === n) return w;
  }
  const s = String(n);
  return s;
}

/**
 * A .route string literal: the lexer takes `\"`, `\\`, `\/`, `\n`, `\r`, `\t` and
 * `\uXXXX` escapes only (no `\b` or `\f`, which JSON.stringify would write).
 */
export function quote(s: string): string {
  return `"${s.replace(/[\\"\u0000-\u001f\u007f\u2028\u2029]/g, (c) => {
    switch (c) {
      case "\\": return "\\\\";
      case '"': return '\\"';
      case "\n": return "\\n";
      case "\r": return "\\r";
      case "\t": return "\\t";
      default: return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    }
  })}"`;
}

/** A value in .route syntax: strings quoted (JSON escapes), names bare, lists and blocks inline. */
export function valueText(v: unknown): string {
  if (typeof v === "string") return quote(v);
  if (typeof v === "number") return numberText(v);
  if (typeof v === "boolean") return String(v);
  if (v instanceof BareName) return v.name;
  if (Array.isArray(v)) return `[${v.map(valueText).join(", ")}]`;
  if (v && typeof v === "object") return `{ ${Object.entries(v).map(([k, x]) => `${keyText(k)}: ${valueText(x)}`).join(", ")} }`;
  throw new Error(`cannot write ${String(v)} as a .route value`);
}

/** A bare name as a value (`provider: vllm`, `mode: mask`). */
export class BareName {
  readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
}

function keyText(k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : quote(k);
}

/** `key: value` lines of a multi-line block. */
export function fieldLines(fields: Record<string, unknown>, indent = "  "): string[] {
  return Object.entries(fields).map(([k, v]) => `${indent}${keyText(k)}: ${valueText(v)}`);
}

/** A comment line (or lines) from free text: one `#` per line, never ending a line with a backslash-newline trick. */
export function commentLines(text: string, indent = ""): string[] {
  return text.split(/\r?\n|\r|\u2028|\u2029/).map((l) => l.trim()).filter((l) => l !== "").map((l) => `${indent}# ${l}`);
}
