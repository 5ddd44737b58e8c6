// The adaptation learner (adapter/learner.ts) and the bounds every split of an
// adaptive route keeps (bundle/adaptation.ts): shares stay inside the bounds
// whatever the learner was told; traffic stays with the priors until there is
// evidence, then moves to the better model; old evidence fades and a
// model-wide shift is noticed across routes; the state survives a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Learner, seededRandom, type AdaptiveRoute } from "../adapter/index.ts";
import { sharesProblem, withinBounds } from "../bundle/index.ts";

const route = (name: string, extra: Partial<AdaptiveRoute> = {}): AdaptiveRoute => ({
  route: name,
  models: ["cheap", "strong"],
  objective: { quality: 1, cost_usd: -0.1, latency_ms: 0 },
  explore: 0.5,
  floor: 0,
  priors: { cheap: { quality: null, costUsd: 0, latencyMs: null }, strong: { quality: null, costUsd: 1, latencyMs: null } },
  ...extra,
});

test("bounds: withinBounds always gives a split sharesProblem accepts, and sharesProblem refuses what is outside", () => {
  const rand = seededRandom(7);
  for (let i = 0; i < 2000; i++) {
    const n = 2 + Math.floor(rand() * 4);
    const models = Array.from({ length: n }, (_, k) => `m${k}`);
    const floor = rand() < 0.3 ? 0 : (rand() * 0.9) / n;
    const explore = rand() < 0.2 ? 0 : rand() < 0.2 ? 1 : rand();
    const wanted = Object.fromEntries(models.map((m) => [m, rand() < 0.2 ? 0 : rand() < 0.05 ? Number.NaN : rand() * 10]));
    const shares = withinBounds({ models, floor, explore }, wanted);
    assert.equal(sharesProblem({ models, floor, explore }, shares), null, JSON.stringify({ floor, explore, wanted, shares }));
  }
  const b = { models: ["a", "b", "c"], explore: 0.1, floor: 0.05 };
  assert.match(sharesProblem(b, { a: 0.5, b: 0.25, c: 0.25 })!, /the top candidate has 0.5; with explore 0.1 and floor 0.05 it keeps at least 0.815/);
  assert.match(sharesProblem(b, { a: 0.97, b: 0.03, c: 0 })!, /`b` has 0.03, below the floor 0.05/);
  assert.match(sharesProblem(b, { a: 0.9, b: 0.05, c: 0.05, d: 0 })!, /`d` is not a candidate/);
  assert.match(sharesProblem(b, { a: 0.9, b: 0.05 })!, /no share for candidate `c`/);
  assert.match(sharesProblem(b, { a: 0.95, b: 0.05, c: 0.05 })!, /add up to 1.05/);
  assert.equal(sharesProblem(b, { a: 0.9, b: 0.05, c: 0.05 }), null);
});

test("before the minimum evidence the priors decide; with evidence the traffic moves to the better model, inside the bounds", () => {
  const learner = new Learner([route("r", { explore: 0.3 })], { minEvidence: 20, seed: 3 });
  // Priors: equal quality, "strong" costs more → "cheap" leads, "strong" explores.
  assert.deepEqual(learner.shares("r"), { cheap: 0.7, strong: 0.3 });
  const rand = seededRandom(11);
  const quality = { cheap: 0.5, strong: 0.9 };
  for (let i = 0; i < 19; i++) learner.observe({ route: "r", model: i % 2 ? "cheap" : "strong", quality: rand() < quality[i % 2 ? "cheap" : "strong"] ? 1 : 0, costUsd: i % 2 ? 0 : 1 });
  assert.equal(learner.shares("r").cheap, 0.7, "19 observations: still the priors");
  for (let i = 0; i < 400; i++) {
    const shares = learner.shares("r");
    assert.equal(sharesProblem(route("r", { explore: 0.3 }), shares), null);
    const model = rand() < shares.cheap ? "cheap" : "strong";
    learner.observe({ route: "r", model, quality: rand() < quality[model] ? 1 : 0, costUsd: model === "strong" ? 1 : 0 });
  }
  const shares = learner.shares("r");
  assert.ok(shares.strong >= 0.9, `strong (0.9 − 0.1 > 0.5) leads: ${JSON.stringify(shares)}`);
  const est = learner.estimates("r");
  assert.ok(Math.abs(est.strong.quality - 0.9) < 0.1, JSON.stringify(est));
  assert.equal(est.strong.costUsd, 1);
});

test("old evidence fades: after the better model changes, the route follows within its half-life", () => {
  const learner = new Learner([route("r")], { halfLife: 100, minEvidence: 10, seed: 5 });
  const rand = seededRandom(13);
  const play = (quality: Record<string, number>, n: number) => {
    for (let i = 0; i < n; i++) {
      const shares = learner.shares("r");
      const model = rand() < shares.cheap ? "cheap" : "strong";
      learner.observe({ route: "r", model, quality: rand() < quality[model] ? 1 : 0, costUsd: model === "strong" ? 1 : 0 });
    }
  };
  play({ cheap: 0.4, strong: 0.9 }, 600);
  assert.ok(learner.shares("r").strong > 0.9);
  play({ cheap: 0.9, strong: 0.4 }, 400);
  assert.ok(learner.shares("r").cheap > 0.9, JSON.stringify(learner.estimates("r")));
});

test("a model-wide shift seen on some routes moves the others too, before they have seen it themselves", () => {
  const routes = ["a", "b", "c", "d"].map((r) => route(r));
  const learner = new Learner(routes, { minEvidence: 10, seed: 9 });
  const rand = seededRandom(17);
  // Everywhere "strong" is right 90% of the time, "cheap" 60%: strong leads on every route.
  for (let i = 0; i < 2000; i++) {
    const r = "abcd"[i % 4];
    const model = rand() < learner.shares(r).cheap ? "cheap" : "strong";
    learner.observe({ route: r, model, quality: rand() < (model === "strong" ? 0.9 : 0.6) ? 1 : 0, costUsd: model === "strong" ? 1 : 0 });
  }
  assert.ok(learner.shares("d").strong > 0.9);
  // "strong" degrades to 40%, seen only on routes a–c.
  for (let i = 0; i < 300; i++) {
    const r = "abc"[i % 3];
    const model = rand() < learner.shares(r).cheap ? "cheap" : "strong";
    learner.observe({ route: r, model, quality: rand() < (model === "strong" ? 0.4 : 0.6) ? 1 : 0, costUsd: model === "strong" ? 1 : 0 });
  }
  const est = learner.estimates("d");
  assert.ok(est.strong.shift < -0.2, `the shift is seen: ${JSON.stringify(est)}`);
  assert.ok(learner.shares("d").cheap > 0.5, "route d moved without a single new observation of its own");
});

test("the state survives a restart: the same shares from a snapshot; routes and candidates the policy dropped are forgotten; junk is refused", () => {
  const learner = new Learner([route("r"), route("gone")], { minEvidence: 5, seed: 1 });
  for (let i = 0; i < 50; i++) learner.observe({ route: "r", model: "strong", quality: 1, costUsd: 1 });
  for (let i = 0; i < 50; i++) learner.observe({ route: "r", model: "cheap", quality: 0, costUsd: 0 });
  const state = JSON.parse(JSON.stringify(learner.snapshot()));
  const restored = new Learner([route("r", { models: ["cheap", "strong", "new"], priors: { ...route("r").priors, new: { quality: 0.5, costUsd: 0, latencyMs: null } } })], { minEvidence: 5, seed: 1 }, state);
  assert.deepEqual(restored.estimates("r").strong, learner.estimates("r").strong);
  assert.equal(restored.estimates("r").new.quality, 0.5, "a new candidate starts from its prior");
  assert.equal(restored.evidence("r"), 100);
  assert.deepEqual(Object.keys(restored.snapshot().routes), ["r"]);
  assert.equal(restored.observe({ route: "gone", model: "cheap", quality: 1 }), false);
  assert.equal(restored.observe({ route: "r", model: "nobody", quality: 1 }), false);
  assert.throws(() => new Learner([route("r")], {}, { version: 2 } as never), /not a learner state of version 1/);
  // Garbage numbers in a stored arm: that candidate starts again from its prior instead of poisoning the route.
  state.routes.r.arms.strong.a = "NaN";
  assert.equal(new Learner([route("r")], {}, state).estimates("r").strong.quality, 0.5);
});
