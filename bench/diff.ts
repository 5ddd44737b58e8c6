// bench/diff: `routeplane diff` end to end (both versions compiled and
// analysed, the diff, every example checked by both engines) on generated
// policies with one route's model changed. Each size runs in its own process,
// so its peak memory is its own; wall and CPU time are the whole process's,
// start-up included. Usage: npm run bench:diff [-- 100 1000 10000]
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generatePolicy } from "./generate.ts";

const SELF = fileURLToPath(import.meta.url);

const ENTRIES = {
  // What a user of the repository runs (Node strips the types as it loads) …
  sources: new URL("../cli/index.ts", import.meta.url).href,
  // … and what a user of the installed package runs (compiled JavaScript; `npm run build`).
  package: new URL("../dist/cli/index.js", import.meta.url).href,
};

if (process.argv[2] === "--one") {
  // The child: one diff, in process, through the CLI's own entry.
  const [entry, a, b] = process.argv.slice(3);
  const { run, bufferIo } = (await import(entry)) as typeof import("../cli/index.ts");
  const io = bufferIo();
  const code = await run(["diff", a, b], io);
  // The whole process, module loading included: what a user's `routeplane diff` costs.
  const cpu = process.cpuUsage();
  const changes = /^(\d+) decision change|^no decision changes/m.exec(io.stdout);
  console.log(JSON.stringify({ code, cpuMs: (cpu.user + cpu.system) / 1000, rssMb: process.resourceUsage().maxRSS / 1024, changes: changes ? Number(changes[1] ?? 0) : null, stderr: io.stderr.slice(0, 300) }));
  process.exit(0);
}

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
console.log("bench/diff: `routeplane diff` with one route's model changed (generated policies, 5 signals per route)");
const build = spawnSync("npm", ["run", "build", "--silent"], { encoding: "utf8" });
if (build.status !== 0) throw new Error(`npm run build: ${build.stderr}`);
console.log(" routes  entry     wall ms    cpu ms  growth  peak RSS MB  changes  exit");
const previous = new Map<string, { n: number; cpuMs: number }>();
for (const n of sizes.length ? sizes : [100, 1000, 10000]) for (const [label, entry] of Object.entries(ENTRIES)) {
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-bench-diff-"));
  try {
    const source = generatePolicy(n).source;
    // The middle route's `use mK fallback …` (or its selection) gets another model first.
    const target = `route r${Math.floor(n / 2)} `;
    const at = source.indexOf(target);
    const edited = source.slice(0, at) + source.slice(at).replace(/(use|models: \[)m(\d)/, (_, k, d) => `${k}m${(Number(d) + 5) % 10}`);
    for (const [side, text] of [["a", source], ["b", edited]]) {
      mkdirSync(path.join(dir, side));
      writeFileSync(path.join(dir, side, "p.route"), text);
    }
    const t0 = performance.now();
    const child = spawnSync(process.execPath, [SELF, "--one", entry, path.join(dir, "a"), path.join(dir, "b")], { encoding: "utf8", maxBuffer: 1 << 26 });
    const ms = performance.now() - t0;
    const line = child.stdout.trim().split("\n").at(-1) ?? "";
    if (child.status !== 0 || !line.startsWith("{")) {
      console.log(`${String(n).padStart(7)}  ${label.padEnd(8)}  failed (exit ${child.status}): ${(child.stderr || child.stdout).trim().split("\n").at(-1)}`);
      continue;
    }
    const r = JSON.parse(line) as { code: number; cpuMs: number; rssMb: number; changes: number | null; stderr: string };
    const prev = previous.get(label);
    const growth = prev ? (Math.log(r.cpuMs / prev.cpuMs) / Math.log(n / prev.n)).toFixed(2) : "";
    previous.set(label, { n, cpuMs: r.cpuMs });
    console.log(`${String(n).padStart(7)}  ${label.padEnd(8)}  ${ms.toFixed(0).padStart(8)}  ${r.cpuMs.toFixed(0).padStart(8)}  ${growth.padStart(6)}  ${r.rssMb.toFixed(0).padStart(11)}  ${String(r.changes).padStart(7)}  ${r.code}${r.stderr ? `  ${r.stderr.trim().split("\n")[0]}` : ""}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
console.log("targets (issue 14): 1,000 routes < 2 s and < 1 GB; 10,000 routes < 20 s");
