// Shared plumbing for provisioning: the version-keyed cache, timed steps that
// say what they do, and child processes with log files.
import { spawn, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { existsSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

/** `~/.cache/routeplane/<component>-<version>`, or under $ROUTEPLANE_CACHE. */
export function cacheDir(component: string, version: string): string {
  const root = process.env.ROUTEPLANE_CACHE ?? path.join(homedir(), ".cache", "routeplane");
  const dir = path.join(root, `${component}-${version}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function log(message: string): void {
  process.stderr.write(`[infra] ${message}\n`);
}

/** Runs a named step, printing what it does and how long it took. */
export async function step<T>(name: string, fn: () => T | Promise<T>): Promise<T> {
  const t0 = performance.now();
  log(`${name} …`);
  const out = await fn();
  log(`${name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return out;
}

/** Runs a command to completion; on failure throws with the tail of its output. */
export function run(cmd: string, args: string[], options: SpawnSyncOptions & { what: string }): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 1 << 26, ...options });
  if (r.error) throw new Error(`${options.what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim().split("\n").slice(-30).join("\n");
    throw new Error(`${options.what} failed (${cmd} exited ${r.status}):\n${out}`);
  }
  return String(r.stdout ?? "");
}

export interface Started {
  name: string;
  pid: number;
  logFile: string;
}

/** Starts a long-running process detached from our stdio, its output in `logFile`. */
export function startProcess(name: string, cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): Started {
  const fd = openSync(logFile, "a");
  const child = spawn(cmd, args, { stdio: ["ignore", fd, fd], detached: true, env });
  child.unref();
  if (child.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
  return { name, pid: child.pid, logFile };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a process (and its group) by pid: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(pid: number, graceMs = 10_000): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  if (!alive(pid)) return;
  signal("SIGTERM");
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) signal("SIGKILL");
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return "(no log)";
  return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
}

/** Waits until `ready()` is true, or throws naming the component with the tail of its log. */
export async function waitFor(component: Started, ready: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!alive(component.pid)) throw new Error(`${component.name} exited while starting; the end of ${component.logFile}:\n${tail(component.logFile)}`);
    if (await ready().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`${component.name} did not become ready within ${timeoutMs / 1000} s; the end of ${component.logFile}:\n${tail(component.logFile)}`);
}

/** Resident memory of a process in MiB, from /proc. */
export function rssMiB(pid: number): number | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = status.match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : null;
  } catch {
    return null;
  }
}
