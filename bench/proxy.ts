// bench/proxy: what routing costs a request. One fake OpenAI-compatible model
// server on loopback (its own process) and the ways to reach it, measured
// side by side in one run:
//   direct     — straight to the model server;
//   node proxy — node:http in, undici out, bytes passed through, nothing else
//                (bench/bare-proxy.ts): what a proxy hop costs on the usual Node stack;
//   bare proxy — the sidecar's own HTTP layers, bytes passed through, nothing
//                else: routeplane minus this line is what routing costs;
//   routeplane — `routeplane serve` with the generated 100-route policy of
//                deterministic signals (keywords, regexes, context bands,
//                headers, PII, jailbreak), JSONL telemetry on;
//   portkey    — Portkey's open-source gateway (@portkey-ai/gateway, started
//                with `node build/start-server.js`) with a 100-condition
//                conditional-routing config over 10 targets.
// For each: latency p50/p99 at 1 connection, throughput at 16 connections.
// Usage: npm run bench:proxy [-- --seconds 5] [--awake]
//   --awake  keeps every CPU busy with a SCHED_IDLE spinner (chrt --idle), so
//            no CPU halts between requests: on a VM whose guest halts idle
//            vCPUs at once, it shows how much of the added latency is the
//            machine waking them rather than the proxies' own work.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { OriginPool } from "../runtime/sidecar/index.ts";
import { generatePolicy, sampleRequests } from "./generate.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SECONDS = Number(process.argv[process.argv.indexOf("--seconds") + 1]) || 5;
const AWAKE = process.argv.includes("--awake");
const ROUTES = 100;
const children: ChildProcess[] = [];
const dir = mkdtempSync(path.join(tmpdir(), "routeplane-bench-proxy-"));

function cleanup(): void {
  for (const c of children) c.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
process.on("exit", cleanup);

const pids = new Map<string, number>();

/** CPU time (user + system) a process has used so far, in ms, from /proc. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  // utime and stime are fields 14 and 15 of stat (11 and 12 after the command name), in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** Starts a process and resolves with the first stdout/stderr line matching `ready`. */
function startProcess(name: string, args: string[], ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<RegExpExecArray> {
  const child = spawn(process.execPath, args, { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  pids.set(name, child.pid!);
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (c: Buffer) => {
      seen += c.toString();
      const m = ready.exec(seen);
      if (m) resolve(m);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${name} exited with ${code}:\n${seen.slice(-2000)}`)));
    setTimeout(() => reject(new Error(`${name} did not start within 30 s:\n${seen.slice(-2000)}`)), 30_000).unref();
  });
}

interface Target {
  name: string;
  port: number;
  path: string;
  headers: (i: number) => Record<string, string>;
}

const REQUESTS = sampleRequests(ROUTES, 64);

/**
 * The load generator: the sidecar's own upstream client (plain sockets, one
 * write per request), so that on this 2-core machine it leaves as much CPU
 * as it can to the proxies being measured. node:http as a client cost about
 * as much CPU per request as the proxies themselves.
 */
function once(pool: OriginPool, t: Target, i: number): Promise<number> {
  const r = REQUESTS[i % REQUESTS.length];
  const body = JSON.stringify({ model: "bench", messages: r.messages, max_tokens: 16 });
  const t0 = performance.now();
  return pool.request({ method: "POST", path: t.path, headers: { "content-type": "application/json", ...r.headers, ...t.headers(i) }, body, headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000 }).then(async (res) => {
    await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${t.name}: HTTP ${res.statusCode}`);
    return performance.now() - t0;
  });
}

/** Runs `connections` request loops for `seconds`; returns every latency (ms) and the request rate. */
async function load(t: Target, connections: number, seconds: number): Promise<{ latencies: number[]; rps: number }> {
  const pool = new OriginPool(`http://127.0.0.1:${t.port}`, { connections, keepAliveMs: 60_000 });
  const latencies: number[] = [];
  const end = performance.now() + seconds * 1000;
  let i = 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (performance.now() < end) latencies.push(await once(pool, t, i++));
  }));
  const rps = latencies.length / ((performance.now() - start) / 1000);
  await pool.close();
  return { latencies, rps };
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

if (AWAKE) {
  // Spinners at SCHED_IDLE run only when nothing else wants the CPU and yield to any woken task.
  for (let i = 0; i < cpus().length; i++) {
    const spinner = spawn("chrt", ["--idle", "0", process.execPath, "-e", "for (;;) {}"], { stdio: "ignore" });
    spinner.on("error", (err) => {
      console.error(`bench/proxy: --awake needs chrt (util-linux): ${err.message}`);
      process.exit(2);
    });
    children.push(spinner);
  }
}

// ---- start the model server, the sidecar and Portkey
const [, upstreamUrl] = await startProcess("upstream", [path.join(ROOT, "bench/upstream-server.ts")], /(http:\/\/127\.0\.0\.1:\d+\/v1)/);
const upstreamPort = Number(new URL(upstreamUrl).port);
const policyDir = path.join(dir, "policy");
mkdirSync(policyDir);
writeFileSync(path.join(policyDir, "bench.route"), generatePolicy(ROUTES).source);
const [, sidecarUrl] = await startProcess("routeplane", [path.join(ROOT, "cli/main.ts"), "serve", "--policy", policyDir, "--upstream", upstreamUrl, "--listen", "127.0.0.1:0", "--telemetry", path.join(dir, "telemetry.jsonl")], /listening on (http:\/\/[^ ;]+)/);
const [, nodeUrl] = await startProcess("node proxy", [path.join(ROOT, "bench/bare-proxy.ts"), "node", upstreamUrl], /listening on (http:\/\/[^ \n]+)/);
const [, bareUrl] = await startProcess("bare proxy", [path.join(ROOT, "bench/bare-proxy.ts"), "sidecar", upstreamUrl], /listening on (http:\/\/[^ \n]+)/);
const portkeyEntry = path.join(path.dirname(createRequire(import.meta.url).resolve("@portkey-ai/gateway/package.json")), "build/start-server.js");
const portkeyPort = 20000 + Math.floor(Math.random() * 20000);
await startProcess("portkey", [portkeyEntry, `--port=${portkeyPort}`, "--headless"], /Ready for connections/, { ...process.env, NODE_ENV: "production", TRUSTED_CUSTOM_HOSTS: "127.0.0.1,localhost" });

// Portkey's equivalent: 100 conditions on request metadata, over 10 targets at the same model server.
const portkeyConfig = JSON.stringify({
  strategy: {
    mode: "conditional",
    conditions: Array.from({ length: ROUTES }, (_, r) => ({ query: { "metadata.route": { $eq: `r${r}` } }, then: `m${r % 10}` })),
    default: "m0",
  },
  targets: Array.from({ length: 10 }, (_, m) => ({ name: `m${m}`, provider: "openai", api_key: "bench", custom_host: upstreamUrl })),
});

const targets: Target[] = [
  { name: "direct", port: upstreamPort, path: "/v1/chat/completions", headers: () => ({}) },
  { name: "node proxy", port: Number(new URL(nodeUrl).port), path: "/v1/chat/completions", headers: () => ({}) },
  { name: "bare proxy", port: Number(new URL(bareUrl).port), path: "/v1/chat/completions", headers: () => ({}) },
  { name: "routeplane", port: Number(new URL(sidecarUrl).port), path: "/v1/chat/completions", headers: () => ({}) },
  { name: "portkey", port: portkeyPort, path: "/v1/chat/completions", headers: (i) => ({ "x-portkey-config": portkeyConfig, "x-portkey-metadata": JSON.stringify({ route: `r${(i * 7919) % ROUTES}` }) }) },
];

console.log(`bench/proxy: ${ROUTES}-route policy, fake model server on loopback, ${SECONDS} s per target and mode in ${5} interleaved rounds (node ${process.version}, ${cpus().length} CPUs${AWAKE ? ", CPUs kept awake by idle-priority spinners" : ""})`);
for (const t of targets) await load(t, 4, 1); // warm-up: JIT, pools, lazy text models
// Interleaved rounds: this shared VM's speed drifts from minute to minute, and
// alternating the targets spreads the drift over all targets alike.
const ROUNDS = 5;
const samples = new Map(targets.map((t) => [t.name, { latencies: [] as number[], rps: [] as number[], cpuMs: 0, requests: 0 }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const t of targets) {
    const s = samples.get(t.name)!;
    s.latencies.push(...(await load(t, 1, SECONDS / ROUNDS)).latencies);
    // The proxy's own CPU per request: steadier than throughput on a machine whose speed drifts.
    const pid = pids.get(t.name);
    const before = pid ? cpuMs(pid) : 0;
    const many = await load(t, 16, SECONDS / ROUNDS);
    if (pid) {
      s.cpuMs += cpuMs(pid) - before;
      s.requests += many.latencies.length;
    }
    s.rps.push(many.rps);
  }
}
const results = new Map<string, { p50: number; p99: number; rps: number; cpuUs: number | null }>();
for (const [name, s] of samples) results.set(name, { p50: pct(s.latencies, 50), p99: pct(s.latencies, 99), rps: pct(s.rps, 50), cpuUs: s.requests ? (s.cpuMs * 1000) / s.requests : null });
const direct = results.get("direct")!;
console.log("            p50 ms   p99 ms   added p50   added p99   req/s @16   proxy CPU µs/req");
for (const [name, r] of results) {
  const added = name === "direct" ? ["", ""] : [(r.p50 - direct.p50).toFixed(3), (r.p99 - direct.p99).toFixed(3)];
  console.log(`${name.padEnd(10).slice(0, 10)}  ${r.p50.toFixed(3).padStart(6)}   ${r.p99.toFixed(3).padStart(6)}   ${added[0].padStart(9)}   ${added[1].padStart(9)}   ${r.rps.toFixed(0).padStart(9)}   ${r.cpuUs === null ? "" : r.cpuUs.toFixed(0).padStart(16)}`);
}
console.log("(req/s: median of rounds; proxy CPU: the proxy process's user + system time per request at 16 connections)");
const rp = results.get("routeplane")!;
const pk = results.get("portkey")!;
const bare = results.get("bare proxy")!;
// The hop (bare proxy − direct) is what any proxy on this machine pays; routing (routeplane − bare proxy) is what routeplane adds to it.
console.log(`of routeplane's added latency, the hop itself (bare proxy − direct): p50 ${(bare.p50 - direct.p50).toFixed(3)} ms, p99 ${(bare.p99 - direct.p99).toFixed(3)} ms; routing on top (routeplane − bare proxy): p50 ${(rp.p50 - bare.p50).toFixed(3)} ms, CPU ${(rp.cpuUs! - bare.cpuUs!).toFixed(0)} µs/req`);
console.log(`routeplane vs portkey throughput: ${(rp.rps / pk.rps).toFixed(1)}× (target ≥ 10×); added latency at 1 connection: p50 ${(rp.p50 - direct.p50).toFixed(3)} ms (target ≤ 0.3), p99 ${(rp.p99 - direct.p99).toFixed(3)} ms (target ≤ 1)`);
process.exit(0);
