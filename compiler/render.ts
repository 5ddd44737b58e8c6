// Diagnostics for people (a code frame with the span underlined) and for
// machines (--format json).
import type { Diagnostic } from "./diagnostics.ts";

export interface RenderOptions {
  color?: boolean;
}

const paint = (on: boolean, code: string) => (s: string) => (on ? `\x1b[${code}m${s}\x1b[0m` : s);

/** Renders one diagnostic as a code frame; `source` is the text of `d.file` (or its lines), if known. */
export function renderDiagnostic(d: Diagnostic, source: string | readonly string[] | undefined, options: RenderOptions = {}): string {
  const c = options.color ?? false;
  const sev = d.severity === "error" ? paint(c, "1;31") : d.severity === "warning" ? paint(c, "1;33") : paint(c, "1;36");
  const dim = paint(c, "2");
  const { line, col } = d.span.start;
  const out = [`${sev(`${d.severity}[${d.code}]`)}: ${d.message}`, `  --> ${d.file}:${line}:${col}`];
  const lines = typeof source === "string" ? source.split(/\r?\n/) : source;
  const text = lines?.[line - 1];
  if (text !== undefined) {
    const gutter = String(line).length;
    const pad = " ".repeat(gutter);
    const endCol = d.span.end.line === line ? d.span.end.col : text.length + 1;
    const width = Math.max(1, endCol - col);
    const visible = text.replace(/\t/g, " ");
    out.push(dim(`${pad} |`), `${dim(`${line} |`)} ${visible}`, `${dim(`${pad} |`)} ${" ".repeat(col - 1)}${sev("^".repeat(width))}`);
  }
  if (d.help) out.push(`  = help: ${d.help}`);
  if (d.fix) out.push(`  = fix: ${d.fix.message}`);
  for (const r of d.related ?? []) out.push(`  = note: ${r.message} at ${r.file}:${r.span.start.line}:${r.span.start.col}`);
  if (d.example) out.push(`  = example request: ${JSON.stringify(d.example)}`);
  return out.join("\n");
}

export function renderDiagnostics(diags: Diagnostic[], sources: ReadonlyMap<string, string>, options: RenderOptions = {}): string {
  if (diags.length === 0) return "";
  // Each file is split into lines once, not once per diagnostic (a large policy has thousands).
  const lines = new Map<string, string[]>();
  const linesOf = (file: string) => {
    const text = sources.get(file);
    if (text === undefined) return undefined;
    let l = lines.get(file);
    if (!l) lines.set(file, (l = text.split(/\r?\n/)));
    return l;
  };
  const body = diags.map((d) => renderDiagnostic(d, linesOf(d.file), options)).join("\n\n");
  return `${body}\n\n${summary(diags)}\n`;
}

export function summary(diags: Diagnostic[]): string {
  const n = (sev: string) => diags.filter((d) => d.severity === sev).length;
  const part = (k: number, word: string) => `${k} ${word}${k === 1 ? "" : "s"}`;
  const notes = n("info");
  return `${part(n("error"), "error")}, ${part(n("warning"), "warning")}${notes ? `, ${part(notes, "note")}` : ""}`;
}

export function diagnosticsToJson(diags: Diagnostic[]): object[] {
  return diags.map((d) => ({
    code: d.code,
    severity: d.severity,
    file: d.file,
    line: d.span.start.line,
    column: d.span.start.col,
    endLine: d.span.end.line,
    endColumn: d.span.end.col,
    message: d.message,
    ...(d.help ? { help: d.help } : {}),
    ...(d.fix ? { fix: d.fix } : {}),
    ...(d.related ? { related: d.related.map((r) => ({ file: r.file, line: r.span.start.line, column: r.span.start.col, message: r.message })) } : {}),
    ...(d.example ? { example: d.example } : {}),
  }));
}
