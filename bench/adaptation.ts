// bench/adaptation: the adaptation learner (adapter/learner.ts) on real data —
// per-question correctness of two LLMs on 14,042 MMLU questions
// (../shared/data/routellm-mmlu, RouteLLM). Each question is a request; its
// route is its subject (one adaptive route per subject, as a policy would
// route on the subject signal); the reward is correctness minus a cost weight
// for the more expensive model. Side by side, over shuffled orders (seeds):
//   - best static model, per-subject oracle, per-question oracle (the ceiling);
//   - the learner, as the sidecar would use it: shares published every few
//     observations of a route, a model picked by share, always checked
//     against the route's bounds; and the same learner on routes with context
//     signals (`--context`, a policy signal declaration; each question's cell
//     computed by the sidecar's engine, docs/adaptation.md "Context");
//   - Thompson sampling per subject without discounting (vLLM Semantic
//     Router's router learning) and a learner that freezes after 200
//     observations per route (LiteLLM's adaptive router);
//   - a learner that sees both models' answers to every question (full
//     information: not attainable from user feedback, which rates only the
//     answer the user saw; it shows how much of the gap the subject explains).
// Then drift: halfway through, the expensive model loses a share of its
// correct answers; the windowed reward after it, against the post-drift
// per-subject oracle, plotted as an SVG.
// Usage: node bench/adaptation.ts [--data file.jsonl[.gz]] [--seeds 20] [--costs 0.1,0.2]
//        [--explore 0.2] [--publish-every 10] [--drift-loss 0.3] [--window 500] [--svg docs/adaptation-drift.svg]
//        [--learner-options '{"halfLife": 2000}'] [--context 'signal keyword hard { any: ["NOT", "EXCEPT"] }']
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { gunzipSync } from "node:zlib";
import { Adapter, Learner, betaDraw, seededRandom, type AdaptiveRoute, type LearnerOptions } from "../adapter/index.ts";
import { FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA_VERSION, sharesProblem, type RoutingEvent } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { Engine, parseTelemetryMessage, requestFromChat } from "../runtime/index.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: args } = parseArgs({
  options: {
    data: { type: "string", default: path.join(REPO, "../shared/data/routellm-mmlu/mmlu.jsonl.gz") },
    seeds: { type: "string", default: "20" },
    costs: { type: "string", default: "0.1,0.2" },
    explore: { type: "string", default: "0.2" },
    "publish-every": { type: "string", default: "10" },
    "drift-loss": { type: "string", default: "0.3" },
    window: { type: "string", default: "500" },
    svg: { type: "string", default: path.join(REPO, "docs/adaptation-drift.svg") },
    "learner-options": { type: "string", default: "{}" },
    context: { type: "string", default: String.raw`signal regex numeric_options { pattern: "\\nA\\. *[-$]?[0-9]" }` },
  },
});
/** Learner options to compare (adapter/learner.ts LearnerOptions), e.g. '{"halfLife": 500}'. */
const LEARNER_OPTIONS = JSON.parse(args["learner-options"]!) as LearnerOptions;
const SEEDS = Number(args.seeds);
const EXPLORE = Number(args.explore);
const PUBLISH_EVERY = Number(args["publish-every"]);
const DRIFT_LOSS = Number(args["drift-loss"]);
const WINDOW = Number(args.window);

interface Question {
  subject: string;
  prompt: string;
  correct: Record<string, boolean>;
}

function load(file: string): { questions: Question[]; models: string[] } {
  let text: string;
  try {
    const raw = readFileSync(file);
    text = (file.endsWith(".gz") ? gunzipSync(raw) : raw).toString("utf8");
  } catch (err) {
    throw new Error(`cannot read --data ${file}: ${(err as Error).message}`);
  }
  const questions: Question[] = [];
  for (const [i, line] of text.split("\n").entries()) {
    if (!line.trim()) continue;
    let q: Question;
    try {
      q = JSON.parse(line) as Question;
    } catch {
      throw new Error(`${file}:${i + 1}: not JSON`);
    }
    if (typeof q.subject !== "string" || typeof q.correct !== "object" || q.correct === null) throw new Error(`${file}:${i + 1}: expected {"subject": "…", "correct": {"<model>": true|false, …}}`);
    questions.push({ subject: q.subject, prompt: typeof q.prompt === "string" ? q.prompt : "", correct: q.correct });
  }
  if (questions.length === 0) throw new Error(`${file}: no questions`);
  const models = Object.keys(questions[0].correct);
  if (models.length !== 2) throw new Error(`${file}: expected two models per question, found ${models.join(", ")}`);
  for (const [i, q] of questions.entries()) for (const m of models) if (typeof q.correct[m] !== "boolean") throw new Error(`${file}: question ${i + 1} has no true/false for ${m}`);
  return { questions, models };
}

const { questions, models } = load(args.data!);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));
const accuracy = Object.fromEntries(models.map((m) => [m, mean(questions.map((q) => (q.correct[m] ? 1 : 0)))]));
// The more accurate model is the expensive one.
const [cheap, strong] = [...models].sort((a, b) => accuracy[a] - accuracy[b]);
const subjects = [...new Set(questions.map((q) => q.subject))];

/**
 * Each question's cell for the contextual learner, as the sidecar's engine computes it: a policy
 * whose adaptive route learns by the `--context` signals (default: answer options that are numbers —
 * a regex signal), each question decided as a chat request with the question as the user's message.
 */
const CONTEXT_SIGNALS = [...args.context!.matchAll(/signal\s+\w+\s+(\w+)/g)].map((m) => m[1]);
const cells = await (async () => {
  const policy = `package bench
model cheap { provider: vllm, endpoint: "http://cheap.local" }
model strong { provider: vllm, endpoint: "http://strong.local" }
${args.context}
default { select adaptive { models: [cheap, strong], objective: quality - 0.1 * cost_usd, context: [${CONTEXT_SIGNALS.join(", ")}] } }
`;
  const compiled = compile(memoryHost({ "p.route": policy }), ["p.route"]);
  if (!compiled.bundle) throw new Error(`--context: ${compiled.diagnostics.map((d) => d.message).join("; ")}`);
  const engine = await Engine.load(compiled.bundle);
  return new Map(questions.map((q) => [q, engine.decide(requestFromChat({ messages: [{ role: "user", content: q.prompt }] })).context!]));
})();

function shuffle<T>(xs: readonly T[], rand: () => number): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** A world: which answers are correct (after drift, the strong model loses some), and the costs. */
interface World {
  order: Question[];
  correct(i: number, model: string): boolean;
  cost: Record<string, number>;
}

/** A way to route: pick a model for request i, then learn its reward. */
interface Router {
  pick(q: Question, rand: () => number): string;
  learn(q: Question, model: string, correct: boolean, world: World, i: number): void;
  violations: number;
}

function adaptiveRoutes(cost: Record<string, number>, context?: string[]): AdaptiveRoute[] {
  return subjects.map((s) => ({
    route: s,
    ...(context ? { context } : {}),
    models: [cheap, strong],
    objective: { quality: 1, cost_usd: -1, latency_ms: 0 },
    explore: EXPLORE,
    floor: 0,
    priors: { [cheap]: { quality: null, costUsd: cost[cheap], latencyMs: null }, [strong]: { quality: null, costUsd: cost[strong], latencyMs: null } },
  }));
}

/**
 * The learner as the sidecar uses it: shares published every few observations of a route (or of a
 * cell, with context signals), a model picked by share, every published split checked against the
 * route's bounds as the sidecar checks it.
 */
function learnerRouter(cost: Record<string, number>, seed: number, context?: string[]): Router {
  const routes = adaptiveRoutes(cost, context);
  const bounds = new Map(routes.map((r) => [r.route, r]));
  const learner = new Learner(routes, { ...LEARNER_OPTIONS, seed });
  const published = new Map<string, { shares: Record<string, number>; age: number }>();
  const key = (q: Question) => (context ? `${q.subject}\u0000${cells.get(q)}` : q.subject);
  const router: Router = {
    violations: 0,
    pick(q, rand) {
      let p = published.get(key(q));
      if (!p || p.age >= PUBLISH_EVERY) {
        p = { shares: learner.shares(q.subject, context ? cells.get(q) : undefined), age: 0 };
        published.set(key(q), p);
        if (sharesProblem(bounds.get(q.subject)!, p.shares) !== null) router.violations++;
      }
      return rand() < p.shares[cheap] ? cheap : strong;
    },
    learn(q, model, correct) {
      learner.observe({ route: q.subject, cell: context ? cells.get(q) : null, model, quality: correct ? 1 : 0, costUsd: cost[model] });
      published.get(key(q))!.age++;
    },
  };
  return router;
}

const ROUTERS: Record<string, (cost: Record<string, number>, seed: number) => Router> = {
  "routeplane learner": (cost, seed) => learnerRouter(cost, seed),
  [`routeplane learner, context: ${CONTEXT_SIGNALS.join(", ")}`]: (cost, seed) => learnerRouter(cost, seed, CONTEXT_SIGNALS),
  "Thompson, undiscounted (vLLM SR)": (cost) => thompson(cost, Infinity),
  "freeze after 200 (LiteLLM)": (cost) => thompson(cost, 200),
};

/** Per-subject Beta-Bernoulli Thompson sampling on correctness, optionally frozen after `freezeAfter` observations. */
function thompson(cost: Record<string, number>, freezeAfter: number): Router {
  const counts = new Map<string, Record<string, [number, number]>>();
  const frozen = new Map<string, string>();
  const of = (s: string) => counts.get(s) ?? counts.set(s, { [cheap]: [0, 0], [strong]: [0, 0] }).get(s)!;
  return {
    violations: 0,
    pick(q, rand) {
      const f = frozen.get(q.subject);
      if (f) return f;
      const c = of(q.subject);
      let best = cheap;
      let bestScore = -Infinity;
      for (const m of [cheap, strong]) {
        const score = betaDraw(1 + c[m][0], 1 + c[m][1], rand) - cost[m];
        if (score > bestScore) [best, bestScore] = [m, score];
      }
      return best;
    },
    learn(q, model, correct) {
      if (frozen.has(q.subject)) return;
      const c = of(q.subject);
      c[model][correct ? 0 : 1]++;
      const n = c[cheap][0] + c[cheap][1] + c[strong][0] + c[strong][1];
      if (n >= freezeAfter) {
        const m = (x: [number, number]) => (x[0] + x[1] > 0 ? x[0] / (x[0] + x[1]) : 0);
        frozen.set(q.subject, m(c[strong]) - cost[strong] > m(c[cheap]) - cost[cheap] ? strong : cheap);
      }
    },
  };
}

/**
 * Sees both answers to every question, and reads the question: per model, an online logistic
 * regression of correctness on hashed words, word pairs, the subject and the length — what a
 * contextual learner could get from the request's own text at best.
 */
function fullInformationText(cost: Record<string, number>): Router {
  const D = 1 << 18;
  const w: Record<string, Float64Array> = { [cheap]: new Float64Array(D), [strong]: new Float64Array(D) };
  const hash = (s: string) => {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    return (h >>> 0) % D;
  };
  const features = (q: Question) => {
    const words = q.prompt.toLowerCase().match(/[a-z0-9]+/g) ?? [];
    const f = new Set([hash("bias"), hash(`subject:${q.subject}`), hash(`length:${Math.round(Math.log2(1 + q.prompt.length))}`)]);
    words.forEach((word, i) => {
      f.add(hash(word));
      if (i + 1 < words.length) f.add(hash(`${word} ${words[i + 1]}`));
    });
    return [...f];
  };
  const p = (m: string, f: number[]) => 1 / (1 + Math.exp(-f.reduce((t, i) => t + w[m][i], 0) / Math.sqrt(f.length)));
  return {
    violations: 0,
    pick(q) {
      const f = features(q);
      return p(strong, f) - cost[strong] > p(cheap, f) - cost[cheap] ? strong : cheap;
    },
    learn(q, _model, _correct, world, i) {
      const f = features(q);
      for (const m of [cheap, strong]) {
        const g = ((world.correct(i, m) ? 1 : 0) - p(m, f)) * 0.3 / Math.sqrt(f.length);
        for (const k of f) w[m][k] += g;
      }
    },
  };
}

/** Sees both answers to every question (not attainable from user feedback): greedy on per-subject means. */
function fullInformation(cost: Record<string, number>): Router {
  const sums = new Map<string, { n: number; [m: string]: number }>();
  return {
    violations: 0,
    pick(q) {
      const s = sums.get(q.subject);
      if (!s || s.n === 0) return accuracy[strong] - cost[strong] > accuracy[cheap] - cost[cheap] ? strong : cheap;
      return s[strong] / s.n - cost[strong] > s[cheap] / s.n - cost[cheap] ? strong : cheap;
    },
    learn(q, _model, _correct, world, i) {
      const s = sums.get(q.subject) ?? sums.set(q.subject, { n: 0, [cheap]: 0, [strong]: 0 }).get(q.subject)!;
      s.n++;
      for (const m of [cheap, strong]) s[m] += world.correct(i, m) ? 1 : 0;
    },
  };
}

function makeWorld(seed: number, cost: Record<string, number>, drift: boolean): World {
  const rand = seededRandom(seed * 7919 + 17);
  const order = shuffle(questions, rand);
  const half = order.length >> 1;
  const lost = new Set<number>();
  if (drift) for (let i = half; i < order.length; i++) if (order[i].correct[strong] && rand() < DRIFT_LOSS) lost.add(i);
  return { order, cost, correct: (i, m) => order[i].correct[m] && !(m === strong && lost.has(i)) };
}

/** Rewards per request of one router on one world. */
function run(router: Router, world: World, seed: number): number[] {
  const rand = seededRandom(seed * 104729 + 3);
  return world.order.map((q, i) => {
    const m = router.pick(q, rand);
    const ok = world.correct(i, m);
    router.learn(q, m, ok, world, i);
    return (ok ? 1 : 0) - world.cost[m];
  });
}

/** The per-subject oracle of a span of the world: each subject's better model over that span, in hindsight. */
function subjectOracle(world: World, from: number, to: number): number[] {
  const totals = new Map<string, Record<string, number>>();
  for (let i = from; i < to; i++) {
    const t = totals.get(world.order[i].subject) ?? totals.set(world.order[i].subject, { [cheap]: 0, [strong]: 0 }).get(world.order[i].subject)!;
    for (const m of [cheap, strong]) t[m] += (world.correct(i, m) ? 1 : 0) - world.cost[m];
  }
  const out: number[] = [];
  for (let i = from; i < to; i++) {
    const t = totals.get(world.order[i].subject)!;
    const m = t[strong] > t[cheap] ? strong : cheap;
    out.push((world.correct(i, m) ? 1 : 0) - world.cost[m]);
  }
  return out;
}

function stationary(costWeight: number): void {
  const cost = { [cheap]: 0, [strong]: costWeight };
  const world0 = makeWorld(1, cost, false);
  const n = questions.length;
  const staticBest = Math.max(...[cheap, strong].map((m) => mean(world0.order.map((_, i) => (world0.correct(i, m) ? 1 : 0) - cost[m]))));
  const oracleSubject = mean(subjectOracle(world0, 0, n));
  const oracleQuestion = mean(world0.order.map((_, i) => Math.max(...[cheap, strong].map((m) => (world0.correct(i, m) ? 1 : 0) - cost[m]))));
  const gap = (x: number) => ((x - staticBest) / (oracleSubject - staticBest)) * 100;
  console.log(`\ncost weight ${costWeight} (reward = correct − ${costWeight} for ${strong}), ${n} questions, ${subjects.length} subjects, ${SEEDS} seeds, explore ≤ ${EXPLORE}:`);
  console.log(`  ${"".padEnd(46)} reward/request      gap closed   outside bounds`);
  const row = (name: string, xs: number[], violations: number | null) =>
    console.log(`  ${name.padEnd(46)} ${mean(xs).toFixed(4)} ± ${sd(xs).toFixed(4)}   ${gap(mean(xs)).toFixed(1).padStart(6)}%   ${violations === null ? "—" : String(violations)}`);
  row(`best static (${staticBest === mean(world0.order.map((_, i) => (world0.correct(i, strong) ? 1 : 0) - cost[strong])) ? strong : cheap})`, [staticBest], null);
  row("per-subject oracle", [oracleSubject], null);
  row("per-question oracle (ceiling)", [oracleQuestion], null);
  const routers: [string, (seed: number) => Router][] = [
    ...Object.entries(ROUTERS).map(([name, make]) => [name, (seed: number) => make(cost, seed)] as [string, (seed: number) => Router]),
    ["full information (not attainable)", () => fullInformation(cost)],
    ["full information + question text", () => fullInformationText(cost)],
  ];
  for (const [name, make] of routers) {
    const rewards: number[] = [];
    let violations = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const router = make(seed);
      rewards.push(mean(run(router, makeWorld(seed, cost, false), seed)));
      violations += router.violations;
    }
    row(name, rewards, name.startsWith("routeplane learner") ? violations : null);
  }
}

function driftRun(costWeight: number): void {
  const cost = { [cheap]: 0, [strong]: costWeight };
  const n = questions.length;
  const half = n >> 1;
  const names = Object.keys(ROUTERS);
  const series: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, new Array(n).fill(0)]));
  // The oracle exists only after the drift (NaN before it: no line).
  series["per-subject oracle (after drift)"] = Array.from({ length: n }, (_, i) => (i < half ? Number.NaN : 0));
  const after: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]));
  const oracleAfter: number[] = [];
  for (let seed = 1; seed <= SEEDS; seed++) {
    const world = makeWorld(seed, cost, true);
    const oracle = subjectOracle(world, half, n);
    oracle.forEach((r, i) => (series["per-subject oracle (after drift)"][half + i] += r / SEEDS));
    oracleAfter.push(mean(oracle.slice(WINDOW, 1000)));
    for (const name of names) {
      const rewards = run(ROUTERS[name](cost, seed), world, seed);
      rewards.forEach((r, i) => (series[name][i] += r / SEEDS));
      after[name].push(mean(rewards.slice(half + WINDOW, half + 1000)));
    }
  }
  const o = mean(oracleAfter);
  console.log(`\ndrift (cost weight ${costWeight}): after request ${half}, ${strong} loses ${(DRIFT_LOSS * 100).toFixed(0)}% of its correct answers;`);
  console.log(`  reward over requests ${WINDOW}–1000 after the drift (the window of ${WINDOW} ending 1,000 requests after it), against the post-drift per-subject oracle ${o.toFixed(4)}:`);
  for (const name of names) console.log(`  ${name.padEnd(46)} ${mean(after[name]).toFixed(4)}   ${((mean(after[name]) / o) * 100).toFixed(1)}% of the oracle   (target ≥ 95%)`);
  writeFileSync(args.svg!, svg(series, half, costWeight));
  console.log(`  plot: ${path.relative(process.cwd(), args.svg!)}`);
}

/** Windowed mean reward over the requests, one line per router, the drift marked. */
function svg(series: Record<string, number[]>, drift: number, costWeight: number): string {
  const W = 760;
  const H = 360;
  const pad = { l: 56, r: 16, t: 36, b: 44 };
  const n = Object.values(series)[0].length;
  const smooth = (xs: number[]) => {
    const out: [number, number][] = [];
    for (let i = WINDOW; i <= n; i += 50) {
      const span = xs.slice(i - WINDOW, i);
      if (span.some(Number.isNaN)) continue;
      out.push([i, mean(span)]);
    }
    return out;
  };
  const lines = Object.entries(series).map(([name, xs]) => [name, smooth(xs)] as const);
  const ys = lines.flatMap(([, pts]) => pts.map(([, y]) => y));
  const [y0, y1] = [Math.floor(Math.min(...ys) * 20) / 20, Math.ceil(Math.max(...ys) * 20) / 20];
  const x = (i: number) => pad.l + ((W - pad.l - pad.r) * i) / n;
  const y = (v: number) => pad.t + ((H - pad.t - pad.b) * (y1 - v)) / (y1 - y0);
  const colors = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd"];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${pad.l}" y="20" font-size="14">Reward per request (mean of the last ${WINDOW}, ${SEEDS} seeds), cost weight ${costWeight}; ${strong} degrades at request ${drift}</text>`,
  ];
  for (let v = y0; v <= y1 + 1e-9; v += 0.05) parts.push(`<line x1="${pad.l}" x2="${W - pad.r}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${v.toFixed(2)}</text>`);
  for (let i = 0; i <= n; i += 2000) parts.push(`<text x="${x(i)}" y="${H - pad.b + 16}" text-anchor="middle">${i}</text>`);
  parts.push(`<text x="${(W + pad.l) / 2}" y="${H - 8}" text-anchor="middle">request</text>`);
  parts.push(`<line x1="${x(drift)}" x2="${x(drift)}" y1="${pad.t}" y2="${H - pad.b}" stroke="#888" stroke-dasharray="4 3"/>`);
  lines.forEach(([name, pts], k) => {
    parts.push(`<polyline fill="none" stroke="${colors[k % colors.length]}" stroke-width="1.8" points="${pts.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ")}"/>`);
    parts.push(`<rect x="${pad.l + 10}" y="${pad.t + 6 + k * 16}" width="12" height="3" fill="${colors[k % colors.length]}"/><text x="${pad.l + 28}" y="${pad.t + 11 + k * 16}">${name}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

console.log(`bench/adaptation: ${path.relative(process.cwd(), args.data!)} — ${cheap} (accuracy ${accuracy[cheap].toFixed(3)}) and ${strong} (${accuracy[strong].toFixed(3)}, the expensive one)`);
const costs = args.costs!.split(",").map(Number);
for (const c of costs) stationary(c);
driftRun(costs[0]);

/**
 * What one adapter replica can take: CPU time per request (its routing event and its feedback), from
 * the Kafka message's bytes to the learner — JSON parse and schema check, the join, dedupe, the
 * learner — with shares computed every 1,000 requests. The broker's own work is not in it.
 */
function adapterThroughput(n = 100_000): void {
  const text = `package bench
model cheap { provider: vllm, endpoint: "http://cheap.local" }
model smart { provider: vllm, endpoint: "http://smart.local" }
${Array.from({ length: 57 }, (_, i) => `signal header s${i} { name: "x-subject-${i}" }`).join("\n")}
${Array.from({ length: 57 }, (_, i) => `route subject${i} priority ${i + 1} { when s${i}; select adaptive { models: [cheap, smart], objective: quality - 0.1 * cost_usd, explore: 0.2, floor: 0.05 } }`).join("\n")}
default { use cheap }
`;
  const compiled = compile(memoryHost({ "p.route": text }), ["p.route"]);
  if (!compiled.bundle) throw new Error(compiled.diagnostics.map((d) => d.message).join("\n"));
  const adapter = new Adapter(compiled.bundle);
  const random = seededRandom(5);
  const routing = (i: number): RoutingEvent => ({
    schema: ROUTING_EVENT_SCHEMA_VERSION, time: "2026-12-03T00:00:00Z", requestId: `r${i}`, revision: compiled.bundle!.manifest.revision, endpoint: "chat", route: `subject${i % 57}`, model: random() < 0.5 ? "cheap" : "smart",
    attempts: [{ model: "cheap", outcome: "ok", status: 200, ms: 120 }], signals: { [`s${i % 57}`]: true }, selection: { probability: 0.5, sharesVersion: null }, plugins: [], blocked: null, redacted: {}, status: 200, stream: false,
    latencyMs: { decision: 0.1, plugins: 0, upstream: 120, total: 121 }, tokens: { prompt: 200, completion: 300 }, costUsd: 0.0004,
  });
  const messages: [Buffer, Buffer][] = [];
  for (let i = 0; i < n; i++) messages.push([Buffer.from(JSON.stringify(routing(i))), Buffer.from(JSON.stringify({ schema: FEEDBACK_EVENT_SCHEMA_VERSION, time: "2026-12-03T00:00:01Z", requestId: `r${i}`, rating: random() < 0.7 ? 1 : -1, label: null }))]);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = parseTelemetryMessage(messages[i][0], "t", "t");
    const f = parseTelemetryMessage(messages[i][1], "t.feedback", "t");
    if ("kind" in r && r.kind === "routing") adapter.routing(r.event);
    if ("kind" in f && f.kind === "feedback") adapter.feedback(f.event);
    if (i % 1000 === 999) adapter.overlay();
  }
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuUs = (cpu.user + cpu.system) / n;
  if (adapter.counters.joined !== n) throw new Error(`joined ${adapter.counters.joined} of ${n}`);
  console.log(`\nadapter replica (57 adaptive routes, ${n.toLocaleString("en")} requests: routing event + feedback each, shares every 1,000):`);
  console.log(`  ${cpuUs.toFixed(1)} µs CPU per request → ${Math.round(1e6 / cpuUs).toLocaleString("en")} requests/s per core (wall ${(wall / 1000).toFixed(1)} s); heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MB with the join window full`);
}
adapterThroughput();
