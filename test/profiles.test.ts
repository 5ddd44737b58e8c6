// Request-facing profiles: several sets of routes in one package, selected by
// the requested model name or a path prefix, each analysed on its own.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { adaptiveRoutesOf, validateBundle } from "../bundle/index.ts";
import { compile, formatFile, memoryHost } from "../compiler/index.ts";
import { parseFile } from "../grammar/index.ts";
import { Engine, requestFromChat, startDemoUpstream } from "../runtime/index.ts";
import { unconfirmedWitnesses } from "../cli/lint-command.ts";
import { serveText } from "./support/serve-text.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const build = (src: string) => compile(memoryHost({ "p.route": src }), ["p.route"]);
const codes = (src: string) => build(src).diagnostics.map((d) => `${d.code} ${d.message}`);

const policy = (url = "http://127.0.0.1:9/v1") => `package prof
model local { provider: vllm, endpoint: "${url}", tags: [onprem] }
model big { provider: vllm, endpoint: "${url}", tags: [onprem] }
model cloud { provider: openai, endpoint: "${url}" }
signal keyword code { any: ["code", "bug"] }
signal keyword urgent { any: ["urgent"] }
profile coding { models: ["coding-assistant"], path_prefix: "/coding" }
profile coding_ide { path_prefix: "/coding/ide" }
profile support { models: ["support-bot"] }
route fix in coding priority 20 { when code; use big }
default in coding { use local }
route ide in coding_ide priority 20 { when code; use cloud }
route tickets in support priority 20 { when urgent; use big }
route general priority 20 { when code; use cloud }
default { use local }
`;

test("profiles parse and format; `profile` stays usable as a name", () => {
  const file = parseFile("p.route", policy());
  assert.deepEqual(file.problems, []);
  const once = formatFile(file);
  assert.match(once, /^profile coding \{ models: \["coding-assistant"\], path_prefix: "\/coding" \}$/m);
  assert.match(once, /^route fix in coding priority 20 \{ when code; use big \}$/m);
  assert.match(once, /^default in coding \{ use local \}$/m);
  assert.equal(formatFile(parseFile("p.route", once)), once);
  // A signal or a route named `profile`, and `before profile`, are names as before.
  const named = build(`package n
model m { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
signal keyword profile { any: ["x"] }
route profile priority 2 { when profile; use m }
route other priority 2 before profile { when not profile; use m }
default { use m }
`);
  assert.deepEqual(named.diagnostics.filter((d) => d.severity === "error"), []);
});

test("the engine: the longest path prefix, then the requested model name, else the policy's own routes", async () => {
  const r = build(policy());
  assert.ok(r.bundle, r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  assert.equal(validateBundle(r.bundle).ok, true);
  const engine = await Engine.load(r.bundle);
  assert.deepEqual(["/coding", "/coding/x", "/coding/ide", "/coding/ide/v2", "/codingx", "/other"].map((p) => engine.profileFor(undefined, p)), ["coding", "coding", "coding_ide", "coding_ide", "", ""]);
  assert.deepEqual(["coding-assistant", "support-bot", "gpt-4o", 7, undefined].map((m) => engine.profileFor(m)), ["coding", "support", "", "", ""]);
  const decide = (model: string | undefined, text: string, profile?: string) => engine.decide({ ...requestFromChat({ ...(model ? { model } : {}), messages: [{ role: "user", content: text }] } as never), ...(profile ? { profile } : {}) });
  assert.equal(decide("coding-assistant", "a bug").route, "fix");
  assert.equal(decide("coding-assistant", "hello").route, "coding.default", "a profile's default decides under its own name");
  assert.equal(decide(undefined, "a bug").route, "general");
  assert.equal(decide("support-bot", "urgent").route, "tickets");
  const rejected = decide("support-bot", "a bug");
  assert.equal(rejected.route, null, "support has no default: its routes only, never the policy's");
  assert.match(rejected.blocked!.message, /no route of profile `support` matched/);
  assert.equal(decide("coding-assistant", "a bug", "coding_ide").route, "ide", "the sidecar's choice (the path) wins over the model name");
  assert.equal(decide(undefined, "a bug", "nonexistent").route, "general");
});

test("each profile is analysed on its own: overlaps, dead routes, defaults, guarantees, unused definitions", async () => {
  // Equal priorities in different profiles never compete: no RP1003 between fix, ide, tickets and general.
  const r = build(policy());
  assert.deepEqual(r.diagnostics.map((d) => d.code).filter((c) => c !== "RP1015"), ["RP1004", "RP1004"]);
  assert.deepEqual(r.diagnostics.filter((d) => d.code === "RP1004").map((d) => /^profile `(\w+)` has no `default`/.exec(d.message)?.[1]).sort(), ["coding_ide", "support"]);
  assert.deepEqual(await unconfirmedWitnesses(r), [], "every witness, in its profile, is confirmed by the engine");
  // A signal used by one profile only is used.
  assert.equal(codes(policy().replace('route general priority 20 { when code; use cloud }', "")).some((c) => c.startsWith("RP1005")), false);
  // A dead route in a profile, an overlap inside one.
  const found = codes(`${policy()}
route dead in support priority 5 { when urgent and not urgent; use big }
route clash in support priority 20 { when urgent or code; use local }
`);
  assert.ok(found.some((f) => f.startsWith("RP1001 route `dead`")), found.join("\n"));
  assert.ok(found.some((f) => /^RP1003 routes `(clash|tickets)` and `(clash|tickets)`/.test(f)), found.join("\n"));
  // A guarantee must hold in every profile; the failure names where.
  const g = build(`${policy()}guarantee "code stays on prem" { when code; require model.tags has onprem }\n`);
  const failures = g.diagnostics.filter((d) => d.code === "RP1008").map((d) => d.message);
  assert.ok(failures.some((m) => /decided by route `general` and sent to `cloud`/.test(m)));
  assert.ok(failures.some((m) => /decided by route `ide` and sent to `cloud`/.test(m)));
  assert.ok(failures.some((m) => /rejected for want of a default in profile `support`/.test(m)), failures.join("\n"));
  assert.equal(g.analysis!.guarantees[0].status, "failed");
  const fixed = build(`${policy().replace(/use cloud/g, "use big").replace("default { use local }", "default { use local }\ndefault in support { use local }\ndefault in coding_ide { use local }")}guarantee "code stays on prem" { when code; require model.tags has onprem }\n`);
  assert.deepEqual(fixed.analysis!.guarantees.map((x) => x.status), ["proved"]);
  assert.match(fixed.analysis!.guarantees[0].detail ?? "", /in each profile/);
});

test("checks: undefined profiles, a model name or path claimed twice, bad prefixes, two defaults in one profile", () => {
  const base = `package c
model m { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
profile a { models: ["x"], path_prefix: "/a" }
`;
  const errs = (src: string) => build(base + src).diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  assert.match(errs(`route r in b priority 1 { when true; use m }\ndefault { use m }\n`)[0], /^RP0209 undefined profile `b`/);
  assert.match(errs(`default in b { use m }\n`)[0], /^RP0209 undefined profile `b`/);
  assert.match(errs(`profile b { models: ["x"] }\ndefault { use m }\n`)[0], /^RP0310 profiles `a` and `b` both claim model name "x"/);
  assert.match(errs(`profile b { path_prefix: "/a" }\ndefault { use m }\n`)[0], /^RP0310 profiles `a` and `b` both claim path prefix "\/a"/);
  assert.match(errs(`profile b { path_prefix: "a/" }\ndefault { use m }\n`)[0], /^RP0301 `path_prefix`/);
  for (const bad of ["/a/../b", "/.", "/a/.hidden"]) assert.match(errs(`profile b { path_prefix: "${bad}" }\ndefault { use m }\n`)[0] ?? "", /^RP0301 `path_prefix`/, bad);
  // A test's path must be one a profile serves, as the sidecar answers 404 otherwise.
  assert.match(errs(`default { use m }\ntest "t" { request { path: "/b", user: "x" } expect route default }\n`)[0], /^RP0702 no profile serves the path \/b/);
  assert.match(errs(`profile b {}\ndefault { use m }\n`)[0], /^RP0303 profile `b` needs at least one of `models`, `path_prefix`/);
  assert.match(errs(`default in a { use m }\ndefault in a { use m }\n`)[0], /^RP0511 profile `a` has more than one `default`/);
  assert.match(errs(`profile a { models: ["y"] }\ndefault { use m }\n`)[0], /^RP0201 profile `a` is defined twice/);
});

test("a real sidecar picks the profile by path prefix or model name", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const r = build(policy(up.url));
  assert.ok(r.bundle);
  assert.deepEqual([...adaptiveRoutesOf(r.bundle).keys()], []);
  const { port, close } = await serveText(policy(up.url));
  cleanups.push(close);
  const send = async (path: string, body: object) => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, route: res.headers.get("x-routeplane-route"), profile: res.headers.get("x-routeplane-profile"), text };
  };
  // Clients see the profiles' model names beside the models.
  const models = (await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as { data: { id: string; owned_by: string }[] };
  assert.deepEqual(models.data.filter((m) => m.owned_by.startsWith("routeplane profile")).map((m) => `${m.id} ${m.owned_by}`), ["coding-assistant routeplane profile coding", "support-bot routeplane profile support"]);
  assert.deepEqual([(await send("/coding/v1/chat/completions", { messages: [{ role: "user", content: "x" }] })).profile, (await send("/v1/chat/completions", { messages: [{ role: "user", content: "x" }] })).profile], ["coding", null]);
  const msg = (content: string) => ({ messages: [{ role: "user", content }] });
  assert.deepEqual([(await send("/coding/v1/chat/completions", msg("a bug"))).route, (await send("/coding/v1/chat/completions", msg("hi"))).route], ["fix", "coding.default"]);
  assert.equal((await send("/coding/ide/v1/chat/completions", msg("a bug"))).route, "ide");
  assert.equal((await send("/v1/chat/completions", { model: "coding-assistant", ...msg("a bug") })).route, "fix");
  assert.equal((await send("/v1/chat/completions", msg("a bug"))).route, "general");
  assert.equal((await send("/coding/v1/completions", { prompt: "a bug" })).route, "fix");
  const unknown = await send("/nope/v1/chat/completions", msg("a bug"));
  assert.equal(unknown.status, 404);
  assert.match(unknown.text, /no profile of the policy serves the path prefix \/nope/);
});

test("adaptive defaults of profiles learn under their own route names", () => {
  const r = build(`package ad
model a { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
model b { provider: vllm, endpoint: "http://127.0.0.2:9/v1" }
profile p { models: ["pm"] }
default in p { select adaptive { models: [a, b], objective: quality } }
default { select adaptive { models: [a, b], objective: quality } }
`);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  assert.deepEqual([...adaptiveRoutesOf(r.bundle).keys()].sort(), ["default", "p.default"]);
});

test("guarantees can name profiles: `profile == x`, `profile in [...]`, and a profile's default as route \"x.default\"", () => {
  const src = (g: string) => `${policy().replace(/use cloud/g, "use big").replace("default { use local }", "default { use local }\ndefault in support { use local }\ndefault in coding_ide { use cloud }")}${g}\n`;
  const status = (g: string) => build(src(g)).analysis!.guarantees.map((x) => x.status);
  assert.deepEqual(status(`guarantee "only coding_ide goes to the cloud" { require model != cloud or profile == coding_ide }`), ["proved"]);
  assert.deepEqual(status(`guarantee "nothing goes to the cloud" { require model != cloud }`), ["failed"]);
  assert.deepEqual(status(`guarantee "cloud only by its default" { require model != cloud or route == "coding_ide.default" }`), ["proved"]);
  assert.deepEqual(status(`guarantee "support and coding stay local" { require not (profile in [support, coding]) or model.tags has onprem }`), ["proved"]);
  const bad = build(src(`guarantee "g" { require profile == codng }`)).diagnostics.find((d) => d.code === "RP0209");
  assert.match(bad?.message ?? "", /undefined profile `codng`/);
});

test("attack review: a path a proxy may read otherwise is refused; a guarantee's own words are not rewritten; a profile named like a model is listed once", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const { port, close } = await serveText(`${policy(up.url)}profile mlike { models: ["local"] }\ndefault in mlike { use big }\n`);
  cleanups.push(close);
  const { request } = await import("node:http");
  // Raw paths, as a client sends them (fetch would normalise them).
  const raw = (path: string) => new Promise<number>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", headers: { "content-type": "application/json" } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end(JSON.stringify({ messages: [{ role: "user", content: "a bug" }] }));
  });
  for (const path of ["/support/../coding/v1/chat/completions", "/coding/./v1/chat/completions", "/coding/%2e%2e/support/v1/chat/completions", "/coding%2Fide/v1/chat/completions", "/coding//ide/v1/chat/completions"]) assert.equal(await raw(path), 400, path);
  assert.equal(await raw("/coding/ide/v1/chat/completions"), 200);
  const models = (await (await fetch(`http://127.0.0.1:${port}/v1/models`)).json()) as { data: { id: string; owned_by: string }[] };
  assert.deepEqual(models.data.filter((m) => m.id === "local").map((m) => m.owned_by), ["routeplane profile mlike"]);
  // A test's path is held to the same rule.
  assert.match(codes(`${policy()}test "t" { request { path: "/coding/../support", user: "x" } expect route default }\n`).find((c) => c.startsWith("RP0702")) ?? "", /dot segment/);
  // Only the analysis's words are rewritten for a profile, not a guarantee's name.
  const g = build(`${policy()}guarantee "the default stays on prem" { require model.tags has onprem }\n`);
  const failures = g.diagnostics.filter((d) => d.code === "RP1008").map((d) => d.message);
  assert.ok(failures.some((m) => /in profile `/.test(m)), failures.join("\n"));
  for (const m of failures) assert.match(m, /^guarantee "the default stays on prem" does not hold/);
});
