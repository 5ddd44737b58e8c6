// lint: the pull-request check. Diagnostics and analysis findings, every
// witness confirmed by the decision engine, output for people (text), tools
// (json) or GitHub Actions (github workflow annotations).
import { diagnosticsToJson, emitBundle, exampleRequest, trimExample, type CompileResult, type Diagnostic, type ExampleRequest } from "../compiler/index.ts";
import { Engine, requestFromChat, requestFromSignals } from "../runtime/engine/index.ts";
import { compilePaths, reportDiagnostics } from "./policy-commands.ts";
import { UsageError } from "./usage.ts";
import { EXIT, type Io } from "./io.ts";
import { toSarif } from "./sarif.ts";

/** Runs each finding's witness through the engine; returns the findings whose witness the engine contradicts. */
export async function unconfirmedWitnesses(result: CompileResult): Promise<string[]> {
  if (!result.checked || !result.analysis || result.analysis.witnesses.length === 0) return [];
  // Error findings stop the real bundle; the engine only needs the lowered policy, so build one for checking.
  const bundle = result.bundle ?? emitBundle(result.checked, result.analysis);
  const engine = await Engine.load(bundle);
  const bad: string[] = [];
  for (const w of result.analysis.witnesses) {
    const d = engine.decide({ ...requestFromSignals(w.witness.signals), ...(w.profile !== undefined ? { profile: w.profile } : {}) });
    if (!w.expectRoutes.includes(d.route)) bad.push(`${w.code} (${w.subject}): the engine routed the witness to ${d.route ?? "no route"}`);
    // Where the signals allow, a real request: shown only when the engine, computing every signal from it, agrees.
    const example = w.diagnostic ? exampleRequest(w.witness, result.checked) : null;
    const holds = (e: ExampleRequest) => w.expectRoutes.includes(engine.decide({ ...requestFromChat(e.body, e.headers), ...(w.profile !== undefined ? { profile: w.profile } : {}) }).route);
    if (example && w.diagnostic && holds(example)) w.diagnostic.example = trimExample(example, holds);
  }
  return bad;
}

function githubAnnotation(d: Diagnostic): string {
  const level = d.severity === "error" ? "error" : d.severity === "warning" ? "warning" : "notice";
  const esc = (s: string) => s.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
  const prop = (s: string) => esc(s).replace(/:/g, "%3A").replace(/,/g, "%2C");
  const text = d.help ? `${d.message} (${d.help})` : d.message;
  return `::${level} file=${prop(d.file)},line=${d.span.start.line},col=${d.span.start.col},endLine=${d.span.end.line},endColumn=${d.span.end.col},title=${prop(d.code)}::${esc(text)}`;
}

export async function cmdLint(io: Io, paths: string[], opts: { format?: string; "max-warnings"?: string }): Promise<number> {
  const format = opts.format ?? "text";
  if (!["text", "json", "sarif", "github"].includes(format)) throw new UsageError(`--format must be text, json, sarif or github, not ${format}`);
  const maxWarnings = opts["max-warnings"] === undefined ? Infinity : Number(opts["max-warnings"]);
  if (!Number.isInteger(maxWarnings) && maxWarnings !== Infinity) throw new UsageError(`--max-warnings takes a whole number, not ${opts["max-warnings"]}`);
  const result = compilePaths(paths, false);
  const unconfirmed = await unconfirmedWitnesses(result);
  const errors = result.diagnostics.filter((d) => d.severity === "error").length;
  const warnings = result.diagnostics.filter((d) => d.severity === "warning").length;
  if (format === "json") {
    io.out(JSON.stringify({ diagnostics: diagnosticsToJson(result.diagnostics), coverage: result.analysis?.coverage ?? null, unconfirmedWitnesses: unconfirmed }, null, 2));
  } else if (format === "sarif") {
    io.out(JSON.stringify(toSarif(result.diagnostics), null, 2));
  } else if (format === "github") {
    for (const d of result.diagnostics) io.out(githubAnnotation(d));
  } else {
    reportDiagnostics(io, result, "text", { notes: true });
    if (result.analysis?.complete) io.out(`coverage: ${result.analysis.coverage}`);
    const notes = result.diagnostics.length - errors - warnings;
    if (errors + warnings === 0) io.out(`lint: clean (${result.checked?.routes.length ?? 0} routes${result.analysis?.complete ? ", analysis complete" : ""}${notes ? `, ${notes} note${notes === 1 ? "" : "s"}` : ""})`);
  }
  // A witness the engine contradicts is a bug in the analysis, never the user's: say so loudly.
  for (const u of unconfirmed) io.err(`routeplane lint: internal error: ${u}`);
  if (errors > 0 || unconfirmed.length > 0) return EXIT.failed;
  if (warnings > maxWarnings) {
    if (format === "text" || format === "github") io.err(`lint: ${warnings} warning${warnings === 1 ? "" : "s"}, more than --max-warnings ${maxWarnings}`);
    return EXIT.failed;
  }
  return EXIT.ok;
}
