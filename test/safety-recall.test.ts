// Safety plugins under hostile input (issue 11, section 5): PII and
// jailbreak detection over every text field, normalized; redaction that maps
// back and leaves other text alone; answers redacted in every shape; streams
// held back only as long as an item could still be forming; the embeddings
// endpoint never sees PII.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import path from "node:path";
import { serializeBundle, type Action, type JsonObject } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { fsHost, collectRouteFiles } from "../cli/files.ts";
import { BundleStore, Engine, SemanticSignals, createSidecar, requestFromChat, startDemoUpstream, type DemoUpstream } from "../runtime/index.ts";
import { findPii } from "../runtime/engine/detectors.ts";
import { requestTextFields } from "../runtime/engine/text-fields.ts";
import { pendingStart, redactResponse, rewriteRequest, streamRedactor } from "../runtime/sidecar/plugins.ts";
import { REPO } from "./support/golden.ts";
import {
  NUMBER_STYLES, card, email, iban, jailbreakCases, jailbreakCaught, leaks, outboundText, phone, piiCases, piiCaught, recallChecker, rng, ssn,
  type PiiItem,
} from "./support/safety-cases.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const checker = recallChecker();

test("recall: every generated PII variant is detected and leaves redacted, in each category", async () => {
  const c = await checker;
  const missed = new Map<string, string[]>();
  for (const pc of piiCases(10, 7)) {
    const r = piiCaught(c, pc);
    if (!r.detected || !r.redacted) missed.set(pc.category, [...(missed.get(pc.category) ?? []), `${JSON.stringify(pc.item.written)} detected=${r.detected}`]);
  }
  assert.deepEqual([...missed.entries()], [], "categories with misses");
});

test("recall: jailbreak phrases are caught disguised and in every turn, field and role", async () => {
  const c = await checker;
  const missed = jailbreakCases().filter((jc) => !jailbreakCaught(c, jc)).map((jc) => `${jc.category}: ${JSON.stringify(jc.body).slice(0, 120)}`);
  assert.deepEqual(missed, []);
});

test("examples/support: 'refund order 77, card 4111.1111.1111.1111' never reaches a cloud model unredacted", async () => {
  const root = path.join(REPO, "examples/support");
  const r = compile(fsHost, collectRouteFiles([root]));
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const bundle = r.bundle;
  const engine = await Engine.load(bundle);
  const onprem = new Set(bundle.policy.models.filter((m) => m.tags?.includes("onprem")).map((m) => m.name));
  const actionOf = (route: string): Action => (route === "default" ? bundle.policy.default! : bundle.policy.routes.find((x) => x.name === route)!.action);
  const texts = [
    "refund order 77, card 4111.1111.1111.1111",
    "refund order 77, card 4111  1111  1111  1111",
    "refund order 77, card 4111/1111/1111/1111",
    "refund order 77, card ４１１１ １１１１ １１１１ １１１１",
    "refund order 77, card ٤١١١ ١١١١ ١١١١ ١١١١",
    "refund order 77, card4111111111111111",
    "refund order 77, card 4111 1111\n1111 1111",
    "refund order 77, write to ann＠example.com",
    "refund order 77, my ssn is 078 05 1120",
    "refund order 77, call 4155550100",
    "refund order 77, iban de89 3704 0044 0532 0130 00",
  ];
  for (const text of texts) {
    const body = { messages: [{ role: "user", content: text }] };
    const d = engine.decide(requestFromChat(body), {});
    assert.ok(d.model !== null);
    if (onprem.has(d.model!)) continue;
    const sent = rewriteRequest(body, actionOf(d.route ?? "default"), d.plugins).body;
    assert.deepEqual(findPii(requestTextFields(sent).map((f) => f.text).join("\n"), new Set(["email", "phone", "credit_card", "iban", "ssn"])), [], `${JSON.stringify(text)} went to ${d.model} as ${JSON.stringify(sent)}`);
    assert.doesNotMatch(outboundText(sent).replace(/\D/g, ""), /4111111111111111|078051120|4155550100|89370400440532013000/);
  }
});

// ---------------------------------------------------------------- properties

const REDACT_ALL: Action = {
  select: { kind: "use", model: "m" } as unknown as Action["select"],
  plugins: [{ plugin: "redact", type: "pii_redact", config: { types: ["email", "phone", "credit_card", "iban", "ssn", "ip_address"], on_response: true } }],
};
const MASK_ALL: Action = { ...REDACT_ALL, plugins: [{ plugin: "redact", type: "pii_redact", config: { types: ["email", "phone", "credit_card", "iban", "ssn", "ip_address"], mode: "mask", on_response: true } }] };

const WORDS = ["the", "order", "was", "late", "and", "I", "want", "a", "refund", "for", "item", "7", "42", "1999", "x", "3.5", "é", "naïve", "日本", "مرحبا", "—", "re:", "(see", "notes)", "+", "12:30", "v2", "#3", "50%", "\u00a0", "\n", "--", "a.b", "ok!"];

function benign(r: () => number): string {
  const n = 1 + Math.floor(r() * 30);
  let s = "";
  for (let i = 0; i < n; i++) s += (i ? " " : "") + WORDS[Math.floor(r() * WORDS.length)];
  return s;
}

function anyItem(r: () => number): PiiItem {
  const styles = Object.values(NUMBER_STYLES);
  switch (Math.floor(r() * 5)) {
    case 0: return card(r, styles[Math.floor(r() * styles.length)]);
    case 1: return email(r, r() < 0.3);
    case 2: return phone(r, (["dashes", "bare", "parens", "international", "dots"] as const)[Math.floor(r() * 5)]);
    case 3: return ssn(r, ["-", " ", "."][Math.floor(r() * 3)]);
    default: return iban(r, (["grouped", "compact", "lowercase"] as const)[Math.floor(r() * 3)]);
  }
}

test("property: text without PII passes unchanged through request, answer and stream redaction", () => {
  const r = rng(11);
  for (let i = 0; i < 400; i++) {
    const text = benign(r);
    assert.deepEqual(findPii(text, new Set(["email", "phone", "credit_card", "iban", "ssn", "ip_address"])), [], JSON.stringify(text));
    const body: JsonObject = { messages: [{ role: "user", content: text, name: "ann" }, { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "f", arguments: JSON.stringify({ q: text }) } }] }] };
    assert.deepEqual(rewriteRequest(body, REDACT_ALL, ["redact"]).body, body);
    const answer = JSON.stringify({ choices: [{ index: 0, message: { role: "assistant", content: text } }] });
    assert.deepEqual(JSON.parse(redactResponse(answer, REDACT_ALL, ["redact"], {})!), JSON.parse(answer));
    assert.equal(streamed(text, r, "\n"), text);
  }
});

test("property: redaction maps back — no item survives in any normalized form, in redact and mask mode, and the text around it is kept", () => {
  const r = rng(12);
  for (let i = 0; i < 300; i++) {
    const item = anyItem(r);
    const before = benign(r).replace(/\d/g, "");
    const afterText = benign(r).replace(/\d/g, "");
    const text = `${before} ${item.written} ${afterText}`;
    for (const action of [REDACT_ALL, MASK_ALL]) {
      const sent = rewriteRequest({ messages: [{ role: "user", content: text }] }, action, ["redact"]).body;
      assert.ok(!leaks(item, outboundText(sent)), `${JSON.stringify(text)} → ${JSON.stringify(sent)}`);
      const out = (sent.messages as { content: string }[])[0].content;
      assert.ok(out.startsWith(`${before} `) && out.endsWith(` ${afterText}`), `${JSON.stringify(text)} → ${JSON.stringify(out)}`);
    }
    // The same item streamed in random pieces.
    const s = streamed(text, r, r() < 0.5 ? "\r\n" : "\n");
    assert.ok(!leaks(item, outboundText(s)), `stream ${JSON.stringify(text)} → ${JSON.stringify(s)}`);
  }
});

// ---------------------------------------------------------------- streams

/** The text sent as a chat stream in random pieces (random line ends), through the redactor; the content the client sees. */
function streamed(text: string, r: () => number, eol: string): string {
  const redact = streamRedactor(REDACT_ALL, ["redact"], {})!;
  let wire = "";
  for (let at = 0; at < text.length;) {
    const n = 1 + Math.floor(r() * 6);
    wire += `data: ${JSON.stringify({ id: "x", choices: [{ index: 0, delta: { content: text.slice(at, at + n) }, finish_reason: null }] })}${eol}${eol}`;
    at += n;
  }
  wire += `data: [DONE]${eol}${eol}`;
  let out = "";
  for (let at = 0; at < wire.length;) {
    const n = 1 + Math.floor(r() * 40);
    out += redact(wire.slice(at, at + n));
    at += n;
  }
  out += redact.end();
  return contentOf(out);
}

function contentOf(sse: string): string {
  let text = "";
  for (const block of sse.split(/\r?\n\r?\n/)) {
    const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
    if (!data || data === "[DONE]") continue;
    for (const c of (JSON.parse(data) as { choices?: { delta?: { content?: string } }[] }).choices ?? []) text += c.delta?.content ?? "";
  }
  return text;
}

const event = (content: string) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;

test("streams: only a trailing partial candidate is held back; the rest goes out at once", () => {
  const redact = streamRedactor(REDACT_ALL, ["redact"], {})!;
  assert.equal(contentOf(redact(event("Hello there, "))), "Hello there, ", "nothing pending: released with the event that brought it");
  assert.equal(contentOf(redact(event("your card 4111 "))), "your card ", "a number that may go on is held");
  assert.equal(contentOf(redact(event("1111 1111 1111 is on file. "))), "[CREDIT_CARD] is on file. ");
  assert.equal(contentOf(redact(event("Mail ann"))), "Mail ", "a word may be an address's local part");
  assert.equal(contentOf(redact(event("@example.com today. "))), "[EMAIL] today. ");
  assert.equal(contentOf(redact("data: [DONE]\n\n")), "");
  assert.equal(pendingStart("plain words only "), "plain words only ".length);
  assert.equal(pendingStart("x ".repeat(400)), 800, "held text is bounded");
});

test("streams: CRLF events, tool-call arguments, refusals and finish_reason get the held text first", () => {
  const counts: Record<string, number> = {};
  const redact = streamRedactor(REDACT_ALL, ["redact"], counts)!;
  const chunks = [
    `data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t","type":"function","function":{"name":"pay","arguments":"{\\"card\\": \\"4111 1111"}}]},"finish_reason":null}]}\r\n\r\n`,
    `data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" 1111 1111\\"}"}}]},"finish_reason":null}]}\r\n\r\n`,
    `data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}\r\n\r\n`,
    "data: [DONE]\r\n\r\n",
  ];
  const out = chunks.map((c) => redact(c)).join("") + redact.end();
  assert.doesNotMatch(out.replace(/\D/g, ""), /4111111111111111/);
  assert.match(out, /\[CREDIT_CARD\]/);
  assert.ok(out.indexOf("[CREDIT_CARD]") < out.indexOf('"finish_reason":"tool_calls"'), "held text goes out before the choice finishes");
  assert.deepEqual(counts, { credit_card: 1 });
  // A stream cut off mid-line with CR line ends.
  const cut = streamRedactor(REDACT_ALL, ["redact"], {})!;
  const partial = cut(`data: {"choices":[{"index":0,"delta":{"refusal":"call 415-555-0100"}}]}\r\r`) + cut.end();
  assert.doesNotMatch(partial, /555-0100/);
});

test("answers: content arrays, tool-call arguments, error bodies of any status, logprobs and SSE sent as another content type are redacted", () => {
  const red = (body: unknown) => redactResponse(typeof body === "string" ? body : JSON.stringify(body), REDACT_ALL, ["redact"], {})!;
  const answer = red({
    choices: [{
      index: 0,
      message: { role: "assistant", content: [{ type: "output_text", text: "mail ann@example.com" }], tool_calls: [{ id: "1", type: "function", function: { name: "pay", arguments: '{"card":"4111-1111-1111-1111"}' } }] },
      logprobs: { content: [{ token: "ann@example.com", logprob: 0 }] },
    }],
  });
  assert.doesNotMatch(answer, /ann@example|4111/);
  assert.match(answer, /"name":"pay"/, "tool names are structure, kept");
  assert.doesNotMatch(red({ error: { message: "invalid card 4111 1111 1111 1111 for ann@example.com", type: "invalid_request_error" } }), /4111|ann@/);
  const sse = `data: {"choices":[{"index":0,"delta":{"content":"write to ann@example.com"}}]}\r\n\r\ndata: [DONE]\r\n\r\n`;
  assert.doesNotMatch(red(sse), /ann@example/);
  assert.doesNotMatch(red("plain text answer: 4111 1111 1111 1111"), /4111/);
});

// ---------------------------------------------------------------- outbound calls

async function demo(options: Parameters<typeof startDemoUpstream>[0] = {}): Promise<DemoUpstream> {
  const u = await startDemoUpstream(options);
  cleanups.push(() => u.close());
  return u;
}

test("the embeddings endpoint never receives PII: the text is redacted before it leaves", async () => {
  const endpoint = await demo();
  const r = compile(memoryHost({ "e.route": `package e
model m { provider: vllm, endpoint: "http://127.0.0.1:9/v1" }
signal embedding billing { candidates: ["refund my money"], threshold: 0.5 }
route b priority 1 { when billing; use m }
default { use m }
` }), ["e.route"]);
  assert.ok(r.bundle);
  const semantic = new SemanticSignals({ url: endpoint.url, model: "e", budgetMs: 2000 });
  cleanups.push(() => semantic.close());
  await semantic.valuesFor(r.bundle, "refund card 4111\u00a01111\u00a01111\u00a01111 to ann＠example.com", new Set(["billing"]));
  const sent = JSON.stringify(endpoint.received.map((x) => x.body));
  assert.ok(endpoint.received.length > 0);
  assert.doesNotMatch(outboundText(sent).replace(/\D/g, ""), /4111111111111111/);
  assert.doesNotMatch(outboundText(sent), /ann@example/);
});

test("model servers never receive PII from names, tool-call arguments or input_text parts", async () => {
  const c = await checker;
  const body: JsonObject = {
    messages: [
      { role: "user", name: "ann@example.com", content: [{ type: "input_text", text: "card 4111 1111 1111 1111" }] },
      { role: "assistant", content: null, tool_calls: [{ id: "1", type: "function", function: { name: "lookup", arguments: '{"iban":"DE89 3704 0044 0532 0130 00"}' } }] },
      { role: "tool", tool_call_id: "1", content: "ok" },
      { role: "user", content: "and my phone is 4155550100" },
    ],
  };
  const d = c.engine.decide(requestFromChat(body as Parameters<typeof requestFromChat>[0]), { signals: true });
  assert.equal(d.route, "private");
  const sent = rewriteRequest(body, c.action("private"), d.plugins);
  const wire = outboundText(sent.body);
  assert.doesNotMatch(wire, /ann@example|4111 1111|de89 3704|4155550100/);
  assert.deepEqual(sent.redacted, { email: 1, credit_card: 1, iban: 1, phone: 1 });
  assert.equal((sent.body.messages as { tool_calls?: { function: { name: string } }[] }[])[1].tool_calls![0].function.name, "lookup");
});

test("through the sidecar: answers streamed with CRLF under a content-type variant, and 4xx error messages, are redacted", async () => {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => {
      if (body.includes("error please")) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "card 4111 1111 1111 1111 of ann@example.com was declined", type: "invalid_request_error" } }));
        return;
      }
      res.writeHead(200, { "content-type": body.includes("variant") ? "Text/Event-Stream; charset=UTF-8" : "text/event-stream;charset=utf-8" });
      for (const piece of ["Your card ", "4111 1111 ", "1111 1111 is on file, ", "mail ann", "@example.com."]) res.write(`data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] })}\r\n\r\n`);
      res.end("data: [DONE]\r\n\r\n");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as { port: number }).port;
  const r = compile(memoryHost({ "s.route": `package s
model m { provider: vllm, endpoint: "http://127.0.0.1:${port}/v1" }
plugin pii_redact answers { types: [email, credit_card], on_response: true }
default { use m; apply answers }
` }), ["s.route"]);
  assert.ok(r.bundle);
  const store = new BundleStore({ trustedKeys: [] });
  assert.equal(await store.offer(serializeBundle(r.bundle), "test", { requireSignature: false }), null);
  const sidecar = createSidecar({ store, telemetry: { emit() {}, stats: () => ({ sent: 0, dropped: 0, queued: 0, failures: 0 }), close: async () => {} } });
  const { port: sp } = await sidecar.listen(0);
  cleanups.push(() => sidecar.close());
  const ask = async (text: string) => {
    const res = await fetch(`http://127.0.0.1:${sp}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ stream: true, messages: [{ role: "user", content: text }] }) });
    return { status: res.status, text: await res.text() };
  };
  for (const text of ["plain", "variant"]) {
    const a = await ask(text);
    assert.doesNotMatch(a.text.replace(/\D/g, ""), /4111111111111111/, text);
    assert.doesNotMatch(a.text, /ann@example/, text);
    assert.match(contentOf(a.text), /Your card \[CREDIT_CARD\] is on file, mail \[EMAIL\]\./);
  }
  const e = await ask("error please");
  assert.equal(e.status, 400);
  assert.doesNotMatch(e.text, /4111 1111|ann@example/);
});

test("through the sidecar: PII only in the body's `user` or a completions `suffix` is seen by the pii signal and redacted", async () => {
  const up = await demo();
  const r = compile(memoryHost({ "u.route": `package u
model m { provider: vllm, endpoint: "${up.url}" }
signal pii pii { types: [email, credit_card] }
plugin pii_redact redact { types: [email, credit_card] }
route private priority 1 { when pii; use m; apply redact }
default { use m }
` }), ["u.route"]);
  assert.ok(r.bundle);
  const store = new BundleStore({ trustedKeys: [] });
  assert.equal(await store.offer(serializeBundle(r.bundle), "test", { requireSignature: false }), null);
  const sidecar = createSidecar({ store, telemetry: { emit() {}, stats: () => ({ sent: 0, dropped: 0, queued: 0, failures: 0 }), close: async () => {} } });
  const { port } = await sidecar.listen(0);
  cleanups.push(() => sidecar.close());
  const post = (p: string, body: unknown) => fetch(`http://127.0.0.1:${port}/v1/${p}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const chat = await post("chat/completions", { user: "ann@example.com", messages: [{ role: "user", content: "hello" }] });
  assert.equal(chat.headers.get("x-routeplane-route"), "private");
  const completion = await post("completions", { prompt: "def pay():", suffix: "# card 4111 1111 1111 1111" });
  assert.equal(completion.headers.get("x-routeplane-route"), "private");
  const sent = JSON.stringify(up.received.map((x) => x.body));
  assert.doesNotMatch(sent, /ann@example|4111 1111/);
});

test("a card number next to other digit groups (a CVV after it, an expiry before it) is still found, as the groups it spans", () => {
  const all = new Set(["email", "phone", "credit_card", "iban", "ssn", "ip_address"]);
  const cards = (t: string) => findPii(t, all).filter((m) => m.type === "credit_card").map((m) => t.slice(m.start, m.end));
  assert.deepEqual(cards("card 4111 1111 1111 1111 123"), ["4111 1111 1111 1111"]);
  assert.deepEqual(cards("exp 12 4111 1111 1111 1111"), ["4111 1111 1111 1111"]);
  assert.deepEqual(cards("4111-1111-1111-1111-0425-123"), ["4111-1111-1111-1111"]);
  assert.deepEqual(cards("4111111111111111 123"), ["4111111111111111"]);
  // No run of whole groups passes Luhn: nothing (a reference number is not a card).
  assert.deepEqual(cards("ref 4111 1111 1111 1112 123"), []);
  // A long single group is not cut into a card.
  assert.deepEqual(cards("id 41111111111111111234567"), []);
});
