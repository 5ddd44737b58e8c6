// bench/solvers: the decision procedure behind the analysis, chosen by
// measurement. For generated policies it answers the analysis's most
// frequent question — can route i decide any request (its condition, and no
// earlier route's)? — for every route, with
//   (a) our BDD package with private variables projected away (regions.ts), and
//   (b) MiniSat (logic-solver from npm), incrementally: each earlier route's
//       negation is added once, each route is a solve under assumptions;
// checks that both give the same answers, and prints the times side by side.
// Usage: npm run bench:solvers [-- 100 300 1000]
import Logic from "logic-solver";
import { BDD_FALSE as FALSE, BDD_TRUE as TRUE, DiagnosticBag, RequestModel, RouteRegions, checkProgram, loadSources, memoryHost, resolveProgram, type BddNode as Node } from "../compiler/index.ts";
import { generatePolicy } from "./generate.ts";

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
console.log("bench/solvers: for every route, can it decide some request? (generated policies, 5 signals per route)");
console.log(" routes  BDD (projected) ms  MiniSat (incremental) ms  live routes  same answers");
for (const n of sizes.length ? sizes : [100, 300, 1000]) {
  const diags = new DiagnosticBag();
  const policy = checkProgram(resolveProgram(loadSources(memoryHost({ "b.route": generatePolicy(n).source }), ["b.route"], diags), diags), diags);

  let t0 = performance.now();
  const model = new RequestModel(policy);
  const conds = policy.routes.map((r) => model.condition(r.when));
  const space = new RouteRegions(model, conds, []);
  const bddLive = conds.map((_, i) => space.sat({ match: [i], missBefore: i }));
  const bddMs = performance.now() - t0;

  // The same conditions and facts, as formulas over the same variables: each diagram node
  // becomes an if-then-else (Tseitin-style sharing through the memo), so MiniSat sees
  // formulas of the size the BDD package starts from.
  t0 = performance.now();
  const satModel = new RequestModel(policy);
  const b = satModel.bdd;
  const memo = new Map<Node, unknown>();
  const formula = (x: Node): unknown => {
    if (x === TRUE) return Logic.TRUE;
    if (x === FALSE) return Logic.FALSE;
    let f = memo.get(x);
    if (f === undefined) {
      const [low, high] = b.children(x);
      const v = `v${b.varOf(x)}`;
      f = Logic.or(Logic.and(v, formula(high)), Logic.and(Logic.not(v), formula(low)));
      memo.set(x, f);
    }
    return f;
  };
  const satLive: boolean[] = [];
  let satResult: string;
  try {
    const solver = new Logic.Solver();
    for (const r of policy.routes) {
      const c = satModel.condition(r.when);
      satLive.push(solver.solveAssuming(formula(satModel.constrain(c))) !== null);
      solver.require(formula(satModel.constrain(b.not(c))));
    }
    satResult = (performance.now() - t0).toFixed(0);
  } catch (err) {
    // MiniSat compiled by Emscripten has a fixed 64 MB heap; say where it gave up.
    satResult = `failed after ${((performance.now() - t0) / 1000).toFixed(0)} s at route ${satLive.length}: ${String((err as Error).message ?? err).split("\n")[0].slice(0, 40)}`;
  }
  const same = satLive.length === n + 1 || satLive.length === policy.routes.length ? bddLive.every((x, i) => x === satLive[i]) : "n/a";
  console.log(`${String(n).padStart(7)}  ${bddMs.toFixed(0).padStart(18)}  ${satResult.padStart(24)}  ${String(bddLive.filter(Boolean).length).padStart(11)}  ${same}`);
  if (same === false) process.exitCode = 1;
}
