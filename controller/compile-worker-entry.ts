// The compile worker's thread (controller/compile-worker.ts starts it): one job at a time, in order.
import { parentPort } from "node:worker_threads";
import { runCompileJob, type CompileJob, type CompileOutcome } from "./compile-job.ts";

parentPort!.on("message", ({ id, job }: { id: number; job: CompileJob }) => {
  let outcome: CompileOutcome;
  try {
    outcome = runCompileJob(job);
  } catch (err) {
    outcome = { ok: false, reason: "CompilerFailed", message: `the compiler failed: ${(err as Error).message}` };
  }
  try {
    parentPort!.postMessage({ id, outcome });
  } catch (err) {
    parentPort!.postMessage({ id, outcome: { ok: false, reason: "CompilerFailed", message: `the compiler's answer could not be passed back: ${(err as Error).message}` } });
  }
});
