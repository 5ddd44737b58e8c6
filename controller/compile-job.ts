// One compile, as the compile worker runs it (controller/compile-worker.ts): the
// policy's files in; diagnostics, the unsigned bundle and the rendered code frames
// of its errors out — plain data, so it crosses the thread boundary by structured clone.
import { compile, memoryHost, renderDiagnostic, type Diagnostic } from "../compiler/index.ts";
import type { AdaptationMode, Bundle } from "../bundle/index.ts";

export interface CompileJob {
  files: Record<string, string>;
  policyName: string;
  serial: number;
  /** spec.adaptation.mode, recorded in the manifest (signed, rolled out). */
  adaptation: AdaptationMode;
  allowUnproved: boolean;
  /** Emit the bundle (the reconcile); admission only checks. */
  emit: boolean;
}

/**
 * Why a compile gave no answer: the policy exhausted a limit, the compiler failed, or the caller went
 * away first (an admission request the apiserver gave up on).
 */
export type CompileFailureReason = "CompileTimedOut" | "CompileOutOfMemory" | "CompilerFailed" | "CompileAbandoned";

export type CompileOutcome =
  | { ok: true; diagnostics: Diagnostic[]; bundle: Bundle | null; errorFrames: string }
  | { ok: false; reason: CompileFailureReason; message: string };

/** Code frames of the first errors, as `routeplane check` shows them (an admission denial carries them). */
export const ERROR_FRAMES = 10;

export function runCompileJob(job: CompileJob): CompileOutcome {
  const result = compile(memoryHost(job.files), Object.keys(job.files).sort(), {
    policyName: job.policyName,
    serial: job.serial,
    adaptation: job.adaptation,
    allowUnproved: job.allowUnproved,
    emit: job.emit,
    // The sources are a bag of files: those others import (shared models) are not roots.
    importedAreNotRoots: true,
  });
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  const frames = errors.slice(0, ERROR_FRAMES).map((d) => renderDiagnostic(d, job.files[d.file]));
  if (errors.length > ERROR_FRAMES) frames.push(`… and ${errors.length - ERROR_FRAMES} more errors (routeplane lint shows all)`);
  return { ok: true, diagnostics: result.diagnostics, bundle: result.bundle ?? null, errorFrames: frames.join("\n\n") };
}
