// A user's mistake is a Diagnostic value, collected and returned, never
// thrown. Every code comes from CATALOG, so codes stay stable and every one
// is documented (docs/language.md) and tested (test/diagnostics/).
import type { Span } from "../grammar/index.ts";
import { closest, distance } from "fastest-levenshtein";

export type Severity = "error" | "warning" | "info";

export interface Fix {
  /** What the fix does, e.g. "replace with `urgent`". */
  message: string;
  /** Text that replaces `span` (the diagnostic's own span when absent). */
  replacement?: string;
  span?: Span;
}

export interface Diagnostic {
  code: string;
  severity: Severity;
  file: string;
  span: Span;
  message: string;
  help?: string;
  fix?: Fix;
  related?: { file: string; span: Span; message: string }[];
  /** A concrete request that shows the finding (an OpenAI chat body and headers), confirmed by the engine; set by `lint`. */
  example?: ExampleRequest;
}

export interface ExampleRequest {
  body: { messages: { role: "user"; content: string }[]; metadata?: Record<string, string> };
  headers: Record<string, string>;
}

interface CodeInfo {
  severity: Severity;
  title: string;
}

/** The stable catalog of diagnostic codes. Never renumber; retire codes instead. */
export const CATALOG = {
  RP0001: { severity: "error", title: "invalid character" },
  RP0002: { severity: "error", title: "unexpected token" },
  RP0003: { severity: "error", title: "unexpected end of block" },
  RP0004: { severity: "error", title: "unterminated string" },
  RP0005: { severity: "error", title: "source over a size or nesting limit" },
  RP0101: { severity: "error", title: "imported file not found" },
  RP0102: { severity: "error", title: "import cycle" },
  RP0103: { severity: "error", title: "missing package declaration" },
  RP0104: { severity: "error", title: "more than one package declaration" },
  RP0105: { severity: "error", title: "files of one policy declare different packages" },
  RP0106: { severity: "error", title: "cannot read policy source" },
  RP0107: { severity: "error", title: "file outside the policy root" },
  RP0108: { severity: "error", title: "policy source refused" },
  RP0201: { severity: "error", title: "duplicate definition" },
  RP0202: { severity: "error", title: "unknown signal type" },
  RP0203: { severity: "error", title: "unknown plugin type" },
  RP0204: { severity: "error", title: "undefined signal" },
  RP0205: { severity: "error", title: "undefined model" },
  RP0206: { severity: "error", title: "undefined plugin" },
  RP0207: { severity: "error", title: "undefined route" },
  RP0208: { severity: "error", title: "reserved name" },
  RP0209: { severity: "error", title: "undefined profile" },
  RP0310: { severity: "error", title: "profiles that claim the same requests" },
  RP0301: { severity: "error", title: "invalid field value" },
  RP0302: { severity: "error", title: "unknown field" },
  RP0303: { severity: "error", title: "missing field" },
  RP0304: { severity: "error", title: "invalid regular expression" },
  RP0305: { severity: "error", title: "duplicate field" },
  RP0306: { severity: "error", title: "expression not allowed here" },
  RP0307: { severity: "error", title: "value unsafe to send upstream" },
  RP0308: { severity: "error", title: "invalid derived score" },
  RP0309: { severity: "error", title: "invalid partition" },
  RP0401: { severity: "error", title: "unknown signal output" },
  RP0402: { severity: "error", title: "type mismatch in condition" },
  RP0403: { severity: "error", title: "value the signal can never have" },
  RP0404: { severity: "warning", title: "comparison outside the output's range" },
  RP0405: { severity: "error", title: "decision property outside a guarantee" },
  RP0406: { severity: "error", title: "non-boolean used as a condition" },
  RP0501: { severity: "error", title: "route without a condition" },
  RP0502: { severity: "error", title: "route without a model" },
  RP0503: { severity: "error", title: "statement repeated in a route" },
  RP0504: { severity: "error", title: "unknown selection algorithm" },
  RP0505: { severity: "error", title: "invalid adaptive objective" },
  RP0506: { severity: "error", title: "adaptation bounds cannot be met" },
  RP0507: { severity: "error", title: "weights do not match models" },
  RP0508: { severity: "error", title: "invalid priority" },
  RP0509: { severity: "error", title: "cycle in route tie-breaks" },
  RP0510: { severity: "error", title: "tie-break across different priorities" },
  RP0511: { severity: "error", title: "more than one default" },
  RP0512: { severity: "error", title: "condition in the default route" },
  RP0601: { severity: "error", title: "invalid guarantee" },
  RP0701: { severity: "error", title: "incomplete test" },
  RP0702: { severity: "error", title: "invalid test request" },
  RP1001: { severity: "warning", title: "route can never match" },
  RP1002: { severity: "warning", title: "shadowed route" },
  RP1003: { severity: "error", title: "ambiguous overlap at equal priority" },
  RP1004: { severity: "warning", title: "requests that reach no route and no default" },
  RP1005: { severity: "warning", title: "unused signal" },
  RP1006: { severity: "warning", title: "unused model" },
  RP1007: { severity: "warning", title: "unused plugin" },
  RP1008: { severity: "error", title: "guarantee does not hold" },
  RP1009: { severity: "warning", title: "analysis incomplete" },
  RP1010: { severity: "warning", title: "fallback chain repeats a model" },
  RP1011: { severity: "warning", title: "conflicting plugins" },
  RP1012: { severity: "warning", title: "redundant route" },
  RP1013: { severity: "warning", title: "plugins after a plugin that always blocks" },
  RP1014: { severity: "info", title: "requests longer than the route's context windows" },
  RP1015: { severity: "info", title: "partially shadowed route" },
  RP1016: { severity: "error", title: "contradictory assumptions" },
  RP1017: { severity: "error", title: "guarantee not proved" },
} as const satisfies Record<string, CodeInfo>;

export type Code = keyof typeof CATALOG;

/** Collects diagnostics for one compile run. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  add(code: Code, file: string, span: Span, message: string, extra: Partial<Pick<Diagnostic, "help" | "fix" | "related">> & { severity?: Severity } = {}): Diagnostic {
    const { severity, ...rest } = extra;
    const d: Diagnostic = { code, severity: severity ?? CATALOG[code].severity, file, span, message, ...rest };
    this.items.push(d);
    return d;
  }

  get errorCount(): number {
    return this.items.filter((d) => d.severity === "error").length;
  }
}

/** The start of a file: where file-level diagnostics (no package, unreadable) point. */
export const FILE_START: Span = { start: { offset: 0, line: 1, col: 1 }, end: { offset: 0, line: 1, col: 1 } };

/** "did you mean" for a misspelt name: the nearest candidate, if near enough. */
export function suggest(name: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates];
  if (list.length === 0) return undefined;
  const best = closest(name, list);
  const limit = Math.max(1, Math.floor(Math.max(name.length, best.length) / 3));
  return distance(name, best) <= limit ? best : undefined;
}

/** A fix that replaces a misspelt name, with its help line. */
export function didYouMean(name: string, candidates: Iterable<string>, span: Span): Pick<Diagnostic, "help" | "fix"> {
  const best = suggest(name, candidates);
  if (best === undefined) return {};
  return { help: `did you mean \`${best}\`?`, fix: { message: `replace with \`${best}\``, replacement: best, span } };
}

/** `didYouMean`, or `fallback` as the help when no candidate is near enough. */
export function didYouMeanOr(name: string, candidates: Iterable<string>, span: Span, fallback: string): Pick<Diagnostic, "help" | "fix"> {
  const hint = didYouMean(name, candidates, span);
  return { ...hint, help: hint.help ?? fallback };
}

/** Orders diagnostics by file, then position, then code, so output is stable. */
export function sortDiagnostics(items: Diagnostic[]): Diagnostic[] {
  return [...items].sort(
    (a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0) || a.span.start.offset - b.span.start.offset || a.code.localeCompare(b.code),
  );
}
