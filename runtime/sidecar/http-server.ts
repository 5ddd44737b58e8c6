// The sidecar's HTTP/1.1 server. A proxy hop through node:http costs about
// twice the latency budget of the sidecar (ADR 9, bench/proxy), so requests
// are read straight off the socket by a strict parser that accepts only the
// plain shape every OpenAI client sends: HTTP/1.1, a Host, a Content-Length
// body or none, token header names, visible header values, no duplicates.
// A connection that sends anything else (chunked bodies, Expect, Upgrade,
// HTTP/1.0, obs-fold, odd characters, bare LFs, a head over 8 KiB or with
// more than 100 headers, …) is handed to node:http from that request on, so
// every unusual case gets node's own careful answer and nothing is parsed
// leniently.
//
// Handlers see one small interface for both paths: SidecarRequest (the body
// read whole, within a limit) and SidecarResponse (a whole answer, or a
// chunked stream with backpressure).
//
// Memory is bounded by configuration, not by clients: request bodies being
// received or held count against one total for the server (a body that would
// pass it is answered 503), pipelined requests are read ahead only 64 KiB,
// and pipelined answers are made in a loop that yields every 32 requests.
import { createServer as createNodeServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import { Duplex } from "node:stream";
import { headerValue, newHeaders } from "./header-record.ts";
import { HttpError } from "./openai.ts";

export interface SidecarRequest {
  readonly method: string;
  /** The request target without its query. */
  readonly path: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly remoteAddress: string | undefined;
  /** The whole body; an HttpError 413 when it is longer than `limit` bytes. */
  body(limit: number): Promise<Buffer>;
}

export interface SidecarResponse {
  readonly headersSent: boolean;
  /** The client went away or the connection broke. */
  readonly closed: boolean;
  /** Sends a whole response. */
  send(status: number, headers: Record<string, string>, body: string | Buffer): void;
  /** Starts a streamed response (chunked transfer coding). */
  start(status: number, headers: Record<string, string>): void;
  /** Writes part of a streamed response; false when the client is behind: wait for drained(). */
  write(chunk: string | Buffer): boolean;
  /** Resolves when the client caught up or went away. */
  drained(): Promise<void>;
  end(): void;
  /** Breaks the connection: a response that cannot be completed. */
  destroy(): void;
  /** Calls `listener` once when the client goes away before the response ended; returns a function that cancels this. */
  onClose(listener: () => void): () => void;
}

export type Handler = (req: SidecarRequest, res: SidecarResponse) => void;

export interface HttpServerOptions {
  /** Largest body read before a handler runs; a longer one is answered 413 and the connection closed. */
  maxBodyBytes: number;
  /** Idle time after which a keep-alive connection is closed, in ms. */
  keepAliveMs: number;
  /** Longest time to receive one whole request (head and body), in ms; then 408 and the connection closes. */
  requestTimeoutMs: number;
  /**
   * Request body bytes the server holds at once, over all connections (counted
   * as they arrive, until the request's answer ends); a body that would pass
   * it is answered 503, dropped, and its connection closed. Default: 8 × maxBodyBytes.
   */
  maxInflightBodyBytes?: number;
  /** On close(): how long requests in flight may take to finish before their connections are cut, in ms. Default 25 s. */
  drainMs?: number;
}

export interface HttpServer {
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stops accepting, closes idle connections, lets requests in flight finish (at most drainMs), then closes the rest. */
  close(): Promise<void>;
  /** Request body bytes held right now (for tests and metrics). */
  readonly inflightBodyBytes: number;
  /** Requests served by the fast path, and connections handed to node:http, so far (for tests). */
  readonly stats: { fast: number; handedOver: number };
}

// The fast path reads heads up to 8 KiB with at most 100 header lines; anything larger goes to
// node:http (its own limits, 16 KiB and 1,000 headers answered 431, then decide).
const MAX_HEAD = 8 * 1024;
const MAX_HEADERS = 100;
// Bytes of pipelined requests read ahead while a request is answered; then the socket stops reading.
const PIPELINE_BUFFER = 64 * 1024;
// Pipelined requests answered synchronously one after another before yielding to the event loop.
const SYNC_BATCH = 32;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Header values: visible ASCII, spaces and tabs, obs-text; never CR, LF or other controls.
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
// Origin-form targets only ("/…", visible ASCII): no absolute-form, no "*".
const TARGET = /^\/[!-~]*$/;
const FAST_METHODS = new Set(["GET", "POST", "PUT", "DELETE"]);
const EMPTY = Buffer.alloc(0);

export interface RequestHead {
  method: string;
  target: string;
  headers: Record<string, string>;
  contentLength: number;
  close: boolean;
}

/**
 * Parses a request head (without its final CRLF CRLF) strictly; null when
 * node:http should handle the request instead. Exported for its tests.
 */
export function parseRequestHead(head: string): RequestHead | null {
  const lines = head.split("\r\n");
  if (lines.length > MAX_HEADERS + 1) return null;
  const first = lines[0];
  const sp1 = first.indexOf(" ");
  const sp2 = first.indexOf(" ", sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || first.indexOf(" ", sp2 + 1) >= 0) return null;
  const method = first.slice(0, sp1);
  const target = first.slice(sp1 + 1, sp2);
  if (first.slice(sp2 + 1) !== "HTTP/1.1" || !FAST_METHODS.has(method) || !TARGET.test(target)) return null;
  const headers = newHeaders();
  let contentLength = 0;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(":");
    if (colon <= 0) return null;
    const raw = line.slice(0, colon);
    if (!TOKEN.test(raw)) return null;
    const name = raw.toLowerCase();
    if (headers[name] !== undefined) return null;
    const value = headerValue(line, colon);
    if (BAD_VALUE.test(value)) return null;
    switch (name) {
      case "content-length":
        if (!/^\d{1,15}$/.test(value)) return null;
        contentLength = Number(value);
        break;
      case "transfer-encoding":
      case "expect":
      case "upgrade":
        return null;
      case "connection": {
        const v = value.toLowerCase();
        if (v.includes("upgrade")) return null;
        if (v.includes("close")) close = true;
        break;
      }
    }
    headers[name] = value;
  }
  if (!("host" in headers)) return null;
  return { method, target, headers, contentLength, close };
}

/** The Date header, formatted at most once a second. */
let dateText = "";
let dateSecond = 0;
function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

function headBytes(status: number, headers: Record<string, string>, framing: string, close: boolean, keepAliveSeconds: number): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Unknown"}\r\n`;
  for (const name in headers) {
    const value = headers[name];
    // Values come from our own code or from an upstream's parsed head; a line break here is a bug.
    if (value.includes("\n") || value.includes("\r")) throw new TypeError(`header ${name} contains a line break`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}${framing}date: ${httpDate()}\r\n${close ? "connection: close\r\n" : `keep-alive: timeout=${keepAliveSeconds}\r\n`}\r\n`;
}

class FastResponse implements SidecarResponse {
  headersSent = false;
  closed = false;
  private ended = false;
  private chunked = false;
  private readonly conn: FastConnection;
  private readonly closeListeners = new Set<() => void>();

  constructor(conn: FastConnection) {
    this.conn = conn;
  }

  send(status: number, headers: Record<string, string>, body: string | Buffer): void {
    if (this.headersSent) throw new Error("response already started");
    this.headersSent = true;
    this.ended = true;
    // The client left while the answer was being made: nothing to write.
    if (this.closed) return;
    const length = typeof body === "string" ? Buffer.byteLength(body) : body.length;
    // 204 and 304 answers carry no body and no length (RFC 9110 §8.6).
    const head = this.head(status, headers, status === 204 || status === 304 ? "" : `content-length: ${length}\r\n`);
    const socket = this.conn.socket;
    // One write, one syscall: the head and a text body as one string (the head is ASCII).
    if (typeof body === "string") socket.write(head + body);
    else {
      socket.cork();
      socket.write(head, "latin1");
      socket.write(body);
      socket.uncork();
    }
    this.conn.finished(this);
  }

  start(status: number, headers: Record<string, string>): void {
    if (this.headersSent) throw new Error("response already started");
    this.headersSent = true;
    this.chunked = true;
    this.conn.socket.write(this.head(status, headers, "transfer-encoding: chunked\r\n"), "latin1");
  }

  private head(status: number, headers: Record<string, string>, framing: string): string {
    return headBytes(status, headers, framing, this.conn.closeAfter, this.conn.server.keepAliveSeconds);
  }

  write(chunk: string | Buffer): boolean {
    if (!this.chunked || this.ended) throw new Error("write() needs a started, unfinished stream");
    if (this.closed) return false;
    const length = typeof chunk === "string" ? Buffer.byteLength(chunk) : chunk.length;
    if (length === 0) return true;
    const socket = this.conn.socket;
    socket.cork();
    socket.write(`${length.toString(16)}\r\n`, "latin1");
    socket.write(chunk);
    const ok = socket.write("\r\n", "latin1");
    socket.uncork();
    return ok;
  }

  drained(): Promise<void> {
    const socket = this.conn.socket;
    if (this.closed || !socket.writableNeedDrain) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        socket.off("drain", done);
        cancel();
        resolve();
      };
      const cancel = this.onClose(done);
      socket.on("drain", done);
    });
  }

  end(): void {
    if (!this.chunked || this.ended) throw new Error("end() needs a started, unfinished stream");
    this.ended = true;
    if (!this.closed) this.conn.socket.write("0\r\n\r\n", "latin1");
    this.conn.finished(this);
  }

  destroy(): void {
    this.ended = true;
    this.conn.socket.destroy();
  }

  onClose(listener: () => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  /** The connection closed: tell whoever waits, unless the response had ended. */
  lost(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.ended) return;
    for (const l of [...this.closeListeners]) l();
    this.closeListeners.clear();
  }
}

/** Request body bytes held at once over all connections (both paths). */
class BodyBudget {
  used = 0;
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  take(bytes: number): boolean {
    if (this.used + bytes > this.max) return false;
    this.used += bytes;
    return true;
  }
  give(bytes: number): void {
    this.used -= bytes;
  }
}

const overBudget = () => new HttpError(503, "the sidecar is receiving too many request bodies at once; retry shortly", "service_unavailable");
const tooLarge = (limit: number) => new HttpError(413, `the request body is larger than ${limit} bytes`);
// node:http's own answer to a request that took longer than its requestTimeout.
const TIMEOUT_ANSWER = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n";

/** Whether the bytes hold a LF not preceded by CR (node:http rejects such heads: 400). */
function hasBareLf(buffer: Buffer): boolean {
  for (let i = buffer.indexOf(10); i >= 0; i = buffer.indexOf(10, i + 1)) if (i === 0 || buffer[i - 1] !== 13) return true;
  return false;
}

/** One client connection on the fast path: requests one at a time, in order (pipelined ones wait). */
class FastConnection {
  readonly socket: Socket;
  closeAfter = false;
  private chunks: Buffer[] = [];
  private length = 0;
  private head: RequestHead | null = null;
  private headLength = 0;
  // Why the request whose head was read is refused without reading its body (413 or 503), or 0.
  private refusal = 0;
  // Body bytes this connection holds of the server's budget (the request being received or answered).
  private reserved = 0;
  private current: FastResponse | null = null;
  requestStarted = 0;
  // Requests are read in a loop (pump); an answer made inside it must not start another loop.
  private pumping = false;
  private pumpScheduled = false;
  // The client does not read its answers: no more requests are read until it does.
  private waitingDrain = false;
  // After an answer that closes the connection: what still arrives is read and dropped,
  // so a client still sending a refused body can finish and read the answer.
  private discard = false;
  // The client finished sending (half-close): answer what arrived, then close.
  private clientDone = false;
  readonly server: FastServer;

  constructor(socket: Socket, server: FastServer) {
    this.socket = socket;
    this.server = server;
    socket.setNoDelay(true);
    socket.setTimeout(server.options.keepAliveMs);
    socket.on("data", this.onData);
    socket.on("timeout", this.onTimeout);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
    socket.on("end", this.onEnd);
  }

  /** Whether part of a request has arrived and it is not being answered yet. */
  get partial(): boolean {
    return this.current === null && this.length > 0 && !this.discard;
  }

  get idle(): boolean {
    return this.current === null && this.length === 0;
  }

  private readonly onEnd = (): void => {
    this.clientDone = true;
    // Requests that arrived whole are still answered (pump() closes after them).
    if (!this.current && !this.pumpScheduled) this.pump();
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.discard) return;
    if (this.length === 0) this.requestStarted = performance.now();
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.current || this.pumpScheduled || this.waitingDrain) {
      // Pipelined requests while earlier ones are answered: keep a little of them, then stop reading (TCP backpressure).
      if (this.length > PIPELINE_BUFFER) this.socket.pause();
      return;
    }
    this.pump();
  };

  private readonly onTimeout = (): void => {
    // Idle (or a request that stopped arriving); a request being answered keeps its connection.
    if (!this.current) this.socket.destroy();
  };

  private readonly onError = (): void => {
    // The close event follows; a client's broken connection is not the sidecar's error.
  };

  private readonly onClose = (): void => {
    this.server.connections.delete(this);
    this.release();
    this.current?.lost();
  };

  private release(): void {
    this.server.budget.give(this.reserved);
    this.reserved = 0;
  }

  /**
   * Answers the requests that arrived whole, one after another, in a loop: an
   * answer made synchronously ends inside it (finished() sees `pumping`), so
   * a thousand pipelined requests are a thousand turns of this loop, not a
   * thousand nested calls. After SYNC_BATCH requests the rest waits for the
   * next turn of the event loop, so other connections are served too.
   */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    let answered = 0;
    try {
      while (this.current === null && this.length > 0 && !this.discard && !this.socket.destroyed) {
        if (answered === SYNC_BATCH) {
          this.schedulePump();
          return;
        }
        if (this.socket.writableNeedDrain) {
          // A client pipelining requests without reading the answers: wait for it, as node:http does.
          this.waitForDrain();
          return;
        }
        if (!this.readRequest()) break;
        answered++;
      }
    } finally {
      this.pumping = false;
    }
    // Every whole request that arrived is answered or being answered: read on.
    if (this.current === null && this.socket.isPaused() && !this.socket.destroyed && this.socket.listenerCount("data") > 0) this.socket.resume();
    // The client finished sending and every whole request is answered: what is left can never complete.
    if (this.current === null && this.clientDone && !this.pumpScheduled && !this.socket.destroyed && this.socket.listenerCount("data") > 0) this.socket.end();
  }

  private waitForDrain(): void {
    if (this.waitingDrain) return;
    this.waitingDrain = true;
    this.socket.pause();
    this.socket.once("drain", () => {
      this.waitingDrain = false;
      if (this.current === null) this.pump();
    });
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (this.current === null) this.pump();
    });
  }

  /** Reads the next request from what arrived and starts its answer; false when more bytes are needed (or the connection was handed over). */
  private readRequest(): boolean {
    const options = this.server.options;
    if (this.head === null) {
      const buffer = this.contiguous();
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) {
        if (this.length > MAX_HEAD || hasBareLf(buffer)) this.handOver();
        else this.checkSlow();
        return false;
      }
      const head = end + 4 <= MAX_HEAD ? parseRequestHead(buffer.toString("latin1", 0, end)) : null;
      if (head === null) {
        this.handOver();
        return false;
      }
      this.head = head;
      this.headLength = end + 4;
      this.refusal = head.contentLength > options.maxBodyBytes ? 413 : 0;
    }
    const head = this.head;
    if (this.refusal === 0) {
      // The body counts against the server's budget as it arrives (not as announced, so clients
      // that announce large bodies and trickle them hold little) until its answer ends.
      const arrived = Math.min(this.length - this.headLength, head.contentLength);
      if (arrived > this.reserved) {
        if (this.server.budget.take(arrived - this.reserved)) this.reserved = arrived;
        else this.refusal = 503;
      }
    }
    const refusal = this.refusal;
    if (refusal === 0 && this.length < this.headLength + head.contentLength) {
      this.checkSlow();
      return false;
    }
    let body: Buffer = EMPTY;
    if (refusal !== 0) {
      // The body is never kept: answer and close.
      this.release();
      this.closeAfter = true;
      this.discard = true;
      this.chunks = [];
      this.length = 0;
    } else {
      const buffer = this.contiguous();
      const end = this.headLength + head.contentLength;
      body = buffer.subarray(this.headLength, end);
      const rest = buffer.subarray(end);
      this.chunks = rest.length ? [rest] : [];
      this.length = rest.length;
    }
    this.head = null;
    if (head.close || this.server.draining) this.closeAfter = true;
    const q = head.target.indexOf("?");
    const response = (this.current = new FastResponse(this));
    this.server.stats.fast++;
    const request: SidecarRequest = {
      method: head.method,
      path: q < 0 ? head.target : head.target.slice(0, q),
      headers: head.headers,
      remoteAddress: this.socket.remoteAddress,
      body: (limit) => {
        if (refusal === 503) return Promise.reject(overBudget());
        if (head.contentLength > limit) return Promise.reject(tooLarge(limit));
        return Promise.resolve(body);
      },
    };
    this.server.handler(request, response);
    return true;
  }

  /** The response ended: close, or go on with the next request. */
  finished(response: FastResponse): void {
    if (response !== this.current) return;
    this.current = null;
    this.release();
    if (this.closeAfter || this.server.draining) {
      this.discard = true;
      this.chunks = [];
      this.length = 0;
      this.socket.end();
      if (this.socket.isPaused()) this.socket.resume();
      return;
    }
    if (this.length > 0) this.requestStarted = performance.now();
    // Inside pump(), its loop goes on; otherwise (an answer made later) start one.
    this.pump();
  }

  /** The server is closing: an idle connection closes now, a busy one after its answer. */
  drain(): void {
    this.closeAfter = true;
    // Nothing in flight either way (node:http's closeIdleConnections does the same).
    if (this.idle) this.socket.destroy();
  }

  private contiguous(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0];
  }

  /** A request that takes too long to arrive is answered 408 and the connection closed, as node:http does. */
  checkSlow(): void {
    if (performance.now() - this.requestStarted <= this.server.options.requestTimeoutMs) return;
    this.discard = true;
    this.chunks = [];
    this.length = 0;
    this.head = null;
    this.release();
    this.socket.end(TIMEOUT_ANSWER, "latin1");
    // A client that does not close its side in return is cut off.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** From this request on, node:http serves the connection (the bytes read so far go back first). */
  private handOver(): void {
    const socket = this.socket;
    socket.pause();
    socket.off("data", this.onData);
    socket.off("timeout", this.onTimeout);
    socket.off("error", this.onError);
    socket.off("close", this.onClose);
    socket.off("end", this.onEnd);
    socket.setTimeout(0);
    this.server.connections.delete(this);
    this.release();
    this.server.stats.handedOver++;
    const pending = this.length > 0 ? this.contiguous() : null;
    this.chunks = [];
    this.length = 0;
    if (pending && socket.readableEnded) {
      // The client already finished sending, so the bytes cannot be put back on the socket:
      // node:http reads them from a stand-in that replays them, then ends, and writes to the socket.
      this.server.adopt(socket, replay(socket, pending));
      return;
    }
    if (pending) socket.unshift(pending);
    this.server.adopt(socket, socket);
    // Buffered bytes flow to node's parser on the next tick, before any new read.
    socket.resume();
  }
}

/** A stand-in for a socket whose client already finished sending: reads `bytes` then ends; writes go to the socket. */
function replay(socket: Socket, bytes: Buffer): Duplex {
  const stream = new Duplex({
    allowHalfOpen: true,
    read() {},
    write(chunk, encoding, callback) {
      socket.write(chunk, encoding, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(err, callback) {
      socket.destroy();
      callback(err);
    },
  });
  Object.assign(stream, { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, setTimeout: () => stream, setNoDelay: () => stream, setKeepAlive: () => stream });
  socket.on("close", () => stream.destroy());
  socket.on("error", () => stream.destroy());
  stream.push(bytes);
  stream.push(null);
  return stream;
}

class FastServer {
  readonly connections = new Set<FastConnection>();
  /** Connections node:http serves (handed over). */
  readonly adopted = new Set<Duplex>();
  readonly stats = { fast: 0, handedOver: 0 };
  readonly options: HttpServerOptions;
  readonly keepAliveSeconds: number;
  readonly handler: Handler;
  readonly budget: BodyBudget;
  readonly drainMs: number;
  draining = false;
  readonly http;
  readonly net;
  private readonly sweeper: NodeJS.Timeout;

  constructor(handler: Handler, options: HttpServerOptions) {
    this.handler = handler;
    this.options = options;
    this.budget = new BodyBudget(options.maxInflightBodyBytes ?? 8 * options.maxBodyBytes);
    this.drainMs = options.drainMs ?? 25_000;
    this.keepAliveSeconds = Math.round(options.keepAliveMs / 1000);
    this.http = createNodeServer({ requestTimeout: options.requestTimeoutMs, keepAliveTimeout: options.keepAliveMs }, (req, res) => this.nodeHandle(req, res));
    this.http.keepAliveTimeout = options.keepAliveMs;
    // Half-open like the fast path: a client may finish sending before its answer is written.
    (this.http as unknown as { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // node:http tracks its connections (request timeouts, closeAllConnections) from its "listening"
    // event; this server never listens itself (connections are handed to it), so start that here.
    this.http.emit("listening");
    this.net = createNetServer({ allowHalfOpen: true }, (socket) => this.connections.add(new FastConnection(socket, this)));
    // A request that stops arriving altogether is noticed here (node:http checks the same way).
    this.sweeper = setInterval(() => {
      for (const c of this.connections) if (c.partial) c.checkSlow();
    }, Math.min(30_000, Math.max(50, options.requestTimeoutMs / 4)));
    this.sweeper.unref();
  }

  adopt(socket: Socket, stream: Duplex): void {
    this.adopted.add(stream);
    stream.once("close", () => this.adopted.delete(stream));
    this.http.emit("connection", stream);
  }

  private nodeHandle(req: IncomingMessage, res: ServerResponse): void {
    const held = { bytes: 0 };
    res.once("close", () => {
      this.budget.give(held.bytes);
      held.bytes = 0;
    });
    this.handler(nodeRequest(req, res, this.budget, held), nodeResponse(res, this));
  }

  async close(): Promise<void> {
    this.draining = true;
    clearInterval(this.sweeper);
    const stopped = new Promise<void>((resolve) => this.net.close(() => resolve()));
    for (const c of this.connections) c.drain();
    // Idle kept-alive connections close now; busy ones answer with Connection: close, then close.
    this.http.closeIdleConnections();
    const deadline = performance.now() + this.drainMs;
    while ((this.connections.size > 0 || this.adopted.size > 0) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      this.http.closeIdleConnections();
    }
    for (const c of this.connections) c.socket.destroy();
    this.http.closeAllConnections();
    for (const s of this.adopted) s.destroy();
    this.http.close();
    await stopped;
  }
}

/** The HTTP server for a handler: the strict fast path, node:http for everything else. */
export function createHttpServer(handler: Handler, options: HttpServerOptions): HttpServer {
  const server = new FastServer(handler, options);
  return {
    stats: server.stats,
    get inflightBodyBytes() {
      return server.budget.used;
    },
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.net.once("error", reject);
        server.net.listen(port, host, () => resolve(server.net.address() as AddressInfo));
      }),
    close: () => server.close(),
  };
}

function nodeRequest(req: IncomingMessage, res: ServerResponse, budget: BodyBudget, held: { bytes: number }): SidecarRequest {
  const target = req.url ?? "/";
  const q = target.indexOf("?");
  return {
    method: req.method ?? "GET",
    path: q < 0 ? target : target.slice(0, q),
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress,
    body: (limit) =>
      new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let settled = false;
        const settle = (err: HttpError | null) => {
          if (settled) return;
          settled = true;
          req.off("data", onData);
          if (err === null) {
            resolve(Buffer.concat(chunks, size));
            return;
          }
          chunks.length = 0;
          if (!req.complete) {
            // The rest of the body is read and dropped while the answer is written, then the
            // connection closes: the client reads the answer instead of a reset.
            res.shouldKeepAlive = false;
            req.resume();
          }
          reject(err);
        };
        const onData = (c: Buffer) => {
          size += c.length;
          if (size > limit) settle(tooLarge(limit));
          else if (!budget.take(c.length)) settle(overBudget());
          else {
            held.bytes += c.length;
            chunks.push(c);
          }
        };
        req.on("data", onData);
        req.once("end", () => settle(null));
        // A client that goes away mid-body is not the sidecar's error: nothing to answer, nothing to log.
        req.once("close", () => {
          if (!req.complete) settle(new HttpError(400, "the client closed the connection before its request body arrived whole"));
        });
        req.once("error", () => settle(new HttpError(400, "the request body could not be read")));
      }),
  };
}

function nodeResponse(res: ServerResponse, server: FastServer): SidecarResponse {
  const closing = () => {
    if (server.draining) res.shouldKeepAlive = false;
  };
  return {
    get headersSent() {
      return res.headersSent;
    },
    get closed() {
      return res.destroyed;
    },
    send(status, headers, body) {
      // The client left while the answer was being made: nothing to write.
      if (res.destroyed) return;
      closing();
      res.writeHead(status, status === 204 || status === 304 ? headers : { ...headers, "content-length": typeof body === "string" ? Buffer.byteLength(body) : body.length });
      res.end(body);
    },
    start(status, headers) {
      closing();
      res.writeHead(status, headers);
    },
    write: (chunk) => res.write(chunk),
    drained: () =>
      res.destroyed || !res.writableNeedDrain
        ? Promise.resolve()
        : new Promise((resolve) => {
            const done = () => {
              res.off("drain", done);
              res.off("close", done);
              resolve();
            };
            res.on("drain", done);
            res.on("close", done);
          }),
    end: () => res.end(),
    destroy: () => res.destroy(),
    onClose(listener) {
      const once = () => {
        if (!res.writableFinished) listener();
      };
      res.once("close", once);
      return () => res.off("close", once);
    },
  };
}
