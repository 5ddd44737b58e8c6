// Compiler stages, alone and together.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { serializeBundle } from "../bundle/index.ts";
import { compile, DiagnosticBag, loadSources, memoryHost, resolveProgram, checkProgram } from "../compiler/index.ts";
import { collectRouteFiles, fsHost } from "../cli/files.ts";
import { REPO } from "./support/golden.ts";
import { codes, compileText, errorsOf } from "./support/policy.ts";

test("same input gives a byte-identical bundle", () => {
  const files = collectRouteFiles([path.join(REPO, "examples/platform")]);
  const a = serializeBundle(compile(fsHost, files).bundle!);
  const b = serializeBundle(compile(fsHost, [...files]).bundle!);
  assert.equal(a, b);
  // Relative and absolute paths name the same sources the same way.
  const rel = files.map((f) => path.relative(process.cwd(), f));
  assert.equal(serializeBundle(compile(fsHost, rel).bundle!), a);
});

test("the revision changes with the policy, not with comments or formatting", () => {
  const base = 'signal keyword k { any: ["x"] }\nroute r priority 1 { when k; use m }\n';
  const r1 = compileText(base).bundle!.manifest.revision;
  const r2 = compileText("# a comment\n" + base.replace("{ when k; use m }", "{\n  when k\n  use m\n}")).bundle!.manifest.revision;
  const r3 = compileText(base.replace("priority 1", "priority 2")).bundle!.manifest.revision;
  assert.equal(r1, r2);
  assert.notEqual(r1, r3);
});

test("stage load: imports are followed once, cycles and missing files reported", () => {
  const host = memoryHost({
    "p/main.route": 'package p\nimport "../lib/a.route"\nimport "../lib/b.route"\n',
    "lib/a.route": 'package lib\nimport "c.route"\n',
    "lib/b.route": 'package lib\nimport "c.route"\nimport "gone.route"\n',
    "lib/c.route": "package lib\n",
  });
  const diags = new DiagnosticBag();
  const set = loadSources(host, ["p/main.route"], diags);
  assert.deepEqual(set.files.map((f) => f.path), ["p/main.route", "lib/a.route", "lib/b.route", "lib/c.route"]);
  assert.deepEqual(diags.items.map((d) => d.code), ["RP0101"]);
});

test("a root that cannot be read is RP0106", () => {
  const r = compile(memoryHost({}), ["nowhere.route"]);
  assert.deepEqual(codes(r), ["RP0106"]);
  assert.equal(r.bundle, null);
});

test("stages run alone: resolve then check on a loaded program", () => {
  const diags = new DiagnosticBag();
  const set = loadSources(memoryHost({ "a.route": 'package a\nmodel m { provider: openai, endpoint: "http://m/v1" }\nsignal keyword k { any: ["x"] }\nroute r priority 3 { when k; use m }\n' }), ["a.route"], diags);
  const program = resolveProgram(set, diags);
  assert.equal(program.package, "a");
  assert.deepEqual([...program.routes.keys()], ["r"]);
  const checked = checkProgram(program, diags);
  assert.deepEqual(diags.items, []);
  assert.deepEqual(checked.routes[0].when, { op: "signal", signal: "k" });
});

test("many errors per run, and a broken declaration does not cascade", () => {
  const r = compileText([
    'signal keyword k { any: ["x"] ',          // unclosed: k is broken
    "route a priority 1 { when k; use nope }", // k: quiet; nope: RP0205
    "route b priority 2 { when zz; use m }",   // RP0204
    "model bad { provider: openai }",           // RP0303
    "route c priority 3 { when k; use bad }",  // bad failed its check: quiet
  ].join("\n"));
  assert.deepEqual(codes(r).sort(), ["RP0003", "RP0204", "RP0205", "RP0303"].sort());
});

test("routes are ordered by priority, then `before`, then name", () => {
  const r = compileText(`
signal keyword k { any: ["x"] }
route b priority 5 { when k; use m }
route a priority 5 { when k; use m }
route c priority 5 before a { when k; use m }
route z priority 9 { when k; use m }
route y priority 1 { when k; use m }
`);
  assert.deepEqual(errorsOf(r), []);
  assert.deepEqual(r.bundle!.policy.routes.map((x) => x.name), ["z", "b", "c", "a", "y"]);
});

test("conditions lower to the bundle's vocabulary", () => {
  const r = compileText(`
signal header tenant { name: "x-tenant" }
signal domain topic { classes: [code, math] }
signal pii pii { types: [email] }
signal language lang {}
route r priority 1 {
  when (topic.code > 0.7 or pii.email == true) and not tenant == "internal" and lang.code in ["en", "de"] and 0.2 < topic.math
  use m
}
`);
  assert.deepEqual(errorsOf(r), []);
  assert.deepEqual(r.bundle!.policy.routes[0].when, {
    op: "and",
    args: [
      { op: "or", args: [{ op: "cmp", signal: "topic", output: "code", cmp: ">", value: 0.7 }, { op: "signal", signal: "pii", output: "email" }] },
      { op: "not", arg: { op: "cmp", signal: "tenant", output: "value", cmp: "==", value: "internal" } },
      { op: "in", signal: "lang", output: "code", values: ["en", "de"] },
      { op: "cmp", signal: "topic", output: "math", cmp: ">", value: 0.2 },
    ],
  });
});

test("actions: fallback chains, selections, objectives and plugin overrides", () => {
  const r = compileText(`
signal keyword k { any: ["x"] }
plugin pii_redact scrub { types: [email, phone], mode: redact }
route a priority 3 { when k; use m fallback local }
route b priority 2 {
  when k
  select adaptive { models: [m, local], objective: 2 * quality - (cost_usd + latency_ms / 1000) / 2, explore: 0.1, floor: 0.2 }
  apply scrub { mode: mask }
}
route c priority 1 { when k; select weighted { models: [m, local], weights: [1, 3] } }
`);
  assert.deepEqual(errorsOf(r), []);
  const [a, b, c] = r.bundle!.policy.routes;
  assert.deepEqual(a.action.select, { algorithm: "use", models: ["m", "local"] });
  assert.deepEqual(b.action.select, { algorithm: "adaptive", models: ["m", "local"], objective: { quality: 2, cost_usd: -0.5, latency_ms: -0.0005 }, explore: 0.1, floor: 0.2 });
  assert.deepEqual(b.action.plugins, [{ plugin: "scrub", type: "pii_redact", config: { types: ["email", "phone"], mode: "mask" } }]);
  assert.deepEqual(c.action.select, { algorithm: "weighted", models: ["m", "local"], weights: [1, 3] });
});

test("a plugin override is checked against the plugin's schema", () => {
  const r = compileText(`
signal keyword k { any: ["x"] }
plugin pii_redact scrub { types: [email] }
route a priority 3 { when k; use m; apply scrub { mode: shred, colour: red } }
`);
  assert.deepEqual(codes(r).sort(), ["RP0301", "RP0302"]);
});

test("guarantees are type-checked, lowered, and recorded as proved in the bundle", () => {
  const r = compileText(`
signal pii pii { types: [email] }
plugin pii_redact scrub { types: [email] }
route a priority 3 { when pii; use local; apply scrub }
default { use m }
guarantee "pii stays home" { when pii; require model.tags has onprem or applies pii_redact or route == a }
`);
  assert.deepEqual(errorsOf(r), []);
  assert.deepEqual(r.checked!.guarantees[0].require, {
    op: "or",
    args: [{ op: "or", args: [{ op: "model-tag", tag: "onprem" }, { op: "applies", plugin: "pii_redact" }] }, { op: "route-is", routes: ["a"] }],
  });
  assert.deepEqual(r.bundle!.verification.guarantees.map((g) => [g.name, g.status]), [["pii stays home", "proved"]]);
});

test("did-you-mean only suggests near names", () => {
  const r = compileText('signal keyword urgent { any: ["x"] }\nroute a priority 1 { when completely_different; use m }\n');
  const d = r.diagnostics.find((x) => x.code === "RP0204")!;
  assert.equal(d.fix, undefined);
  assert.match(d.help ?? "", /declare it/);
});
