// Hostile clients and model servers (issue 11): nothing a client or an
// upstream sends may take the sidecar down, make it hang, or make its memory
// grow past what its configuration allows; where ADR 9 promises "like
// node:http", node:http is the reference the answers are compared with.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { createServer as createNodeServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { serializeBundle } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore, createSidecar, Upstreams } from "../runtime/index.ts";
import { createHttpServer, type Handler, type HttpServerOptions } from "../runtime/sidecar/http-server.ts";
import { ClientError, OriginPool } from "../runtime/sidecar/http-client.ts";
import { MemorySink } from "./support/memory-sink.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Sends raw bytes on a new connection (then half-closes, if asked) and collects what comes back
 * until the server closes, `until` matches, or `waitMs` passes.
 */
async function raw(port: number, data: string | Buffer, opts: { halfClose?: boolean; until?: RegExp; waitMs?: number } = {}): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.on("error", () => {});
  let got = "";
  const done = new Promise<void>((resolve) => {
    socket.on("data", (d) => {
      got += d.toString("latin1");
      if (opts.until?.test(got)) resolve();
    });
    socket.on("close", () => resolve());
  });
  socket.write(data);
  if (opts.halfClose) socket.end();
  const timer = setTimeout(() => socket.destroy(), opts.waitMs ?? 2000);
  await done;
  clearTimeout(timer);
  socket.destroy();
  return got;
}

const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));

async function ours(handler: Handler, options: Partial<HttpServerOptions> = {}) {
  const server = createHttpServer(handler, { maxBodyBytes: 1024 * 1024, keepAliveMs: 5000, requestTimeoutMs: 5000, ...options });
  const { port } = await server.listen(0, "127.0.0.1");
  cleanups.push(() => server.close());
  return { server, port };
}

async function reference(handler: (req: IncomingMessage, res: ServerResponse) => void, options: Parameters<typeof createNodeServer>[0] = {}): Promise<number> {
  const server: Server = createNodeServer(options, handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return (server.address() as AddressInfo).port;
}

/** Reads the body, then answers 200 with its length (or the error's status). */
const echoLength: Handler = (req, res) =>
  void req.body(1024 * 1024).then(
    (b) => res.send(200, {}, `${b.length}`),
    (err: { status?: number; message: string }) => res.send(err.status ?? 500, {}, err.message),
  );

// ---- clients

test("pipelining: 3,000 requests sent at once on one connection and answered synchronously all get their answers, in order", async () => {
  const { port } = await ours((req, res) => res.send(200, {}, req.path));
  const n = 3000;
  let requests = "";
  for (let i = 0; i < n; i++) requests += `GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`;
  const got = await raw(port, requests, { until: new RegExp(`\\r\\n\\r\\n/${n - 1}$`), waitMs: 10_000 });
  assert.equal(statuses(got).length, n, "every pipelined request is answered (a recursion per request overflowed the stack and hung)");
  const paths = [...got.matchAll(/\r\n\r\n\/(\d+)/g)].map((m) => Number(m[1]));
  assert.deepEqual(paths, Array.from({ length: n }, (_, i) => i));
  // Answered in batches: a client that half-closes after sending them still gets every answer.
  const hundred = requests.slice(0, requests.indexOf("GET /100 "));
  const halfClosed = await raw(port, hundred, { halfClose: true, waitMs: 5000 });
  assert.equal(statuses(halfClosed).length, 100);
});

test("pipelining: a client that sends requests without reading the answers is not read further (memory stays bounded)", async () => {
  let answered = 0;
  const answer = "a".repeat(1024);
  const { port } = await ours((_req, res) => {
    answered++;
    res.send(200, {}, answer);
  });
  const total = 100_000;
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.on("error", () => {});
  // Never reads: its receive buffer and the sidecar's send buffer fill with answers.
  socket.pause();
  let requests = "";
  for (let i = 0; i < total; i++) requests += "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  socket.write(requests);
  let last = -1;
  for (let t = 0; t < 50 && answered !== last; t++) {
    last = answered;
    await sleep(200);
  }
  assert.ok(answered < total / 2, `the sidecar stopped reading after ${answered} of ${total} requests (answers waiting for the client: bounded)`);
  // Once the client reads, every request is answered.
  let bytes = 0;
  let first = "";
  const all = new Promise<void>((resolve) => {
    socket.on("data", (d: Buffer) => {
      if (first === "") first = d.toString("latin1", 0, d.indexOf("\r\n\r\n") + 4 + answer.length);
      bytes += d.length;
      if (bytes >= total * first.length) resolve();
    });
  });
  socket.resume();
  await Promise.race([all, sleep(20_000)]);
  socket.destroy();
  assert.equal(answered, total);
  assert.equal(bytes, total * first.length);
});

test("request bodies held at once are bounded over all connections: past the total, 503 (both paths); the budget is given back", async () => {
  const held: (() => void)[] = [];
  const { server, port } = await ours(
    (req, res) =>
      void req.body(64 * 1024).then(
        (b) => held.push(() => res.send(200, {}, `${b.length}`)),
        (err: { status: number; message: string }) => res.send(err.status, { connection: "close" }, err.message),
      ),
    { maxBodyBytes: 64 * 1024, maxInflightBodyBytes: 128 * 1024 },
  );
  const body = "x".repeat(60 * 1024);
  const post = `POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const sockets: Socket[] = [];
  const answers: string[] = [];
  for (let i = 0; i < 2; i++) {
    const s = connect(port, "127.0.0.1");
    s.on("data", (d) => (answers[i] = (answers[i] ?? "") + d.toString("latin1")));
    s.write(post);
    sockets.push(s);
  }
  for (let t = 0; held.length < 2 && t < 200; t++) await sleep(10);
  assert.equal(held.length, 2);
  assert.equal(server.inflightBodyBytes, 2 * body.length);
  // A third body would pass the total: refused unread, on the fast path and on node:http's (chunked).
  const third = await raw(port, post, { until: /too many request bodies/ });
  assert.match(third, /^HTTP\/1\.1 503 /);
  const chunked = await raw(port, `POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n${(20 * 1024).toString(16)}\r\n${"y".repeat(20 * 1024)}\r\n0\r\n\r\n`, { until: /too many request bodies/ });
  assert.match(chunked, /^HTTP\/1\.1 503 /);
  assert.equal(server.inflightBodyBytes, 2 * body.length, "refused bodies hold nothing");
  // Bodies count as they arrive, not as announced: clients announcing large bodies and
  // trickling them hold only what they sent, and do not lock others out.
  const tricklers: Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = connect(port, "127.0.0.1");
    s.on("error", () => {});
    s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${"t".repeat(1024)}`);
    tricklers.push(s);
  }
  for (let t = 0; server.inflightBodyBytes < 2 * body.length + 4 * 1024 && t < 200; t++) await sleep(10);
  assert.equal(server.inflightBodyBytes, 2 * body.length + 4 * 1024);
  for (const s of tricklers) s.destroy();
  for (let t = 0; server.inflightBodyBytes > 2 * body.length && t < 200; t++) await sleep(10);
  assert.equal(server.inflightBodyBytes, 2 * body.length, "a connection that breaks off gives its bytes back");
  for (const answer of held) answer();
  for (let t = 0; answers.filter(Boolean).length < 2 && t < 200; t++) await sleep(10);
  for (const a of answers) assert.match(a, /^HTTP\/1\.1 200 OK[\s\S]*\r\n\r\n61440$/);
  assert.equal(server.inflightBodyBytes, 0);
  for (const s of sockets) s.destroy();
});

test("a chunked body over the limit is answered 413 while the client is still sending (node:http path)", async () => {
  const { port } = await ours(echoLength, { maxBodyBytes: 1024 * 1024 });
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  let got = "";
  let over = false;
  socket.on("data", (d) => (got += d.toString("latin1")));
  socket.on("error", () => (over = true));
  socket.on("close", () => (over = true));
  socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
  const piece = `${(64 * 1024).toString(16)}\r\n${"z".repeat(64 * 1024)}\r\n`;
  // Up to 32 MiB, as fast as the sidecar reads, until an answer comes or the connection ends.
  for (let sent = 0; sent < 32 * 1024 * 1024 && !over && got === ""; sent += 64 * 1024) {
    if (!socket.write(piece)) await new Promise((resolve) => (socket.once("drain", resolve), socket.once("close", resolve), setTimeout(resolve, 1000)));
  }
  for (let t = 0; !/larger than/.test(got) && t < 100; t++) await sleep(10);
  socket.destroy();
  assert.match(got, /^HTTP\/1\.1 413 Payload Too Large\r\n[\s\S]*[Cc]onnection: close[\s\S]*larger than 1048576 bytes$/);
});

test("differential with node:http: bare-LF heads, many headers, an unusual request then a half-close, a request too slow to arrive", async () => {
  const nodePort = await reference(
    (req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => (n += c.length));
      req.on("end", () => res.end(`${n}`));
    },
    { requestTimeout: 300, connectionsCheckingInterval: 50 },
  );
  const { port } = await ours(echoLength, { requestTimeoutMs: 300 });
  const headers = (n: number) => Array.from({ length: n }, (_, i) => `x-h${i}: v`).join("\r\n");
  const chunked = "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
  const plain = "GET /p HTTP/1.1\r\nHost: a\r\n\r\n";
  const cases: [string, string, { halfClose?: boolean }][] = [
    ["LF-only head", "GET / HTTP/1.1\nHost: a\n\n", {}],
    ["LF-only head, then a half-close", "GET / HTTP/1.1\nHost: a\n\n", { halfClose: true }],
    ["a bare LF inside a CRLF head", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", {}],
    ["997 small headers", `GET / HTTP/1.1\r\nHost: a\r\n${headers(997)}\r\n\r\n`, {}],
    ["999 small headers", `GET / HTTP/1.1\r\nHost: a\r\n${headers(999)}\r\n\r\n`, {}],
    ["1,000 small headers", `GET / HTTP/1.1\r\nHost: a\r\n${headers(1000)}\r\n\r\n`, {}],
    ["a chunked request, then a half-close", chunked, { halfClose: true }],
    ["a plain request, a chunked one, then a half-close", plain + chunked, { halfClose: true }],
    ["HTTP/1.0, then a half-close", "GET /old HTTP/1.0\r\n\r\n", { halfClose: true }],
  ];
  await Promise.all(
    cases.map(async ([why, bytes, opts]) => {
      const [theirs, mine] = await Promise.all([raw(nodePort, bytes, { ...opts, waitMs: 600 }), raw(port, bytes, { ...opts, waitMs: 600 })]);
      assert.ok(statuses(theirs).length > 0, `node:http answers: ${why}`);
      assert.deepEqual(statuses(mine), statuses(theirs), `${why}: node:http answered ${JSON.stringify(theirs.slice(0, 60))}, the sidecar ${JSON.stringify(mine.slice(0, 60))}`);
    }),
  );
  // Answers made later than the half-close are still written, on both paths (the client's end
  // arrived before the connection was handed over: node:http reads the bytes from a replay).
  const { port: late, server } = await ours((req, res) => void req.body(100).then((b) => setTimeout(() => res.send(200, {}, `late ${b}`), 30)));
  const both = await raw(late, plain + chunked, { halfClose: true });
  assert.deepEqual(statuses(both), [200, 200]);
  assert.match(both, /\r\n\r\nlate HTTP\/1\.1 200 [\s\S]*\r\n\r\nlate abc$/);
  assert.equal(server.stats.handedOver, 1);
  // A request that stops arriving (mid-body, and mid-head) gets node's 408 and the connection closes.
  for (const partial of ["POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc", "POST /x HTTP/1.1\r\nHost: a\r\n"]) {
    const [theirs, mine] = await Promise.all([raw(nodePort, partial, { waitMs: 3000 }), raw(port, partial, { waitMs: 3000 })]);
    assert.match(theirs, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.equal(mine, theirs, `a slow request: ${JSON.stringify(partial)}`);
  }
});

// ---- the sidecar


/** A sidecar whose one model is `upstream`; a `pii_redact … on_response` route for messages saying "contact". */
async function sidecarFor(upstream: string, options: Partial<Parameters<typeof createSidecar>[0]> = {}) {
  const text = `package hostile
model m { provider: vllm, endpoint: "${upstream}" }
plugin pii_redact both_ways { types: [email], on_response: true }
signal keyword outbound { any: ["contact"] }
route outbound priority 1 { when outbound; use m; apply both_ways }
default { use m }
`;
  const result = compile(memoryHost({ "p.route": text }), ["p.route"]);
  assert.ok(result.bundle);
  const store = new BundleStore({ trustedKeys: [] });
  assert.equal(await store.offer(serializeBundle(result.bundle), "test", { requireSignature: false }), null);
  const sink = new MemorySink();
  const sidecar = createSidecar({ store, telemetry: sink, ...options });
  const { port } = await sidecar.listen(0);
  let closed = false;
  cleanups.push(() => (closed ? undefined : sidecar.close()));
  return { sidecar, port, url: `http://127.0.0.1:${port}`, sink, markClosed: () => (closed = true) };
}

/** A model server whose answers `answer` writes. */
async function modelServer(answer: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  const port = await reference((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c));
    req.on("end", () => answer(req, res, body));
  });
  return `http://127.0.0.1:${port}/v1`;
}

const chatBody = (content: string, extra: Record<string, unknown> = {}) => JSON.stringify({ messages: [{ role: "user", content }], ...extra });

test("sidecar: a 100,000-deep JSON body is a 400, and a client abandoning a chunked body logs nothing", async () => {
  const upstream = await modelServer((_req, res) => res.end(JSON.stringify({ choices: [] })));
  const { url, port } = await sidecarFor(upstream);
  const errors: unknown[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void errors.push(args);
  try {
    const deep = `{"messages":[{"role":"user","content":"hi"}],"metadata":${"[".repeat(100_000)}${"]".repeat(100_000)}}`;
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: deep });
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /more than 128 levels deep/);
    const fine = await fetch(`${url}/v1/chat/completions`, { method: "POST", body: chatBody("hi", { tools: [{ a: [[[[{ b: 1 }]]]] }] }) });
    assert.equal(fine.status, 200);
    await fine.text();
    // A chunked body the client gives up on half-way.
    const socket = connect(port, "127.0.0.1");
    await once(socket, "connect");
    socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"messages\":[{\"r");
    await sleep(50);
    socket.destroy();
    await sleep(100);
  } finally {
    console.error = original;
  }
  assert.deepEqual(errors, [], "nothing is logged as an internal error");
});

test("sidecar: a large answer streams through before the upstream has finished; one a response plugin must hold whole is capped with a 502", async () => {
  let finishUpstream = () => {};
  const size = 8 * 1024 * 1024;
  const upstream = await modelServer((_req, res) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": size });
    const head = `{"choices":[{"message":{"content":"`;
    res.write(head + "a".repeat(size / 2 - head.length));
    const tail = `"}}],"usage":{"prompt_tokens":7,"completion_tokens":9}}`;
    finishUpstream = () => res.end("a".repeat(size / 2 - tail.length) + tail);
  });
  const { url, sink } = await sidecarFor(upstream, { maxResponseBufferBytes: 1024 * 1024 });
  const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", body: chatBody("hi") });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  let received = 0;
  // Half of the answer reaches the client while the model server still holds the rest back.
  while (received < size / 4) received += (await reader.read()).value!.length;
  finishUpstream();
  for (let r = await reader.read(); !r.done; r = await reader.read()) received += r.value.length;
  assert.equal(received, size);
  const event = sink.events.at(-1) as { tokens: unknown; status: number };
  assert.deepEqual(event.tokens, { prompt: 7, completion: 9 }, "usage is read from the streamed answer's tail");
  // With response redaction the answer must be held whole: past maxResponseBufferBytes, a clear 502.
  const held = await fetch(`${url}/v1/chat/completions`, { method: "POST", body: chatBody("how do I contact you?") });
  finishUpstream();
  assert.equal(held.status, 502);
  assert.match(((await held.json()) as { error: { message: string } }).error.message, /larger than 1048576 bytes.*maxResponseBufferBytes/);
});

test("shutdown: stops accepting, idle connections close, a live stream finishes with [DONE], the deadline cuts what is left", async () => {
  let streams = 0;
  const upstream = await modelServer((req, res, body) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    const forever = body.includes("forever");
    let n = 0;
    const tick = setInterval(() => {
      if (res.destroyed) return clearInterval(tick);
      if (!forever && n === 6) {
        clearInterval(tick);
        res.end("data: [DONE]\n\n");
        return;
      }
      res.write(`data: {"choices":[{"delta":{"content":"${n++}"}}]}\n\n`);
    }, 40);
    streams++;
  });
  const { sidecar, port, url, markClosed } = await sidecarFor(upstream, { drainMs: 1500 });
  const idle = connect(port, "127.0.0.1");
  await once(idle, "connect");
  const idleClosed = once(idle, "close");
  idle.on("error", () => {});
  const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", body: chatBody("tell me", { stream: true }) });
  const reader = res.body!.getReader();
  let text = new TextDecoder().decode((await reader.read()).value);
  // A stream that never ends, on its own connection.
  const endless = connect(port, "127.0.0.1");
  endless.on("error", () => {});
  let endlessText = "";
  endless.on("data", (d) => (endlessText += d));
  const endlessBody = chatBody("forever", { stream: true });
  endless.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${endlessBody.length}\r\n\r\n${endlessBody}`);
  for (let t = 0; streams < 2 && t < 100; t++) await sleep(10);
  const started = performance.now();
  const closing = sidecar.close();
  markClosed();
  await sleep(50);
  // No new connections.
  const refused = connect(port, "127.0.0.1");
  const [outcome] = await Promise.race([once(refused, "error").then(() => ["refused"]), once(refused, "connect").then(() => ["accepted"])]);
  refused.destroy();
  assert.equal(outcome, "refused");
  await idleClosed;
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += new TextDecoder().decode(r.value);
  assert.match(text, /data: \{"choices":\[\{"delta":\{"content":"5"\}\}\]\}\n\ndata: \[DONE\]\n\n$/, "the stream in flight ends whole");
  await closing;
  const took = performance.now() - started;
  assert.ok(took >= 1400 && took < 5000, `close() waited for the endless stream until the 1.5 s deadline, then cut it (${took.toFixed(0)} ms)`);
  assert.ok(endlessText.includes("data: {") && !endlessText.includes("[DONE]"));
  assert.ok(endless.destroyed || endless.readableEnded || (await Promise.race([once(endless, "close").then(() => true), sleep(500).then(() => false)])));
});

// ---- model servers

/** A raw TCP model server: `answer` gets each connection's socket once a request head arrived. */
async function rawModel(answer: (socket: Socket) => void): Promise<string> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    let seen = "";
    s.on("data", (d) => {
      seen += d.toString("latin1");
      if (seen.includes("\r\n\r\n")) {
        seen = "";
        answer(s);
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test("client: the answer's head has a total deadline; NUL and control characters in its headers and a head over 64 KiB fail", async () => {
  const ask = async (origin: string, headersTimeoutMs = 2000) => {
    const pool = new OriginPool(origin, { connections: 1, keepAliveMs: 1000 });
    cleanups.push(() => pool.close());
    const started = performance.now();
    try {
      const res = await pool.request({ method: "POST", path: "/", headers: {}, body: "{}", headersTimeoutMs, bodyTimeoutMs: 5000 });
      return { ok: await res.body.text(), ms: performance.now() - started };
    } catch (err) {
      assert.ok(err instanceof ClientError, String(err));
      return { kind: err.kind, message: err.message, ms: performance.now() - started };
    }
  };
  // A head trickled a byte every 20 ms (it would take 1.4 s) against a 300 ms deadline.
  const trickled = await rawModel((s) => {
    const head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Padding: abcdefghijklmnopqrstuvwxyz\r\n\r\nok";
    let i = 0;
    const t = setInterval(() => (s.destroyed || i >= head.length ? clearInterval(t) : s.write(head[i++])), 20);
  });
  const slow = await ask(trickled, 300);
  assert.equal(slow.kind, "timeout");
  assert.ok(slow.ms < 1200, `the deadline is total, not reset by every byte (${slow.ms.toFixed(0)} ms)`);
  for (const [why, header] of [
    ["NUL", "X-Bad: a\x00b"],
    ["a bare CR", "X-Bad: a\rb"],
    ["another control", "Content-Type: application/json\x01"],
    ["a name that is not a token", "X Bad: a"],
  ]) {
    const origin = await rawModel((s) => s.write(`HTTP/1.1 200 OK\r\n${header}\r\nContent-Length: 2\r\n\r\nok`));
    const r = await ask(origin);
    assert.equal(r.kind, "protocol", why);
    assert.match(r.message!, /malformed header line/);
  }
  const big = await rawModel((s) => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(70 * 1024)}\r\nContent-Length: 2\r\n\r\nok`));
  const r = await ask(big);
  assert.equal(r.kind, "protocol");
  assert.match(r.message!, /larger than 64 KiB/);
  const fine = await rawModel((s) => s.write(`HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(60 * 1024)}\r\nX-Tab: a\tb\r\nContent-Length: 2\r\n\r\nok`));
  assert.equal((await ask(fine)).ok, "ok");
  // text() holds at most its limit.
  const pool = new OriginPool(fine, { connections: 1, keepAliveMs: 1000 });
  cleanups.push(() => pool.close());
  const res = await pool.request({ method: "POST", path: "/", headers: {}, body: "{}", headersTimeoutMs: 1000, bodyTimeoutMs: 1000 });
  await assert.rejects(res.body.text(1), (err: ClientError) => err.kind === "too-large");
});

test("sidecar: a NUL in an upstream header never reaches the client", async () => {
  const origin = await rawModel((s) => s.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\x00evil\r\nContent-Length: 2\r\n\r\n{}`));
  const { url } = await sidecarFor(`${origin}/v1`, { upstreams: new Upstreams({ failureThreshold: 100 }) });
  const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", body: chatBody("hi") });
  assert.equal(res.status, 502);
  assert.doesNotMatch(res.headers.get("content-type") ?? "", /evil/);
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /malformed header line/);
});

// ---- memory, measured in a child process

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

test("memory soak (child process): a 128 MiB answer and 48 connections with 4 MiB bodies keep the sidecar's RSS within its configured bounds", { timeout: 60_000 }, async () => {
  const MiB = 1024 * 1024;
  let answerSize = 0;
  const upstream = await modelServer((_req, res) => {
    if (answerSize === 0) {
      // Every answer held back a second, so the sidecar holds its requests meanwhile.
      setTimeout(() => res.end(JSON.stringify({ choices: [{ message: { content: "ok" } }] })), 1000);
      return;
    }
    // A large answer of unknown length (chunked), written as fast as the sidecar takes it.
    res.writeHead(200, { "content-type": "application/json" });
    const piece = Buffer.alloc(256 * 1024, "a");
    let left = answerSize;
    const pump = () => {
      while (left > 0) {
        left -= piece.length;
        if (!res.write(piece)) return void res.once("drain", pump);
      }
      res.end();
    };
    pump();
  });
  const limits = { maxBodyBytes: 8 * MiB, maxInflightBodyBytes: 8 * MiB, maxResponseBufferBytes: 8 * MiB, drainMs: 500 };
  const child = spawn(process.execPath, ["test/support/hostile-sidecar.ts", upstream, JSON.stringify(limits)], { stdio: ["ignore", "pipe", "inherit"] });
  cleanups.push(() => void child.kill("SIGKILL"));
  const [line] = (await once(child.stdout!, "data")) as [Buffer];
  const { port } = JSON.parse(line.toString()) as { port: number };
  const url = `http://127.0.0.1:${port}`;
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssOf(child.pid!))), 10);
  try {
    // Warm up, then take the baseline.
    for (let i = 0; i < 5; i++) await (await fetch(`${url}/v1/chat/completions`, { method: "POST", body: chatBody("warm") })).text();
    const baseline = (peak = rssOf(child.pid!));
    // First a 128 MiB answer streams through.
    answerSize = 128 * MiB;
    const res = await fetch(`${url}/v1/chat/completions`, { method: "POST", body: chatBody("big") });
    let received = 0;
    for await (const chunk of res.body!) received += (chunk as Uint8Array).length;
    const answerGrowth = peak - baseline;
    answerSize = 0;
    const before = (peak = rssOf(child.pid!));
    // Then 48 clients send 4 MiB bodies at once while the model server holds every answer 1 s.
    const body = chatBody("x".repeat(4 * MiB));
    const outcomes = await Promise.all(
      Array.from({ length: 48 }, async () => {
        const socket = connect(port, "127.0.0.1");
        socket.on("error", () => {});
        let got = "";
        socket.on("data", (d) => (got += d.toString("latin1")));
        socket.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
        socket.end(body);
        await Promise.race([once(socket, "close"), sleep(20_000)]);
        socket.destroy();
        return statuses(got)[0];
      }),
    );
    const bodiesGrowth = peak - before;
    assert.ok(bodiesGrowth < 160 * MiB, `RSS grew ${(bodiesGrowth / MiB).toFixed(0)} MiB while 48 × 4 MiB bodies arrived (8 MiB may be held; each held request is parsed, rewritten and forwarded, and refused bodies are read and dropped)`);
    assert.ok(answerGrowth < 96 * MiB, `RSS grew ${(answerGrowth / MiB).toFixed(0)} MiB while a 128 MiB answer passed through`);
    assert.equal(received, 128 * MiB);
    assert.ok(outcomes.filter((s) => s === 200).length >= 1, `some bodies were taken: ${outcomes}`);
    assert.ok(outcomes.filter((s) => s === 503).length >= 30, `the rest were refused 503: ${outcomes}`);
  } finally {
    clearInterval(sampler);
    child.kill("SIGTERM");
    await once(child, "exit");
  }
});
