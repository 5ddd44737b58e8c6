// Partitions (`signal partition intent { members: [...], default: … }`,
// docs/language.md "Partitions"): exclusive groups — of the members that
// match, the most confident wins. The engine decides the winner; the analysis
// knows that at most one member wins, that a winner matched and beat every
// other matching member, exactly: checked on random policies against sampled
// inputs and engine-checked witnesses.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Bundle, JsonObject } from "../bundle/index.ts";
import { emitBundle } from "../compiler/index.ts";
import { RequestModel } from "../compiler/analysis/model.ts";
import { Engine, requestFromSignals } from "../runtime/index.ts";
import { compileText } from "./support/policy.ts";
import { checkRouteRegions } from "./support/regions.ts";

const SIGNALS = `
signal embedding code_help { candidates: ["write a function", "fix this bug"], threshold: 0.7 }
signal embedding math_help { candidates: ["solve the equation", "prove that"], threshold: 0.7 }
signal keyword chat { any: ["hello", "thanks"] }
signal partition intent { members: [code_help, math_help, chat] }
`;

test("the compiler gives a partition its outputs: the winner (a member or none) and one boolean per member", () => {
  const r = compileText(`${SIGNALS}\nroute r priority 1 { when intent == "math_help" or intent.chat; use m }\ndefault { use m }`);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const intent = r.checked!.signals.find((s) => s.name === "intent")!;
  assert.deepEqual(intent.outputs, { winner: { type: "category", values: ["code_help", "math_help", "chat", "none"] }, code_help: { type: "bool" }, math_help: { type: "bool" }, chat: { type: "bool" } });
  const withDefault = compileText(SIGNALS.replace("members: [code_help, math_help, chat]", "members: [code_help, math_help, chat], default: chat") + "\nroute r priority 1 { when intent.chat; use m }\ndefault { use m }");
  assert.deepEqual(withDefault.checked!.signals.find((s) => s.name === "intent")!.outputs!.winner, { type: "category", values: ["code_help", "math_help", "chat"] }, "with a default there is always a winner");
  assert.ok(compileText(`${SIGNALS}\nroute r priority 1 { when intent == "nope"; use m }\ndefault { use m }`).diagnostics.some((d) => d.code === "RP0403"), "a winner that is not a member is a value the signal can never have");
});

test("the engine: the most confident matching member wins, the first listed among equals, the default or none when nothing matches", async () => {
  const r = compileText(SIGNALS.replace("members: [code_help, math_help, chat]", "members: [code_help, math_help, chat], default: math_help") + "\nroute r priority 1 { when intent.chat; use m }\ndefault { use m }");
  const engine = await Engine.load(r.bundle!);
  const winner = (signals: JsonObject) => engine.decide(requestFromSignals(signals), { signals: true }).signals!.intent.outputs.winner;
  assert.equal(winner({ code_help: 0.8, math_help: 0.9 }), "math_help");
  assert.equal(winner({ code_help: 0.95, math_help: 0.9 }), "code_help");
  assert.equal(winner({ code_help: 0.8, math_help: 0.8 }), "code_help", "a tie: the first listed");
  assert.equal(winner({ code_help: 0.2, math_help: 0.3, chat: { matched: true, count: 1 } }), "chat", "a keyword member's confidence is 1");
  assert.equal(winner({ code_help: 0.2, math_help: 0.3 }), "math_help", "nothing matches: the default");
  assert.equal(winner({ intent: "chat" }), "chat", "a pinned winner");
  assert.equal(winner({ intent: "stranger" }), "none", "a pinned value that is not a member");
});

test("attack: a bundle whose partition has a partition or an undefined member, or a default outside its members, is refused at load", async () => {
  const bundle = compileText(`${SIGNALS}\nroute r priority 1 { when intent; use m }\ndefault { use m }`).bundle!;
  const variant = (config: JsonObject): Bundle => {
    const b = structuredClone(bundle);
    b.policy.signals.find((s) => s.name === "intent")!.config = config;
    return b;
  };
  await assert.rejects(Engine.load(variant({ members: ["intent", "chat"] })), /partition `intent` has partition `intent` as a member/);
  await assert.rejects(Engine.load(variant({ members: ["ghost", "chat"] })), /partition `intent` has undefined member `ghost`/);
  await assert.rejects(Engine.load(variant({ members: ["code_help", "chat"], default: "math_help" })), /default `math_help` is not one of its members/);
});

test("the analysis: two members never both win, a winner matched and beat the others, and a partition matches when a member does", async () => {
  const text = `${SIGNALS}
route code priority 10 { when intent.code_help; use m }
route both priority 8 { when intent.code_help and intent.math_help; use m }
route lost priority 7 { when intent.math_help and code_help.score > 0.9 and math_help.score < 0.8; use m }
route plain priority 6 { when intent.chat and code_help; use local }
route nothing priority 5 { when not intent and chat; use local }
default { use local }
`;
  const r = compileText(text);
  const dead = r.diagnostics.filter((d) => d.code === "RP1001").map((d) => /route `(\w+)`/.exec(d.message)![1]);
  assert.deepEqual(dead.sort(), ["both", "lost", "nothing"]);
  const engine = await Engine.load(r.bundle ?? emitBundle(r.checked!, r.analysis!));
  const model = new RequestModel(r.checked!);
  const w = model.witness(model.constrain(model.condition(r.checked!.routes.find((x) => x.name === "plain")!.when)))!;
  assert.equal(engine.decide(requestFromSignals(w.signals)).route, "plain", JSON.stringify(w.signals));
});

test("exact on random policies: unreachable routes are never taken by sampled inputs; every reachable one is taken by its witness", async () => {
  let seed = 20261204;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const pick = <T>(xs: readonly T[]) => xs[rand(xs.length)];
  let unreachable = 0;
  let reached = 0;
  let unpinned = 0;
  for (let p = 0; p < 50; p++) {
    const members = ["e1", "e2", "jb", "k", "e3"].sort(() => rand(3) - 1).slice(0, 2 + rand(3));
    const fallback = rand(3) === 0 ? `, default: ${pick(members)}` : "";
    const atoms = [...members.map((m) => `g.${m}`), 'g == "none"', "g", "e1", "e2.score > 0.6", "e1.score >= 0.8", "jb", "jb.score < 0.5", "k", "e3.score <= 0.4"].filter((a) => fallback === "" || a !== 'g == "none"');
    const cond = (depth: number): string => {
      const r = rand(depth > 0 ? 5 : 2);
      if (r <= 1) return pick(atoms);
      if (r === 2) return `not (${cond(depth - 1)})`;
      return `(${cond(depth - 1)}) ${r % 2 ? "and" : "or"} (${cond(depth - 1)})`;
    };
    const text = `
signal embedding e1 { candidates: ["a"], threshold: 0.5 }
signal embedding e2 { candidates: ["b"], threshold: 0.7 }
signal embedding e3 { candidates: ["c"], threshold: 0.3 }
signal jailbreak jb { threshold: 0.8 }
signal keyword k { any: ["x"] }
signal partition g { members: [${members.join(", ")}]${fallback} }
${Array.from({ length: 4 }, (_, i) => `route r${i} priority ${10 - i} { when ${cond(2)}; use ${i % 2 ? "m" : "local"} }`).join("\n")}
default { use m }
`;
    const result = compileText(text);
    assert.ok(result.checked && result.analysis, `policy ${p}: ${result.diagnostics.filter((d) => d.severity === "error").map((d) => d.message).join("\n")}\n${text}`);
    const checked = result.checked;
    const model = new RequestModel(checked);
    const engine = await Engine.load(result.bundle ?? emitBundle(checked, result.analysis!));
    const score = () => pick([0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, rand(1000) / 1000]);
    const samples: JsonObject[] = [];
    for (let i = 0; i < 400; i++) samples.push({ e1: score(), e2: score(), e3: score(), jb: score(), k: rand(2) ? { matched: true, count: 1 } : { matched: false, count: 0 } });
    const found = checkRouteRegions(model, engine, checked, samples, `policy ${p}\n${text}`);
    unreachable += found.unreachable;
    reached += found.witnesses.length;
    for (const w of found.witnesses) unpinned += w.signals.g === undefined ? 1 : 0;
  }
  assert.ok(unreachable > 15 && reached > 100, `unreachable ${unreachable}, reached ${reached}`);
  assert.ok(unpinned > reached * 0.6, `witnesses whose winner the engine elects from the members: ${unpinned} of ${reached}`);
});

test("a member that is a derived score brings the score's link to its inputs into every question about the partition", () => {
  const text = `
signal jailbreak jb { threshold: 0.8 }
signal complexity cx {}
signal score hard { value: 0.5 * jb.score + 0.5 * cx.score, threshold: 0.4 }
signal keyword chat { any: ["hello"] }
signal partition g { members: [chat, hard] }
route r1 priority 2 { when g.hard and jb.score < 0.2 and cx.score < 0.2; use m }
route r2 priority 1 { when g.hard and jb.score > 0.9; use m }
default { use local }
`;
  const r = compileText(text);
  const dead = r.diagnostics.filter((d) => d.code === "RP1001").map((d) => /route `(\w+)`/.exec(d.message)![1]);
  // hard's value is below 0.2 there, under its threshold: it cannot match, so it cannot win.
  assert.deepEqual(dead, ["r1"]);
});

test("a partition's members are used by it: no `never used` warning for a signal only the partition reads", () => {
  const r = compileText(`${SIGNALS}\nroute code priority 10 { when intent.code_help; use m }\ndefault { use local }`);
  assert.deepEqual(r.diagnostics.filter((d) => d.code === "RP1005").map((d) => d.message), []);
});
