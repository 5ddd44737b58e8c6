// bench/analysis: the analyze stage alone on generated policies (shared
// signals, threshold ladders, context bands; bench/generate.ts), printing its
// time, diagram size, peak memory and whether it completed. Usage:
// npm run bench:analysis [-- 10 25 100 1000]
import { DiagnosticBag, analyzePolicy, checkProgram, loadSources, memoryHost, resolveProgram } from "../compiler/index.ts";
import { generatePolicy } from "./generate.ts";

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
console.log("bench/analysis: analyze stage on generated policies (5 signals per route)");
console.log(" routes  analyze ms  diagram nodes  complete  findings");
for (const n of sizes.length ? sizes : [10, 25, 100, 1000]) {
  const diags = new DiagnosticBag();
  const checked = checkProgram(resolveProgram(loadSources(memoryHost({ "b.route": generatePolicy(n).source }), ["b.route"], diags), diags), diags);
  const findings = new DiagnosticBag();
  const t0 = performance.now();
  const a = analyzePolicy(checked, findings);
  const ms = performance.now() - t0;
  const codes = [...new Set(findings.items.map((d) => d.code))].join(" ") || "none";
  console.log(`${String(n).padStart(7)}  ${ms.toFixed(0).padStart(10)}  ${String(a.bddNodes).padStart(13)}  ${String(a.complete).padStart(8)}  ${codes}`);
}
console.log(`peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB; targets (issue): 1,000 routes < 1 s, 10,000 < 15 s, memory < 1 GB`);
