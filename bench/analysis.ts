// bench/analysis: the analyze stage alone on generated policies (shared
// signals, threshold ladders, context bands; bench/generate.ts), printing its
// time, diagram size, peak memory and whether it completed; then the same
// with derived scores (10 scores over shared inputs, one route in three
// reading one). Usage: npm run bench:analysis [-- 10 25 100 1000]
import { DiagnosticBag, analyzePolicy, checkProgram, loadSources, memoryHost, resolveProgram } from "../compiler/index.ts";
import { generatePolicy } from "./generate.ts";

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
console.log("bench/analysis: analyze stage on generated policies (5 signals per route)");
console.log(" routes  analyze ms  growth  diagram nodes  complete  guarantees  findings");
let previous: { n: number; ms: number; scores: number } | null = null;
const runs: { n: number; scores: number }[] = [...(sizes.length ? sizes : [100, 1000, 10000]).map((n) => ({ n, scores: 0 })), { n: 100, scores: 10 }, { n: 1000, scores: 10 }];
for (const { n, scores } of runs) {
  if (scores > 0 && previous?.scores === 0) {
    console.log(`with ${scores} derived scores (each over 3 shared scores, bands low/mid/high; one route in three reads one):`);
    previous = null;
  }
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
  previous = { n, ms, scores };
  const proved = `${a.guarantees.filter((g) => g.status === "proved").length}/${a.guarantees.length} proved`;
  console.log(`${String(n).padStart(7)}  ${ms.toFixed(0).padStart(10)}  ${growth.padStart(6)}  ${String(a.bddNodes).padStart(13)}  ${String(a.complete).padStart(8)}  ${proved.padStart(10)}  ${codes}`);
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; targets (issues): 1,000 routes < 1 s, 10,000 < 15 s, memory < 1 GB; 100 routes with 10 derived scores < 2 s`);
