// A pooled keep-alive HTTP/1.1 client for upstream model servers, on plain
// sockets (TLS for https origins). It writes each request in one write and
// parses answers without streams or per-chunk promises: on this hot path
// undici's pool cost a third of the sidecar's time (ADR 9, bench/proxy).
//
// What it speaks: requests with a whole body; answers framed by
// Content-Length, chunked transfer coding or the end of the connection;
// interim 1xx answers skipped; keep-alive with the server's timeout hint.
// Anything malformed fails the request with a ClientError, never a guess:
// a head over 64 KiB, a header name that is not a token, a control character
// (NUL, CR, LF, …) in a header value. The answer's head must arrive within
// headersTimeoutMs in total (a deadline, not an idle timer: a server
// trickling its head a byte at a time does not keep resetting it).
import { connect as netConnect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { headerValue, newHeaders } from "./header-record.ts";

export type ClientFailure = "connect" | "timeout" | "protocol" | "closed" | "aborted" | "too-large";

export class ClientError extends Error {
  readonly kind: ClientFailure;
  constructor(kind: ClientFailure, message: string) {
    super(message);
    this.kind = kind;
  }
}

export interface ClientRequest {
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body: string | Buffer;
  /** Time from sending to the answer's whole head, in ms (a deadline). */
  headersTimeoutMs: number;
  /** Longest pause between parts of the answer's body, in ms. */
  bodyTimeoutMs: number;
  signal?: AbortSignal;
}

export interface ClientResponse {
  statusCode: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: ResponseBody;
}

export interface PoolOptions {
  /** Most connections to the origin at once; more requests wait. */
  connections: number;
  /** Longest idle time of a kept connection (shortened to the server's own hint), in ms. */
  keepAliveMs: number;
  /** Extra trusted certificate authorities (PEM) for https origins. */
  ca?: string;
}

const MAX_HEAD = 64 * 1024;
/** What text() and json() read at most unless told otherwise. */
export const DEFAULT_TEXT_LIMIT = 16 * 1024 * 1024;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Header values: visible ASCII, spaces and tabs, obs-text; never NUL, CR, LF or other controls.
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
// Bytes an unread body may hold before the socket stops reading (backpressure).
const HIGH_WATER = 64 * 1024;

/** An answer's body: read it whole (text, json) or chunk by chunk (for await). */
export class ResponseBody implements AsyncIterable<Buffer> {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private done = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;
  private readonly owner: Connection;

  constructor(owner: Connection) {
    this.owner = owner;
  }

  /** @internal from the connection */
  push(chunk: Buffer): void {
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued > HIGH_WATER) this.owner.socket.pause();
    this.signal();
  }

  /** @internal */
  finish(): void {
    this.done = true;
    this.signal();
  }

  /** @internal */
  fail(err: Error): void {
    if (this.done) return;
    this.failure = err;
    this.done = true;
    this.signal();
  }

  /** The whole body as text; a ClientError "too-large" (and the connection closed) past `limit` bytes. */
  async text(limit = DEFAULT_TEXT_LIMIT): Promise<string> {
    // Most answers arrive whole with their head: no iteration needed.
    if (this.done && this.failure === null && this.queue.length <= 1 && this.queued <= limit) {
      const only = this.queue.pop();
      this.queued = 0;
      return only ? only.toString("utf8") : "";
    }
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of this) {
      size += chunk.length;
      if (size > limit) {
        parts.length = 0;
        this.destroy();
        this.queue.length = 0;
        this.queued = 0;
        throw new ClientError("too-large", `the answer is larger than ${limit} bytes`);
      }
      parts.push(chunk);
    }
    return parts.length === 1 ? parts[0].toString("utf8") : Buffer.concat(parts, size).toString("utf8");
  }

  async json(limit = DEFAULT_TEXT_LIMIT): Promise<unknown> {
    return JSON.parse(await this.text(limit));
  }

  /** Bytes of the body that arrived and are not read yet. */
  get buffered(): number {
    return this.queued;
  }

  /** Whether the whole body has arrived (or failed). */
  get complete(): boolean {
    return this.done;
  }

  /** Stops reading: the connection is closed unless the body had already arrived whole. */
  destroy(): void {
    if (this.done) return;
    this.fail(new ClientError("aborted", "the answer was abandoned"));
    this.owner.abandon();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.queue.length > 0) {
        const chunk = this.queue.shift()!;
        this.queued -= chunk.length;
        if (this.queued <= HIGH_WATER && this.owner.socket.isPaused() && !this.done) this.owner.socket.resume();
        yield chunk;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.done) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private signal(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

type Framing = { kind: "length"; left: number } | { kind: "chunked" } | { kind: "close" };

interface Pending {
  request: ClientRequest;
  resolve: (res: ClientResponse) => void;
  reject: (err: Error) => void;
}

/** One socket to the origin, serving one request at a time. */
class Connection {
  readonly socket: Socket;
  private readonly pool: OriginPool;
  private pending: Pending | null = null;
  private body: ResponseBody | null = null;
  private buffer: Buffer | null = null;
  private framing: Framing = { kind: "close" };
  private reusable = true;
  // Chunked decoding: bytes left of the current chunk, or -1 while reading a size line, -2 in trailers.
  private chunkLeft = -1;
  private chunkCrlf = false;
  // The request's cancel signal, listened to until its answer is complete (head and body alike).
  private signal: AbortSignal | null = null;
  // The deadline for the answer's head (a timer, not the socket's idle timeout).
  private headTimer: NodeJS.Timeout | null = null;
  connected = false;
  idleMs: number;

  constructor(pool: OriginPool, socket: Socket) {
    this.pool = pool;
    this.socket = socket;
    this.idleMs = pool.options.keepAliveMs;
    socket.setNoDelay(true);
    socket.on("data", this.onData);
    socket.on("timeout", this.onTimeout);
    socket.on("error", this.onError);
    socket.on("close", this.onClose);
  }

  get busy(): boolean {
    return this.pending !== null || this.body !== null;
  }

  send(p: Pending): void {
    this.pending = p;
    this.buffer = null;
    const { request } = p;
    let head = `${request.method} ${request.path} HTTP/1.1\r\nhost: ${this.pool.host}\r\n`;
    for (const name in request.headers) head += `${name}: ${request.headers[name]}\r\n`;
    const length = typeof request.body === "string" ? Buffer.byteLength(request.body) : request.body.length;
    head += `content-length: ${length}\r\n\r\n`;
    this.socket.setTimeout(0);
    this.headTimer = setTimeout(this.onHeadDeadline, request.headersTimeoutMs);
    if (typeof request.body === "string") this.socket.write(head + request.body);
    else {
      this.socket.cork();
      this.socket.write(head, "latin1");
      this.socket.write(request.body);
      this.socket.uncork();
    }
    if (request.signal) {
      if (request.signal.aborted) this.abort();
      else {
        this.signal = request.signal;
        this.signal.addEventListener("abort", this.abort, { once: true });
      }
    }
  }

  /** The reader gave up on the body: this socket cannot be reused. */
  abandon(): void {
    this.reusable = false;
    this.socket.destroy();
  }

  private readonly abort = (): void => {
    const err = new ClientError("aborted", "the request was cancelled");
    this.fail(err);
    this.socket.destroy();
  };

  private readonly onData = (chunk: Buffer): void => {
    if (!this.busy) {
      // Bytes nobody asked for: the connection is out of step; drop it.
      this.socket.destroy();
      return;
    }
    this.buffer = this.buffer ? Buffer.concat([this.buffer, chunk]) : chunk;
    try {
      if (this.pending) this.readHead();
      if (this.body && this.buffer) this.readBody();
    } catch (err) {
      this.fail(err as Error);
      this.socket.destroy();
    }
  };

  private readonly onHeadDeadline = (): void => {
    this.headTimer = null;
    const request = this.pending?.request;
    if (!request) return;
    this.fail(new ClientError("timeout", `no answer within ${request.headersTimeoutMs} ms`));
    this.socket.destroy();
  };

  private readonly onTimeout = (): void => {
    if (!this.busy) {
      this.socket.destroy();
      return;
    }
    const request = this.pending?.request;
    this.fail(request ? new ClientError("timeout", `no answer within ${request.headersTimeoutMs} ms`) : new ClientError("timeout", "the answer stalled"));
    this.socket.destroy();
  };

  private readonly onError = (err: Error): void => {
    if (!this.connected) this.fail(new ClientError("connect", err.message));
    else this.fail(new ClientError("closed", err.message));
  };

  private readonly onClose = (): void => {
    if (this.body && this.framing.kind === "close") {
      this.endBody();
    } else this.fail(new ClientError("closed", "the upstream closed the connection before the answer was complete"));
    this.pool.removed(this);
  };

  private fail(err: Error): void {
    const pending = this.pending;
    const body = this.body;
    this.pending = null;
    this.body = null;
    this.reusable = false;
    this.unlisten();
    this.clearHeadTimer();
    pending?.reject(err);
    body?.fail(err);
  }

  private clearHeadTimer(): void {
    if (this.headTimer !== null) clearTimeout(this.headTimer);
    this.headTimer = null;
  }

  private unlisten(): void {
    this.signal?.removeEventListener("abort", this.abort);
    this.signal = null;
  }

  private readHead(): void {
    for (;;) {
      const buf = this.buffer!;
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0 ? buf.length > MAX_HEAD : end + 4 > MAX_HEAD) throw new ClientError("protocol", "the answer's head is larger than 64 KiB");
      if (end < 0) return;
      const lines = buf.toString("latin1", 0, end).split("\r\n");
      const first = lines[0];
      // "HTTP/1.x NNN[ reason]"
      if (!first.startsWith("HTTP/1.") || (first[7] !== "0" && first[7] !== "1") || first.charCodeAt(8) !== 32 || (first.length > 12 && first.charCodeAt(12) !== 32) || !/^\d{3}$/.test(first.slice(9, 12))) {
        throw new ClientError("protocol", `not an HTTP/1.1 status line: ${JSON.stringify(first.slice(0, 80))}`);
      }
      const statusCode = Number(first.slice(9, 12));
      this.buffer = end + 4 < buf.length ? buf.subarray(end + 4) : null;
      if (statusCode >= 100 && statusCode < 200) {
        // Interim answers (100 Continue, 103 Early Hints): the real one follows.
        if (!this.buffer) return;
        continue;
      }
      const headers = newHeaders();
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i];
        const colon = line.indexOf(":");
        const raw = colon > 0 ? line.slice(0, colon) : "";
        const value = headerValue(line, colon);
        if (!TOKEN.test(raw) || BAD_VALUE.test(value)) throw new ClientError("protocol", `malformed header line in the answer: ${JSON.stringify(line.slice(0, 80))}`);
        const name = raw.toLowerCase();
        const prev = headers[name];
        headers[name] = prev === undefined ? value : `${prev}, ${value}`;
      }
      const connection = headers.connection === undefined ? "" : headers.connection.toLowerCase();
      if (connection.includes("close") || (first.charCodeAt(7) === 48 && !connection.includes("keep-alive"))) this.reusable = false;
      const keepAlive = headers["keep-alive"];
      const hint = keepAlive === undefined ? null : /timeout=(\d+)/.exec(keepAlive);
      // Give the server's idle timeout a second's margin: a request must not race its close.
      if (hint) this.idleMs = Math.max(0, Math.min(this.pool.options.keepAliveMs, Number(hint[1]) * 1000 - 1000));
      const te = headers["transfer-encoding"];
      if (statusCode === 204 || statusCode === 304) this.framing = { kind: "length", left: 0 };
      else if (te !== undefined) {
        if (!/(^|,)\s*chunked\s*$/i.test(te)) throw new ClientError("protocol", `unsupported transfer-encoding in the answer: ${te}`);
        this.framing = { kind: "chunked" };
        this.chunkLeft = -1;
        this.chunkCrlf = false;
      } else if (headers["content-length"] !== undefined) {
        const cl = headers["content-length"];
        if (!/^\d{1,15}$/.test(cl)) throw new ClientError("protocol", `invalid content-length in the answer: ${cl}`);
        this.framing = { kind: "length", left: Number(cl) };
      } else {
        this.framing = { kind: "close" };
        this.reusable = false;
      }
      const pending = this.pending!;
      this.pending = null;
      this.clearHeadTimer();
      const body = (this.body = new ResponseBody(this));
      this.socket.setTimeout(pending.request.bodyTimeoutMs);
      if (this.framing.kind === "length" && this.framing.left === 0) this.endBody();
      pending.resolve({ statusCode, headers, body });
      return;
    }
  }

  private readBody(): void {
    const body = this.body!;
    const framing = this.framing;
    const buf = this.buffer!;
    this.buffer = null;
    if (framing.kind === "close") {
      body.push(buf);
      return;
    }
    if (framing.kind === "length") {
      if (buf.length > framing.left) throw new ClientError("protocol", "the answer is longer than its content-length");
      framing.left -= buf.length;
      body.push(buf);
      if (framing.left === 0) this.endBody();
      return;
    }
    // Chunked: size line, data, CRLF; a zero size starts the trailers, which end with an empty line.
    let at = 0;
    while (at < buf.length) {
      if (this.chunkLeft > 0) {
        const take = Math.min(this.chunkLeft, buf.length - at);
        body.push(buf.subarray(at, at + take));
        this.chunkLeft -= take;
        at += take;
        if (this.chunkLeft === 0) this.chunkCrlf = true;
        continue;
      }
      const eol = buf.indexOf("\r\n", at);
      if (eol < 0) {
        if (buf.length - at > 4096) throw new ClientError("protocol", "a chunk line in the answer is too long");
        this.buffer = buf.subarray(at);
        return;
      }
      const line = buf.toString("latin1", at, eol);
      at = eol + 2;
      if (this.chunkCrlf) {
        if (line !== "") throw new ClientError("protocol", "chunk data in the answer is not followed by CRLF");
        this.chunkCrlf = false;
        continue;
      }
      if (this.chunkLeft === -2) {
        // Trailers are read and dropped; the empty line ends the answer.
        if (line === "") {
          if (at < buf.length) throw new ClientError("protocol", "bytes after the end of the answer");
          this.endBody();
          return;
        }
        continue;
      }
      const size = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/.exec(line);
      if (!size) throw new ClientError("protocol", `invalid chunk size line in the answer: ${JSON.stringify(line.slice(0, 40))}`);
      const n = parseInt(size[1], 16);
      this.chunkLeft = n === 0 ? -2 : n;
    }
  }

  private endBody(): void {
    const body = this.body!;
    this.body = null;
    this.unlisten();
    body.finish();
    // The whole body is queued for its reader; the socket reads on for the next answer.
    if (this.socket.isPaused()) this.socket.resume();
    this.pool.released(this, this.reusable);
  }
}

/** Connections to one origin (scheme, host, port), reused while the server keeps them. */
export class OriginPool {
  readonly options: PoolOptions;
  readonly host: string;
  private readonly url: URL;
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly waiting: Pending[] = [];
  private closed = false;

  constructor(origin: string, options: PoolOptions) {
    this.url = new URL(origin);
    if (this.url.protocol !== "http:" && this.url.protocol !== "https:") throw new Error(`unsupported upstream scheme ${this.url.protocol} (http or https)`);
    this.host = this.url.host;
    this.options = options;
  }

  request(request: ClientRequest): Promise<ClientResponse> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new ClientError("closed", "the client is closed"));
      const p: Pending = { request, resolve, reject };
      const conn = this.idle.pop();
      if (conn) conn.send(p);
      else if (this.all.size < this.options.connections) this.open(p);
      else this.waiting.push(p);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.waiting.splice(0)) p.reject(new ClientError("closed", "the client is closed"));
    const closing = [...this.all].map((c) => new Promise<void>((resolve) => (c.socket.destroyed ? resolve() : c.socket.once("close", () => resolve()))));
    for (const c of this.all) c.socket.destroy();
    await Promise.all(closing);
  }

  /** @internal a connection finished its answer */
  released(conn: Connection, reusable: boolean): void {
    if (!reusable || this.closed) {
      conn.socket.destroy();
      return;
    }
    const next = this.waiting.shift();
    if (next) {
      conn.send(next);
      return;
    }
    conn.socket.setTimeout(conn.idleMs || 1);
    this.idle.push(conn);
  }

  /** @internal a connection closed */
  removed(conn: Connection): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A waiting request gets the freed place.
    const next = this.waiting.shift();
    if (next) this.open(next);
  }

  private open(p: Pending): void {
    const port = Number(this.url.port) || (this.url.protocol === "https:" ? 443 : 80);
    const host = this.url.hostname.replace(/^\[|\]$/g, "");
    let socket: Socket;
    try {
      socket =
        this.url.protocol === "https:"
          ? tlsConnect({ host, port, servername: /^[\d.]+$|:/.test(host) ? undefined : host, ca: this.options.ca, ALPNProtocols: ["http/1.1"] })
          : netConnect({ host, port });
    } catch (err) {
      // A bad TLS setting (an unreadable CA) fails here, before any socket exists.
      p.reject(new ClientError("connect", (err as Error).message));
      return;
    }
    const conn = new Connection(this, socket);
    this.all.add(conn);
    socket.once(this.url.protocol === "https:" ? "secureConnect" : "connect", () => {
      conn.connected = true;
    });
    // Writes before the connection is up are queued by the socket.
    conn.send(p);
  }
}
