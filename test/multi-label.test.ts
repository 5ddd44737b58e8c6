// Multi-label domains: `signal domain topics { classes: [...], multi_label: true }`
// and `topics has "math"` — every class at or above the threshold is a label.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compile, memoryHost } from "../compiler/index.ts";
import { Engine, requestFromSignals } from "../runtime/index.ts";

const build = (src: string) => compile(memoryHost({ "p.route": src }), ["p.route"]);
const codes = (src: string) => build(src).diagnostics.map((d) => `${d.code} ${d.message}`);

const HEAD = `package ml
model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
model big { provider: vllm, endpoint: "http://127.0.0.2:9/v1" }
signal domain topics { classes: [math, code, law], threshold: 0.4, multi_label: true }
`;

test("`has` holds for every class at or above the threshold, several at once", async () => {
  const r = build(`${HEAD}
route both priority 30 { when topics has "math" and topics has code; use big }
route law priority 20 { when topics has law; use local }
default { use local }
`);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  assert.deepEqual(r.bundle.policy.routes[1].when, { op: "cmp", signal: "topics", output: "law", cmp: ">=", value: 0.4 });
  const engine = await Engine.load(r.bundle);
  const route = (scores: Record<string, number>) => engine.decide(requestFromSignals({ topics: scores })).route;
  assert.equal(route({ math: 0.9, code: 0.4, law: 0.8 }), "both", "code at exactly the threshold is a label");
  assert.equal(route({ math: 0.9, code: 0.39, law: 0.8 }), "law", "a second label, not only the best class");
  assert.equal(route({ math: 0.9, code: 0.1, law: 0.1 }), "default");
  // Offline (no classifier): every class scores 0, no label.
  assert.equal(engine.decide({ messages: [{ role: "user", content: "hi" }], headers: {}, metadata: {}, signals: {} }).route, "default");
});

test("the analysis reads each label as its class score against the threshold", () => {
  const found = codes(`${HEAD}
route math priority 20 { when topics has math and topics.math < 0.4; use big }
route law priority 10 { when topics has law; use big }
default { use local }
`);
  assert.ok(found.some((f) => /^RP1001 route `math`/.test(f)), found.join("\n"));
  assert.ok(!found.some((f) => /^RP1001 route `law`/.test(f)));
});

test("`has` needs a multi-label domain and one of its classes", () => {
  assert.match(codes(`${HEAD}signal domain topic { classes: [math, code] }\nroute r priority 1 { when topic has math; use big }\ndefault { use local }\n`)[0], /^RP0402 `topic` chooses one label: test it with `==` or `in`/);
  assert.match(codes(`${HEAD}route r priority 1 { when topics has "chem"; use big }\ndefault { use local }\n`)[0], /^RP0403 `topics` is never "chem"/);
  assert.match(codes(`${HEAD}route r priority 1 { when topics has 3; use big }\ndefault { use local }\n`)[0], /^RP0402 `has` takes one of the signal's classes/);
  assert.match(codes(`${HEAD}signal keyword k { any: ["x"] }\nroute r priority 1 { when k has x; use big }\ndefault { use local }\n`)[0], /^RP0402 `has` tests the labels of a multi-label domain signal; `k` is a keyword signal/);
  // Attack review: a class named as the signal's own outputs would make `topics.label` a score to the analysis and a label to the engine.
  for (const name of ["label", "matched"]) assert.match(codes(`${HEAD}signal domain d2 { classes: [${name}, math] }\ndefault { use local }\n`)[0], new RegExp(`^RP0208 \`${name}\` is reserved`));
});
