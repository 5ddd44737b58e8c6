// bench/footprint: what one sidecar costs, for sizing the container injected
// beside every pod. `routeplane serve --bundle` as a pod runs it (the
// package's JavaScript, dist/, built first) on (a) a one-route policy and
// (b) examples/support, each with Node's default flags and with the
// NODE_OPTIONS docs/sidecar.md recommends, side by side in one run:
//   idle        VmRSS 3 s after the sidecar listens, before any request
//               (anon: heap and the like; file: pages of the node binary);
//   peak        VmHWM after the load: the most it ever held, what a memory
//               limit must allow;
//   after load  VmRSS 5 s after the load ends;
//   CPU µs/req  the sidecar's user + system time per request under load.
// The load: 16 connections for --seconds (after a 2 s warm-up) of a mix of
// support requests (below; one in eight a 20 KB document, which the
// context signal must tokenize), through `wrk` when it is installed (Debian's
// wrk: a C load generator that leaves the CPU to the sidecar), otherwise a
// Node load generator in its own process. A fake model server on loopback,
// in its own process, answers everything.
// Every variant of a policy runs at once and takes the load in turns, in 5
// rounds: this VM's speed drifts from minute to minute.
// Usage: npm run bench:footprint [-- --seconds 10] [--source] [--compare DIR] [--flags "--opt …"] [--no-wrk]
//   --source   also run the TypeScript sources (node cli/main.ts, development
//              only: Node's type stripping alone adds ~40 MB)
//   --compare  also measure another checkout's sidecar (e.g. an older commit
//              extracted with `git archive`, node_modules linked)
//   --flags    an extra NODE_OPTIONS set to measure (repeatable)
//   --no-wrk   use the Node load generator even where wrk is installed
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { OriginPool } from "../runtime/sidecar/index.ts";
import { SIDECAR_NODE_FLAGS } from "../cli/index.ts";


const HERE = fileURLToPath(new URL("..", import.meta.url));
const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const SECONDS = Number(arg("--seconds")) || 10;
const COMPARE = arg("--compare") && path.resolve(arg("--compare")!);
const SOURCE = process.argv.includes("--source");
const CONNECTIONS = 16;

// ---- the load generator's own process: node bench/footprint.ts --generate <port> <seconds> <bodies.json>
if (process.argv[2] === "--generate") {
  const [port, seconds, file] = process.argv.slice(3);
  const bodies = JSON.parse(readFileSync(file, "utf8")) as { body: string; headers: Record<string, string> }[];
  const pool = new OriginPool(`http://127.0.0.1:${port}`, { connections: CONNECTIONS, keepAliveMs: 60_000 });
  const end = performance.now() + Number(seconds) * 1000;
  let failed = 0;
  let i = 0;
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: CONNECTIONS }, async () => {
    while (performance.now() < end) {
      const b = bodies[i++ % bodies.length];
      const t0 = performance.now();
      const res = await pool.request({ method: "POST", path: "/v1/chat/completions", headers: { "content-type": "application/json", ...b.headers }, body: b.body, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000 });
      await res.body.text();
      latencies.push(performance.now() - t0);
      if (res.statusCode !== 200) failed++;
    }
  }));
  await pool.close();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))];
  process.stdout.write(JSON.stringify({ requests: latencies.length, failed, p50: pct(50), p99: pct(99) }));
  process.exit(0);
}

const children: ChildProcess[] = [];
const dir = mkdtempSync(path.join(tmpdir(), "routeplane-bench-footprint-"));
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

function hasWrk(): boolean {
  try {
    execFileSync("wrk", ["--version"], { stdio: "ignore" });
    return true;
  } catch (err) {
    // wrk --version prints its usage and exits 1: it is there.
    return (err as NodeJS.ErrnoException).code !== "ENOENT";
  }
}

/** Fields of /proc/<pid>/status in MB. */
function status(pid: number): Record<"VmRSS" | "VmHWM" | "RssAnon" | "RssFile", number> {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(text)![1]) / 1024;
  return { VmRSS: kb("VmRSS"), VmHWM: kb("VmHWM"), RssAnon: kb("RssAnon"), RssFile: kb("RssFile") };
}

/** CPU time (user + system) a process has used so far, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Starts a process and resolves with the first stdout/stderr line matching `ready`. */
function start(args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; match: RegExpExecArray }> {
  const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (c: Buffer) => {
      seen += c.toString();
      const m = ready.exec(seen);
      if (m) resolve({ child, match: m });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}:\n${seen.slice(-2000)}`)));
    setTimeout(() => reject(new Error(`${args[0]} did not start within 60 s:\n${seen.slice(-2000)}`)), 60_000).unref();
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the requests: support traffic, every one answered 200 (a blocked jailbreak would be a 403)
const LONG = Array.from({ length: 120 }, (_, i) => `Clause ${i + 1}. The supplier shall deliver the goods listed in schedule ${i % 7} within ${10 + (i % 20)} business days of the order, and the customer shall pay each invoice within thirty days.`).join("\n");
const MIX: { content: string; headers?: Record<string, string> }[] = [
  { content: "What are your opening hours on Sunday?" },
  { content: "my card is 4111 1111 1111 1111, refund please" },
  { content: "Please refund order 1182, it arrived broken." },
  { content: "What is the status of TCK-004211?" },
  { content: "This is urgent: the app crashes right now when I log in" },
  { content: "Wie kann ich mein Passwort zurücksetzen?" },
  { content: "refund order 77 for jane@example.com", headers: { "x-tenant": "internal" } },
  { content: `Please summarise this contract for me:\n${LONG}` },
];
const bodies = MIX.map((m) => ({ body: JSON.stringify({ model: "any", messages: [{ role: "user", content: m.content }], max_tokens: 16 }), headers: m.headers ?? {} }));
const bodiesFile = path.join(dir, "bodies.json");
writeFileSync(bodiesFile, JSON.stringify(bodies));
/** A Lua string literal (UTF-8 as it is: Lua strings are bytes). */
function luaString(text: string): string {
  const literal = JSON.stringify(text);
  if (literal.includes("\\u")) throw new Error("a request body with a control character: not written for wrk");
  return literal;
}
/** wrk's script: the same bodies, round robin. */
const luaFile = path.join(dir, "mix.lua");
// The requests are formatted in init: wrk knows the Host header only once the threads are set up.
writeFileSync(luaFile, [
  "local reqs = {}",
  "init = function(args)",
  ...bodies.map((b) => `  table.insert(reqs, wrk.format("POST", "/v1/chat/completions", { ["content-type"] = "application/json"${Object.entries(b.headers).map(([k, v]) => `, [${JSON.stringify(k)}] = ${JSON.stringify(v)}`).join("")} }, ${luaString(b.body)}))`),
  "end",
  "local i = 0",
  "request = function()",
  "  i = i + 1",
  "  return reqs[(i % #reqs) + 1]",
  "end",
].join("\n"));

const WRK = !process.argv.includes("--no-wrk") && hasWrk();

interface LoadResult {
  requests: number;
  failed: number;
  /** Latency percentiles at 16 connections, ms. */
  p50: number;
  p99: number;
}

/** Runs a command to its end; resolves with its stdout. */
function output(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });
    children.push(child);
    let text = "";
    child.stdout.on("data", (c: Buffer) => (text += c.toString()));
    child.on("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`${command} exited with ${code}: ${text}`))));
  });
}

/** Runs the load for `seconds`. */
async function load(port: number, seconds: number): Promise<LoadResult> {
  if (WRK) {
    const out = await output("wrk", ["-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--latency", "-s", luaFile, `http://127.0.0.1:${port}`]);
    const ms = (p: string) => {
      const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s)$`, "m").exec(out);
      if (!m) throw new Error(`no ${p}% latency in wrk's output:\n${out}`);
      return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as "us" | "ms" | "s"];
    };
    return { requests: Number(/(\d+) requests in/.exec(out)?.[1]), failed: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0), p50: ms("50"), p99: ms("99") };
  }
  return JSON.parse(await output(process.execPath, [fileURLToPath(import.meta.url), "--generate", String(port), String(seconds), bodiesFile])) as LoadResult;
}

// ---- the sidecars: this checkout's (and --compare's), each with its own CLI's bundles
interface Checkout {
  label: string;
  root: string;
  bundles: string;
}
const checkouts: Checkout[] = [{ label: "", root: HERE }, ...(COMPARE ? [{ label: path.basename(COMPARE), root: COMPARE }] : [])].map((c, i) => ({ ...c, bundles: path.join(dir, `bundles-${i}`) }));
for (const c of checkouts) {
  const cli = (args: string[], cwd: string) => execFileSync(process.execPath, [path.join(c.root, "cli/main.ts"), ...args], { cwd, stdio: "pipe" });
  mkdirSync(path.join(c.bundles, "one"), { recursive: true });
  cli(["keygen", "--out", "bench"], c.bundles);
  writeFileSync(path.join(c.bundles, "one/one.route"), 'package one\nmodel m { provider: openai, endpoint: "http://127.0.0.1:1/v1", tags: [onprem] }\ndefault { use m }\n');
  cli(["compile", "one", "-o", "one.bundle.json", "--key", "bench.key"], c.bundles);
  // From the checkout itself: the policy root that holds examples/shared (a copy without .git has no other).
  cli(["compile", "examples/support", "-o", path.join(c.bundles, "support.bundle.json"), "--key", path.join(c.bundles, "bench.key")], c.root);
  execFileSync(process.execPath, [path.join(c.root, "scripts/build-dist.ts")], { cwd: c.root, stdio: "ignore" });
}
const POLICIES = [
  { name: "one route", bundle: "one.bundle.json" },
  { name: "examples/support", bundle: "support.bundle.json" },
];
const extraFlags = process.argv.flatMap((a, i) => (a === "--flags" ? [process.argv[i + 1]] : []));
/**
 * NODE_OPTIONS: V8's own young-generation size (=0 means its default, and
 * stops serve from adding its own), and none (serve then re-executes itself
 * with SIDECAR_NODE_FLAGS, cli/node-flags.ts; a --compare checkout from
 * before that runs with V8's default).
 */
const FLAGS = ["--max-semi-space-size=0", "", ...extraFlags];
interface Variant {
  label: string;
  checkout: Checkout;
  main: string;
  flags: string;
}
const variants: Variant[] = checkouts.flatMap((c) => [
  ...FLAGS.filter((f) => !c.label || f !== FLAGS[0]).map((flags) => ({ label: c.label || "dist", checkout: c, main: path.join(c.root, "dist/cli/main.js"), flags })),
  ...(SOURCE && !c.label ? [{ label: "source", checkout: c, main: path.join(c.root, "cli/main.ts"), flags: "" }] : []),
]);

const { match: upstreamMatch } = await start([path.join(HERE, "bench/upstream-server.ts")], /(http:\/\/127\.0\.0\.1:\d+\/v1)/);
const upstream = upstreamMatch[1];

const ROUNDS = 5;
console.log(`bench/footprint: routeplane serve --bundle, ${SECONDS} s of load per sidecar at ${CONNECTIONS} connections in ${ROUNDS} interleaved rounds (${WRK ? "wrk" : "a Node load generator"}; one request in ${MIX.length} a ${Math.round(Buffer.byteLength(bodies[MIX.length - 1].body) / 1024)} KB document), node ${process.version}, ${cpus().length} CPUs${COMPARE ? `; ${path.basename(COMPARE)}: the sidecar of ${COMPARE}` : ""}`);
console.log("policy             sidecar    NODE_OPTIONS               idle MB (anon+file)   peak MB   after load MB   CPU µs/req   req/s   p50 ms   p99 ms");
for (const policy of POLICIES) {
  // Every variant of the policy runs at once, idle but for its turn under load: rounds spread this VM's drift over all alike.
  const running = [];
  for (const v of variants) {
    const state = mkdtempSync(path.join(dir, "state-"));
    const { child, match } = await start(
      [v.main, "serve", "--bundle", path.join(v.checkout.bundles, policy.bundle), "--public-key", path.join(v.checkout.bundles, "bench.pub"), "--upstream", upstream, "--listen", "127.0.0.1:0", "--state-dir", state, "--telemetry", path.join(state, "telemetry.jsonl")],
      /listening on http:\/\/127\.0\.0\.1:(\d+)/,
      { ...process.env, NODE_OPTIONS: v.flags },
    );
    running.push({ v, child, pid: child.pid!, port: Number(match[1]), idle: status(child.pid!), cpuMs: 0, requests: 0, seconds: 0, p50: [] as number[], p99: [] as number[] });
  }
  await sleep(3000);
  for (const r of running) r.idle = status(r.pid);
  for (const r of running) {
    // Every request of the mix is answered, and answered 200.
    for (const b of bodies) {
      const res = await fetch(`http://127.0.0.1:${r.port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...b.headers }, body: b.body });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${policy.name}: HTTP ${res.status} for ${b.body.slice(0, 80)}`);
    }
    await load(r.port, 2); // warm-up: JIT, pools
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const r of running) {
      const before = cpuMs(r.pid);
      const t0 = performance.now();
      const run = await load(r.port, SECONDS / ROUNDS);
      r.seconds += (performance.now() - t0) / 1000;
      r.cpuMs += cpuMs(r.pid) - before;
      r.requests += run.requests;
      r.p50.push(run.p50);
      r.p99.push(run.p99);
      if (run.failed > 0) throw new Error(`${policy.name}: ${run.failed} of ${run.requests} requests were not answered 200`);
    }
  }
  await sleep(5000);
  for (const r of running) {
    const after = status(r.pid);
    r.child.kill("SIGTERM");
    await new Promise((resolve) => r.child.once("exit", resolve));
    console.log([
      policy.name.padEnd(18),
      r.v.label.padEnd(10),
      (r.v.flags || (r.v.checkout.label ? "(none)" : `(none: ${SIDECAR_NODE_FLAGS.join(" ")})`)).padEnd(26),
      `${r.idle.VmRSS.toFixed(0).padStart(5)} (${r.idle.RssAnon.toFixed(0)}+${r.idle.RssFile.toFixed(0)})`.padEnd(21),
      after.VmHWM.toFixed(0).padStart(7),
      after.VmRSS.toFixed(0).padStart(15),
      ((r.cpuMs * 1000) / r.requests).toFixed(0).padStart(12),
      (r.requests / r.seconds).toFixed(0).padStart(7),
      median(r.p50).toFixed(2).padStart(8),
      median(r.p99).toFixed(2).padStart(8),
    ].join(" "));
  }
}
console.log("(idle: VmRSS before any request; peak: VmHWM, the most ever held; after load: VmRSS 5 s after the last round; CPU: the sidecar's user + system time per request; req/s and latency at 16 connections, latency the median of the rounds' percentiles)");
process.exit(0);
