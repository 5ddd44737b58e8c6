// The sidecar's own HTTP/1.1 layers (runtime/sidecar/http-server.ts and
// http-client.ts), against node:http as the reference: the strict request
// parser never accepts what node's parser rejects and reads what it accepts
// the same way; unusual requests are handed to node:http; the upstream client
// reads every framing a model server may use, split at any byte.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { createServer as createNodeServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { once } from "node:events";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHttpServer, parseRequestHead, type Handler } from "../runtime/sidecar/http-server.ts";
import { ClientError, OriginPool } from "../runtime/sidecar/http-client.ts";
import { isoTime } from "../runtime/sidecar/telemetry.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** Sends raw bytes on a new connection and collects everything until the server closes it or `until` matches. */
async function raw(port: number, parts: (string | Buffer)[], until?: RegExp, delayMs = 0): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  let got = "";
  const done = new Promise<string>((resolve) => {
    socket.on("data", (d) => {
      got += d.toString("latin1");
      if (until && until.test(got)) {
        socket.destroy();
        resolve(got);
      }
    });
    socket.on("close", () => resolve(got));
  });
  for (const p of parts) {
    socket.write(p);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
  }
  const timer = setTimeout(() => socket.destroy(), 3000);
  const result = await done;
  clearTimeout(timer);
  return result;
}

/** A sidecar-style server whose handler echoes what it read. */
async function echoServer(handler?: Handler, maxBodyBytes = 1024 * 1024) {
  const seen: { method: string; path: string; headers: Record<string, unknown>; body: string }[] = [];
  const server = createHttpServer(
    handler ??
      ((req, res) => {
        req.body(maxBodyBytes).then(
          (body) => {
            seen.push({ method: req.method, path: req.path, headers: { ...req.headers }, body: body.toString() });
            res.send(200, { "content-type": "application/json" }, JSON.stringify({ method: req.method, path: req.path, body: body.toString() }));
          },
          (err: Error & { status?: number }) => res.send(err.status ?? 500, {}, err.message),
        );
      }),
    { maxBodyBytes, keepAliveMs: 5000, requestTimeoutMs: 5000 },
  );
  const { port } = await server.listen(0, "127.0.0.1");
  cleanups.push(() => server.close());
  return { server, port, seen };
}

const request = (body: string, extra = "") => `POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

test("parseRequestHead reads the plain shape and declines everything else", () => {
  const ok = parseRequestHead("POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\nX-Tier:  pro \r\n__proto__: x");
  assert.ok(ok);
  assert.equal(ok.method, "POST");
  assert.equal(ok.contentLength, 12);
  assert.equal(ok.headers["x-tier"], "pro");
  assert.equal(ok.headers["__proto__"], "x");
  assert.equal(Object.getPrototypeOf(Object.getPrototypeOf(ok.headers)), null, "no Object.prototype behind the headers");
  assert.equal("constructor" in ok.headers, false);
  assert.equal(parseRequestHead("GET / HTTP/1.1\r\nHost: a\r\nConnection: close")?.close, true);
  const declined = {
    "HTTP/1.0": "GET / HTTP/1.0\r\nHost: a",
    "no Host": "GET / HTTP/1.1\r\nX: y",
    chunked: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked",
    "both framings": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked",
    "two lengths": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3",
    "signed length": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3",
    "hex length": "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x3",
    expect: "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3",
    upgrade: "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: h2c",
    "obs-fold": "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c",
    "space before colon": "GET / HTTP/1.1\r\nHost : a",
    "bare LF": "GET / HTTP/1.1\r\nHost: a\nX: b",
    "control character": "GET / HTTP/1.1\r\nHost: a\r\nX: b\x01c",
    "absolute-form target": "GET http://a/ HTTP/1.1\r\nHost: a",
    "HEAD (no body in answers)": "HEAD / HTTP/1.1\r\nHost: a",
    "duplicate header": "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\nx-a: 2",
    "leading empty line": "\r\nGET / HTTP/1.1\r\nHost: a",
    "two spaces": "GET  / HTTP/1.1\r\nHost: a",
  };
  for (const [why, head] of Object.entries(declined)) assert.equal(parseRequestHead(head), null, why);
});

test("differential: whatever the strict parser accepts, node:http accepts and reads the same way (seeded mutations)", async () => {
  const reference: Server = createNodeServer((req: IncomingMessage, res: ServerResponse) => {
    let n = 0;
    req.on("data", (c: Buffer) => (n += c.length));
    req.on("end", () => res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, length: n })));
  });
  reference.listen(0, "127.0.0.1");
  await once(reference, "listening");
  cleanups.push(() => new Promise<void>((r) => reference.close(() => r())));
  const port = (reference.address() as AddressInfo).port;
  const base = "POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nX-Tier: pro\r\nConnection: keep-alive";
  const alphabet = [" ", "\t", ":", "\r", "\n", "\r\n", "\x00", "\x7f", "é", "A", "-", "0", "+", ",", "Content-Length: 3", "Transfer-Encoding: chunked", "HTTP/1.0", "/", "?", "\x85"];
  let seed = 20261123;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  let accepted = 0;
  for (let i = 0; i < 300; i++) {
    let head = base;
    for (let k = 1 + rand(3); k > 0; k--) {
      const at = rand(head.length + 1);
      const op = rand(3);
      const piece = alphabet[rand(alphabet.length)];
      head = op === 0 ? head.slice(0, at) + piece + head.slice(at) : op === 1 ? head.slice(0, at) + head.slice(at + 1) : head.slice(0, at) + piece + head.slice(at + piece.length);
    }
    const ours = parseRequestHead(head);
    if (ours === null || head.includes("\r\n\r\n")) continue;
    accepted++;
    const answer = await raw(port, [Buffer.from(`${head}\r\n\r\n${"x".repeat(ours.contentLength)}`, "latin1")], /\r\n\r\n\{.*\}$/s);
    assert.match(answer, /^HTTP\/1\.1 200/, `node:http rejected what the strict parser accepted: ${JSON.stringify(head)}\n${answer.slice(0, 200)}`);
    // raw() reads latin1; node's JSON answer is UTF-8.
    const seen = JSON.parse(Buffer.from(answer.slice(answer.indexOf("\r\n\r\n") + 4), "latin1").toString("utf8"));
    assert.equal(seen.method, ours.method);
    assert.equal(seen.url, ours.target);
    assert.equal(seen.length, ours.contentLength);
    for (const [k, v] of Object.entries(ours.headers)) assert.equal(seen.headers[k], v, `header ${k} of ${JSON.stringify(head)}`);
  }
  assert.ok(accepted >= 20, `only ${accepted} mutated heads were accepted; the test would prove little`);
});

test("fast path: keep-alive, pipelining, a head that arrives a byte at a time, Connection: close", async () => {
  const { server, port, seen } = await echoServer();
  const two = await raw(port, [request('{"a":1}') + request('{"b":2}')], /"body":"\{\\"b\\":2\}"\}/);
  assert.equal(two.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
  assert.ok(two.indexOf('\\"a\\":1') < two.indexOf('\\"b\\":2'), "answers in request order");
  assert.match(two, /keep-alive: timeout=5\r\n/);
  assert.match(two, /date: \w{3}, \d\d \w{3} \d{4}/);
  const slow = await raw(port, [...request('{"c":3}')].map((ch) => Buffer.from(ch, "latin1")), /"body":"\{\\"c\\":3\}"\}/, 1);
  assert.match(slow, /^HTTP\/1\.1 200 OK/);
  // A client that finishes sending (half-close) still gets its answers, then the connection closes.
  const { port: slowPort } = await echoServer((req, res) => void req.body(100).then((b) => setTimeout(() => res.send(200, {}, `late ${b}`), 30)));
  const halfClosed = connect(slowPort, "127.0.0.1");
  let late = "";
  halfClosed.on("data", (d) => (late += d));
  halfClosed.end(request("one") + request("two"));
  await once(halfClosed, "close");
  assert.match(late, /late one[\s\S]*late two$/);
  const closing = await raw(port, [request("{}", "Connection: close\r\n")]);
  assert.match(closing, /connection: close\r\n/);
  assert.equal(seen.at(-1)!.path, "/v1/chat/completions", "the query is not part of the path");
  assert.equal(seen.at(-1)!.headers["content-type"], "application/json");
  assert.equal(server.stats.handedOver, 0);
  assert.equal(server.stats.fast, 4);
  // No Content: no length either.
  const { port: noContent } = await echoServer((_req, res) => res.send(204, {}, ""));
  const empty = await raw(noContent, ["PUT /debug/weights HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"], /\r\n\r\n$/);
  assert.match(empty, /^HTTP\/1\.1 204 No Content\r\n/);
  assert.doesNotMatch(empty, /content-length/i);
});

test("unusual requests are handed to node:http, also in the middle of a connection", async () => {
  const { server, port, seen } = await echoServer();
  const chunked = "POST /v1/feedback HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  const both = await raw(port, [request('{"first":1}'), chunked], /"body":"abcde"\}/, 20);
  assert.equal(both.match(/HTTP\/1\.1 200 OK/g)?.length, 2);
  assert.deepEqual(seen.map((s) => s.body), ['{"first":1}', "abcde"]);
  assert.equal(server.stats.fast, 1);
  assert.equal(server.stats.handedOver, 1);
  // Expect: 100-continue gets node's interim answer, then the real one.
  const expect = await raw(port, ["POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", "hi"], /"body":"hi"\}/, 30);
  assert.match(expect, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
  // HTTP/1.0 and a malformed head: node's answers.
  assert.match(await raw(port, ["GET /old HTTP/1.0\r\n\r\n"]), /^HTTP\/1\.1 200 OK[\s\S]*"path":"\/old"/);
  assert.match(await raw(port, ["GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n"]), /^HTTP\/1\.1 400 Bad Request/);
  assert.equal(server.stats.handedOver, 4);
});

test("random bytes and half-sent requests never break the server (seeded)", async () => {
  const { port, server } = await echoServer();
  let seed = 7;
  const rand = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
  const prefixes = ["", request('{"a":1}'), "POST / HTTP/1.1\r\nHost: a\r\n", "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"];
  await Promise.all(
    Array.from({ length: 60 }, async () => {
      const noise = Buffer.from(Array.from({ length: rand(300) }, () => rand(256)));
      const socket = connect(port, "127.0.0.1");
      await once(socket, "connect");
      socket.on("error", () => {});
      socket.write(Buffer.concat([Buffer.from(prefixes[rand(prefixes.length)], "latin1"), noise]));
      if (rand(2)) socket.end();
      await new Promise((r) => setTimeout(r, 20 + rand(30)));
      socket.destroy();
    }),
  );
  // Still serving, on both paths.
  assert.match(await raw(port, [request('{"after":1}', "Connection: close\r\n")]), /^HTTP\/1\.1 200 OK/);
  assert.ok(server.stats.fast > 0 && server.stats.handedOver > 0);
});

test("a body over the limit is answered 413 without being read, and the connection closes", async () => {
  const { port, seen } = await echoServer(undefined, 100);
  // The client goes on sending the refused body: it is read and dropped, and the answer still arrives whole.
  const answer = await raw(port, [`POST /v1/chat/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 65536\r\n\r\n`, ...Array.from({ length: 16 }, () => "x".repeat(4096))], undefined, 1);
  assert.match(answer, /^HTTP\/1\.1 413 Payload Too Large[\s\S]*connection: close[\s\S]*larger than 100 bytes$/);
  assert.equal(seen.length, 0);
});

test("streamed answers: chunked, read back by a standard client; a client that leaves is noticed", async () => {
  let closedEarly = 0;
  const { port } = await echoServer((req, res) => {
    res.start(200, { "content-type": "text/event-stream" });
    if (req.path === "/forever") {
      res.onClose(() => closedEarly++);
      const tick = setInterval(() => (res.closed ? clearInterval(tick) : res.write("data: tick\n\n")), 5);
      return;
    }
    res.write("data: one\n\n");
    res.write(Buffer.from("data: two\n\n"));
    res.write("");
    res.end();
  });
  const r = await fetch(`http://127.0.0.1:${port}/stream`);
  assert.equal(r.headers.get("transfer-encoding"), "chunked");
  assert.equal(await r.text(), "data: one\n\ndata: two\n\n");
  const socket = connect(port, "127.0.0.1");
  socket.write("GET /forever HTTP/1.1\r\nHost: a\r\n\r\n");
  await once(socket, "data");
  socket.destroy();
  // Noticed within 5 s even on a loaded machine (a fixed 50 ms wait was flaky there).
  for (const deadline = Date.now() + 5000; closedEarly === 0 && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 10));
  assert.equal(closedEarly, 1);
});

test("isoTime formats like Date#toISOString", () => {
  for (const ms of [0, 5, 42, 999, 1000, 1_795_000_000_007, 1_795_000_000_070, 1_795_000_000_700, Date.now()]) assert.equal(isoTime(ms), new Date(ms).toISOString());
});

// ---- the upstream client

/** A raw TCP server that answers every request with `answer` (written in the given pieces). */
async function rawUpstream(answer: (n: number) => (string | Buffer)[], keepOpen = true) {
  const sockets = new Set<Socket>();
  let requests = 0;
  let connections = 0;
  const server = createNetServer((s) => {
    connections++;
    sockets.add(s);
    let buf = "";
    s.on("data", async (d) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const cl = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + cl) return;
        buf = buf.slice(end + 4 + cl);
        for (const piece of answer(requests++)) {
          s.write(piece);
          await new Promise((r) => setImmediate(r));
        }
        if (!keepOpen) s.end();
      }
    });
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, stats: () => ({ requests, connections }) };
}

function pool(origin: string, connections = 4) {
  const p = new OriginPool(origin, { connections, keepAliveMs: 5000 });
  cleanups.push(() => p.close());
  return p;
}

const post = (extra: Partial<Parameters<OriginPool["request"]>[0]> = {}) => ({ method: "POST" as const, path: "/v1/chat/completions", headers: { "content-type": "application/json" }, body: "{}", headersTimeoutMs: 2000, bodyTimeoutMs: 2000, ...extra });

test("client: every framing, split at every byte, with interim answers and trailers", async () => {
  const answers = [
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
    "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n4;ext=1\r\n{\"ok\r\n7\r\n\":true}\r\n0\r\nTrailer: x\r\n\r\n",
    "HTTP/1.1 204 No Content\r\n\r\n",
    "HTTP/1.1 200\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
  ];
  for (const [i, text] of answers.entries()) {
    // Whole, then one byte per write.
    for (const split of [false, true]) {
      const up = await rawUpstream(() => (split ? [...text].map((c) => Buffer.from(c, "latin1")) : [text]));
      const p = pool(up.origin);
      for (let round = 0; round < 2; round++) {
        const res = await p.request(post());
        const body = await res.body.text();
        if (i === 2) assert.equal(res.statusCode, 204);
        else {
          assert.equal(res.statusCode, 200);
          assert.equal(body, '{"ok":true}');
        }
        if (i === 1) assert.equal(res.headers["x-a"], "1, 2");
      }
      assert.deepEqual(up.stats(), { requests: 2, connections: 1 }, `answer ${i}${split ? " split" : ""}: one kept connection`);
    }
  }
});

test("client: an answer ended by closing the connection, and Connection: close, are not reused", async () => {
  const up = await rawUpstream(() => ["HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"], false);
  const p = pool(up.origin);
  assert.equal(await (await p.request(post())).body.text(), "all of it");
  assert.equal(await (await p.request(post())).body.text(), "all of it");
  assert.equal(up.stats().connections, 2);
  const closing = await rawUpstream(() => ["HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"]);
  const q = pool(closing.origin);
  for (let i = 0; i < 3; i++) assert.equal(await (await q.request(post())).body.text(), "ok");
  assert.equal(closing.stats().connections, 3);
});

test("client: malformed answers, timeouts, refused connections and cancelling fail with a ClientError of the right kind", async () => {
  const kinds: Record<string, string> = {};
  const expectKind = async (name: string, p: Promise<unknown>) => {
    try {
      await p;
      kinds[name] = "no error";
    } catch (err) {
      assert.ok(err instanceof ClientError, `${name}: ${err}`);
      kinds[name] = err.kind;
    }
  };
  const garbage = await rawUpstream(() => ["SMTP ready\r\n\r\n"]);
  await expectKind("garbage", pool(garbage.origin).request(post()));
  const http2 = await rawUpstream(() => ["HTTP/1.2 200 OK\r\n\r\n"]);
  await expectKind("HTTP/1.2", pool(http2.origin).request(post()));
  const badChunk = await rawUpstream(() => ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"]);
  await expectKind("bad chunk", pool(badChunk.origin).request(post()).then((r) => r.body.text()));
  const tooLong = await rawUpstream(() => ["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nabc"]);
  await expectKind("longer than its length", pool(tooLong.origin).request(post()).then((r) => r.body.text()));
  const silent = await rawUpstream(() => []);
  await expectKind("silent", pool(silent.origin).request(post({ headersTimeoutMs: 100 })));
  const stalls = await rawUpstream(() => ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"]);
  await expectKind("stalls", pool(stalls.origin).request(post({ bodyTimeoutMs: 100 })).then((r) => r.body.text()));
  const closed = await rawUpstream(() => ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], false);
  await expectKind("cut short", pool(closed.origin).request(post()).then((r) => r.body.text()));
  const refused = createNetServer();
  refused.listen(0, "127.0.0.1");
  await once(refused, "listening");
  const port = (refused.address() as AddressInfo).port;
  await new Promise<void>((r) => refused.close(() => r()));
  await expectKind("refused", pool(`http://127.0.0.1:${port}`).request(post()));
  const abort = new AbortController();
  const pending = pool(silent.origin).request(post({ signal: abort.signal }));
  setTimeout(() => abort.abort(), 20);
  await expectKind("cancelled", pending);
  const later = new AbortController();
  const headFirst = await pool(stalls.origin).request(post({ signal: later.signal }));
  setTimeout(() => later.abort(), 20);
  await expectKind("cancelled during the body", headFirst.body.text());
  assert.deepEqual(kinds, { garbage: "protocol", "HTTP/1.2": "protocol", "bad chunk": "protocol", "longer than its length": "protocol", silent: "timeout", stalls: "timeout", "cut short": "closed", refused: "connect", cancelled: "aborted", "cancelled during the body": "aborted" });
});

test("client: a pool of one queues requests; a large streamed body is read with backpressure and can be abandoned", async () => {
  const big = "x".repeat(1 << 20);
  const server: Server = createNodeServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/big" || req.url === "/mid") {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(req.url === "/big" ? big : big.slice(0, 100_000));
      } else res.end(`answer to ${req.url}`);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const connections = new Set<Socket>();
  server.on("connection", (s: Socket) => connections.add(s));
  const p = pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 1);
  const answers = await Promise.all([1, 2, 3, 4, 5].map(async (i) => (await p.request(post({ path: `/${i}` }))).body.text()));
  assert.deepEqual(answers, [1, 2, 3, 4, 5].map((i) => `answer to /${i}`));
  assert.equal(connections.size, 1);
  let size = 0;
  for await (const chunk of (await p.request(post({ path: "/big" }))).body) size += chunk.length;
  assert.equal(size, big.length);
  // A body that arrived whole before anyone read it (the socket stopped reading on the way) leaves the connection usable.
  // (Between one and two socket reads long: the read that completes it also stops the socket.)
  const unread = await p.request(post({ path: "/mid" }));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await unread.body.text()).length, 100_000);
  assert.equal(await (await p.request(post({ path: "/next", headersTimeoutMs: 1000 }))).body.text(), "answer to /next");
  assert.equal(connections.size, 1, "the same connection served them all");
  const abandoned = await p.request(post({ path: "/big" }));
  for await (const chunk of abandoned.body) {
    assert.ok(chunk.length > 0);
    break;
  }
  abandoned.body.destroy();
  assert.equal(await (await p.request(post({ path: "/after" }))).body.text(), "answer to /after", "the pool goes on after an abandoned answer");
});

test("client: https upstreams, trusted through an extra CA (an on-prem model server's); an untrusted certificate fails to connect", async () => {
  const dir = mkdtempSync(join(tmpdir(), "routeplane-tls-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { cwd: dir, stdio: "ignore" });
  const cert = readFileSync(join(dir, "cert.pem"), "utf8");
  const server = createHttpsServer({ key: readFileSync(join(dir, "key.pem")), cert }, (req, res) => {
    req.resume();
    req.on("end", () => res.end(`secure ${req.url}`));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as AddressInfo).port;
  for (const host of ["localhost", "127.0.0.1"]) {
    const trusted = new OriginPool(`https://${host}:${port}`, { connections: 2, keepAliveMs: 5000, ca: cert });
    cleanups.push(() => trusted.close());
    assert.equal(await (await trusted.request(post({ path: "/one" }))).body.text(), "secure /one");
    assert.equal(await (await trusted.request(post({ path: "/two" }))).body.text(), "secure /two");
  }
  const untrusted = pool(`https://localhost:${port}`);
  await assert.rejects(untrusted.request(post()), (err: unknown) => err instanceof ClientError && err.kind === "connect" && /self.signed|certificate/i.test(err.message));
});
