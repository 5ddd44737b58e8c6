// The conversation signal: the shape of a chat request (messages, turns,
// tools offered and called, one call repeated, a system prompt, the response
// format) in the engine, the checker and the analysis.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compile, memoryHost } from "../compiler/index.ts";
import { Engine, requestFromChat } from "../runtime/index.ts";
import { conversationShape } from "../runtime/engine/conversation.ts";

function build(src: string) {
  return compile(memoryHost({ "p.route": src }), ["p.route"]);
}
const errors = (src: string) => build(src).diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.message}`);
const findings = (src: string) => build(src).diagnostics.map((d) => `${d.code} ${d.message}`);

const call = (name: string, args: unknown) => ({ type: "function", function: { name, arguments: args } });
const agentBody = {
  messages: [
    { role: "developer", content: "You are an agent." },
    { role: "user", content: "list the files" },
    { role: "assistant", content: null, tool_calls: [call("ls", "{\"path\": \"/\"}"), call("cat", "{}")] },
    { role: "tool", content: "a b", tool_call_id: "1" },
    { role: "assistant", content: null, tool_calls: [call("ls", " {\"path\": \"/\"} ")] },
    { role: "tool", content: "a b", tool_call_id: "2" },
    { role: "assistant", content: null, function_call: { name: "ls", arguments: "{\"path\": \"/\"}" } },
    { role: "user", content: "again" },
  ],
  tools: [{ type: "function", function: { name: "ls" } }, { type: "function", function: { name: "cat" } }],
  functions: [{ name: "legacy" }],
  response_format: { type: "json_schema", json_schema: { name: "x", schema: {} } },
};

test("the shape of an agent's request: calls, repeats, tools, the developer prompt, the format", () => {
  assert.deepEqual(conversationShape(requestFromChat(agentBody as never)), {
    messages: 8, user_turns: 2, tools: 3, tool_calls: 4, tool_repeats: 3, system: true, response_format: "json_schema",
  });
  // A plain chat: nothing but messages and turns.
  assert.deepEqual(conversationShape(requestFromChat({ messages: [{ role: "user", content: "hi" }] })), {
    messages: 1, user_turns: 1, tools: 0, tool_calls: 0, tool_repeats: 0, system: false, response_format: "none",
  });
  // The same name with other arguments is another call.
  const two = conversationShape(requestFromChat({ messages: [{ role: "assistant", content: null, tool_calls: [call("ls", "{\"path\": \"/a\"}"), call("ls", "{\"path\": \"/b\"}")] }] } as never));
  assert.deepEqual([two.tool_calls, two.tool_repeats], [2, 1]);
});

test("hostile shapes count what is there and never throw", () => {
  const weird = {
    messages: [
      null, 7, "user",
      { role: "assistant", tool_calls: "not a list" },
      { role: "assistant", tool_calls: [null, 3, { function: null }, { function: { name: 5, arguments: { a: [1] } } }, { function: { name: "__proto__", arguments: "{}" } }] },
      { role: "assistant", function_call: "ls" },
    ],
    tools: "many",
    functions: null,
    response_format: "json_object",
  };
  const s = conversationShape(requestFromChat(weird as never));
  assert.deepEqual({ ...s }, { messages: 6, user_turns: 0, tools: 0, tool_calls: 5, tool_repeats: 1, system: false, response_format: "other" });
  assert.equal(conversationShape(requestFromChat({ messages: [], response_format: { type: "toString" } } as never)).response_format, "other");
  // Many calls stay linear: 20,000 identical calls in one message.
  const many = { messages: [{ role: "assistant", content: null, tool_calls: Array.from({ length: 20_000 }, () => call("ls", "{}")) }] };
  const t0 = performance.now();
  assert.equal(conversationShape(requestFromChat(many as never)).tool_repeats, 20_000);
  assert.ok(performance.now() - t0 < 1000);
});

const MODELS = `package conv
model local { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
model big { provider: vllm, endpoint: "http://127.0.0.2:9/v1" }
`;

test("the engine routes on the shape the request body gives, and pinned counts decide the match", async () => {
  const r = build(`${MODELS}
signal conversation looping { min_tool_repeats: 3 }
signal conversation structured { response_format: [json_schema, json_object] }
signal conversation chat { max_user_turns: 1, system: false }
route loop priority 30 { when looping; use big }
route json priority 20 { when structured; use local }
route simple priority 10 { when chat and chat.messages <= 2; use local }
default { use big }
`);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const engine = await Engine.load(r.bundle);
  assert.equal(engine.decide(requestFromChat(agentBody as never)).route, "loop");
  assert.equal(engine.decide(requestFromChat({ messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } } as never)).route, "json");
  assert.equal(engine.decide(requestFromChat({ messages: [{ role: "user", content: "x" }] })).route, "simple");
  assert.equal(engine.decide(requestFromChat({ messages: [{ role: "system", content: "s" }, { role: "user", content: "x" }] })).route, "default");
  // Pinned (a test, a witness): the match follows from the counts unless pinned too.
  const pinned = (v: unknown) => engine.decide({ messages: [{ role: "user", content: "" }], headers: {}, metadata: {}, signals: { looping: v } as never }).route;
  assert.equal(pinned({ tool_repeats: 3 }), "loop");
  assert.equal(pinned({ tool_repeats: 2 }), "simple");
  assert.equal(pinned({ tool_repeats: Infinity }), "simple");
});

test("the checker: at least one field, bounds are whole numbers, formats from the list", () => {
  assert.match(errors(`${MODELS}signal conversation c {}\ndefault { use local }\n`)[0], /^RP0303 conversation signal `c` needs at least one field/);
  assert.match(errors(`${MODELS}signal conversation c { min_tools: -1 }\ndefault { use local }\n`)[0], /^RP0301 `min_tools`/);
  assert.match(errors(`${MODELS}signal conversation c { min_tools: 1.5 }\ndefault { use local }\n`)[0], /^RP0301 `min_tools` .* a whole number/);
  assert.match(errors(`${MODELS}signal conversation c { response_format: [yaml] }\ndefault { use local }\n`)[0], /^RP0301 .*cannot be `yaml`/);
  assert.match(errors(`${MODELS}signal conversation c { min_tool: 1 }\ndefault { use local }\n`)[0], /^RP0302 .*no field `min_tool`.*/);
  assert.match(errors(`${MODELS}signal conversation c { system: true }\nroute r priority 1 { when c.response_format == "yaml"; use local }\n`)[0], /^RP0403 `c.response_format` is never "yaml"/);
});

test("the analysis: one shape shared by every conversation signal, bounds that exclude each other, counts are whole numbers", () => {
  // `min_tools: 2` implies `min_tools: 1`: the second route's condition is empty.
  assert.ok(findings(`${MODELS}
signal conversation two_tools { min_tools: 2 }
signal conversation any_tool { min_tools: 1 }
route a priority 20 { when two_tools and not any_tool; use big }
default { use local }
`).some((f) => /^RP1001 route `a`/.test(f)));
  // Counts are whole numbers: more than 1 and fewer than 2 tool calls is nothing.
  assert.ok(findings(`${MODELS}
signal conversation c { min_tool_calls: 0 }
route a priority 20 { when c.tool_calls > 1 and c.tool_calls < 2; use big }
default { use local }
`).some((f) => /^RP1001 route `a`/.test(f)));
  // The response format is one value: json_object and json_schema never both.
  assert.ok(findings(`${MODELS}
signal conversation j { response_format: [json_object] }
signal conversation s { response_format: [json_schema] }
route a priority 20 { when j and s; use big }
default { use local }
`).some((f) => /^RP1001 route `a`/.test(f)));
  // User turns are some of the messages, a repeated call some of the calls: both bounds are known.
  assert.ok(findings(`${MODELS}
signal conversation c { min_user_turns: 5 }
route a priority 20 { when c and c.messages < 5; use big }
default { use local }
`).some((f) => /^RP1001 route `a`/.test(f)));
  assert.ok(findings(`${MODELS}
signal conversation loop { min_tool_repeats: 3 }
signal conversation few { max_tool_calls: 2 }
route a priority 20 { when loop and few; use big }
route b priority 10 { when loop and loop.tool_calls > 3; use big }
default { use local }
`).some((f) => /^RP1001 route `a`/.test(f)));
  // Not more than that: tool calls without a repeat are possible (malformed entries count as calls), so `a` lives.
  assert.ok(!findings(`${MODELS}
signal conversation calls { min_tool_calls: 1 }
route a priority 20 { when calls and calls.tool_repeats == 0; use big }
default { use local }
`).some((f) => /^RP1001/.test(f)));
  // A guarantee over the shape is proved or refuted with a witness the engine reproduces.
  const r = build(`${MODELS}
signal conversation looping { min_tool_repeats: 3 }
route loop priority 30 { when looping; use big }
default { use local }
guarantee "loops go to the big model" { when looping.tool_repeats >= 4; require model == big }
guarantee "json goes to the big model" { when looping.response_format == "json_object"; require model == big }
`);
  assert.deepEqual(r.analysis!.guarantees.map((g) => g.status), ["proved", "failed"]);
});
