// bench/solvers: the decision procedure behind the analysis, chosen by
// measurement. For generated policies it answers the analysis's most
// frequent question — can route i decide any request (its condition, and no
// earlier route's)? — for every route, with
//   (a) our BDD package with private variables projected away (regions.ts), and
//   (b) MiniSat (logic-solver from npm), incrementally: each earlier route's
//       negation is added once, each route is a solve under assumptions;
// checks that both give the same answers, and prints the times side by side.
// Then the same question on policies with derived scores (ADR 20), with
//   (a) the analysis as it is: the score's exact link to its inputs built
//       into the diagram (model.ts scoreLink), and
//   (b) the diagram without that link, handed with the arithmetic to Z3
//       (z3-solver from npm, real and integer arithmetic): each threshold
//       variable defined as `x ≥ t` / `x > t`, each score as its clamped
//       weighted sum; one solver, each route a push/check/pop.
// Usage: npm run bench:solvers [-- 100 300 1000]
import Logic from "logic-solver";
import { init as initZ3 } from "z3-solver";
import type { ScoreConfig } from "../bundle/index.ts";
import { BDD_FALSE as FALSE, BDD_TRUE as TRUE, DiagnosticBag, RequestModel, RouteRegions, checkProgram, loadSources, memoryHost, quantityKey, resolveProgram, type BddNode as Node, type CheckedPolicy } from "../compiler/index.ts";
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

/** Route liveness with derived scores: the exact link in the diagram against the diagram without it plus Z3. */
async function derivedScores(routeCounts: number[], scores: number): Promise<void> {
  console.log(`\nderived scores (${scores} scores over 3 shared scores each, one route in three reads one): can route i decide some request?`);
  console.log(" routes  BDD with the link ms  BDD skeleton + Z3 ms  live routes  same answers");
  const { Context } = await initZ3();
  for (const n of routeCounts) {
    const diags = new DiagnosticBag();
    const policy = checkProgram(resolveProgram(loadSources(memoryHost({ "b.route": generatePolicy(n, { scores }).source }), ["b.route"], diags), diags), diags);
    let t0 = performance.now();
    const exact = new RequestModel(policy);
    const conds = policy.routes.map((r) => exact.condition(r.when));
    const space = new RouteRegions(exact, conds, []);
    const bddLive = conds.map((_, i) => space.sat({ match: [i], missBefore: i }));
    const bddMs = performance.now() - t0;

    t0 = performance.now();
    const skeleton = new RequestModel(policy, Infinity, { scoreLinks: false });
    const ctx = new Context("main");
    const solver = new ctx.Solver();
    const b = skeleton.bdd;
    const z3Live: boolean[] = [];
    const add = (text: string) => {
      const lines = text.split("\n");
      for (let k = 0; k < lines.length; k += 200) solver.fromString(lines.slice(k, k + 200).join("\n"));
    };
    // In pieces: one long string overflows the WebAssembly build's parser.
    add(arithmetic(policy, skeleton));
    // Incrementally, as MiniSat above: each route's condition checked under a push, then its negation kept.
    for (let i = 0; i < policy.routes.length; i++) {
      const c = skeleton.condition(policy.routes[i].when);
      const region = skeleton.constrain(c);
      if (region === FALSE) z3Live.push(false);
      else {
        solver.push();
        add(smtOf(b, region, `r${i}`));
        z3Live.push((await solver.check()) === "sat");
        solver.pop();
      }
      add(smtOf(b, skeleton.constrain(b.not(c)), `e${i}`));
    }
    const z3Ms = performance.now() - t0;
    const same = bddLive.every((x, i) => x === z3Live[i]);
    console.log(`${String(n).padStart(7)}  ${bddMs.toFixed(0).padStart(20)}  ${z3Ms.toFixed(0).padStart(20)}  ${String(bddLive.filter(Boolean).length).padStart(11)}  ${same}`);
    if (!same) process.exitCode = 1;
  }
}

/** What the skeleton's threshold variables mean, and each score's value, in SMT-LIB (real, or integer for counts). */
function arithmetic(policy: CheckedPolicy, model: RequestModel): string {
  const lines: string[] = [];
  const name = (key: string) => `|q:${key}|`;
  const declared = new Set<number>();
  const bool = (v: number) => {
    if (!declared.has(v)) lines.push(`(declare-const v${v} Bool)`);
    declared.add(v);
    return `v${v}`;
  };
  const num = (x: number) => (x < 0 ? `(- ${real(-x)})` : real(x));
  for (const q of model.numericQuantities()) {
    const x = name(q.key);
    lines.push(`(declare-const ${x} ${q.integer ? "Int" : "Real"})`);
    if (Number.isFinite(q.min)) lines.push(`(assert (>= ${q.integer ? `(to_real ${x})` : x} ${num(q.min)}))`);
    if (q.max !== null) lines.push(`(assert (<= ${q.integer ? `(to_real ${x})` : x} ${num(q.max)}))`);
    for (const a of q.atoms) {
      const xr = q.integer ? `(to_real ${x})` : x;
      lines.push(`(assert (= ${bool(a.ge)} (>= ${xr} ${num(a.threshold)})))`, `(assert (= ${bool(a.gt)} (> ${xr} ${num(a.threshold)})))`);
    }
  }
  const integers = new Set(model.numericQuantities().filter((q) => q.integer).map((q) => q.key));
  for (const s of policy.signals) {
    if (s.type !== "score") continue;
    const c = s.config as unknown as ScoreConfig;
    const terms = c.terms.map((t) => {
      const key = quantityKey(policy.signals.find((x) => x.name === t.signal)!, t.output)!;
      return `(* ${num(t.weight)} ${integers.has(key) ? `(to_real ${name(key)})` : name(key)})`;
    });
    let sum = `(+ ${num(c.constant ?? 0)} ${terms.join(" ")})`;
    if (c.min !== undefined) sum = `(ite (< ${sum} ${num(c.min)}) ${num(c.min)} ${sum})`;
    if (c.max !== undefined) sum = `(ite (> ${sum} ${num(c.max)}) ${num(c.max)} ${sum})`;
    lines.push(`(assert (= ${name(`${s.name}.value`)} ${sum}))`);
  }
  // Every other variable the diagrams may mention.
  for (let v = 0; v < model.bdd.variables; v++) bool(v);
  return lines.join("\n");
}

/** A non-negative decimal as an exact SMT-LIB rational. */
function real(x: number): string {
  const text = String(x);
  if (/e/i.test(text)) throw new Error(`threshold ${x} in exponent notation`);
  const [int, frac = ""] = text.split(".");
  return frac ? `(/ ${BigInt(int + frac)}.0 ${10n ** BigInt(frac.length)}.0)` : `${int}.0`;
}

/** A diagram as SMT-LIB: one definition per node (if-then-else on its variable), asserted at the root. */
function smtOf(b: RequestModel["bdd"], root: Node, prefix: string): string {
  const lines: string[] = [];
  const names = new Map<Node, string>([[TRUE, "true"], [FALSE, "false"]]);
  const stack: Node[] = [root];
  while (stack.length) {
    const x = stack[stack.length - 1];
    if (names.has(x)) {
      stack.pop();
      continue;
    }
    const [low, high] = b.children(x);
    if (!names.has(low) || !names.has(high)) {
      if (!names.has(low)) stack.push(low);
      if (!names.has(high)) stack.push(high);
      continue;
    }
    stack.pop();
    const nm = `${prefix}n${names.size}`;
    lines.push(`(define-fun ${nm} () Bool (ite v${b.varOf(x)} ${names.get(high)} ${names.get(low)}))`);
    names.set(x, nm);
  }
  lines.push(`(assert ${names.get(root)})`);
  return lines.join("\n");
}

await derivedScores([100, 300], 10);
process.exit();
