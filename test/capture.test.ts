// The `capture` plugin: a sample of a route's decisions recorded with every
// computed signal value in the routing event, free-text values withheld, and
// `routeplane replay` deciding those requests again under another policy.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
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
