// Model-backed signals scored through the embeddings endpoint: a knowledge
// base (label and similarity of the closest entry), the fact-check
// classifier, and the feedback classifier — each with its offline stand-in,
// and read exactly by the analysis.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { compile, memoryHost } from "../compiler/index.ts";
import { Engine, SemanticSignals, requestFromChat, requestFromSignals, startDemoUpstream } from "../runtime/index.ts";
import { factCheckScore, knowledgeValue } from "../runtime/engine/detectors.ts";
import { serveText } from "./support/serve-text.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const build = (src: string) => compile(memoryHost({ "p.route": src }), ["p.route"]);
const codes = (src: string) => build(src).diagnostics.map((d) => `${d.code} ${d.message}`);

const policy = (url: string) => `package kb
model local { provider: vllm, endpoint: "${url}" }
model big { provider: vllm, endpoint: "${url}" }
signal knowledge kb { entries: { refunds: ["how do I get my money back", "refund for a damaged order"], shipping: ["where is my parcel", "tracking number for delivery"] }, threshold: 0.5 }
signal fact_check facts { threshold: 0.5 }
signal feedback upset { classifier: embeddings, negative: ["this answer is wrong", "you did not help at all"], positive: ["thanks that solved it"], threshold: 0.6 }
route unhappy priority 40 { when upset == "negative"; use big }
route refunds priority 30 { when kb == "refunds"; use big }
route shipping priority 20 { when kb.label == "shipping" and kb.score >= 0.6; use local }
route factual priority 10 { when facts; use big }
default { use local }
`;

test("the knowledge value: the closest entry's label when it reaches the threshold, else none", () => {
  const entries = { a: ["x", "y"], b: ["z"] };
  const sim = (m: Record<string, number>) => (t: string) => m[t];
  assert.deepEqual(knowledgeValue(entries, 0.5, sim({ x: 0.2, y: 0.7, z: 0.6 })), { matched: true, label: "a", score: 0.7 });
  assert.deepEqual(knowledgeValue(entries, 0.5, sim({ x: 0.2, y: 0.3, z: 0.4 })), { matched: false, label: "", score: 0.4 });
  // Rounded before it is compared, as conditions see it; out-of-range similarities are clamped.
  assert.deepEqual(knowledgeValue(entries, 0.5, sim({ x: 0.4999, y: -3, z: 0 })), { matched: true, label: "a", score: 0.5 });
  assert.deepEqual(knowledgeValue(entries, 0.5, sim({ x: 7, y: 0, z: 0 })), { matched: true, label: "a", score: 1 });
});

test("the fact-check stand-in: factual questions and figures score, creative asks do not", () => {
  assert.ok(factCheckScore("What year was the Eiffel Tower built, according to official records?") >= 0.5);
  assert.ok(factCheckScore("How many people live in Lagos in 2024?") >= 0.5);
  assert.equal(factCheckScore("Write a poem about the Eiffel Tower"), 0);
  // A question about a year, a count or a person anywhere in the sentence (newcomer review).
  for (const q of ["In what year was the Eiffel Tower built?", "What year did the Berlin wall fall?", "Tell me how many moons Mars has", "who invented the telephone"]) assert.ok(factCheckScore(q) >= 0.5, q);
  assert.ok(factCheckScore("hello there") < 0.5);
  assert.equal(factCheckScore(""), 0);
  // Linear on hostile text.
  const t0 = performance.now();
  factCheckScore("who ".repeat(50_000) + "according to ".repeat(50_000));
  assert.ok(performance.now() - t0 < 500);
});

test("offline, the engine decides with the stand-ins; given values follow the same rules", async () => {
  const r = build(policy("http://127.0.0.1:9/v1"));
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const engine = await Engine.load(r.bundle);
  const ask = (text: string) => engine.decide(requestFromChat({ messages: [{ role: "user", content: text }] }), { signals: true });
  const refund = ask("how do I get my money back");
  assert.equal(refund.route, "refunds");
  assert.equal(refund.signals!.kb.source, "offline");
  assert.equal(ask("How many people live in Lagos in 2024?").route, "factual");
  // The phrase stand-in of the feedback classifier: none of its examples is in the text.
  assert.equal(ask("this answer is wrong").route, "unhappy");
  // Given: a similarity decides the label (an unknown label never comes through).
  const given = (kb: unknown) => engine.decide(requestFromSignals({ kb: kb as never, facts: 0 })).route;
  assert.equal(given({ label: "shipping", score: 0.7 }), "shipping");
  assert.equal(given({ label: "shipping", score: 0.55 }), "default");
  assert.equal(given({ label: "bogus", score: 0.9 }), "refunds", "not an entry: the first entry's");
  assert.equal(given({ label: "refunds", score: 0.2 }), "default");
  assert.equal(given("refunds"), "refunds");
});

test("through a real sidecar and embeddings endpoint: the closest entry, fact-check and feedback by similarity", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const semantic = new SemanticSignals({ url: up.url, model: "embed-1", budgetMs: 500 });
  cleanups.push(() => semantic.close());
  const { port, close } = await serveText(policy(up.url), { semantic });
  cleanups.push(close);
  const route = async (text: string) => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content: text }] }) });
    await res.text();
    return res.headers.get("x-routeplane-route");
  };
  // The demo endpoint's vectors are bags of words: texts sharing words are similar.
  assert.equal(await route("where is my parcel tracking number"), "shipping");
  assert.equal(await route("refund for a damaged order please"), "refunds");
  assert.equal(await route("you did not help at all"), "unhappy");
  assert.equal(await route("what is the capital of France"), "factual");
  const inputs = up.received.filter((x) => x.path.endsWith("/embeddings")).flatMap((x) => x.body.input as string[]);
  assert.ok(inputs.includes("tracking number for delivery") && inputs.includes("what is the capital of") && inputs.includes("thanks that solved it"), "entries, fact-check questions and feedback examples were embedded");
  assert.equal(semantic.outcomes.error, 0);
});

test("the analysis: the label is an entry's exactly when the similarity reaches the threshold", () => {
  const HEAD = `package kb
model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
model big { provider: vllm, endpoint: "http://127.0.0.2:9/v1" }
signal knowledge kb { entries: { refunds: ["money back"], shipping: ["parcel"] }, threshold: 0.5 }
`;
  const found = codes(`${HEAD}
route a priority 40 { when kb == "refunds" and kb.score < 0.5; use big }
route b priority 30 { when kb and not (kb in ["refunds", "shipping"]); use big }
route c priority 20 { when not kb and kb in ["refunds", "shipping"]; use big }
route d priority 10 { when kb.score >= 0.9 and kb == "shipping"; use big }
default { use local }
`);
  for (const dead of ["a", "b", "c"]) assert.ok(found.some((f) => f.startsWith(`RP1001 route \`${dead}\``)), `${dead}: ${found.join("\n")}`);
  assert.ok(!found.some((f) => f.startsWith("RP1001 route `d`")));
  assert.match(codes(`${HEAD}route r priority 1 { when kb == "returns"; use big }\ndefault { use local }\n`)[0], /^RP0403 `kb.label` is never "returns"/);
  assert.match(codes(`${HEAD.replace(/signal knowledge.*\n/, "")}signal knowledge kb { entries: {} }\ndefault { use local }\n`)[0], /^RP0301|^RP0303/);
  const tooMany = `{ ${Array.from({ length: 33 }, (_, i) => `l${i}: ["x"]`).join(", ")} }`;
  assert.match(codes(`${HEAD.replace(/signal knowledge.*\n/, "")}signal knowledge kb { entries: ${tooMany} }\ndefault { use local }\n`)[0], /^RP0301 .*more than 32/);
});

test("attack review: a knowledge base at its size limit and a 4 MiB message cost one pass over a bounded part of the message", async () => {
  const entries = Array.from({ length: 32 }, (_, l) => `l${l}: [${Array.from({ length: 32 }, (_, t) => `"text ${l} ${t} about refunds"`).join(", ")}]`).join(", ");
  const r = build(`package kb
model m { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
signal knowledge kb { entries: { ${entries} } }
signal embedding e { candidates: ["refund my order"], threshold: 0.5 }
route r priority 2 { when kb or e; use m }
default { use m }
`);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const engine = await Engine.load(r.bundle);
  const huge = "word ".repeat(800_000) + "refunds";
  const t0 = performance.now();
  engine.decide(requestFromChat({ messages: [{ role: "user", content: huge }] }));
  const ms = performance.now() - t0;
  assert.ok(ms < 1500, `${ms.toFixed(0)} ms`);
});
