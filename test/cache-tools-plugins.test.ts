// The `cache` and `tools_filter` plugins: what a real sidecar answers from its
// response cache (exact and similar hits, per tenant and credential, never
// with personal data or for streams, within TTL and entry bounds) and what
// the tools filter leaves of a request.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { type JsonObject } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { SemanticSignals, startDemoUpstream } from "../runtime/index.ts";
import { filterTools } from "../runtime/sidecar/plugins.ts";
import { ResponseCache, SIMILAR_SCAN } from "../runtime/sidecar/response-cache.ts";
import { serveText } from "./support/serve-text.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const fn = (name: string) => ({ type: "function", function: { name, parameters: {} } });

test("tools_filter: none, an allow-list (and the choice that named a removed tool), the history stripped", () => {
  const body: JsonObject = {
    messages: [
      { role: "user", content: "find it" },
      { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "search", arguments: "{}" } }] },
      { role: "tool", content: "result", tool_call_id: "1" },
      { role: "assistant", content: "Here it is.", tool_calls: [{ id: "2", type: "function", function: { name: "search", arguments: "{}" } }] },
      { role: "user", content: "thanks" },
    ],
    tools: [fn("search"), fn("delete_account"), fn("calculator")],
    tool_choice: { type: "function", function: { name: "delete_account" } },
    parallel_tool_calls: true,
  };
  const none = filterTools(body, { none: true });
  assert.deepEqual(["tools", "tool_choice", "parallel_tool_calls"].map((k) => k in none), [false, false, false]);
  const allowed = filterTools(body, { allow: ["search", "calculator"] });
  assert.deepEqual((allowed.tools as { function: { name: string } }[]).map((t) => t.function.name), ["search", "calculator"]);
  assert.equal(allowed.tool_choice, "auto", "the choice named a tool that is gone");
  assert.deepEqual(filterTools({ ...body, tool_choice: { type: "function", function: { name: "search" } } }, { allow: ["search"] }).tool_choice, { type: "function", function: { name: "search" } });
  const nothingLeft = filterTools(body, { allow: ["missing"] });
  assert.deepEqual(["tools", "tool_choice"].map((k) => k in nothingLeft), [false, false]);
  const stripped = filterTools(body, { strip_history: true });
  assert.deepEqual(stripped.messages, [{ role: "user", content: "find it" }, { role: "assistant", content: "Here it is." }, { role: "user", content: "thanks" }]);
  assert.equal((stripped.tools as unknown[]).length, 3, "strip_history alone keeps the tools offered");
  // The client's body is not changed.
  assert.equal((body.messages as unknown[]).length, 5);
  // Hostile shapes pass through without a throw.
  assert.deepEqual(filterTools({ tools: "x", messages: [null, 3, { role: "tool" }] } as never, { allow: ["a"], strip_history: true }), { messages: [null, 3] });
  // Attack review: tools handed over another way — vLLM's template kwargs, a request's own template, a non-list `tools` beside allowed functions.
  const sneaky = filterTools({ tools: [fn("search")], chat_template: "{{ tools }}", chat_template_kwargs: { tools: [fn("delete_account")], documents: ["x"], custom: 1 } }, { allow: ["search"] });
  assert.deepEqual([sneaky.chat_template, sneaky.chat_template_kwargs], [undefined, { custom: 1 }]);
  const odd = filterTools({ tools: { 0: fn("delete_account") }, functions: [{ name: "search" }] } as never, { allow: ["search"] });
  assert.deepEqual([odd.tools, odd.functions], [undefined, [{ name: "search" }]]);
});

const policy = (url: string) => `package cache
model m { provider: vllm, endpoint: "${url}" }
signal keyword tools_q { any: ["tools"] }
plugin cache answers { ttl_s: 60, similarity: 0.9, max_entries: 2 }
plugin cache short { ttl_s: 1 }
plugin tools_filter safe_tools { allow: ["search"], strip_history: true }
signal keyword brief { any: ["brief"] }
route briefly priority 30 { when brief; use m; apply short }
route with_tools priority 20 { when tools_q; use m; apply safe_tools }
default { use m; apply answers }
`;

async function sidecarWith(text: string, semantic?: SemanticSignals) {
  const s = await serveText(text, semantic ? { semantic } : {});
  cleanups.push(s.close);
  return s.url;
}

async function ask(url: string, content: string | object[], headers: Record<string, string> = {}, extra: object = {}) {
  const messages = Array.isArray(content) ? content : [{ role: "user", content }];
  const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ messages, ...extra }) });
  return { status: res.status, cache: res.headers.get("x-routeplane-cache"), model: res.headers.get("x-routeplane-model"), text: await res.text() };
}

test("tools_filter declarations that contradict themselves are errors (newcomer review)", () => {
  const errs = (body: string) => compile(memoryHost({ "p.route": `package t\nmodel m { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }\nplugin tools_filter t { ${body} }\ndefault { use m; apply t }\n` }), ["p.route"]).diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  assert.match(errs(`allow: ["a"], none: true`)[0], /^RP0301 tools_filter `t` allows some tools and none at once/);
  assert.match(errs(`allow: []`)[0], /^RP0301 tools_filter `t` allows an empty list of tools/);
  assert.match(errs(`allow: ["a", "a"]`)[0], /^RP0301 `allow` of tools_filter plugin `t` lists the same item twice/);
  assert.deepEqual(errs(`allow: ["a"], strip_history: true`), []);
});

test("cache: the same request again is answered from the cache, per tenant and credential, never with personal data or for a stream", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const url = await sidecarWith(policy(up.url));
  const calls = () => up.received.filter((r) => r.path.endsWith("/chat/completions")).length;
  const first = await ask(url, "what is your refund policy");
  assert.deepEqual([first.status, first.cache], [200, "miss"]);
  const again = await ask(url, "what is your refund policy");
  assert.deepEqual([again.status, again.cache, again.model, again.text], [200, "exact", "m", first.text]);
  assert.equal(calls(), 1);
  // Key order of the body does not matter; another tenant or credential does.
  assert.equal((await ask(url, "what is your refund policy", { "x-tenant": "acme" })).cache, "miss");
  assert.equal((await ask(url, "what is your refund policy", { "x-tenant": "acme" })).cache, "exact");
  assert.equal((await ask(url, "what is your refund policy", { "x-tenant": "globex" })).cache, "miss");
  assert.equal((await ask(url, "what is your refund policy", { authorization: "Bearer other-client" })).cache, "miss");
  // Attack review: every credential-like header scopes the cache, not only authorization.
  assert.equal((await ask(url, "what is your refund policy", { "x-api-key": "alice" })).cache, "miss");
  assert.equal((await ask(url, "what is your refund policy", { "x-api-key": "alice" })).cache, "exact");
  assert.equal((await ask(url, "what is your refund policy", { "x-api-key": "bob" })).cache, "miss");
  assert.equal((await ask(url, "what is your refund policy", { cookie: "session=bob" })).cache, "miss");
  // Personal data: never read from or written to the cache.
  const before = calls();
  for (let i = 0; i < 2; i++) assert.equal((await ask(url, "my card is 4111 1111 1111 1111, refund it")).cache, null);
  assert.equal(calls(), before + 2);
  // A stream is not cached.
  const s1 = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ stream: true, messages: [{ role: "user", content: "what is your refund policy" }] }) });
  await s1.text();
  assert.equal(s1.headers.get("x-routeplane-cache"), null);
  // A route without the plugin never answers from it.
  assert.equal((await ask(url, "which tools")).cache, null);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /routeplane_cache_lookups_total\{outcome="exact"\} 3/);
  assert.match(metrics, /routeplane_cache_lookups_total\{outcome="skipped"\} 3/);
});

test("cache: entries expire after ttl_s, and max_entries evicts the least recently used", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const url = await sidecarWith(policy(up.url));
  assert.equal((await ask(url, "brief: one")).cache, "miss");
  assert.equal((await ask(url, "brief: one")).cache, "exact");
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await ask(url, "brief: one")).cache, "miss", "expired");
  for (const q of ["a", "b"]) await ask(url, q);
  assert.equal((await ask(url, "a")).cache, "exact");
  await ask(url, "c"); // evicts b, the least recently used
  assert.equal((await ask(url, "b")).cache, "miss");
  assert.equal((await ask(url, "c")).cache, "exact");
});

test("cache: a similar last message in the same conversation is a hit through the embeddings endpoint", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const semantic = new SemanticSignals({ url: up.url, model: "embed-1", budgetMs: 500 });
  cleanups.push(() => semantic.close());
  const url = await sidecarWith(policy(up.url), semantic);
  await ask(url, "what is the refund policy for my orders please");
  const near = await ask(url, "what is the refund policy for my orders");
  assert.equal(near.cache, "similar");
  assert.equal((await ask(url, "how do I reset my password")).cache, "miss", "not similar");
  // Attack review: the same question about another image is another request.
  const image = (url2: string) => [{ role: "user", content: [{ type: "text", text: "what is in this picture" }, { type: "image_url", image_url: { url: url2 } }] }];
  assert.equal((await ask(url, image("https://example.com/cat.png"))).cache, "miss");
  assert.equal((await ask(url, image("https://example.com/xray-patient-42.png"))).cache, "miss");
  assert.equal((await ask(url, image("https://example.com/cat.png"))).cache, "exact");
  // The same last message after another conversation is not the same request.
  const other = [{ role: "system", content: "You are terse." }, { role: "user", content: "what is the refund policy for my orders" }];
  assert.equal((await ask(url, other)).cache, "miss");
});

test("tools_filter through a real sidecar: the model gets only the allowed tools and no tool history", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const url = await sidecarWith(policy(up.url));
  const messages = [
    { role: "user", content: "use tools" },
    { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "delete_account", arguments: "{}" } }] },
    { role: "tool", content: "done", tool_call_id: "1" },
    { role: "user", content: "tools again" },
  ];
  assert.equal((await ask(url, messages, {}, { tools: [fn("search"), fn("delete_account")] })).status, 200);
  const sent = up.received.at(-1)!.body;
  assert.deepEqual((sent.tools as { function: { name: string } }[]).map((t) => t.function.name), ["search"]);
  assert.deepEqual((sent.messages as { role: string }[]).map((m) => m.role), ["user", "user"]);
});

test("a similarity lookup compares the most recent answers of its context only (bounded CPU)", () => {
  const store = new ResponseCache();
  const slotOf = (i: number) => ResponseCache.slot({ revision: "r", route: "x", plugin: "p", tenant: "", credential: "" }, { messages: [{ role: "user", content: `q${i}` }] }, { max_entries: 10_000 });
  store.put(slotOf(0), { text: "old", contentType: "", model: "m" }, [1, 0], 0);
  for (let i = 1; i <= SIMILAR_SCAN; i++) store.put(slotOf(i), { text: `a${i}`, contentType: "", model: "m" }, [0, 1], 0);
  assert.equal(store.similar(slotOf(999), [1, 0], 0.99, 0), null, "the one similar answer is older than the last SIMILAR_SCAN");
  assert.equal(store.get(slotOf(0), 0)?.text, "old", "it is still an exact hit");
  assert.match(store.similar(slotOf(999), [0, 1], 0.99, 0)?.text ?? "", /^a\d+$/);
});

test("the store's byte budget holds whatever the entry counts allow", () => {
  const store = new ResponseCache(10_000);
  for (let i = 0; i < 100; i++) {
    const slot = ResponseCache.slot({ revision: "r", route: "x", plugin: `p${i % 3}`, tenant: "", credential: "" }, { messages: [{ role: "user", content: `q${i}` }] }, { max_entries: 1000 });
    store.put(slot, { text: "y".repeat(1000), contentType: "application/json", model: "m" }, null, 0);
  }
  assert.ok(store.stats.bytes <= 10_000, `${store.stats.bytes}`);
  assert.ok(store.stats.entries >= 3);
  // One answer larger than the whole budget is not kept.
  const big = ResponseCache.slot({ revision: "r", route: "x", plugin: "p", tenant: "", credential: "" }, { messages: [] }, {});
  store.put(big, { text: "z".repeat(20_000), contentType: "", model: "m" }, null, 0);
  assert.equal(store.get(big, 0), null);
});
