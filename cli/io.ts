// Where a command writes. Commands return their exit code and never call
// process.exit, so tests can run them in process.
export interface Io {
  out(text: string): void;
  err(text: string): void;
  color: boolean;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : t + "\n"),
  err: (t) => process.stderr.write(t.endsWith("\n") ? t : t + "\n"),
  color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
};

/** Collects output in memory. */
export function bufferIo(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: "",
    stderr: "",
    color: false,
    out(t: string) {
      io.stdout += t.endsWith("\n") ? t : t + "\n";
    },
    err(t: string) {
      io.stderr += t.endsWith("\n") ? t : t + "\n";
    },
  };
  return io;
}

export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/**
 * After a server command (serve, adapt, controller) has shut down gracefully: if something a library
 * left behind (a Kafka connection whose disconnect was given up on) still holds the process 2 s
 * later, exit anyway with the command's code — a stopped server must never linger. The timer does
 * not itself keep the process alive.
 */
export function exitSoonAfterShutdown(code: number, graceMs = 2000): number {
  setTimeout(() => process.exit(code), graceMs).unref();
  return code;
}
