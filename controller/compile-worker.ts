// Compiling off the controller's main thread (ADR 16). The compiler runs in a
// worker thread that starts on the first compile and exits after a quiet
// spell, so:
//   - the controller's memory between changes is what it serves, not what it
//     last compiled (the compiler's modules and every compile's garbage live
//     in the worker's isolate and go with it);
//   - the event loop keeps answering sidecars, probes and other webhooks while
//     a large policy compiles;
//   - a policy that exhausts the compiler — longer than the time limit, more
//     than the memory limit — costs that compile (a CompileTimedOut or
//     CompileOutOfMemory outcome naming the limit), not the controller.
// Jobs run one at a time, in order: the reconcile and the admission webhook
// share the worker. A job whose caller went away (its signal aborted: the
// apiserver gave up on an admission request) is dropped from the queue, or
// stopped if it runs, so abandoned requests cannot pile up compile work ahead
// of everyone else's.
import { Worker } from "node:worker_threads";
import type { CompileJob, CompileOutcome } from "./compile-job.ts";

/** A compile, wherever it runs; `signal` aborted: its caller no longer wants the answer. */
export type Compile = (job: CompileJob, signal?: AbortSignal) => Promise<CompileOutcome>;

export interface CompileWorkerOptions {
  /** A compile that takes longer is stopped (the worker is ended and started afresh). Default 60 s. */
  timeoutMs?: number;
  /** The worker's V8 heap limit in MB; a compile that needs more fails. Default 1024. */
  memoryMb?: number;
  /** The worker exits after this long without a job (ms). Default 15 s. */
  idleMs?: number;
}

export const COMPILE_DEFAULTS = { timeoutMs: 60_000, memoryMb: 1024, idleMs: 15_000 } as const;

/** The longest delay Node's timers take (2^31-1 ms, about 24.8 days): a longer one fires at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const ABANDONED: CompileOutcome = { ok: false, reason: "CompileAbandoned", message: "the compile was abandoned: whoever asked for it went away before it finished" };

// The entry point next to this file: .ts when running from sources, .js in the package.
const ENTRY = new URL(`./compile-worker-entry.${import.meta.url.endsWith(".ts") ? "ts" : "js"}`, import.meta.url);

interface Pending {
  id: number;
  job: CompileJob;
  resolve: (o: CompileOutcome) => void;
}

export class CompileWorker {
  private readonly options: Required<CompileWorkerOptions>;
  private worker: Worker | null = null;
  private readonly waiting: Pending[] = [];
  private running: (Pending & { timer: NodeJS.Timeout }) | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private nextId = 1;
  private closed = false;
  /** Outcomes so far, compiles abandoned by their caller (before they ran, while they ran), and how many times a worker started (metrics). */
  readonly counts = { ok: 0, timedOut: 0, outOfMemory: 0, failed: 0, abandonedQueued: 0, abandonedRunning: 0, starts: 0 };

  constructor(options: CompileWorkerOptions = {}) {
    this.options = { ...COMPILE_DEFAULTS, ...options };
    // Past MAX_TIMER_MS the time limit would fire at once and stop every compile (the CLI refuses such a --compile-timeout).
    const { timeoutMs, idleMs } = this.options;
    if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) throw new RangeError(`the compile timeout is ${timeoutMs} ms; it must be above 0 and at most ${MAX_TIMER_MS} ms`);
    if (!(idleMs >= 0 && idleMs <= MAX_TIMER_MS)) throw new RangeError(`the compile worker's idle time is ${idleMs} ms; it must be at least 0 and at most ${MAX_TIMER_MS} ms`);
  }

  /** Compiles `job` in the worker; never rejects (a failure is an outcome). */
  readonly compile: Compile = (job, signal) => {
    if (this.closed) return Promise.resolve({ ok: false, reason: "CompilerFailed", message: "the controller is shutting down" });
    if (signal?.aborted) {
      this.counts.abandonedQueued++;
      return Promise.resolve(ABANDONED);
    }
    return new Promise((resolve) => {
      const p: Pending = {
        id: this.nextId++,
        job,
        resolve: (o) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(o);
        },
      };
      const onAbort = () => this.abandon(p);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(p);
      this.next();
    });
  };

  /** Whether a worker thread is alive now. */
  get alive(): boolean {
    return this.worker !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.waiting.splice(0)) p.resolve({ ok: false, reason: "CompilerFailed", message: "the controller is shutting down" });
    if (this.running) this.finish({ ok: false, reason: "CompilerFailed", message: "the controller is shutting down" });
    await this.stop();
  }

  private next(): void {
    if (this.running || this.waiting.length === 0) return;
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const worker = this.worker ?? this.start();
    worker.ref();
    const p = this.waiting.shift()!;
    const timer = setTimeout(() => {
      this.counts.timedOut++;
      this.finish({ ok: false, reason: "CompileTimedOut", message: `compiling took longer than ${this.options.timeoutMs / 1000} s (the controller's --compile-timeout); simplify the policy, or raise the limit` });
      // The thread is busy in the compiler: only ending it stops the compile.
      void this.stop().then(() => this.next());
    }, this.options.timeoutMs);
    this.running = { ...p, timer };
    worker.postMessage({ id: p.id, job: p.job });
  }

  /** The caller of `p` went away: out of the queue, or, if it runs, the compile is stopped. */
  private abandon(p: Pending): void {
    const at = this.waiting.indexOf(p);
    if (at >= 0) {
      this.waiting.splice(at, 1);
      this.counts.abandonedQueued++;
      p.resolve(ABANDONED);
      return;
    }
    if (this.running?.id !== p.id) return;
    this.counts.abandonedRunning++;
    this.finish(ABANDONED);
    // The thread is busy in the compiler: only ending it stops the compile.
    void this.stop().then(() => this.next());
  }

  private start(): Worker {
    this.counts.starts++;
    const worker = new Worker(ENTRY, { resourceLimits: { maxOldGenerationSizeMb: this.options.memoryMb } });
    worker.on("message", ({ id, outcome }: { id: number; outcome: CompileOutcome }) => {
      if (this.running?.id !== id) return;
      if (outcome.ok) this.counts.ok++;
      else this.counts.failed++;
      this.finish(outcome);
      this.next();
      this.idleIfQuiet();
    });
    worker.on("error", (err: Error & { code?: string }) => {
      if (this.worker !== worker) return;
      this.worker = null;
      if (err.code === "ERR_WORKER_OUT_OF_MEMORY") {
        this.counts.outOfMemory++;
        this.finish({ ok: false, reason: "CompileOutOfMemory", message: `compiling needed more than ${this.options.memoryMb} MB (the controller's --compile-memory); simplify the policy, or raise the limit` });
      } else {
        this.counts.failed++;
        this.finish({ ok: false, reason: "CompilerFailed", message: `the compiler failed: ${err.message}` });
      }
      this.next();
    });
    worker.on("exit", () => {
      if (this.worker !== worker) return;
      // Ended without an error event (e.g. killed): the job in flight has no answer.
      this.worker = null;
      if (this.running) {
        this.counts.failed++;
        this.finish({ ok: false, reason: "CompilerFailed", message: "the compiler's thread ended during the compile" });
      }
      this.next();
    });
    this.worker = worker;
    return worker;
  }

  private finish(outcome: CompileOutcome): void {
    const r = this.running;
    if (!r) return;
    clearTimeout(r.timer);
    this.running = null;
    r.resolve(outcome);
  }

  private idleIfQuiet(): void {
    if (this.running || this.waiting.length > 0 || !this.worker) return;
    // Idle: the worker does not keep the process alive, and exits after a quiet spell.
    this.worker.unref();
    this.idleTimer = setTimeout(() => void this.stop(), this.options.idleMs);
    this.idleTimer.unref();
  }

  private async stop(): Promise<void> {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    const worker = this.worker;
    this.worker = null;
    await worker?.terminate();
  }
}
