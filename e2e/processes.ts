// `routeplane` child processes of an e2e test (controllers, sidecars, adapters): started from the
// sources, their output kept for failure messages, stopped with SIGTERM — and killed after 30 s, so a
// process that ignores it is reported instead of hanging the suite.
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

const MAIN = path.join(import.meta.dirname, "..", "cli", "main.ts");

export class Processes {
  private readonly procs = new Map<string, { child: ChildProcess; log: () => string }>();
  private readonly cwd: () => string;
  private readonly env: NodeJS.ProcessEnv;

  /** `cwd` is read at each start (a test's temp directory is made in `before`). */
  constructor(cwd: () => string, env: NodeJS.ProcessEnv = process.env) {
    this.cwd = cwd;
    this.env = env;
  }

  /** Runs `routeplane <args>` as `name`. */
  start(name: string, args: string[]): void {
    let out = "";
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: this.cwd(), stdio: ["ignore", "pipe", "pipe"], env: this.env });
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (out += d.toString()));
    this.procs.set(name, { child, log: () => out });
  }

  names(): string[] {
    return [...this.procs.keys()];
  }

  /** What `name` printed so far ("" when unknown). */
  log(name: string): string {
    return this.procs.get(name)?.log() ?? "";
  }

  exitCode(name: string): number | null {
    return this.procs.get(name)?.child.exitCode ?? null;
  }

  /** Stops `name`; false when it ignored SIGTERM for 30 s (it is then killed). */
  async stop(name: string, signal: NodeJS.Signals = "SIGTERM"): Promise<boolean> {
    const p = this.procs.get(name);
    if (!p) return true;
    this.procs.delete(name);
    if (p.child.exitCode !== null || p.child.signalCode !== null) return true;
    const exited = new Promise((r) => p.child.once("exit", r));
    p.child.kill(signal);
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
    return p.child.signalCode !== "SIGKILL" || signal === "SIGKILL";
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.names().map((n) => this.stop(n)));
  }

  /** The tail of every process's output, for an assertion's message. */
  logs(tail = 3000): string {
    return [...this.procs].map(([n, p]) => `--- ${n}\n${p.log().slice(-tail)}`).join("\n");
  }
}
