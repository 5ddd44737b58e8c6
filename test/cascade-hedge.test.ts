// Multi-model selection: a confidence cascade (log-probabilities or a
// verifier model) and hedged requests, through a real sidecar against fake
// model servers; and the analysis's guarantees over every model they call.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { type RoutingEvent } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { startDemoUpstream } from "../runtime/index.ts";
import { asEventStream, gradeOf, logprobConfidence } from "../runtime/sidecar/model-calls.ts";
import { MemorySink } from "./support/memory-sink.ts";
import { serveText } from "./support/serve-text.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const build = (src: string) => compile(memoryHost({ "p.route": src }), ["p.route"]);

/** A model server that answers with log-probabilities: sure of "easy" questions, unsure otherwise; grades as a verifier. */
async function fakeModel(name: string) {
  const received: Record<string, unknown>[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw || "{}");
      received.push(body);
      const last = String(body.messages?.at(-1)?.content ?? "");
      const verifying = String(body.messages?.[0]?.content ?? "").startsWith("You grade answers");
      const content = verifying ? (last.includes("easy") ? "0.9" : "0.2") : `${name}: ${last}`;
      const lp = last.includes("easy") ? -0.02 : -1.5;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "x", object: "chat.completion", created: 1, model: name, choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop", logprobs: body.logprobs ? { content: [{ token: "a", logprob: lp }, { token: "b", logprob: lp }] } : null }], usage: { prompt_tokens: 3, completion_tokens: 2 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, received };
}

async function serve(text: string, options: { credentials?: Record<string, string> } = {}) {
  const sink = new MemorySink();
  const { port, close } = await serveText(text, { telemetry: sink, ...options });
  cleanups.push(close);
  const ask = async (content: string, extra: object = {}) => {
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content }], ...extra }) });
    return { status: res.status, model: res.headers.get("x-routeplane-model"), type: res.headers.get("content-type"), text: await res.text(), ms: performance.now() - t0 };
  };
  const attempts = () => (sink.events.at(-1) as RoutingEvent).attempts.map((a) => `${a.model}:${a.outcome}`);
  return { ask, attempts, events: () => sink.events as RoutingEvent[], url: `http://127.0.0.1:${port}` };
}

test("confidence from log-probabilities, a verifier's grade, one event for a streaming client", () => {
  assert.equal(logprobConfidence({ choices: [{ logprobs: { content: [{ logprob: Math.log(0.9) }, { logprob: Math.log(0.4) }] } }] })!.toFixed(3), "0.600");
  assert.equal(logprobConfidence({ choices: [{ logprobs: null }] }), null);
  assert.equal(logprobConfidence({ choices: [{ logprobs: { content: [{ logprob: 0.5 }] } }] }), null, "a positive log-probability is not one");
  assert.equal(logprobConfidence({ choices: [{ logprobs: { content: [{ logprob: "x" }] } }] }), null);
  assert.equal(logprobConfidence(null), null);
  assert.deepEqual(["0.85", "Score: 0.3.", "7", "none", "-0.1"].map(gradeOf), [0.85, 0.3, null, null, null]);
  const sse = asEventStream(JSON.stringify({ id: "c1", model: "m", created: 5, choices: [{ index: 0, message: { role: "assistant", content: "hi" }, finish_reason: "stop" }] }));
  assert.match(sse, /^data: \{"id":"c1","object":"chat.completion.chunk","created":5,"model":"m","choices":\[\{"index":0,"delta":\{"role":"assistant","content":"hi"\},"finish_reason":"stop"\}\]\}\n\ndata: \[DONE\]\n\n$/);
});

test("a cascade takes the cheap model's answer when it is sure, and escalates when it is not", async () => {
  const [small, big] = [await fakeModel("small"), await fakeModel("big")];
  const { ask, attempts } = await serve(`package cas
model small { provider: vllm, endpoint: "${small.url}" }
model big { provider: vllm, endpoint: "${big.url}" }
default { select cascade { models: [small, big], min_confidence: 0.8 } }
`);
  const easy = await ask("an easy one");
  assert.deepEqual([easy.status, easy.model], [200, "small"]);
  assert.equal(JSON.parse(easy.text).choices[0].logprobs, null, "log-probabilities the client did not ask for are not passed on");
  assert.deepEqual([small.received.at(-1)!.logprobs, small.received.at(-1)!.stream], [true, false]);
  assert.deepEqual(attempts(), ["small:ok"]);
  assert.equal(big.received.length, 0);
  const hard = await ask("a hard one");
  assert.deepEqual([hard.status, hard.model], [200, "big"]);
  assert.deepEqual(attempts(), ["small:low-confidence", "big:ok"]);
  assert.equal(big.received.at(-1)!.logprobs, undefined, "the last model is asked as the client asked");
  // A client that streams gets the cheap model's whole answer as one event.
  const streamed = await ask("an easy one", { stream: true });
  assert.equal(streamed.type, "text/event-stream");
  assert.match(streamed.text, /"delta":\{"role":"assistant","content":"small: an easy one"\}[\s\S]*data: \[DONE\]/);
});

test("a cascade graded by a verifier model; a cheap model that fails escalates as a fallback would", async () => {
  const [small, big, judge] = [await fakeModel("small"), await fakeModel("big"), await fakeModel("judge")];
  const down = await startDemoUpstream({ failWith: 503 });
  cleanups.push(() => down.close());
  const { ask, attempts } = await serve(`package cas
model small { provider: vllm, endpoint: "${small.url}" }
model broken { provider: vllm, endpoint: "${down.url}" }
model big { provider: vllm, endpoint: "${big.url}" }
model judge { provider: vllm, endpoint: "${judge.url}" }
signal keyword fragile { any: ["fragile"] }
route fragile priority 10 { when fragile; select cascade { models: [broken, big], min_confidence: 0.5 } }
default { select cascade { models: [small, big], min_confidence: 0.7, verifier: judge } }
`);
  assert.equal((await ask("an easy one")).model, "small");
  const graded = judge.received.at(-1)!;
  assert.match(String((graded.messages as { content: string }[])[1].content), /Question:\nan easy one\n\nAnswer:\nsmall: an easy one/);
  assert.equal(small.received.at(-1)!.logprobs, undefined, "a verifier grades: no log-probabilities asked for");
  assert.equal((await ask("a hard one")).model, "big");
  assert.deepEqual(attempts(), ["small:low-confidence", "judge:ok", "big:ok"]);
  assert.equal((await ask("fragile")).model, "big");
  assert.deepEqual(attempts(), ["broken:status", "big:ok"]);
});

test("a hedge asks the next model when the first is slow; the first answer wins, the loser is withdrawn", async () => {
  const slow = await startDemoUpstream({ delayMs: 1500 });
  const fast = await startDemoUpstream();
  const down = await startDemoUpstream({ failWith: 503 });
  cleanups.push(() => slow.close(), () => fast.close(), () => down.close());
  const { ask, attempts } = await serve(`package hedge
model slow { provider: vllm, endpoint: "${slow.url}" }
model fast { provider: vllm, endpoint: "${fast.url}" }
model down { provider: vllm, endpoint: "${down.url}" }
signal keyword failing { any: ["failing"] }
route failing priority 10 { when failing; select hedge { models: [down, fast], after_ms: 5000 } }
default { select hedge { models: [slow, fast], after_ms: 100 } }
`);
  const r = await ask("hello");
  assert.deepEqual([r.status, r.model], [200, "fast"]);
  assert.ok(r.ms < 1200, `answered in ${r.ms.toFixed(0)} ms, not after the slow model`);
  await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(attempts().sort(), ["fast:ok", "slow:cancelled"]);
  // A first model that fails: the next at once, not after after_ms.
  const f = await ask("failing");
  assert.deepEqual([f.status, f.model], [200, "fast"]);
  assert.ok(f.ms < 2000, `${f.ms.toFixed(0)} ms`);
});

test("checks and guarantees: a cascade's verifier reads the request too", () => {
  const HEAD = `package g
model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1", tags: [onprem] }
model local2 { provider: vllm, endpoint: "http://127.0.0.2:9/v1", tags: [onprem] }
model cloud { provider: openai, endpoint: "https://api.openai.com/v1" }
`;
  const r = build(`${HEAD}default { select cascade { models: [local, local2], min_confidence: 0.8, verifier: cloud } }
guarantee "on-prem only" { require model.tags has onprem }
`);
  const failure = r.diagnostics.find((d) => d.code === "RP1008");
  assert.match(failure?.message ?? "", /sent to `cloud`/);
  const ok = build(`${HEAD}default { select hedge { models: [local, local2], after_ms: 200 } }\nguarantee "on-prem only" { require model.tags has onprem }\n`);
  assert.deepEqual(ok.analysis!.guarantees.map((g) => g.status), ["proved"]);
  assert.equal(ok.diagnostics.some((d) => d.code === "RP1006"), true, "cloud is unused there");
  assert.equal(r.diagnostics.some((d) => d.code === "RP1006"), false, "a verifier is a use");
  const errs = (src: string) => build(HEAD + src).diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
  assert.match(errs(`default { select cascade { models: [local, cloud], min_confidence: 0.8, verifier: judge } }\n`)[0], /^RP0205 undefined model `judge`/);
  assert.match(errs(`default { select cascade { models: [local, cloud], min_confidence: 1.5 } }\n`)[0], /^RP0301 `min_confidence`/);
  assert.match(errs(`default { select hedge { models: [local, cloud], after_ms: 0 } }\n`)[0], /^RP0301 `after_ms`/);
  assert.match(errs(`default { select hedge { models: [local] , after_ms: 10 } }\n`)[0], /^RP0301 `models`/);
});

test("attack review: a withdrawn trial gives the half-open circuit back; a step's 4xx escalates; the verifier gets a scrubbed answer and no client fields; a streamed step keeps its tool calls", async () => {
  // H1: the hedge's loser was the circuit's one trial.
  let calls = 0;
  const flaky = createServer((_req, res) => {
    calls++;
    if (calls === 1) {
      res.writeHead(503);
      res.end("down");
    } else setTimeout(() => !res.destroyed && res.end("{}"), 2000);
  });
  await new Promise<void>((r) => flaky.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => { flaky.closeAllConnections(); flaky.close(() => r()); }));
  const { Upstreams } = await import("../runtime/index.ts");
  const upstreams = new Upstreams({ failureThreshold: 1, coolDownMs: 30 });
  cleanups.push(() => upstreams.close());
  const model = { name: "a", provider: "vllm", endpoint: `http://127.0.0.1:${(flaky.address() as AddressInfo).port}/v1`, served_name: "a", cost: null, context_window: null, tags: [], latency_ms: null, quality: null, api_key_env: null };
  const call = (signal?: AbortSignal) => upstreams.send({ model, path: "/chat/completions", body: "{}", headers: {}, ...(signal ? { signal } : {}) });
  await assert.rejects(call(), /answered 503/);
  await new Promise((r) => setTimeout(r, 40));
  const controller = new AbortController();
  const pending = call(controller.signal);
  setTimeout(() => controller.abort(), 20);
  await assert.rejects(pending, /withdrawn/);
  assert.equal(upstreams.available("a"), true, "the next request may be the trial");

  // L1, L2, L7, M8 through a sidecar.
  const received: Record<string, Record<string, unknown>[]> = { small: [], judge: [], big: [] };
  const server = (name: string, answer: (body: Record<string, unknown>) => [number, object]) => {
    const s = createServer((req, res) => {
      let raw = "";
      req.on("data", (c) => (raw += c));
      req.on("end", () => {
        const body = JSON.parse(raw || "{}");
        received[name].push(body);
        const [status, out] = answer(body);
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify(out));
      });
    });
    return new Promise<string>((r) => s.listen(0, "127.0.0.1", () => {
      cleanups.push(() => new Promise<void>((rr) => s.close(() => rr())));
      r(`http://127.0.0.1:${(s.address() as AddressInfo).port}/v1`);
    }));
  };
  const message = (content: string, extra: object = {}) => ({ id: "x", object: "chat.completion", created: 1, model: "m", choices: [{ index: 0, message: { role: "assistant", content, ...extra }, finish_reason: "stop" }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
  const smallUrl = await server("small", (b) => String((b.messages as { content: string }[]).at(-1)!.content).includes("refuse")
    ? [400, { error: { message: "logprobs is not supported" } }]
    : [200, message("debug: Bearer sk-small-SECRET", { tool_calls: [{ id: "t1", type: "function", function: { name: "lookup", arguments: "{}" } }] })]);
  const judgeUrl = await server("judge", () => [200, message("0.9")]);
  const bigUrl = await server("big", () => [200, message("big answer")]);
  const { ask } = await serve(`package cas
model small { provider: vllm, endpoint: "${smallUrl}" }
model judge { provider: vllm, endpoint: "${judgeUrl}" }
model big { provider: vllm, endpoint: "${bigUrl}" }
default { select cascade { models: [small, big], min_confidence: 0.5, verifier: judge } }
`, { credentials: { small: "sk-small-SECRET" } });
  const refused = await ask("please refuse");
  assert.deepEqual([refused.status, refused.model], [200, "big"], "the step's 400 escalates to the next model");
  const taken = await ask("hello", { stop: ["0."], logit_bias: { "15": 100 } });
  assert.equal(taken.model, "small");
  const graded = received.judge.at(-1)!;
  assert.ok(!JSON.stringify(graded).includes("sk-small-SECRET"), "the small model's echoed key never reaches the verifier");
  assert.deepEqual([graded.stop, graded.logit_bias], [undefined, undefined], "the client's sampling fields do not steer the grade");
  const streamed = await ask("hello", { stream: true });
  assert.match(streamed.text, /"tool_calls":\[\{"index":0,"id":"t1","type":"function","function":\{"name":"lookup","arguments":"\{\}"\}\}\]/);
  assert.match(streamed.text, /"usage":\{"prompt_tokens":1,"completion_tokens":1\}/);
});

test("a cascade asks every model it lists (not the attempt limit), its verifier takes parameters, and every step's cost is counted (newcomer review)", async () => {
  const ms = await Promise.all(["m1", "m2", "m3", "m4", "judge"].map((n) => fakeModel(n)));
  const [m1, , , m4, judge] = ms;
  const priced = (n: string, url: string) => `model ${n} { provider: vllm, endpoint: "${url}", cost: { input: 1, output: 1 } }`;
  const r = build(`package cas
${["m1", "m2", "m3", "m4", "judge"].map((n, i) => priced(n, ms[i].url)).join("\n")}
default { select cascade { models: [m1, m2, m3, m4], min_confidence: 0.8, params: { m4: { max_tokens: 64 } } } }
`);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const { ask, attempts, events } = await serve(`package cas
${["m1", "m2", "m3", "m4", "judge"].map((n, i) => priced(n, ms[i].url)).join("\n")}
default { select cascade { models: [m1, m2, m3, m4], min_confidence: 0.8 } }
route judged priority 1 { when false; select cascade { models: [m1, m2], min_confidence: 0.5, verifier: judge, params: { judge: { max_tokens: 4 } } } }
`);
  assert.equal((await ask("a hard one")).model, "m4", "the fourth model is asked");
  assert.deepEqual(attempts(), ["m1:low-confidence", "m2:low-confidence", "m3:low-confidence", "m4:ok"]);
  // Three steps not taken and the last: 4 × (3 + 2) tokens at $1 per million each.
  assert.equal(events().at(-1)!.costUsd!.toFixed(8), (20 / 1e6).toFixed(8));
  assert.equal(m1.received.length, 1);
  assert.equal(m4.received.length, 1);
  assert.equal(judge.received.length, 0);
});

test("attack review: a cascade on /v1/completions reads its tokens' log-probabilities and streams as text events; a streamed last step leaves cost unknown; absurd usage is not believed", async () => {
  const received: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw || "{}");
      received.push(body);
      const sure = String(body.prompt).includes("easy");
      if (body.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.end(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: "streamed" } }] })}\n\ndata: [DONE]\n\n`);
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id: "c", object: "text_completion", created: 1, model: "m", choices: [{ index: 0, text: "answer", finish_reason: "stop", logprobs: body.logprobs ? { tokens: ["a"], token_logprobs: [sure ? -0.01 : -2] } : null }], usage: { prompt_tokens: String(body.prompt).includes("absurd") ? Number("9".repeat(30)) : 3, completion_tokens: 2 } }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  const { events, url: sidecar, attempts } = await serve(`package cas
model a { provider: vllm, endpoint: "${url}", cost: { input: 1, output: 1 } }
model b { provider: vllm, endpoint: "${url}", cost: { input: 1, output: 1 } }
default { select cascade { models: [a, b], min_confidence: 0.8 } }
`);
  const complete = async (prompt: string, extra: object = {}) => {
    const res = await fetch(`${sidecar}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt, ...extra }) });
    return { model: res.headers.get("x-routeplane-model"), type: res.headers.get("content-type"), text: await res.text() };
  };
  assert.equal((await complete("an easy one")).model, "a", "the token log-probabilities of a completions answer are read");
  assert.equal(received.at(-1)!.logprobs, 1, "completions take a count, not true");
  assert.equal((await complete("a hard one")).model, "b");
  const streamed = await complete("an easy one", { stream: true });
  assert.equal(streamed.type, "text/event-stream");
  assert.match(streamed.text, /"object":"text_completion".*"text":"answer"/);
  // The last step streams: its usage is not read, so the cost is unknown rather than the first step's alone.
  await complete("a hard one", { stream: true });
  assert.deepEqual(attempts(), ["a:low-confidence", "b:ok"]);
  assert.equal(events().at(-1)!.costUsd, null);
  // A usage no answer has is not believed: the cost stays finite.
  await complete("an easy absurd one");
  assert.ok(Number.isFinite(events().at(-1)!.costUsd ?? 0));
  assert.equal(events().at(-1)!.tokens.prompt, null);
});
