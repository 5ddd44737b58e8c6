// bench/analysis: the analyze stage alone on generated policies (shared
// signals, threshold ladders, context bands; bench/generate.ts), printing its
// time, diagram size, peak memory and whether it completed; then, in a
// process of its own (so each peak memory is its own), the same with derived
// scores (10 scores over shared inputs, one route in three reading one) and
// partitions (5, of three embedding signals each; one route in six needs a winner).
// Usage: npm run bench:analysis [-- 10 25 100 1000] [--scores 10]
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { DiagnosticBag, analyzePolicy, checkProgram, loadSources, memoryHost, resolveProgram } from "../compiler/index.ts";
import { generatePolicy } from "./generate.ts";

const { values, positionals } = parseArgs({ options: { scores: { type: "string" } }, allowPositionals: true });
const scores = Number(values.scores ?? 0);
const sizes = positionals.map(Number).filter((n) => n > 0);
if (scores === 0) {
  console.log("bench/analysis: analyze stage on generated policies (5 signals per route)");
} else {
  console.log(`with ${scores} derived scores (each over 3 shared scores, bands low/mid/high; one route in three reads one, one in eighteen can never match) and ${Math.max(1, Math.floor(scores / 2))} partitions of three intent classifiers (one route in six needs a winner):`);
}
console.log(" routes  analyze ms  growth  diagram nodes  complete  guarantees  findings");
let previous: { n: number; ms: number } | null = null;
for (const n of sizes.length ? sizes : scores ? [100, 1000] : [100, 1000, 10000]) {
  const diags = new DiagnosticBag();
  const checked = checkProgram(resolveProgram(loadSources(memoryHost({ "b.route": generatePolicy(n, { scores }).source }), ["b.route"], diags), diags), diags);
  if (diags.items.some((d) => d.severity === "error")) throw new Error(diags.items.map((d) => d.message).join("\n"));
  const findings = new DiagnosticBag();
  const t0 = performance.now();
  const a = analyzePolicy(checked, findings);
  const ms = performance.now() - t0;
  const codes = [...new Set(findings.items.map((d) => d.code))].join(" ") || "none";
  // Growth: the exponent k in time ∝ routes^k between this size and the previous one.
  const growth = previous ? (Math.log(ms / previous.ms) / Math.log(n / previous.n)).toFixed(2) : "";
  previous = { n, ms };
  const proved = `${a.guarantees.filter((g) => g.status === "proved").length}/${a.guarantees.length} proved`;
  console.log(`${String(n).padStart(7)}  ${ms.toFixed(0).padStart(10)}  ${growth.padStart(6)}  ${String(a.bddNodes).padStart(13)}  ${String(a.complete).padStart(8)}  ${proved.padStart(10)}  ${codes}`);
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; targets (issues): ${scores ? "100 routes with 10 derived scores < 2 s" : "1,000 routes < 1 s, 10,000 < 15 s, memory < 1 GB"}`);
if (scores === 0 && sizes.length === 0) spawnSync(process.execPath, [process.argv[1], "--scores", "10"], { stdio: "inherit" });
