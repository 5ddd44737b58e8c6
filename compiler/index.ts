// The .route compiler: a pipeline of named stages from source text to a bundle.
export { compile, memoryHost } from "./compile.ts";
export type { CompileOptions, CompileResult } from "./compile.ts";
export { loadSources, resolveImport, insideRoot } from "./load.ts";
export type { SourceHost, SourceSet, SourceRefusal, LoadOptions } from "./load.ts";
export { resolveProgram } from "./resolve.ts";
export type { ResolvedProgram, Located } from "./resolve.ts";
export { checkProgram } from "./check.ts";
export type { CheckedPolicy, CheckedGuarantee, CheckedTest, TestRequest, TestExpectation, Origin } from "./check.ts";
export type { CheckedSignal } from "./conditions.ts";
export type { DecisionPredicate } from "./guarantees.ts";
export { emitBundle } from "./emit.ts";
export { analyzePolicy } from "./analysis/analyze.ts";
// The analysis's decision procedure, for benchmarks that compare it with others (bench/solvers.ts).
export { RequestModel, quantityKey } from "./analysis/model.ts";
export { RouteRegions, type RegionQuery } from "./analysis/regions.ts";
export { FALSE as BDD_FALSE, TRUE as BDD_TRUE, type Node as BddNode } from "./analysis/bdd.ts";
export type { Analysis, WitnessCheck, GuaranteeResult } from "./analysis/analyze.ts";
export type { Witness } from "./analysis/model.ts";
export { diffPolicies } from "./analysis/diff.ts";
export { exampleRequest, trimExample } from "./analysis/example.ts";
export type { PolicyDiff, DecisionChange, Outcome } from "./analysis/diff.ts";
export type { EmitOptions } from "./emit.ts";
export { CATALOG, DiagnosticBag, sortDiagnostics, suggest } from "./diagnostics.ts";
export type { Diagnostic, Severity, Fix, Code, ExampleRequest } from "./diagnostics.ts";
export { renderDiagnostics, renderDiagnostic, diagnosticsToJson } from "./render.ts";
export { formatFile } from "./format.ts";
export { COMPILER_VERSION } from "./version.ts";
