// The controller's work queue, as client-go's: keys, not events (reconcile is
// level-driven, so a burst of changes to one policy is one reconcile); one
// key at a time; a key added while it is being processed runs again after;
// failures retry with per-key exponential backoff; bursts are debounced.

export interface WorkQueueOptions {
  /** Quiet time before a newly added key is processed, so a burst of edits reconciles once (ms). */
  debounceMs?: number;
  /** First retry delay after a failure (ms); doubles per consecutive failure of the key. */
  baseDelayMs?: number;
  /** Longest retry delay (ms). */
  maxDelayMs?: number;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  /** Keys added again while being processed: requeued when processing ends. */
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private waiter: (() => void) | null = null;
  private closed = false;
  readonly options: Required<WorkQueueOptions>;

  constructor(options: WorkQueueOptions = {}) {
    this.options = { debounceMs: options.debounceMs ?? 100, baseDelayMs: options.baseDelayMs ?? 100, maxDelayMs: options.maxDelayMs ?? 60_000 };
  }

  /** Keys waiting or being processed (a gauge). */
  get depth(): number {
    return this.queued.size + this.timers.size;
  }

  /** Adds a key after the debounce delay; adding it again within the delay restarts nothing (the first timer wins). */
  add(key: string): void {
    if (this.closed || this.queued.has(key) || this.timers.has(key)) return;
    this.after(key, this.options.debounceMs);
  }

  /** Adds a key now (resync, retries that are due). */
  addNow(key: string): void {
    if (this.closed) return;
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.waiter?.();
  }

  /** Retries a key that failed, after its backoff (base × 2^failures, capped). */
  addRateLimited(key: string): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.options.maxDelayMs, this.options.baseDelayMs * 2 ** n);
    this.after(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts from the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  /** Consecutive failures of a key so far. */
  retries(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  private after(key: string, ms: number): void {
    const old = this.timers.get(key);
    if (old) clearTimeout(old);
    const t = setTimeout(() => {
      this.timers.delete(key);
      this.addNow(key);
    }, ms);
    t.unref();
    this.timers.set(key, t);
  }

  /** The next key to process (marks it processing), or null once the queue is closed. */
  async get(): Promise<string | null> {
    while (!this.closed && this.queue.length === 0) await new Promise<void>((resolve) => (this.waiter = resolve));
    this.waiter = null;
    if (this.closed) return null;
    const key = this.queue.shift()!;
    this.queued.delete(key);
    this.processing.add(key);
    return key;
  }

  /** Processing of the key ended; a key added meanwhile runs again. */
  done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.addNow(key);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.waiter?.();
  }
}
