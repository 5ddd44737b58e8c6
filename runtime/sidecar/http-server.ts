// The sidecar's HTTP/1.1 server. A proxy hop through node:http costs about
// twice the latency budget of the sidecar (ADR 9, bench/proxy), so requests
// are read straight off the socket by a strict parser that accepts only the
// plain shape every OpenAI client sends: HTTP/1.1, a Host, a Content-Length
// body or none, token header names, visible header values, no duplicates.
// A connection that sends anything else (chunked bodies, Expect, Upgrade,
// HTTP/1.0, obs-fold, odd characters, a head over 16 KiB, …) is handed to
// node:http from that request on, so every unusual case gets node's own
// careful answer and nothing is parsed leniently.
//
// Handlers see one small interface for both paths: SidecarRequest (the body
// read whole, within a limit) and SidecarResponse (a whole answer, or a
// chunked stream with backpressure).
import { createServer as createNodeServer, STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
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
  /** Longest time to receive one whole request (head and body), in ms. */
  requestTimeoutMs: number;
}

export interface HttpServer {
  listen(port: number, host: string): Promise<AddressInfo>;
  close(): Promise<void>;
  /** Requests served by the fast path, and connections handed to node:http, so far (for tests). */
  readonly stats: { fast: number; handedOver: number };
}

const MAX_HEAD = 16 * 1024;
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

/** One client connection on the fast path: requests one at a time, in order (pipelined ones wait). */
class FastConnection {
  readonly socket: Socket;
  closeAfter = false;
  private chunks: Buffer[] = [];
  private length = 0;
  private head: RequestHead | null = null;
  private headLength = 0;
  private current: FastResponse | null = null;
  private requestStarted = 0;
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

  private readonly onEnd = (): void => {
    this.clientDone = true;
    if (!this.current) this.socket.end();
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.discard) return;
    if (this.length === 0) this.requestStarted = performance.now();
    this.chunks.push(chunk);
    this.length += chunk.length;
    if (this.current) {
      // A pipelined request while one is answered: keep it, but do not read on without bound.
      if (this.length > MAX_HEAD + this.server.options.maxBodyBytes) this.socket.pause();
      return;
    }
    this.next();
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
    this.current?.lost();
  };

  /** Reads the next whole request from what arrived, and answers it. */
  private next(): void {
    if (this.length === 0) return;
    if (this.head === null) {
      const buffer = this.contiguous();
      const end = buffer.indexOf("\r\n\r\n");
      if (end < 0) {
        if (this.length > MAX_HEAD) this.handOver();
        else this.checkSlow();
        return;
      }
      const head = end <= MAX_HEAD ? parseRequestHead(buffer.toString("latin1", 0, end)) : null;
      if (head === null) {
        this.handOver();
        return;
      }
      this.head = head;
      this.headLength = end + 4;
    }
    const head = this.head;
    const tooLarge = head.contentLength > this.server.options.maxBodyBytes;
    if (!tooLarge && this.length < this.headLength + head.contentLength) {
      this.checkSlow();
      return;
    }
    const buffer = this.contiguous();
    let body: Buffer = EMPTY;
    if (tooLarge) {
      // The body is never kept: answer and close.
      this.closeAfter = true;
      this.discard = true;
      this.chunks = [];
      this.length = 0;
    } else {
      const end = this.headLength + head.contentLength;
      body = buffer.subarray(this.headLength, end);
      const rest = buffer.subarray(end);
      this.chunks = rest.length ? [rest] : [];
      this.length = rest.length;
    }
    this.head = null;
    if (head.close) this.closeAfter = true;
    const q = head.target.indexOf("?");
    const response = (this.current = new FastResponse(this));
    this.server.stats.fast++;
    const request: SidecarRequest = {
      method: head.method,
      path: q < 0 ? head.target : head.target.slice(0, q),
      headers: head.headers,
      remoteAddress: this.socket.remoteAddress,
      body: (limit) => {
        if (head.contentLength > limit) {
          if (tooLarge) this.closeAfter = true;
          return Promise.reject(new HttpError(413, `the request body is larger than ${limit} bytes`));
        }
        return Promise.resolve(body);
      },
    };
    this.server.handler(request, response);
  }

  /** The response ended: close, or go on with the next request. */
  finished(response: FastResponse): void {
    if (response !== this.current) return;
    this.current = null;
    if (this.closeAfter) {
      this.discard = true;
      this.chunks = [];
      this.length = 0;
      this.socket.end();
      if (this.socket.isPaused()) this.socket.resume();
      return;
    }
    if (this.socket.isPaused()) this.socket.resume();
    if (this.length > 0) {
      this.requestStarted = performance.now();
      this.next();
    }
    if (!this.current && this.clientDone && !this.socket.destroyed) this.socket.end();
  }

  private contiguous(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.length)];
    return this.chunks[0];
  }

  /** A request that takes too long to arrive is answered 408 by closing, as node:http does. */
  private checkSlow(): void {
    if (performance.now() - this.requestStarted > this.server.options.requestTimeoutMs) this.socket.destroy();
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
    this.server.stats.handedOver++;
    if (this.length > 0) {
      if (socket.readableEnded) {
        // The client already finished sending: node:http cannot be given the bytes back.
        socket.destroy();
        return;
      }
      socket.unshift(this.contiguous());
    }
    this.chunks = [];
    this.length = 0;
    this.server.http.emit("connection", socket);
    // Buffered bytes flow to node's parser on the next tick, before any new read.
    socket.resume();
  }
}

class FastServer {
  readonly connections = new Set<FastConnection>();
  readonly stats = { fast: 0, handedOver: 0 };
  readonly options: HttpServerOptions;
  readonly keepAliveSeconds: number;
  readonly handler: Handler;
  readonly http;
  readonly net;

  constructor(handler: Handler, options: HttpServerOptions) {
    this.handler = handler;
    this.options = options;
    this.keepAliveSeconds = Math.round(options.keepAliveMs / 1000);
    this.http = createNodeServer({ requestTimeout: options.requestTimeoutMs, keepAliveTimeout: options.keepAliveMs }, (req, res) => handler(nodeRequest(req), nodeResponse(res)));
    this.http.keepAliveTimeout = options.keepAliveMs;
    // Half-open: a client may finish sending before its answer is written (node:http allows it too).
    this.net = createNetServer({ allowHalfOpen: true }, (socket) => this.connections.add(new FastConnection(socket, this)));
  }
}

/** The HTTP server for a handler: the strict fast path, node:http for everything else. */
export function createHttpServer(handler: Handler, options: HttpServerOptions): HttpServer {
  const server = new FastServer(handler, options);
  return {
    stats: server.stats,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.net.once("error", reject);
        server.net.listen(port, host, () => resolve(server.net.address() as AddressInfo));
      }),
    close: async () => {
      const closed = new Promise<void>((resolve) => server.net.close(() => resolve()));
      for (const c of server.connections) c.socket.destroy();
      server.http.closeAllConnections();
      await closed;
    },
  };
}

function nodeRequest(req: IncomingMessage): SidecarRequest {
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
        req.on("data", (c: Buffer) => {
          size += c.length;
          if (size > limit) {
            reject(new HttpError(413, `the request body is larger than ${limit} bytes`));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
      }),
  };
}

function nodeResponse(res: ServerResponse): SidecarResponse {
  return {
    get headersSent() {
      return res.headersSent;
    },
    get closed() {
      return res.destroyed;
    },
    send(status, headers, body) {
      res.writeHead(status, status === 204 || status === 304 ? headers : { ...headers, "content-length": typeof body === "string" ? Buffer.byteLength(body) : body.length });
      res.end(body);
    },
    start(status, headers) {
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
