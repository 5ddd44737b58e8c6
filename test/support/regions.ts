// The exactness check the derived-signal tests share: for each route in order, the analysis's
// region (its condition, no earlier route's) is empty only if no sampled request reaches the
// route, and otherwise its witness, decided by the engine, lands on it.
import assert from "node:assert/strict";
import type { JsonObject } from "../../bundle/index.ts";
import type { CheckedPolicy } from "../../compiler/index.ts";
import { FALSE } from "../../compiler/analysis/bdd.ts";
import type { RequestModel, Witness } from "../../compiler/analysis/model.ts";
import { requestFromSignals, type Engine } from "../../runtime/index.ts";

export function checkRouteRegions(model: RequestModel, engine: Engine, checked: CheckedPolicy, samples: JsonObject[], context: string): { unreachable: number; witnesses: Witness[] } {
  const b = model.bdd;
  const taken = new Set(samples.map((s) => engine.decide(requestFromSignals(s)).route));
  const witnesses: Witness[] = [];
  let unreachable = 0;
  let earlier = FALSE;
  for (const route of checked.routes) {
    const c = model.condition(route.when);
    const region = model.constrain(b.and(c, b.not(earlier)));
    if (region === FALSE) {
      unreachable++;
      assert.ok(!taken.has(route.name), `${route.name} is unreachable for the analysis, yet sampled inputs reach it\n${context}`);
    } else {
      const w = model.witness(region)!;
      assert.equal(engine.decide(requestFromSignals(w.signals)).route, route.name, `witness for ${route.name}: ${JSON.stringify(w.signals)}\n${context}`);
      witnesses.push(w);
    }
    earlier = b.or(earlier, c);
  }
  return { unreachable, witnesses };
}
