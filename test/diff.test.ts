// `diff` exactness: on random policies and random edits (test/support/policy-gen.ts),
// the fast diff (projected regions, only pairs with a changed route) finds exactly the
// decision changes the plain all-pairs encoding finds; each example goes where the
// change says in both versions' engines; and any probe request the two engines decide
// differently is covered by a reported change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compile, diffPolicies, memoryHost, type CheckedPolicy, type DecisionChange } from "../compiler/index.ts";
import { FALSE, type Node } from "../compiler/analysis/bdd.ts";
import { RequestModel } from "../compiler/analysis/model.ts";
import { Engine, requestFromSignals, type Decision } from "../runtime/index.ts";
import { canonicalJson, type Action, type Condition } from "../bundle/index.ts";
import { genPolicy, genProbe, mulberry, mutatePolicy, policySource } from "./support/policy-gen.ts";

const PAIRS = Number(process.env.ROUTEPLANE_DIFF_PAIRS ?? 150);
const SEED = Number(process.env.ROUTEPLANE_DIFF_SEED ?? 20261202);

const key = (route: string | null, models: string[], plugins: string[], params: Action["params"] = {}) => `${route}|${models.join(",")}|${plugins.join(",")}|${canonicalJson(params)}`;
const changeKey = (c: DecisionChange) => `${key(c.before.route, c.before.models, c.before.plugins, c.before.params)} → ${key(c.after.route, c.after.models, c.after.plugins, c.after.params)}`;

/**
 * The reference: both versions' regions as plain diagrams (no projection), every
 * pair of old and new winners compared. What `diff` did before it scaled.
 */
function plainChanges(before: CheckedPolicy, after: CheckedPolicy): Set<string> {
  // The same joint encoding as diffPolicies: a redefined signal is a second signal.
  const renamed = new Map<string, string>();
  const signals = [...before.signals];
  for (const s of after.signals) {
    const o = before.signals.find((x) => x.name === s.name);
    if (o && o.type === s.type && JSON.stringify(o.config) === JSON.stringify(s.config)) continue;
    const name = o ? `${s.name}__new__` : s.name;
    renamed.set(s.name, name);
    signals.push({ ...s, name });
  }
  const rename = (c: Condition): Condition =>
    c.op === "and" || c.op === "or" ? { op: c.op, args: c.args.map(rename) }
    : c.op === "not" ? { op: "not", arg: rename(c.arg) }
    : c.op === "signal" || c.op === "cmp" || c.op === "in" ? { ...c, signal: renamed.get(c.signal) ?? c.signal }
    : c;
  const afterRoutes = after.routes.map((r) => ({ ...r, when: rename(r.when) }));
  const model = new RequestModel({ ...before, signals, routes: [...before.routes, ...afterRoutes], guarantees: [] } as CheckedPolicy);
  const b = model.bdd;
  const regions = (routes: { name: string; when: Condition; action: Action }[], fallback: Action | null) => {
    const out: { k: string; region: Node }[] = [];
    let earlier = FALSE;
    for (const r of routes) {
      const c = model.condition(r.when);
      out.push({ k: key(r.name, r.action.select.models, r.action.plugins.map((p) => p.plugin), r.action.params), region: b.and(c, b.not(earlier)) });
      earlier = b.or(earlier, c);
    }
    out.push({ k: key(fallback ? "default" : null, fallback?.select.models ?? [], fallback?.plugins.map((p) => p.plugin) ?? [], fallback?.params), region: b.not(earlier) });
    return out;
  };
  const found = new Set<string>();
  for (const o of regions(before.routes, before.default)) {
    for (const n of regions(afterRoutes, after.default)) {
      if (o.k !== n.k && model.constrain(b.and(o.region, n.region)) !== FALSE) found.add(`${o.k} → ${n.k}`);
    }
  }
  return found;
}

function outcomeKey(policy: CheckedPolicy, d: Decision): string {
  if (d.route === null) return key(null, [], []);
  const action = d.route === "default" ? policy.default! : policy.routes.find((r) => r.name === d.route)!.action;
  return key(d.route, action.select.models, action.plugins.map((p) => p.plugin), action.params);
}

test(`diff is exact: ${PAIRS} random policies with random edits, against the plain all-pairs encoding and both engines`, async () => {
  const r = mulberry(SEED);
  let compared = 0;
  let changed = 0;
  let probed = 0;
  for (let i = 0; i < PAIRS; i++) {
    const p = genPolicy(r);
    const q = mutatePolicy(r, p);
    const [a, b] = [p, q].map((x) => compile(memoryHost({ "p.route": policySource(x) }), ["p.route"], { analyze: false }));
    if (!a.bundle || !b.bundle) continue;
    const where = `seed ${SEED}, pair ${i}\n--- before\n${policySource(p)}--- after\n${policySource(q)}`;
    const fast = diffPolicies(a.checked!, b.checked!);
    const all = diffPolicies(a.checked!, b.checked!, { allPairs: true });
    const reference = plainChanges(a.checked!, b.checked!);
    assert.deepEqual(new Set(fast.changes.map(changeKey)), reference, `the fast diff and the plain encoding disagree (${where})`);
    assert.deepEqual(new Set(all.changes.map(changeKey)), reference, `all pairs and the plain encoding disagree (${where})`);
    assert.equal(fast.changes.length, reference.size, `a change reported twice (${where})`);
    const [e0, e1] = await Promise.all([Engine.load(a.bundle), Engine.load(b.bundle)]);
    for (const c of fast.changes) {
      assert.equal(e0.decide(requestFromSignals(c.signalsBefore)).route, c.before.route, `example of ${changeKey(c)}, old engine (${where})`);
      assert.equal(e1.decide(requestFromSignals(c.signalsAfter)).route, c.after.route, `example of ${changeKey(c)}, new engine (${where})`);
    }
    // Completeness on concrete requests: whatever the two engines decide differently, the diff reported.
    for (let k = 0; k < 40; k++) {
      const probe = genProbe(r, [...p.signals, ...q.signals]);
      const [d0, d1] = [e0.decide(probe.request), e1.decide(probe.request)];
      const [k0, k1] = [outcomeKey(a.checked!, d0), outcomeKey(b.checked!, d1)];
      if (k0 !== k1) {
        probed++;
        assert.ok(reference.has(`${k0} → ${k1}`), `the engines decide ${k0} → ${k1} for ${JSON.stringify(probe.request)}, which the diff does not report (${where})`);
      }
    }
    compared++;
    if (fast.changes.length) changed++;
  }
  assert.ok(compared > PAIRS / 2, `only ${compared} of ${PAIRS} pairs compiled`);
  assert.ok(changed > compared / 3, `only ${changed} of ${compared} pairs changed decisions`);
  assert.ok(probed > 50, `only ${probed} probes saw a change`);
});

test("diff on a 300-route policy with one route's model changed reports that one change (it ran out of memory at 100 routes)", async () => {
  const { generatePolicy } = await import("../bench/generate.ts");
  const source = generatePolicy(300).source;
  const at = source.indexOf("route r150 ");
  const edited = source.slice(0, at) + source.slice(at).replace(/(use|models: \[)m(\d)/, (_, k: string, d: string) => `${k}m${(Number(d) + 5) % 10}`);
  const [a, b] = [source, edited].map((text) => compile(memoryHost({ "p.route": text }), ["p.route"], { analyze: false }));
  const d = diffPolicies(a.checked!, b.checked!);
  assert.deepEqual(d.changes.map((c) => [c.before.route, c.before.models[0], c.after.route, c.after.models[0]]), [["r150", "m0", "r150", "m5"]]);
  const [e0, e1] = await Promise.all([Engine.load(a.bundle!), Engine.load(b.bundle!)]);
  // r150 selects adaptively between its two models: either may serve, from the version's own list.
  assert.ok(["m0", "m3"].includes(e0.decide(requestFromSignals(d.changes[0].signalsBefore)).model!));
  assert.ok(["m5", "m3"].includes(e1.decide(requestFromSignals(d.changes[0].signalsAfter)).model!));
  assert.equal(e1.decide(requestFromSignals(d.changes[0].signalsAfter)).route, "r150");
});
