// Per-use model parameters: `use qwen { reasoning: false, max_tokens: 1024 }`.
// The compiler's checks, the formatter, what the sidecar sends each provider,
// a real sidecar's fallback chain with a different set per model, guarantees
// over the parameters, and bundles that carry bad ones.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { validateBundle, type Bundle, type JsonObject, type ModelSpec } from "../bundle/index.ts";
import { compile, formatFile, memoryHost } from "../compiler/index.ts";
import { parseFile } from "../grammar/index.ts";
import { startDemoUpstream, Engine } from "../runtime/index.ts";
import { bodyForModel } from "../runtime/sidecar/model-params.ts";
import { serveText } from "./support/serve-text.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

function build(src: string) {
  return compile(memoryHost({ "p.route": src }), ["p.route"]);
}
const codes = (src: string) => build(src).diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);

const MODELS = `package mp
model qwen { provider: vllm, endpoint: "http://127.0.0.1:9/v1", served_name: "Qwen/Qwen3-8B", tags: [onprem] }
model gpt { provider: openai, endpoint: "https://api.openai.com/v1", served_name: "gpt-5" }
signal keyword code { any: ["code"] }
`;

test("`use m { … }` and `select … { params }` lower to the action's params, per model", () => {
  const r = build(`${MODELS}
route coding priority 10 {
  when code
  use qwen { reasoning: true, effort: high, lora: "sql-lora", max_tokens: 2048 } fallback gpt { temperature: 0.2 }
}
default { select cheapest { models: [qwen, gpt], params: { gpt: { reasoning: false } } } }
`);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  assert.deepEqual(r.bundle.policy.routes[0].action.params, { qwen: { reasoning: true, effort: "high", lora: "sql-lora", max_tokens: 2048 }, gpt: { temperature: 0.2 } });
  assert.deepEqual(r.bundle.policy.default!.params, { gpt: { reasoning: false } });
  // A route without parameters has none in the bundle (bundles of older policies are unchanged).
  const plain = build(`${MODELS}\ndefault { use qwen }\n`);
  assert.equal("params" in plain.bundle!.policy.default!, false);
});

test("bad parameters are errors at the field, with the fix", () => {
  assert.deepEqual(codes(`${MODELS}default { use qwen { max_tokens: 0 } }\n`), ["RP0301 `max_tokens` of the parameters of model `qwen` must be >= 1"]);
  assert.match(codes(`${MODELS}default { use qwen { effort: extreme } }\n`)[0], /^RP0301 `effort` .* cannot be `extreme`/);
  assert.match(codes(`${MODELS}default { use qwen { temprature: 0.1 } }\n`)[0], /^RP0302 .* no field `temprature`/);
  assert.match(codes(`${MODELS}default { use qwen { temperature: 3 } }\n`)[0], /^RP0301 `temperature` .* <= 2/);
  assert.match(codes(`${MODELS}default { use qwen {} }\n`)[0], /^RP0303 the parameters of model `qwen` needs at least one field/);
  // A LoRA name goes into the upstream body's `model`: no spaces, quotes or control characters.
  assert.match(codes(`${MODELS}default { use qwen { lora: "a b" } }\n`)[0], /^RP0301 `lora`/);
  assert.match(codes(`${MODELS}default { select cheapest { models: [qwen, gpt], params: { llama: { effort: low } } } }\n`)[0], /^RP0205 `llama` is not one of this selection's models/);
  assert.match(codes(`${MODELS}default { select cheapest { models: [qwen, gpt], params: 3 } }\n`)[0], /^RP0301 `params` must be a block/);
  assert.match(codes(`${MODELS}default { use qwen fallback gpt fallback qwen { max_tokens: 5 } }\n`)[0], /^RP0305 model `qwen` appears twice/);
  // Contradictions (newcomer review).
  assert.match(codes(`${MODELS}default { use qwen { reasoning: false, effort: high } }\n`)[0], /^RP0301 model `qwen` is told not to reason and how hard to reason at once/);
  // A key that would become the block's prototype in JSON, not a field.
  assert.match(codes(`${MODELS}default { use qwen { __proto__: { max_tokens: 1 } } }\n`)[0], /^RP0208 `__proto__` is reserved/);
});

test("the formatter keeps parameters where the route uses the model", () => {
  const src = `${MODELS}\nroute coding priority 10 {\n  when code\n  use qwen { reasoning: false, max_tokens: 512 } fallback gpt\n}\n\ndefault { use gpt { effort: low } }\n`;
  const formatSource = (text: string) => formatFile(parseFile("p.route", text));
  const once = formatSource(src);
  assert.match(once, /use qwen \{ reasoning: false, max_tokens: 512 \} fallback gpt\n/);
  assert.match(once, /default \{ use gpt \{ effort: low \} \}/);
  assert.equal(formatSource(once), once);
});

const spec = (provider: string): ModelSpec => ({ name: "m", provider, endpoint: "http://x/v1", served_name: "served", cost: null, context_window: null, tags: [], latency_ms: null, quality: null, api_key_env: null });

test("what each provider is sent: reasoning, effort, caps, LoRA", () => {
  const body: JsonObject = { model: "client-choice", messages: [{ role: "user", content: "hi" }] };
  // vLLM: the chat template's switch (merged with the client's other kwargs), the effort, the adapter's name as the model.
  assert.deepEqual(bodyForModel({ ...body, chat_template_kwargs: { enable_thinking: true, custom: 1 } }, spec("vllm"), { reasoning: false, effort: "low", lora: "sql-lora" }, "chat"), {
    ...body, model: "sql-lora", chat_template_kwargs: { enable_thinking: false, thinking: false, custom: 1 }, reasoning_effort: "low",
  });
  // OpenAI: no off switch, the least is `minimal`; an effort wins; the cap goes on max_completion_tokens.
  assert.deepEqual(bodyForModel(body, spec("openai"), { reasoning: false, max_tokens: 100 }, "chat"), { ...body, model: "served", reasoning_effort: "minimal", max_completion_tokens: 100 });
  assert.equal(bodyForModel(body, spec("azure_openai"), { reasoning: false, effort: "high" }, "chat").reasoning_effort, "high");
  // Anthropic: thinking with a budget by effort, or disabled.
  assert.deepEqual(bodyForModel(body, spec("anthropic"), { reasoning: true, effort: "low" }, "chat").thinking, { type: "enabled", budget_tokens: 2048 });
  assert.deepEqual(bodyForModel(body, spec("anthropic"), { reasoning: false }, "chat").thinking, { type: "disabled" });
  assert.equal(bodyForModel({ ...body, reasoning_effort: "low" }, spec("anthropic"), { reasoning: true, effort: "high" }, "chat").reasoning_effort, undefined, "thinking is Anthropic's switch: the client's effort does not survive");
  assert.equal(bodyForModel(body, spec("ollama"), { reasoning: false }, "chat").reasoning_effort, "none");
  // Attack review: with reasoning set, the client's own switches do not survive (DeepSeek's `thinking` too).
  const overridden = bodyForModel({ ...body, reasoning_effort: "high", chat_template_kwargs: { thinking: true, enable_thinking: true } }, spec("vllm"), { reasoning: false }, "chat");
  assert.deepEqual([overridden.reasoning_effort, overridden.chat_template_kwargs], [undefined, { thinking: false, enable_thinking: false }]);
  // Anthropic's thinking budget stays below the cap; a cap with no room for 1,024 thinking tokens turns thinking off.
  assert.deepEqual(bodyForModel(body, spec("anthropic"), { reasoning: true, effort: "high", max_tokens: 4096 }, "chat").thinking, { type: "enabled", budget_tokens: 4095 });
  assert.deepEqual(bodyForModel(body, spec("anthropic"), { reasoning: true, max_tokens: 1024 }, "chat").thinking, { type: "disabled" });
  // No parameters: only the served name, nothing else touched.
  assert.deepEqual(bodyForModel(body, spec("vllm"), undefined, "chat"), { ...body, model: "served" });
});

test("caps: a larger, malformed or missing client value becomes the cap; a smaller one stays", () => {
  const caps = { max_tokens: 512, temperature: 0.5 };
  const send = (extra: JsonObject, endpoint: "chat" | "completions" = "chat") => bodyForModel({ messages: [], ...extra }, spec("vllm"), caps, endpoint);
  assert.deepEqual([send({}).max_tokens, send({}).temperature], [512, 0.5]);
  assert.deepEqual([send({ max_tokens: 100, temperature: 0.1 }).max_tokens, send({ max_tokens: 100, temperature: 0.1 }).temperature], [100, 0.1]);
  assert.deepEqual([send({ max_tokens: 100_000, temperature: 1.9 }).max_tokens, send({ max_tokens: 100_000, temperature: 1.9 }).temperature], [512, 0.5]);
  // Hostile: strings, negatives, null and a second token field do not get around the cap.
  assert.equal(send({ max_tokens: "99999" }).max_tokens, 512);
  assert.equal(send({ max_tokens: -1 }).max_tokens, 512);
  assert.equal(send({ temperature: null }).temperature, 0.5);
  const both = send({ max_tokens: 10, max_completion_tokens: 1e9 });
  assert.deepEqual([both.max_tokens, both.max_completion_tokens], [10, 512]);
  // Attack review: 0 means "no limit" to vLLM and Ollama, and a fraction is no token count: both become the cap.
  assert.equal(send({ max_completion_tokens: 0 }).max_completion_tokens, 512);
  assert.equal(send({ max_tokens: 0 }).max_tokens, 512);
  assert.equal(send({ max_tokens: 99.5 }).max_tokens, 512);
  assert.equal(send({ temperature: 0 }).temperature, 0, "a temperature of 0 is a real one");
  // Completions have only max_tokens.
  assert.deepEqual(send({ max_completion_tokens: 1e9 }, "completions").max_tokens, 512);
});

test("a real sidecar sends each model of the chain its own parameters", async () => {
  const bad = await startDemoUpstream({ failWith: 503 });
  const good = await startDemoUpstream();
  cleanups.push(() => bad.close(), () => good.close());
  const { port, close } = await serveText(`package mp
model first { provider: vllm, endpoint: "${bad.url}", served_name: "first-8b" }
model second { provider: openai, endpoint: "${good.url}", served_name: "second-1" }
default { use first { lora: "tickets-lora", reasoning: false } fallback second { max_tokens: 64, effort: low } }
`);
  cleanups.push(close);
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "whatever", max_tokens: 4096, messages: [{ role: "user", content: "hello" }] }),
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("x-routeplane-model"), "second");
  const tried = bad.received.at(-1)!.body;
  assert.equal(tried.model, "tickets-lora");
  assert.deepEqual(tried.chat_template_kwargs, { enable_thinking: false, thinking: false });
  assert.equal(tried.max_tokens, 4096, "the first model has no cap: the client's value goes through");
  const answered = good.received.at(-1)!.body;
  assert.equal(answered.model, "second-1");
  assert.equal(answered.max_tokens, 64, "the client's larger value is lowered to the cap");
  assert.equal(answered.reasoning_effort, "low");
  assert.equal(answered.chat_template_kwargs, undefined, "the first model's parameters do not leak into the second's body");
});

test("guarantees read the parameters the route sets for each model it may use", () => {
  const r = build(`${MODELS}
route coding priority 10 { when code; use qwen { reasoning: true, effort: high } fallback gpt { max_tokens: 1024, reasoning: false } }
default { use gpt { max_tokens: 4096 } }
guarantee "cloud answers are capped" { require model.tags has onprem or model.max_tokens <= 4096 }
guarantee "no reasoning in the cloud" { require model.tags has onprem or model.reasoning == false }
guarantee "coding thinks hard on prem" { when code; require model.reasoning and model.effort == high or not (model.tags has onprem) }
`);
  const status = Object.fromEntries(r.analysis!.guarantees.map((g) => [g.name, g.status]));
  assert.deepEqual(status, { "cloud answers are capped": "proved", "no reasoning in the cloud": "failed", "coding thinks hard on prem": "proved" });
  const failure = r.diagnostics.find((d) => d.code === "RP1008")!;
  assert.match(failure.message, /decided by the default and sent to `gpt`/, "the default sets no reasoning for gpt: its own default may reason");
  assert.match(codes(`${MODELS}default { use gpt }\nguarantee "g" { require model.max_tokens <= "x" }\n`)[0], /^RP0601 `model.max_tokens` is compared with a number/);
  assert.match(codes(`${MODELS}default { use gpt }\nguarantee "g" { require model.effort == extreme }\n`)[0], /^RP0601 effort is one of/);
});

test("bundles with bad parameters are refused: by the schema, and by the engine when they name a model the route does not use", async () => {
  const r = build(`${MODELS}default { use qwen { max_tokens: 512 } }\n`);
  const tampered = (f: (b: Bundle) => void): Bundle => {
    const b = structuredClone(r.bundle!);
    f(b);
    return b;
  };
  assert.equal(validateBundle(tampered((b) => (b.policy.default!.params = { qwen: { max_tokens: -5 } }))).ok, false);
  assert.equal(validateBundle(tampered((b) => (b.policy.default!.params = { qwen: { lora: "x\r\nhost: evil" } }))).ok, false);
  assert.equal(validateBundle(tampered((b) => (b.policy.default!.params = { qwen: { unknown: 1 } as never }))).ok, false);
  const stray = tampered((b) => (b.policy.default!.params = { gpt: { max_tokens: 5 } }));
  assert.equal(validateBundle(stray).ok, true);
  await assert.rejects(Engine.load(stray), /sets parameters for model `gpt`, which it does not use/);
});
