// The `capture` plugin: a sample of a route's decisions recorded with every
// computed signal value in the routing event, free-text values withheld, and
// `routeplane replay` deciding those requests again under another policy.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { checkRoutingEvent, serializeBundle, type RoutingEvent } from "../bundle/index.ts";
import { compilePaths } from "../cli/policy-commands.ts";
import { cmdReplay } from "../cli/replay-command.ts";
import { bufferIo } from "../cli/io.ts";
import { BundleStore, JsonlSink, createSidecar, startDemoUpstream } from "../runtime/index.ts";
import { sampled } from "../runtime/sidecar/capture.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function policyDir(root: string, name: string, url: string, body: string): string {
  const dir = path.join(root, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "p.route"), `package cap
model small { provider: vllm, endpoint: "${url}" }
model big { provider: vllm, endpoint: "${url}" }
signal keyword urgent { any: ["urgent"] }
signal header tier { name: "x-tier", values: ["gold"] }
signal header token { name: "authorization" }
signal context long { min_tokens: 6 }
plugin capture everything {}
${body}
`);
  return dir;
}

test("sampling is by request id: stable, and near the asked share", () => {
  assert.equal(sampled("abc", { sample: 0.3 }), sampled("abc", { sample: 0.3 }));
  assert.equal(sampled("abc", {}), true);
  const n = Array.from({ length: 2000 }, (_, i) => sampled(`req-${i}`, { sample: 0.25 })).filter(Boolean).length;
  assert.ok(n > 400 && n < 600, `${n} of 2000`);
});

test("a real sidecar records captured signal values, and replay decides them again under a changed policy", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const root = mkdtempSync(path.join(tmpdir(), "routeplane-capture-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const logging = policyDir(root, "logging", up.url, `route urgent priority 20 { when urgent or token; use big; apply everything }
route gold priority 10 { when tier and long; use big; apply everything }
default { use small; apply everything }`);
  const compiled = compilePaths([logging], true);
  assert.ok(compiled.bundle, compiled.diagnostics.map((d) => d.message).join("\n"));
  const store = new BundleStore({ trustedKeys: [] });
  assert.equal(await store.offer(serializeBundle(compiled.bundle), "test", { requireSignature: false }), null);
  const telemetry = path.join(root, "telemetry.jsonl");
  const sink = new JsonlSink(telemetry);
  const sidecar = createSidecar({ store, telemetry: sink });
  const { port } = await sidecar.listen(0);
  const send = async (id: string, text: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", "x-request-id": id, ...headers }, body: JSON.stringify({ messages: [{ role: "user", content: text }] }) });
    await res.text();
  };
  for (let i = 0; i < 20; i++) await send(`g${i}`, "please summarise this rather long message for me", { "x-tier": i % 2 ? "gold" : "silver" });
  for (let i = 0; i < 10; i++) await send(`u${i}`, "urgent help");
  await send("secret", "hello", { authorization: "Bearer sk-live-SECRET" });
  await sidecar.close();
  await sink.close();
  const { readFileSync } = await import("node:fs");
  const events = readFileSync(telemetry, "utf8").trim().split("\n").map((l) => JSON.parse(l) as RoutingEvent);
  for (const e of events) assert.equal(checkRoutingEvent(e).ok, true);
  const silver = events.find((e) => e.requestId === "g0")!;
  assert.equal(silver.capture!.signals.tier.value, "(other)", "a header value the policy does not list is withheld");
  assert.equal(events.find((e) => e.requestId === "g1")!.capture!.signals.tier.value, "gold");
  const secret = events.find((e) => e.requestId === "secret")!;
  assert.equal(secret.capture!.signals.token.value, "(other)");
  assert.ok(!readFileSync(telemetry, "utf8").includes("sk-live-SECRET"), "a credential never reaches the telemetry");
  assert.equal(typeof events.find((e) => e.requestId === "g1")!.capture!.signals.long.tokens, "number");

  // The change under review: gold customers go to the small model; urgent ones stay.
  const target = policyDir(root, "target", up.url, `route urgent priority 20 { when urgent or token; use big; apply everything }
route gold priority 10 { when tier and long; use small; apply everything }
default { use small; apply everything }`);
  const io = bufferIo();
  assert.equal(await cmdReplay(io, [telemetry], { policy: target, format: "json" }), 0, io.stderr);
  const out = JSON.parse(io.stdout);
  assert.equal(out.captured.decisions, 31);
  assert.equal(out.captured.changed, 10);
  assert.deepEqual(out.captured.transitions, [{ from: "gold → big", to: "gold → small", count: 10 }]);
  const text = bufferIo();
  await cmdReplay(text, [telemetry], { policy: target });
  assert.match(text.stdout, /captured decisions, decided again by the target: 10 of 31 change\n\s+10  gold → big   now gold → small/);
});

test("replay of captures: blocked decisions set aside, the decided (not the answering) model compared, compared literals kept, repeats counted once, names escaped (attack review)", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "routeplane-capture2-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const target = policyDir(root, "target", "http://127.0.0.1:9/v1", `route urgent priority 20 { when urgent; use big fallback small; apply everything }
route gold priority 10 { when tier; use big; apply everything }
default { use small; apply everything }`);
  const event = (requestId: string, route: string, attempts: string[], signals: object, blocked = false): RoutingEvent => ({
    schema: "routeplane.routing/v2", time: new Date(0).toISOString(), requestId, revision: "sha256:" + "0".repeat(64), endpoint: "chat", route, model: attempts.at(-1) ?? null,
    attempts: attempts.map((model, i) => ({ model, outcome: i < attempts.length - 1 ? "status" : "ok", status: i < attempts.length - 1 ? 503 : 200, ms: 1 })),
    signals: {}, selection: { probability: 1, sharesVersion: null }, plugins: ["everything"], blocked: blocked ? { plugin: "guard", status: 403 } : null, redacted: {}, status: blocked ? 403 : 200, stream: false,
    latencyMs: { decision: 0, plugins: 0, upstream: 0, total: 1 }, tokens: { prompt: null, completion: null }, costUsd: null, capture: { signals: signals as never },
  } as RoutingEvent);
  const lines = [
    // Answered by the fallback: the decision (big first) is unchanged.
    event("f1", "urgent", ["big", "small"], { urgent: { matched: true, count: 1 } }),
    // Blocked when recorded: set aside, not a "change".
    event("b1", "urgent", [], { urgent: { matched: true, count: 1 } }, true),
    // The same request twice (a file read twice, or forged): once.
    event("d1", "gold", ["big"], { urgent: { matched: false, count: 0 }, tier: { matched: true, value: "(other)" } }),
    event("d1", "gold", ["big"], { urgent: { matched: false, count: 0 }, tier: { matched: true, value: "(other)" } }),
    // A route name with a terminal escape and a line break.
    event("e1", "\u001b[2K\r\nforged", ["small"], { urgent: { matched: false, count: 0 }, tier: { matched: false, value: "" } }),
  ];
  for (const l of lines) assert.equal(checkRoutingEvent(l).ok, true, JSON.stringify(checkRoutingEvent(l)));
  const telemetry = path.join(root, "t.jsonl");
  writeFileSync(telemetry, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const io = bufferIo();
  await cmdReplay(io, [telemetry], { policy: target, format: "json" });
  const out = JSON.parse(io.stdout).captured;
  assert.deepEqual([out.decisions, out.changed, out.blocked, out.withheld], [3, 1, 1, 1]);
  const text = bufferIo();
  await cmdReplay(text, [telemetry], { policy: target });
  assert.match(text.stdout, /\\u001b\[2K\\u000d\\u000aforged → small   now default → small/);
  assert.ok(!text.stdout.includes("\u001b"));
  // A capture keeps a header value the policy compares with, though its signal lists none.
  const { capturedSignals } = await import("../runtime/sidecar/capture.ts");
  const compiledTarget = compilePaths([policyDir(root, "cmp", "http://127.0.0.1:9/v1", `route gold priority 10 { when token == "service-account"; use big }\ndefault { use small }`)], true);
  assert.ok(compiledTarget.bundle, compiledTarget.diagnostics.map((d) => d.message).join("\n"));
  const keep = (value: string) => capturedSignals({ token: { matched: true, outputs: { value }, source: "computed" } }, compiledTarget.bundle!).token.value;
  assert.deepEqual([keep("service-account"), keep("Bearer sk-secret")], ["service-account", "(other)"]);
});

test("replay decides a capture again in the profile that decided it (newcomer review)", async () => {
  const root = mkdtempSync(path.join(tmpdir(), "routeplane-capture3-"));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, "p");
  mkdirSync(dir);
  writeFileSync(path.join(dir, "p.route"), `package cap
model small { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
model big { provider: vllm, endpoint: "http://127.0.0.2:9/v1" }
signal keyword refund { any: ["refund"] }
plugin capture all {}
profile support { models: ["support-bot"] }
route refunds in support priority 10 { when refund; use big; apply all }
default in support { use small; apply all }
default { use small; apply all }
`);
  const base = { schema: "routeplane.routing/v2", time: new Date(0).toISOString(), revision: "sha256:" + "0".repeat(64), endpoint: "chat", signals: {}, selection: { probability: 1, sharesVersion: null }, plugins: ["all"], blocked: null, redacted: {}, status: 200, stream: false, latencyMs: { decision: 0, plugins: 0, upstream: 0, total: 1 }, tokens: { prompt: null, completion: null }, costUsd: null };
  const lines = [
    { ...base, requestId: "s1", route: "refunds", model: "big", attempts: [{ model: "big", outcome: "ok", status: 200, ms: 1 }], capture: { profile: "support", signals: { refund: { matched: true, count: 1 } } } },
    { ...base, requestId: "s2", route: "support.default", model: "small", attempts: [{ model: "small", outcome: "ok", status: 200, ms: 1 }], capture: { profile: "support", signals: { refund: { matched: false, count: 0 } } } },
  ];
  for (const l of lines) assert.equal(checkRoutingEvent(l).ok, true);
  const telemetry = path.join(root, "t.jsonl");
  writeFileSync(telemetry, lines.map((l) => JSON.stringify(l)).join("\n") + "\n");
  const io = bufferIo();
  await cmdReplay(io, [telemetry], { policy: dir, format: "json" });
  const out = JSON.parse(io.stdout).captured;
  assert.deepEqual([out.decisions, out.changed, out.profileMissing], [2, 0, 0], "the same policy decides its captures the same way");
  // A target that renamed the profile: said so, not silently decided by its own routes (attack review).
  const renamed = path.join(root, "renamed");
  mkdirSync(renamed);
  writeFileSync(path.join(renamed, "p.route"), readFileSync(path.join(dir, "p.route"), "utf8").replace(/\bsupport\b(?!-bot)/g, "helpdesk"));
  const text = bufferIo();
  await cmdReplay(text, [telemetry], { policy: renamed });
  assert.match(text.stdout, /2 captures were decided in a profile the target does not have/);
});
