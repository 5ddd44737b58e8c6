// The sidecar under hostile clients and model servers (issue 11): no client
// credential reaches a model server, no model credential reaches a client,
// telemetry that cannot be delivered says so, and no request stalls the others.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { serializeBundle, type Bundle } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore, Engine, JsonlSink, Observability, Upstreams, createSidecar, startDemoUpstream, type Request, type TelemetryEvent } from "../runtime/index.ts";
import { countTokens, loadTextModels } from "../runtime/engine/detectors.ts";
import { MAX_TOKEN_BYTES, TOKEN_BUDGET, countTokensBounded, pieceBoundaryBefore } from "../runtime/engine/signals.ts";
import { CREDENTIAL_SCRUBBED, StreamScrubber, forwardAllowList } from "../runtime/sidecar/upstream.ts";
import { MemorySink } from "./support/memory-sink.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});


function compileBundle(text: string): Bundle {
  const r = compile(memoryHost({ "p.route": text }), ["p.route"]);
  assert.ok(r.bundle, r.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  return r.bundle;
}

async function serve(text: string, options: Partial<Parameters<typeof createSidecar>[0]> = {}) {
  const store = new BundleStore({ trustedKeys: [] });
  assert.equal(await store.offer(serializeBundle(compileBundle(text)), "test", { requireSignature: false }), null);
  const sink = new MemorySink();
  const sidecar = createSidecar({ store, telemetry: sink, ...options });
  const { port } = await sidecar.listen(0);
  cleanups.push(() => sidecar.close());
  return { url: `http://127.0.0.1:${port}`, sink, sidecar };
}

async function chat(url: string, content: string, headers: Record<string, string> = {}, body: Record<string, unknown> = {}) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ messages: [{ role: "user", content }], ...body }),
  });
  return { res, text: await res.text() };
}

const MODEL_KEY = "sk-model-0123456789abcdefSECRET";

// ---------------------------------------------------------------- credentials

test("credentials: the client's Authorization, x-api-key and cookies never reach the model server; only allow-listed headers do", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const policy = `package hostile
model m { provider: openai_compatible, endpoint: "${up.url}" }
model n { provider: openai_compatible, endpoint: "${up.url}" }
signal header tenant { name: "x-tenant" }
route tenants priority 1 { when tenant == "acme"; use n }
default { use m }
`;
  const { url } = await serve(policy, { credentials: { m: MODEL_KEY } });
  const clientHeaders = {
    authorization: "Bearer sk-client-CLIENTSECRET",
    "x-api-key": "client-x-api-key-CLIENTSECRET",
    "api-key": "azure-style-CLIENTSECRET",
    cookie: "session=CLIENTSECRET",
    "x-auth-token": "CLIENTSECRET",
    "x-tenant": "other",
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  };
  const { res, text } = await chat(url, "hello", clientHeaders);
  assert.equal(res.status, 200, text);
  const sent = up.received.at(-1)!;
  assert.equal(sent.headers.authorization, `Bearer ${MODEL_KEY}`, "the model's own credential, not the client's");
  assert.equal(sent.headers["x-api-key"], undefined);
  assert.equal(sent.headers["api-key"], undefined);
  assert.equal(sent.headers.cookie, undefined);
  assert.equal(sent.headers["x-auth-token"], undefined);
  assert.equal(sent.headers["x-tenant"], undefined, "headers the policy reads stay at the sidecar");
  assert.equal(sent.headers.traceparent, clientHeaders.traceparent, "trace context is forwarded");
  assert.doesNotMatch(JSON.stringify(sent.headers), /CLIENTSECRET/);

  // A model without a credential: the client's Authorization is still not passed on.
  const other = await chat(url, "hello", { ...clientHeaders, "x-tenant": "acme" });
  assert.equal(other.res.status, 200, other.text);
  const sentN = up.received.at(-1)!;
  assert.equal(sentN.body.model, "n");
  assert.equal(sentN.headers.authorization, undefined);
  assert.doesNotMatch(JSON.stringify(sentN.headers), /CLIENTSECRET/);
});

test("credentials: forwarded headers are an explicit allow-list; a credential header in it is refused at start-up", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const { url } = await serve(`package hostile\nmodel m { provider: openai_compatible, endpoint: "${up.url}" }\ndefault { use m }\n`, { forwardHeaders: ["X-Team"] });
  const { res } = await chat(url, "hi", { "x-team": "search", "x-other": "no" });
  assert.equal(res.status, 200);
  assert.equal(up.received.at(-1)!.headers["x-team"], "search");
  assert.equal(up.received.at(-1)!.headers["x-other"], undefined);
  assert.equal(up.received.at(-1)!.headers.traceparent, undefined, "an explicit list replaces the default");
  for (const bad of ["authorization", "X-Api-Key", "cookie", "x-session-token", "proxy-authorization"]) {
    assert.throws(() => forwardAllowList([bad]), new RegExp(`\`${bad}\` carries credentials`));
  }
});

/** A model server that echoes every request header back: in a 401 or 500 JSON error, a 200 answer, or an SSE stream splitting them across chunks. */
async function echoingUpstream(): Promise<string> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      const body = JSON.parse(raw || "{}") as { model?: string; stream?: boolean };
      const echo = JSON.stringify(req.headers);
      const mode = body.model ?? "";
      if (mode === "e401") {
        res.writeHead(401, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: `bad key; you sent ${echo}`, type: "invalid_request_error" } }));
      } else if (mode === "e500") {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: `authorization: ${req.headers.authorization}` } }));
      } else if (mode === "sse") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        // The credential split over several writes (one per byte around it), so no chunk holds it whole.
        const event = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: `headers: ${echo}` } }] })}\n\n`;
        const at = event.indexOf(MODEL_KEY);
        const pieces = [event.slice(0, at + 3), ...[...MODEL_KEY.slice(3)].map((c) => c), event.slice(at + MODEL_KEY.length), "data: [DONE]\n\n"];
        let i = 0;
        const next = () => {
          if (i === pieces.length) return res.end();
          res.write(pieces[i++]);
          setTimeout(next, 2);
        };
        next();
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ id: "x", object: "chat.completion", choices: [{ index: 0, message: { role: "assistant", content: `you sent ${echo}` }, finish_reason: "stop" }] }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test("credentials: a model server that echoes the injected credential (JSON error, 5xx, answer, SSE) never gets it to the client", async () => {
  const echo = await echoingUpstream();
  const policy = `package hostile
model e401 { provider: openai_compatible, endpoint: "${echo}", served_name: "e401" }
model e500 { provider: openai_compatible, endpoint: "${echo}", served_name: "e500" }
model ok   { provider: openai_compatible, endpoint: "${echo}", served_name: "ok" }
model sse  { provider: openai_compatible, endpoint: "${echo}", served_name: "sse" }
signal keyword a { any: ["unauthorized"] }
signal keyword b { any: ["broken"] }
signal keyword c { any: ["streamed"] }
route r401 priority 4 { when a; use e401 }
route r500 priority 3 { when b; use e500 }
route rsse priority 2 { when c; use sse }
default { use ok }
`;
  const keys = { e401: MODEL_KEY, e500: MODEL_KEY, ok: MODEL_KEY, sse: MODEL_KEY };
  const { url } = await serve(policy, { credentials: keys, maxAttempts: 1 });
  const cases: [string, number, Record<string, unknown>][] = [
    ["unauthorized", 401, {}],
    ["broken", 502, {}],
    ["plain", 200, {}],
    ["streamed", 200, { stream: true }],
  ];
  for (const [prompt, status, body] of cases) {
    const { res, text } = await chat(url, prompt, {}, body);
    assert.equal(res.status, status, `${prompt}: ${text}`);
    assert.ok(!text.includes(MODEL_KEY) && !text.includes(MODEL_KEY.slice(3)), `${prompt}: the model credential reached the client: ${text}`);
    assert.ok(text.includes(CREDENTIAL_SCRUBBED), `${prompt}: the echo is still there, scrubbed: ${text}`);
    for (const [, v] of res.headers) assert.ok(!v.includes(MODEL_KEY));
  }
});

test("credentials: an internal error that carries the request's headers is logged without the model's key", async (t) => {
  /** A bug in the upstream layer whose error message includes what it was sent. */
  class Buggy extends Upstreams {
    override send(call: Parameters<Upstreams["send"]>[0]): ReturnType<Upstreams["send"]> {
      return Promise.reject(new TypeError(`cannot send ${JSON.stringify({ headers: call.headers, key: call.key })}`));
    }
  }
  const logged: string[] = [];
  t.mock.method(console, "error", (...args: unknown[]) => void logged.push(args.map(String).join(" ")));
  const { url } = await serve(`package hostile\nmodel m { provider: openai_compatible, endpoint: "http://127.0.0.1:9" }\ndefault { use m }\n`, { credentials: { m: MODEL_KEY }, upstreams: new Buggy() });
  const { res, text } = await chat(url, "hello");
  assert.equal(res.status, 500);
  assert.doesNotMatch(text, /sk-model/);
  assert.equal(logged.length, 1);
  assert.match(logged[0], /internal error on POST \/v1\/chat\/completions: TypeError: cannot send .*"key":"\[credential removed\]"/);
  assert.ok(!logged[0].includes(MODEL_KEY), logged[0]);
});

test("StreamScrubber: a secret split anywhere across chunks is replaced; other bytes pass unchanged and in order", () => {
  const secret = "sk-abcabd-XYZ";
  const text = `pre sk-abc ${secret}${secret} mid sk-abcabsk-abcabd-XYZ end sk-ab`;
  const expected = text.replaceAll(secret, CREDENTIAL_SCRUBBED);
  const bytes = Buffer.from(text);
  for (let seed = 1; seed <= 200; seed++) {
    const s = new StreamScrubber(secret);
    const out: Buffer[] = [];
    let x = seed;
    for (let i = 0; i < bytes.length; ) {
      x = (x * 1103515245 + 12345) % 2147483648;
      const n = 1 + (x % 7);
      out.push(s.push(bytes.subarray(i, i + n)));
      i += n;
    }
    out.push(s.end());
    assert.equal(Buffer.concat(out).toString(), expected, `seed ${seed}`);
  }
  // Nothing is held back when a chunk cannot end inside the secret (an SSE event ends in "\n\n").
  assert.equal(new StreamScrubber(secret).push("data: {}\n\n").toString(), "data: {}\n\n");
});

// ---------------------------------------------------------------- telemetry

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "routeplane-hostile-"));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function until(what: string, fn: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const feedback = (i: number): TelemetryEvent => ({ schema: "routeplane.feedback/v1", time: new Date(0).toISOString(), requestId: `r-${i}`, rating: 1, label: null });

test("JSONL sink: an unwritable file counts nothing as sent, keeps a bounded queue, logs once, and delivers what it kept once the file can be written", async () => {
  const dir = tempDir();
  const file = path.join(dir, "not-yet", "telemetry.jsonl");
  const logs: string[] = [];
  const sink = new JsonlSink(file, { queueLimit: 100, retryMs: 30, log: (l) => logs.push(l) });
  for (let i = 0; i < 300; i++) sink.emit(feedback(i));
  await until("a failed write", () => sink.stats().failures >= 3);
  const s = sink.stats();
  assert.equal(s.sent, 0, "nothing reached the file");
  assert.ok(s.queued <= 100, `the queue is bounded: ${JSON.stringify(s)}`);
  assert.equal(s.queued + s.dropped, 300, "every event is either still queued or counted as dropped");
  assert.match(s.problem ?? "", /cannot write .*telemetry\.jsonl: ENOENT/);
  assert.equal(logs.length, 1, `one log line per condition, not per retry: ${logs.join("\n")}`);
  assert.match(logs[0], /telemetry \(file .*\) is not delivering: cannot write/);

  mkdirSync(path.dirname(file));
  await until("delivery after the directory appeared", () => sink.stats().sent === s.queued);
  const lines = readFileSync(file, "utf8").trim().split("\n");
  assert.equal(lines.length, s.queued);
  assert.equal(JSON.parse(lines.at(-1)!).requestId, "r-299", "the newest events were kept");
  assert.equal(sink.stats().problem, null);
  assert.equal(logs.length, 2);
  assert.match(logs[1], /delivering again/);
  await sink.close();
});

test("JSONL sink: events still queued when it closes on an unwritable file are counted as dropped, not sent", async () => {
  const sink = new JsonlSink("/dev/full", { retryMs: 10_000, log: () => undefined });
  for (let i = 0; i < 10; i++) sink.emit(feedback(i));
  await sink.close();
  const s = sink.stats();
  assert.equal(s.sent, 0);
  assert.equal(s.dropped, 10);
  assert.equal(s.queued, 0);
  assert.ok(s.failures >= 1);
});

test("/readyz and /metrics say when telemetry cannot be delivered", async () => {
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const file = path.join(tempDir(), "missing", "t.jsonl");
  const sink = new JsonlSink(file, { retryMs: 50, log: () => undefined });
  cleanups.push(() => sink.close());
  const { url } = await serve(`package hostile\nmodel m { provider: openai_compatible, endpoint: "${up.url}" }\ndefault { use m }\n`, { telemetry: sink });
  const ready = async () => (await fetch(`${url}/readyz`)).json() as Promise<{ ready: boolean; telemetry: { delivering: boolean; problem: string | null; since: string | null } }>;
  assert.equal((await chat(url, "hello")).res.status, 200);
  await until("the failed write", () => sink.stats().failures > 0);
  const r = await ready();
  assert.equal(r.ready, true, "routing goes on without telemetry");
  assert.equal(r.telemetry.delivering, false);
  assert.match(r.telemetry.problem!, /ENOENT/);
  assert.ok(r.telemetry.since);
  const metrics = await (await fetch(`${url}/metrics`)).text();
  assert.match(metrics, /^routeplane_telemetry_delivering 0$/m);
  assert.match(metrics, /^routeplane_telemetry_failures_total [1-9]\d*$/m);
  assert.match(metrics, /^routeplane_telemetry_events_total\{outcome="sent"\} 0$/m);
  mkdirSync(path.dirname(file));
  await until("delivery", () => sink.stats().sent === 1);
  assert.equal((await ready()).telemetry.delivering, true);
  assert.match(await (await fetch(`${url}/metrics`)).text(), /^routeplane_telemetry_delivering 1$/m);
});

// ---------------------------------------------------------------- token counts

/** A deterministic generator of texts that stress the pre-tokenizer: words, digits, punctuation, every kind of whitespace, CJK, `\n/` runs. */
function textOf(seed: number, units: number, alphabet: string[]): string {
  let x = seed;
  const rand = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
  let out = "";
  while (out.length < units) out += alphabet[rand(alphabet.length)].repeat(1 + (rand(4) === 0 ? rand(6) : 0));
  return out;
}
const PIECES = ["the", "The", " ", " ", "  ", "\t", "\n", "\r\n", "\n\n", " \n", "/", "!", "?", "\u00a0", "\u3000", "漢字", "。", "123", "4567", "'s", "'LL", "é", "e\u0301", "Ω", "😀", "<|endoftext|>", "x", "QUERY", "_", "-", "  \n  "];

test("bounded token counts are exact wherever the budget reaches: the same as the tokenizer on the whole text", async () => {
  await loadTextModels({ tokens: true, language: false });
  for (let seed = 1; seed <= 60; seed++) {
    const text = textOf(seed, seed < 50 ? 200 + seed * 37 : 30_000, PIECES);
    const full = countTokens(text);
    // Counted in one group, and in many small groups (each cut where the tokenizer's pieces end anyway).
    for (const groupUnits of [8192, 7, 50]) {
      const c = countTokensBounded(text, { groupUnits });
      assert.ok(c.exact, `seed ${seed}: ${JSON.stringify(c)}`);
      assert.equal(c.value, full, `seed ${seed}, groups of ${groupUnits}`);
    }
  }
  // Natural text far beyond one group (8,192 units), with code and line breaks.
  const prose = "Refunds take 3-5 business days.\n\tSee https://example.com/refunds?id=42 — or call us!\n    def f(x): return x**2  # squares\n".repeat(600);
  assert.deepEqual(countTokensBounded(prose), { value: countTokens(prose), lo: countTokens(prose), hi: countTokens(prose), exact: true });
});

test("bounded token counts: beyond the budget the bounds are sound (⌈bytes/128⌉ ≤ tokens ≤ bytes) and the estimate lies within them", async () => {
  await loadTextModels({ tokens: true, language: false });
  const cases = [
    "word ".repeat(60_000), // 60,000 tokens: over the budget
    " ".repeat(40_000), // one piece, too costly to merge
    "!" + "\n/".repeat(20_000), // one piece of punctuation and `\n/`
    "hello world ".repeat(100) + "x".repeat(30_000) + " and more words".repeat(100),
  ];
  for (const text of cases) {
    const c = countTokensBounded(text);
    const full = countTokens(text);
    assert.ok(!c.exact, `${text.slice(0, 20)}: expected bounds, got ${JSON.stringify(c)}`);
    assert.ok(c.lo <= full && full <= c.hi, `${text.slice(0, 20)}: ${full} not in [${c.lo}, ${c.hi}]`);
    assert.ok(c.lo <= c.value && c.value <= c.hi);
  }
  const huge = countTokensBounded("word ".repeat(60_000));
  assert.ok(huge.lo > TOKEN_BUDGET - 2, "the counted part alone is a lower bound");
});

test("a scan cut where pieces end: the counts of the two parts add up to the whole's; cut scans stay sound", async () => {
  await loadTextModels({ tokens: true, language: false });
  let cuts = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const text = textOf(seed, 3000, PIECES) + " plain words then\nmore lines of text 42 and more\n/x";
    for (let cut = 5; cut < text.length; cut += 97) {
      const p = pieceBoundaryBefore(text, cut);
      if (p === 0) continue;
      cuts++;
      assert.ok(p <= cut);
      assert.equal(countTokens(text.slice(0, p)) + countTokens(text.slice(p)), countTokens(text), `seed ${seed}, cut at ${p}: ${JSON.stringify(text.slice(p - 3, p + 3))}`);
    }
    const full = countTokens(text);
    for (const scanUnits of [100, 1000]) {
      const c = countTokensBounded(text, { scanUnits, groupUnits: 64 });
      assert.ok(c.lo <= full && full <= c.hi && c.lo <= c.value && c.value <= c.hi, `seed ${seed}: ${full} vs ${JSON.stringify(c)}`);
    }
    const tight = countTokensBounded(text, { budget: 200, groupUnits: 64 });
    assert.ok(tight.lo <= full && full <= tight.hi, `seed ${seed}: ${full} vs ${JSON.stringify(tight)}`);
  }
  assert.ok(cuts > 500, `${cuts} cuts tried`);
});

test("MAX_TOKEN_BYTES is the longest o200k token", async () => {
  const { decode } = await import("gpt-tokenizer/encoding/o200k_base");
  let longest = 0;
  for (let rank = 0; rank < 199_998; rank++) {
    let t: string;
    try {
      t = decode([rank]);
    } catch {
      continue;
    }
    // A token that is only part of a UTF-8 sequence decodes to U+FFFD (3 bytes for each lost byte at most): an over-estimate, never under.
    longest = Math.max(longest, Buffer.byteLength(t, "utf8"));
  }
  assert.equal(longest, MAX_TOKEN_BYTES);
});

function randomWords(bytes: number, seed = 3): string {
  let x = seed;
  const rand = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    let w = "";
    const n = 2 + rand(9);
    for (let i = 0; i < n; i++) w += String.fromCharCode(97 + rand(26));
    parts.push(w);
    size += n + 1;
  }
  return parts.join(" ");
}

const req = (content: string): Request => ({ messages: [{ role: "user", content }], headers: {}, metadata: {}, signals: {} });

test("context bands: decisions match full tokenization near every band edge", async () => {
  const base = "The quick brown fox, again; and 42 more lines\n";
  const texts = [1, 5, 40, 300].map((n) => base.repeat(n) + "end");
  const counts = texts.map((t) => countTokens(t));
  // Bands whose edges sit at each text's count, one below and one above.
  const edges = [...new Set(counts.flatMap((n) => [n - 1, n, n + 1]))].filter((n) => n > 0).sort((a, b) => a - b);
  const signals = edges.map((n, i) => `signal context lo${i} { max_tokens: ${n} }\nsignal context hi${i} { min_tokens: ${n} }`).join("\n");
  const routes = edges.map((n, i) => `route rlo${i} priority ${2 * i + 2} { when lo${i} and not hi${i}; use m }\nroute rhi${i} priority ${2 * i + 1} { when hi${i} and lo${i}; use m }`).join("\n");
  const r = compile(memoryHost({ "p.route": `package t\nmodel m { provider: openai, endpoint: "http://m.local/v1" }\n${signals}\n${routes}\ndefault { use m }\n` }), ["p.route"]);
  assert.ok(r.bundle, r.diagnostics.map((d) => d.message).join("\n"));
  const engine = await Engine.load(r.bundle);
  for (const [k, text] of texts.entries()) {
    const d = engine.decide(req(text), { signals: true });
    for (const [i, n] of edges.entries()) {
      assert.equal(d.signals![`lo${i}`]?.matched ?? (counts[k] <= n), counts[k] <= n, `${counts[k]} tokens vs max_tokens ${n}`);
      assert.equal(d.signals![`hi${i}`]?.matched ?? (counts[k] >= n), counts[k] >= n, `${counts[k]} tokens vs min_tokens ${n}`);
      if (d.signals![`lo${i}`]) assert.equal(d.signals![`lo${i}`].outputs.tokens, counts[k]);
    }
  }
});

test("a huge or pathological prompt costs a bounded amount of tokenizer time, and its band is still decided by sound bounds", async () => {
  const policy = `package t
model m { provider: openai, endpoint: "http://m.local/v1" }
model big { provider: openai, endpoint: "http://b.local/v1" }
model small { provider: openai, endpoint: "http://s.local/v1" }
signal context huge { min_tokens: 30000 }
signal context tiny { max_tokens: 400 }
route long priority 2 { when huge; use big }
route short priority 1 { when tiny; use small }
default { use m }
`;
  const r = compile(memoryHost({ "p.route": policy }), ["p.route"]);
  assert.ok(r.bundle);
  const engine = await Engine.load(r.bundle);
  // The route when sound bounds settle the band (null: only an estimate can, and only the time is checked).
  const cases: [string, string, string | null][] = [
    ["9.7 MB of random words", randomWords(9_700_000), "long"],
    ["4 MB of spaces", " ".repeat(4_000_000), "long"], // at least 4,000,000 / 128 = 31,250 tokens
    ["200 KB of spaces", " ".repeat(200_000), null],
    ["100 KB of random letters without a space", randomWords(100_000).replaceAll(" ", ""), null],
    ["a short question", "how do I reset my password?", "short"],
  ];
  for (const [what, text, route] of cases) {
    const t0 = performance.now();
    const d = engine.decide(req(text));
    const ms = performance.now() - t0;
    // Well under the full tokenizer's seconds (6.6 s for 100 KB of spaces), with room for a loaded 2-core VM.
    assert.ok(ms < 1500, `${what}: ${ms.toFixed(0)} ms`);
    if (route !== null) assert.equal(d.route, route, what);
  }
});

test("a 9.7 MB prompt on a policy with a context signal is decided without holding the event loop for seconds", async () => {
  const up = await startDemoUpstream({ reply: "ok" });
  cleanups.push(() => up.close());
  const { url, sink } = await serve(`package hostile
model m { provider: openai_compatible, endpoint: "${up.url}" }
model big { provider: openai_compatible, endpoint: "${up.url}" }
signal context huge { min_tokens: 30000 }
route long priority 1 { when huge; use big }
default { use m }
`);
  // Warm the tokenizer and the walker, as a running sidecar would be.
  assert.equal((await chat(url, "warm up\nthe tokenizer")).res.status, 200);
  const { res, text } = await chat(url, randomWords(9_700_000, 5));
  assert.equal(res.status, 200, text.slice(0, 200));
  assert.equal(res.headers.get("x-routeplane-route"), "long");
  const event = sink.events.at(-1)!;
  assert.ok(event.schema === "routeplane.routing/v2");
  // The decision (signals, route) is the part on the event loop that grew with the tokenizer: 6 s for this prompt before.
  assert.ok(event.latencyMs.decision < 1000, `deciding took ${event.latencyMs.decision.toFixed(0)} ms`);
});

test("OpenTelemetry: routeplane.telemetry.delivering is exported when the sink's state is given", async () => {
  const posts: string[] = [];
  const collector = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.url === "/v1/metrics") posts.push(body);
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
  });
  await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => collector.close(() => r())));
  const sink = new JsonlSink("/dev/full", { retryMs: 60_000, log: () => undefined });
  cleanups.push(() => sink.close());
  sink.emit(feedback(1));
  await until("the failed write", () => sink.stats().failures > 0);
  const observability = await Observability.create({ otlpEndpoint: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`, metricIntervalMs: 60_000 }, () => ({ revision: null, dropped: sink.stats().dropped, delivering: !sink.stats().problem }));
  cleanups.push(() => observability.shutdown());
  await observability.flush();
  const metric = JSON.parse(posts.join("")) as { resourceMetrics: { scopeMetrics: { metrics: { name: string; gauge?: { dataPoints: { asInt?: number; asDouble?: number }[] } }[] }[] }[] };
  const delivering = metric.resourceMetrics.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics)).find((m) => m.name === "routeplane.telemetry.delivering");
  assert.ok(delivering, "exported");
  const point = delivering.gauge!.dataPoints[0];
  assert.equal(point.asInt ?? point.asDouble, 0);
});
