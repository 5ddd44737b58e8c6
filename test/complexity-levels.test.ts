// Complexity levels: named bands over the complexity score, each a boolean
// output (`cx.hard`), in the checker, the engine and the analysis.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compile, memoryHost } from "../compiler/index.ts";
import { Engine, requestFromSignals } from "../runtime/index.ts";

const build = (src: string) => compile(memoryHost({ "p.route": src }), ["p.route"]);
const codes = (src: string) => build(src).diagnostics.map((d) => `${d.code} ${d.message}`);
const HEAD = `package cx
model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
model big { provider: vllm, endpoint: "http://127.0.0.2:9/v1" }
`;

test("each level is the score in its band: from its min (included) to its max (excluded)", async () => {
  const r = build(`${HEAD}
signal complexity cx { levels: { easy: { max: 0.3 }, medium: { min: 0.3, max: 0.7 }, hard: { min: 0.7 } } }
route hard priority 30 { when cx.hard; use big }
route medium priority 20 { when cx.medium; use local }
default { use local }
`);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const engine = await Engine.load(r.bundle);
  const at = (score: number) => engine.decide(requestFromSignals({ cx: score }), { signals: true });
  assert.deepEqual([0.29, 0.3, 0.69, 0.7, 1].map((x) => at(x).route), ["default", "medium", "medium", "hard", "hard"]);
  assert.deepEqual(at(0.1).signals!.cx.outputs, { score: 0.1, easy: true, medium: false, hard: false });
  // Computed from a real message too (the heuristic score), with its levels.
  const computed = engine.decide({ messages: [{ role: "user", content: "hi" }], headers: {}, metadata: {}, signals: {} }, { signals: true }).signals!.cx;
  assert.equal(computed.outputs.easy, (computed.outputs.score as number) < 0.3);
});

test("the analysis: levels of one signal, and of two signals over the one score", () => {
  const found = codes(`${HEAD}
signal complexity cx { levels: { easy: { max: 0.3 }, hard: { min: 0.7 } } }
signal complexity strict { threshold: 0.8, levels: { hard: { min: 0.9 } } }
route both priority 40 { when cx.easy and cx.hard; use big }
route odd priority 30 { when cx.easy and strict; use big }
route odd2 priority 20 { when strict.hard and not cx.hard; use big }
route fine priority 10 { when cx.hard and not strict.hard; use big }
default { use local }
`);
  for (const dead of ["both", "odd", "odd2"]) assert.ok(found.some((f) => f.startsWith(`RP1001 route \`${dead}\``)), `${dead}: ${found.join("\n")}`);
  assert.ok(!found.some((f) => f.startsWith("RP1001 route `fine`")));
});

test("bad levels are errors at the level", () => {
  assert.match(codes(`${HEAD}signal complexity cx { levels: { hard: {} } }\ndefault { use local }\n`)[0], /^RP0301 level `hard` of complexity signal `cx` has neither min nor max/);
  assert.match(codes(`${HEAD}signal complexity cx { levels: { hard: { min: 0.8, max: 0.5 } } }\ndefault { use local }\n`)[0], /^RP0301 level `hard` .* is empty/);
  assert.match(codes(`${HEAD}signal complexity cx { levels: { score: { min: 0.8 } } }\ndefault { use local }\n`)[0], /^RP0301/);
  assert.match(codes(`${HEAD}signal complexity cx { levels: { __proto__: { min: 0.8 } } }\ndefault { use local }\n`)[0], /^RP0208/);
});
