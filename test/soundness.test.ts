// Differential soundness: random policies over every signal type are compiled,
// and every claim the analysis makes is checked against the decision engine on
// requests built to probe it (thresholds ± ε, token counts at band edges,
// empty and long text, unlabelled classifiers, missing and empty headers, the
// embeddings endpoint answering or not). A dead or shadowed route never wins,
// a proved guarantee never fails, a claimed full coverage never reaches the
// default, and every finding's witness reproduces. A disagreement fails with
// a shrunk policy and the request.
//
// ROUTEPLANE_SOUNDNESS_POLICIES=5000 node --test test/soundness.test.ts  runs longer;
// ROUTEPLANE_SOUNDNESS_SEED=<n> replays one seed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compile, emitBundle, exampleRequest, memoryHost, type CompileResult, type DecisionPredicate } from "../compiler/index.ts";
import { Engine, requestFromChat, requestFromSignals, type Decision, type Request } from "../runtime/index.ts";
import { genPolicy, genProbe, mulberry, policySource, type GenPolicy, type Probe } from "./support/policy-gen.ts";

const POLICIES = Number(process.env.ROUTEPLANE_SOUNDNESS_POLICIES ?? 250);
const PROBES = Number(process.env.ROUTEPLANE_SOUNDNESS_PROBES ?? 500);
const SEED = Number(process.env.ROUTEPLANE_SOUNDNESS_SEED ?? 20261202);

interface Claims {
  result: CompileResult;
  engine: Engine;
  neverWins: Map<string, string>; // route → the finding that says so
  fullCoverage: boolean;
  proved: { name: string; when: import("../bundle/index.ts").Condition | null; require: DecisionPredicate }[];
}

async function claimsOf(source: string): Promise<Claims | null> {
  const result = compile(memoryHost({ "p.route": source }), ["p.route"]);
  // Only errors the analysis itself reports leave a policy worth checking.
  if (result.diagnostics.some((d) => d.severity === "error" && d.code !== "RP1008" && d.code !== "RP1003")) return null;
  if (!result.checked || !result.analysis?.complete) return null;
  const bundle = result.bundle ?? emitBundle(result.checked, result.analysis);
  const engine = await Engine.load(bundle);
  const neverWins = new Map<string, string>();
  for (const d of result.diagnostics) {
    if (d.code !== "RP1001" && d.code !== "RP1002") continue;
    neverWins.set(/route `([^`]+)`/.exec(d.message)![1], `${d.code}: ${d.message}`);
  }
  const status = new Map(result.analysis.guarantees.map((g) => [g.name, g.status]));
  const proved = result.checked.guarantees.filter((g) => status.get(g.name) === "proved").map((g) => ({ name: g.name, when: g.when, require: g.require }));
  return { result, engine, neverWins, fullCoverage: result.analysis.coverage === "every request is decided by a route", proved };
}

/** A decision requirement, evaluated on what the engine did (docs/language.md, guarantees). */
function requirementHolds(p: DecisionPredicate, d: Decision, model: string | null, engine: Engine, request: Request): boolean {
  const rec = (q: DecisionPredicate) => requirementHolds(q, d, model, engine, request);
  const spec = engine.bundle.policy.models.find((m) => m.name === model);
  switch (p.op) {
    case "and":
      return p.args.every(rec);
    case "or":
      return p.args.some(rec);
    case "not":
      return !rec(p.arg);
    case "model-is":
      return model !== null && p.models.includes(model);
    case "model-tag":
      return spec?.tags.includes(p.tag) ?? false;
    case "model-field":
      return spec?.provider === p.value;
    case "model-param": {
      // What the route sets for the model; an absent cap is no cap, an absent flag or name equals nothing.
      const action = d.route === null ? null : d.route === "default" ? engine.bundle.policy.default! : engine.bundle.policy.routes.find((r) => r.name === d.route)!.action;
      const v = model === null ? undefined : action?.params?.[model]?.[p.param];
      if (typeof p.value !== "number") return p.cmp === "==" ? v === p.value : v !== p.value;
      const x = typeof v === "number" ? v : Infinity;
      return { "==": x === p.value, "!=": x !== p.value, ">": x > p.value, ">=": x >= p.value, "<": x < p.value, "<=": x <= p.value }[p.cmp];
    }
    case "route-is":
      return d.route !== null && p.routes.includes(d.route);
    case "profile-is":
      return d.profile !== undefined && p.profiles.includes(d.profile);
    case "applies": {
      const uses = d.route === null ? [] : (d.route === "default" ? engine.bundle.policy.default! : engine.bundle.policy.routes.find((r) => r.name === d.route)!.action).plugins;
      return d.plugins.some((name) => { const u = uses.find((x) => x.plugin === name)!; return u.plugin === p.plugin || u.type === p.plugin; });
    }
    case "blocked":
      return d.blocked !== null;
    case "request":
      return engine.holds(p.cond, request);
  }
}

/** The first claim the engine contradicts on this probe, or null. */
function contradiction(c: Claims, probe: Probe): string | null {
  const { engine } = c;
  const d = engine.decide(probe.request);
  if (d.route !== null && c.neverWins.has(d.route)) return `route ${d.route} won, but the analysis said ${c.neverWins.get(d.route)}`;
  if (c.fullCoverage && (d.route === "default" || d.route === null)) return `the analysis said every request is decided by a route, but this one went to ${d.route ?? "no route"}`;
  for (const g of c.proved) {
    if (g.when && !engine.holds(g.when, probe.request)) continue;
    // Proved on every model the route may send the request to: the chosen one and every fallback.
    for (const m of d.model === null ? [null] : [d.model, ...d.fallbacks]) {
      if (!requirementHolds(g.require, d, m, engine, probe.request)) return `guarantee "${g.name}" was proved, but the engine decided route ${d.route}, model ${m}, plugins [${d.plugins.join(", ")}], ${d.blocked ? "blocked" : "allowed"}`;
    }
  }
  return null;
}

function witnessContradictions(c: Claims): string[] {
  const bad: string[] = [];
  for (const w of c.result.analysis!.witnesses) {
    const d = c.engine.decide(requestFromSignals(w.witness.signals));
    if (!w.expectRoutes.includes(d.route)) bad.push(`${w.code} (${w.subject}): witness ${JSON.stringify(w.witness.signals)} went to ${d.route}, expected ${w.expectRoutes.join(" or ")}`);
    const example = exampleRequest(w.witness, c.result.checked!);
    if (example) {
      const e = c.engine.decide(requestFromChat(example.body, example.headers));
      // An example is only shown when the engine agrees (lint checks it); none may be shown wrongly.
      if (w.expectRoutes.includes(e.route) !== true && w.diagnostic?.example === example) bad.push(`${w.code} (${w.subject}): example request went to ${e.route}`);
    }
  }
  return bad;
}

/** Drops routes and guarantees while the same probe still shows a contradiction. */
async function shrink(p: GenPolicy, probe: Probe): Promise<GenPolicy> {
  let cur = p;
  for (let changed = true; changed; ) {
    changed = false;
    const candidates: GenPolicy[] = [
      ...cur.routes.map((_, i) => ({ ...cur, routes: cur.routes.filter((__, j) => j !== i) })),
      ...cur.guarantees.map((_, i) => ({ ...cur, guarantees: cur.guarantees.filter((__, j) => j !== i) })),
      ...(cur.hasDefault ? [{ ...cur, hasDefault: false }] : []),
    ];
    for (const cand of candidates) {
      if (cand.routes.length === 0) continue;
      const c = await claimsOf(policySource(cand));
      if (c && contradiction(c, probe)) {
        cur = cand;
        changed = true;
        break;
      }
    }
  }
  return cur;
}

test(`differential soundness: ${POLICIES} random policies × ${PROBES} probes, every claim checked by the engine`, async () => {
  const r = mulberry(SEED);
  let checked = 0;
  let policies = 0;
  const claimsSeen = { neverWins: 0, proved: 0, fullCoverage: 0, witnesses: 0 };
  for (let i = 0; i < POLICIES; i++) {
    const policy = genPolicy(r);
    const c = await claimsOf(policySource(policy));
    if (!c) continue;
    policies++;
    claimsSeen.neverWins += c.neverWins.size;
    claimsSeen.proved += c.proved.length;
    claimsSeen.fullCoverage += c.fullCoverage ? 1 : 0;
    claimsSeen.witnesses += c.result.analysis!.witnesses.length;
    const wbad = witnessContradictions(c);
    assert.deepEqual(wbad, [], `witnesses the engine contradicts in\n${policySource(policy)}`);
    checked += c.result.analysis!.witnesses.length;
    const claims = c.neverWins.size + (c.fullCoverage ? 1 : 0) + c.proved.length;
    for (let k = 0; k < PROBES; k++) {
      const probe = genProbe(r, policy.signals);
      const why = contradiction(c, probe);
      checked += claims;
      if (why) {
        const small = await shrink(policy, probe);
        assert.fail(`${contradiction((await claimsOf(policySource(small)))!, probe)}\n--- policy (shrunk) ---\n${policySource(small)}--- request (${probe.semantic}) ---\n${JSON.stringify(probe.request, null, 1)}`);
      }
    }
  }
  // The generator must keep producing policies the analysis has something to say about.
  assert.ok(policies >= POLICIES * 0.6, `only ${policies} of ${POLICIES} generated policies compiled`);
  for (const [k, n] of Object.entries(claimsSeen)) assert.ok(n > 0, `no policy produced a ${k} claim`);
  console.log(`soundness: ${policies} policies, ${checked} checks (${JSON.stringify(claimsSeen)})`);
});

test("the false proof of issue 11: a classifier that chooses no label reaches `not any class`", async () => {
  const source = `package fp
model onprem_m { provider: vllm, endpoint: "http://127.0.0.1:9/v1", tags: [onprem] }
model cloud { provider: openai, endpoint: "https://api.openai.com/v1", tags: [cloud] }
signal domain topic { classes: [billing, code] }
route billing priority 300 { when topic == "billing" use onprem_m }
route coding priority 200 { when topic == "code" use onprem_m }
route general priority 100 { when not (topic == "billing") and not (topic == "code") use cloud }
default { use onprem_m }
guarantee "everything on-prem" { require model.tags has onprem }
`;
  const result = compile(memoryHost({ "p.route": source }), ["p.route"]);
  assert.ok(!result.diagnostics.some((d) => d.code === "RP1001"), "route general is live");
  assert.equal(result.analysis!.guarantees[0].status, "failed");
  assert.ok(result.diagnostics.some((d) => d.code === "RP1008"));
  // And the engine agrees: offline (no label) and an unsure endpoint both reach `general`.
  const c = await claimsOf(source);
  const offline = c!.engine.decide(requestFromChat({ messages: [{ role: "user", content: "hello there" }] }));
  assert.equal(offline.route, "general");
  assert.equal(offline.model, "cloud");
  const unsure = c!.engine.decide({ ...requestFromChat({ messages: [{ role: "user", content: "hello there" }] }), signals: { topic: { billing: 0, code: 0 } } });
  assert.equal(unsure.route, "general");
});
