// The compiler as a table of named stages, each its own module and testable
// alone: load (read + parse + imports) → resolve → check → analyze → emit. Diagnostics
// are collected across stages; emit runs only when no error was found.
import type { PolicyFile } from "../grammar/index.ts";
import type { Bundle } from "../bundle/index.ts";
import { DiagnosticBag, sortDiagnostics, type Diagnostic } from "./diagnostics.ts";
import { loadSources, type LoadOptions, type SourceHost, type SourceSet } from "./load.ts";
import { resolveProgram, type ResolvedProgram } from "./resolve.ts";
import { checkProgram, type CheckedPolicy } from "./check.ts";
import { emitBundle, type EmitOptions } from "./emit.ts";
import { analyzePolicy, type Analysis } from "./analysis/analyze.ts";
import { reportUnproved } from "./guarantees.ts";

export interface CompileOptions extends EmitOptions, LoadOptions {
  /** Stop after checking (for `check`, `fmt`, editors). */
  emit?: boolean;
  /**
   * Skip the analysis (`diff`, which compares decisions, not findings): the bundle then
   * records every analysis check and guarantee as unchecked. Default true.
   */
  analyze?: boolean;
  /** A guarantee the analysis could not prove is a warning, not error RP1017 (`compile --allow-unproved`). */
  allowUnproved?: boolean;
}

export interface CompileResult {
  diagnostics: Diagnostic[];
  files: PolicyFile[];
  program: ResolvedProgram | null;
  checked: CheckedPolicy | null;
  /** Null when errors before the analysis made it pointless. */
  analysis: Analysis | null;
  bundle: Bundle | null;
  /** Milliseconds per stage, in order. */
  timings: { stage: string; ms: number }[];
}

interface State {
  host: SourceHost;
  roots: string[];
  options: CompileOptions;
  diags: DiagnosticBag;
  sources?: SourceSet;
  program?: ResolvedProgram;
  checked?: CheckedPolicy;
  analysis?: Analysis;
  bundle?: Bundle;
}

const STAGES: { name: string; run: (s: State) => void }[] = [
  { name: "load", run: (s) => (s.sources = loadSources(s.host, s.roots, s.diags, { root: s.options.root, importedAreNotRoots: s.options.importedAreNotRoots })) },
  { name: "resolve", run: (s) => (s.program = resolveProgram(s.sources!, s.diags)) },
  { name: "check", run: (s) => (s.checked = checkProgram(s.program!, s.diags)) },
  {
    name: "analyze",
    run: (s) => {
      if (s.options.analyze === false) {
        if (s.diags.errorCount === 0) s.analysis = notAnalysed(s.checked!);
        return;
      }
      // Reasoning about a policy that does not type-check would only repeat its errors.
      if (s.diags.errorCount === 0) s.analysis = analyzePolicy(s.checked!, s.diags);
      if (s.analysis) reportUnproved(s.checked!, s.analysis, s.diags, s.options.allowUnproved === true);
    },
  },
  {
    name: "emit",
    run: (s) => {
      if (s.options.emit !== false && s.diags.errorCount === 0) s.bundle = emitBundle(s.checked!, s.analysis!, s.options);
    },
  },
];

function notAnalysed(checked: CheckedPolicy): Analysis {
  const detail = "not analysed (compiled with analyze: false)";
  return { complete: false, witnesses: [], guarantees: checked.guarantees.map((g) => ({ name: g.name, status: "unchecked", detail })), bddNodes: 0, coverage: detail };
}

export function compile(host: SourceHost, roots: string[], options: CompileOptions = {}): CompileResult {
  const state: State = { host, roots, options, diags: new DiagnosticBag() };
  const timings: { stage: string; ms: number }[] = [];
  for (const stage of STAGES) {
    const t0 = performance.now();
    stage.run(state);
    timings.push({ stage: stage.name, ms: performance.now() - t0 });
  }
  return {
    diagnostics: sortDiagnostics(state.diags.items),
    files: state.sources?.files ?? [],
    program: state.program ?? null,
    checked: state.checked ?? null,
    analysis: state.analysis ?? null,
    bundle: state.bundle ?? null,
    timings,
  };
}

/** A host over an in-memory map of path → text (tests, the controller, the embedded demo). */
export function memoryHost(files: Record<string, string>): SourceHost {
  return { readFile: (p) => files[p] };
}
