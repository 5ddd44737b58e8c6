// The analysis reasons about every request; each finding's witness is run
// through the decision engine to show the finding is real.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Engine, requestFromSignals } from "../runtime/index.ts";
import { unconfirmedWitnesses } from "../cli/lint-command.ts";
import type { CompileResult } from "../compiler/index.ts";
import { compile, emitBundle, formatFile, memoryHost } from "../compiler/index.ts";
import { parseFile } from "../grammar/index.ts";
import { FALSE } from "../compiler/analysis/bdd.ts";
import { RequestModel } from "../compiler/analysis/model.ts";
import { RouteRegions } from "../compiler/analysis/regions.ts";
import { codes, compileText } from "./support/policy.ts";

/** Replays every witness through the engine (as `routeplane lint` does); returns how many there were. */
async function checkWitnesses(result: CompileResult): Promise<number> {
  assert.ok(result.analysis, "the analysis ran");
  assert.deepEqual(await unconfirmedWitnesses(result), []);
  return result.analysis.witnesses.length;
}

test("context bands exclude each other; threshold ladders shadow only what they cover", async () => {
  const r = compileText(`
signal context long  { min_tokens: 8000 }
signal context short { max_tokens: 999 }
signal domain topic { classes: [code, law] }
route impossible priority 9 { when long and short; use m }
route code priority 5 { when topic.code > 0.7; use m }
route strict_code priority 4 { when topic.code >= 0.8; use local }
route loose_code priority 3 { when topic.code > 0.5; use local }
default { use m }
`);
  assert.deepEqual(codes(r), ["RP1001", "RP1002", "RP1015"]);
  assert.match(r.diagnostics[1].message, /`strict_code` is shadowed.*by `code` first/);
  // The ladder: `code` (> 0.7) takes the top of `loose_code`'s band (> 0.5), a note with a witness above 0.7.
  assert.match(r.diagnostics[2].message, /`loose_code` is partially shadowed: `code` \(priority 5\) takes the requests both match, e\.g\. .*topic \(code=0\.75, no match\)/);
  assert.equal(r.diagnostics[2].severity, "info");
  assert.equal(await checkWitnesses(r), 2);
});

test("one value per header: a route needing two values never matches", () => {
  const r = compileText(`
signal header tier { name: "x-tier" }
signal header tier2 { name: "X-Tier" }
route both priority 2 { when tier == "pro" and tier2 == "free"; use m }
default { use local }
`);
  assert.deepEqual(codes(r), ["RP1001"]);
});

test("equal priorities that overlap with different actions are an error, unless `before` breaks the tie", async () => {
  const policy = (tie: string) => `
signal keyword refund { any: ["refund"] }
signal header tier { name: "x-tier" }
route refunds priority 5 ${tie}{ when refund; use m fallback local }
route pro priority 5 { when tier == "pro"; use local }
default { use m }
`;
  const r = compileText(policy(""));
  assert.deepEqual(codes(r), ["RP1003"]);
  assert.equal(r.bundle, null);
  assert.equal(await checkWitnesses(r), 1);
  const fixed = compileText(policy("before pro "));
  assert.deepEqual(codes(fixed), []);
  assert.deepEqual(fixed.bundle!.policy.routes.map((x) => x.name), ["refunds", "pro"]);
  // Disjoint conditions at equal priority are fine.
  assert.deepEqual(codes(compileText(policy("").replace('tier == "pro"', 'not refund'))), ["RP1005"], "only `tier` is now unused");
});

test("`before` orders along a chain: a before b, b before c orders a and c (no RP1003)", () => {
  const policy = (third: string) => `
signal keyword refund { any: ["refund"] }
signal keyword urgent { any: ["urgent"] }
signal header tier { name: "x-tier" }
route a priority 5 before b { when refund; use m }
route b priority 5 ${third}{ when urgent and not refund; use local }
route c priority 5 { when refund or tier == "pro"; use local fallback m }
default { use m }
`;
  const chained = compileText(policy("before c "));
  assert.deepEqual(codes(chained), ["RP1015"], "c's refund requests go to a, in order: only partly shadowed");
  assert.deepEqual(chained.bundle!.policy.routes.map((x) => x.name), ["a", "b", "c"]);
  // Without the link b → c, a and c are ordered by name only: their overlap is ambiguous.
  const loose = compileText(policy(""));
  assert.deepEqual(loose.diagnostics.filter((d) => d.code === "RP1003").map((d) => /routes `(\w+)` and `(\w+)`/.exec(d.message)?.slice(1).sort().join("+")).sort(), ["a+c", "b+c"]);
});

test("a route whose requests would get the same decision without it is redundant", async () => {
  const r = compileText(`
signal keyword refund { any: ["refund"] }
signal keyword urgent { any: ["urgent"] }
route urgent_refunds priority 3 { when refund and urgent; use local }
route refunds priority 2 { when refund; use local }
route other priority 1 { when urgent; use m }
default { use m }
`);
  assert.deepEqual(r.diagnostics.map((d) => `${d.code} ${d.message}`), [
    "RP1012 route `urgent_refunds` is redundant: without it, its requests would go to `refunds` with the same models and plugins",
    "RP1015 route `refunds` is partially shadowed: `urgent_refunds` (priority 3) takes the requests both match, e.g. refund (count=1); urgent (count=1)",
    "RP1012 route `other` is redundant: without it, its requests would go to the default with the same models and plugins",
    "RP1015 route `other` is partially shadowed: `urgent_refunds` (priority 3) takes the requests both match, e.g. refund (count=1); urgent (count=1)",
  ]);
  assert.equal(await checkWitnesses(r), 4);
});

test("requests that reach nothing are reported with a witness the engine rejects", async () => {
  const r = compileText(`
signal keyword refund { any: ["refund"] }
route refunds priority 5 { when refund; use m }
route local_only priority 4 { when not refund; use local }
`);
  assert.deepEqual(codes(r), [], "these two routes cover every request");
  const gap = compileText(`
signal keyword refund { any: ["refund"] }
route refunds priority 5 { when refund; use m }
route also priority 4 { when refund; use local }
`);
  assert.deepEqual(codes(gap).sort(), ["RP1002", "RP1004"]);
  assert.equal(await checkWitnesses(gap), 2);
});

test("guarantees: proved over fallbacks and adaptive candidates, or refuted with a counter-example the engine confirms", async () => {
  const base = (action: string) => `
signal pii pii { types: [email] }
signal keyword code { any: ["code"] }
plugin pii_redact redact { types: [email] }
route coding priority 5 { when code; ${action} }
route private priority 4 { when pii; use local }
default { use m; apply redact }
guarantee "email stays home" { when pii; require model.tags has onprem or applies pii_redact }
`;
  const proved = compileText(base("use local"));
  assert.deepEqual(codes(proved), []);
  assert.deepEqual(proved.bundle!.verification.guarantees.map((g) => g.status), ["proved"]);
  // A cloud fallback can receive the request when the local model fails.
  const fallback = compileText(base("use local fallback m"));
  assert.deepEqual(codes(fallback), ["RP1008"]);
  assert.match(fallback.diagnostics.find((d) => d.code === "RP1008")!.message, /decided by route `coding` and sent to `m`/);
  assert.equal(await checkWitnesses(fallback), 1);
  // Adaptive: every candidate the bounds allow counts, not only today's favourite.
  const adaptive = compileText(base("select adaptive { models: [local, m], objective: quality, floor: 0.0 }"));
  assert.deepEqual(codes(adaptive), ["RP1008"]);
  // Redaction makes it hold again.
  assert.deepEqual(codes(compileText(base("select adaptive { models: [local, m], objective: quality }; apply redact"))), []);
});

test("unused definitions are warned about only in the files being compiled", () => {
  const r = compile(memoryHost({
    "p/main.route": 'package p\nimport "../lib/catalog.route"\nsignal keyword k { any: ["x"] }\nsignal keyword unused { any: ["y"] }\nroute r priority 1 { when k; use a }\ndefault { use b }\n',
    "lib/catalog.route": 'package lib\nmodel a { provider: openai, endpoint: "http://a/v1" }\nmodel b { provider: openai, endpoint: "http://b/v1" }\n',
  }), ["p/main.route"]);
  assert.deepEqual(r.diagnostics.map((d) => `${d.code} ${d.message}`), ["RP1005 signal `unused` is never used"]);
});

test("the examples analyse clean (only the reviewed notes) and prove their guarantees", async () => {
  // Intended, documented in docs/analysis.md: private data stays on small on-prem
  // models even when it is long (RP1014), and some routes deliberately win
  // overlapping requests (RP1015).
  const notes: Record<string, string[]> = {
    support: ["RP1014 private", "RP1014 refunds", "RP1014 long_docs", "RP1014 escalate", "RP1014 default"],
    coding: [],
    platform: ["RP1015 multimodal<enterprise", "RP1015 pro<multimodal", "RP1014 regulated", "RP1014 eu_personal_data", "RP1014 pro", "RP1014 non_english_free", "RP1014 default"],
    // Per profile: the policy's own default, then coding's default, then support's routes and default.
    agents: ["RP1014 default", "RP1014 default", "RP1014 refunds", "RP1014 faq", "RP1014 default"],
  };
  for (const ex of ["support", "coding", "platform", "agents"]) {
    const r = compile({ readFile: readExample }, [`examples/${ex}/main.route`]);
    assert.deepEqual(r.diagnostics.filter((d) => d.severity !== "info").map((d) => d.message), [], ex);
    assert.deepEqual(r.analysis!.witnesses.map((w) => `${w.code} ${w.subject}`), notes[ex], ex);
    assert.equal(await checkWitnesses(r), notes[ex].length);
    assert.ok(r.bundle!.verification.guarantees.length > 0);
    assert.ok(r.bundle!.verification.guarantees.every((g) => g.status === "proved"), ex);
  }
});

import { readFileSync } from "node:fs";
import path from "node:path";
import { REPO } from "./support/golden.ts";
function readExample(p: string): string | undefined {
  try {
    return readFileSync(path.join(REPO, p), "utf8");
  } catch {
    return undefined;
  }
}

test("diff: a changed threshold changes exactly the requests between the old and new value", async () => {
  const { diffPolicies } = await import("../compiler/index.ts");
  const policy = (t: string) => compileText(`
signal domain topic { classes: [code, law] }
route code priority 2 { when topic.code > ${t}; use m }
default { use local }
`);
  const [a, b] = [policy("0.7"), policy("0.5")];
  const same = diffPolicies(a.checked!, a.checked!);
  assert.deepEqual(same.changes, []);
  const d = diffPolicies(a.checked!, b.checked!);
  assert.deepEqual(d.changes.map((c) => [c.before.route, c.after.route]), [["default", "code"]]);
  assert.deepEqual(d.redefined, []);
  // The example lies between the thresholds, and both engines agree with the diff.
  const [e0, e1] = await Promise.all([Engine.load(a.bundle!), Engine.load(b.bundle!)]);
  const c = d.changes[0];
  assert.equal(e0.decide(requestFromSignals(c.signalsBefore)).route, "default");
  assert.equal(e1.decide(requestFromSignals(c.signalsAfter)).route, "code");
});

test("diff: a redefined signal is compared as a different signal", async () => {
  const { diffPolicies } = await import("../compiler/index.ts");
  const policy = (words: string) => compileText(`
signal keyword urgent { any: [${words}] }
route fast priority 2 { when urgent; use m }
default { use local }
`);
  const d = diffPolicies(policy('"urgent"').checked!, policy('"urgent", "asap"').checked!);
  assert.deepEqual(d.redefined, ["urgent"]);
  assert.deepEqual(d.changes.map((c) => [c.before.route, c.after.route]).sort(), [["default", "fast"], ["fast", "default"]]);
});

test("projected regions agree with the plain encoding on random policies, and every witness lands on its route", async () => {
  // Seeded: signals shared by several routes and signals only one route uses, so
  // both the projected and the shared parts of the encoding are exercised.
  let seed = 20261123;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const atoms = ["k0", "k1", "k2", "k3", "k4", "k5", "short", "long", "mid", 'tier == "pro"', 'tier == "free"', "jb", "jb.score > 0.5", "pii"];
  const cond = (depth: number): string => {
    const r = rand(depth > 0 ? 6 : 2);
    if (r <= 1) return atoms[rand(atoms.length)];
    if (r === 2) return `not (${cond(depth - 1)})`;
    return `(${cond(depth - 1)}) ${r % 2 ? "and" : "or"} (${cond(depth - 1)})`;
  };
  let compared = 0;
  for (let p = 0; p < 40; p++) {
    const routes = 3 + rand(6);
    const text = `
signal keyword k0 { any: ["a"] }
signal keyword k1 { any: ["b"] }
signal keyword k2 { any: ["c"] }
signal keyword k3 { any: ["d"] }
signal keyword k4 { any: ["e"] }
signal keyword k5 { any: ["f"] }
signal context short { max_tokens: 999 }
signal context mid { min_tokens: 500, max_tokens: 4000 }
signal context long { min_tokens: 3000 }
signal header tier { name: "x-tier" }
signal jailbreak jb { threshold: 0.8 }
signal pii pii { types: [email] }
${Array.from({ length: routes }, (_, i) => `route r${i} priority ${100 - i} { when ${cond(2)}; use ${i % 2 ? "m" : "local"} }`).join("\n")}
default { use m }
`;
    const result = compileText(text);
    if (!result.checked) continue;
    const checked = result.checked;
    const model = new RequestModel(checked);
    const b = model.bdd;
    const conds = checked.routes.map((r) => model.condition(r.when));
    const space = new RouteRegions(model, conds, []);
    const bundle = result.bundle ?? emitBundle(checked, result.analysis!);
    const engine = await Engine.load(bundle);
    let earlier = FALSE;
    for (let i = 0; i < conds.length; i++) {
      const plain = model.constrain(b.and(conds[i], b.not(earlier))) !== FALSE;
      assert.equal(space.sat({ match: [i], missBefore: i }), plain, `policy ${p}, route r${i}: projected and plain regions disagree\n${text}`);
      if (plain) {
        const w = space.witness({ match: [i], missBefore: i })!;
        assert.equal(engine.decide(requestFromSignals(w.signals)).route, checked.routes[i].name, `policy ${p}: witness for ${checked.routes[i].name}: ${w.description.join("; ")}`);
      }
      earlier = b.or(earlier, conds[i]);
      compared++;
    }
    const uncovered = model.constrain(b.not(earlier)) !== FALSE;
    assert.equal(space.sat({ missBefore: conds.length }), uncovered);
  }
  assert.ok(compared > 150, `compared ${compared} regions`);
});

test("assumptions: a relation the compiler cannot know removes findings that depend on its opposite", async () => {
  const policy = (assume: string) => `
signal domain topic { classes: [billing, code] }
signal keyword invoice { any: ["invoice"] }
${assume}
route billing priority 5 { when topic.billing > 0.5 or invoice; use m fallback local }
route coding priority 5 { when topic.code > 0.5; use local }
default { use m }
guarantee "code stays on-prem" {
  when topic.code > 0.5
  require model.tags has onprem
}
`;
  // Without the assumption, a request can score high on both classes: ambiguous, and the guarantee fails.
  const open = compileText(policy(""));
  assert.deepEqual(codes(open), ["RP1003", "RP1008"]);
  assert.equal(await checkWitnesses(open), 2);
  // The classifier picks one class (softmax scores), and invoices are never code questions.
  const assumed = compileText(policy(`
assume "one class scores high at a time" {
  require not (topic.billing > 0.5 and topic.code > 0.5)
}
assume "invoices are not code questions" {
  when invoice
  require topic.code <= 0.5
}`));
  assert.deepEqual(codes(assumed), []);
  const g = assumed.bundle!.verification.guarantees[0]!;
  assert.equal(g.status, "proved");
  assert.match(g.detail ?? "", /assuming "one class scores high at a time", "invoices are not code questions"/);
});

test("assume blocks format canonically and round-trip", () => {
  const src = `package t\n\nassume "x" { when a require b }\n`;
  const file = parseFile("a.route", src);
  assert.deepEqual(file.problems, []);
  const once = formatFile(file);
  assert.equal(once, `package t\n\nassume "x" {\n  when a\n  require b\n}\n`);
  assert.equal(formatFile(parseFile("a.route", once)), once);
});

test("keyword lists that imply or exclude one another: shadowed and dead routes, with witnesses", async () => {
  const r = compileText(`
signal keyword refund { any: ["refund", "money back"] }
signal keyword refund_order { all: ["order", "Refund"] }
signal keyword not_refund { any: ["help"], none: ["refund"] }
signal keyword sensitive { any: ["refund"], case_sensitive: true }
route refunds priority 3 { when refund; use m }
route refund_orders priority 2 { when refund_order; use local }
route confused priority 4 { when refund_order and not_refund; use m fallback local }
route exact priority 0 { when sensitive; use local fallback m }
default { use m }
`);
  // \`sensitive\` compares case-sensitively, so \`refund\` (folded) does not decide it: no finding for \`exact\`.
  assert.deepEqual(r.diagnostics.filter((d) => d.code !== "RP1015").map((d) => `${d.code} ${d.message}`), [
    "RP1002 route `refund_orders` is shadowed: every request it matches is decided by `refunds` first (their keyword lists imply it)",
    "RP1001 route `confused` can never match: no request satisfies its condition (its keyword lists rule each other out)",
  ]);
  assert.equal(await checkWitnesses(r), r.analysis!.witnesses.length);
});
