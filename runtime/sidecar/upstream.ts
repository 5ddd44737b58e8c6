// Upstream model servers: one pooled keep-alive client (http-client.ts) per
// origin, timeouts, a circuit breaker per model (open after consecutive
// failures, one trial request after a cool-down), and observed latency (EWMA)
// for the `fastest` selection.
import { sidecarOwnedHeader, type ModelSpec } from "../../bundle/index.ts";
import { validateHeaderName, validateHeaderValue } from "node:http";
import { ClientError, OriginPool, type ClientResponse } from "./http-client.ts";

export interface UpstreamOptions {
  /** Time to the response headers, in ms. */
  headersTimeoutMs: number;
  /** Longest pause between body chunks, in ms (streams may run long, but not stall). */
  bodyTimeoutMs: number;
  /** Consecutive failures that open a model's circuit. */
  failureThreshold: number;
  /** How long an open circuit rejects before one trial request, in ms. */
  coolDownMs: number;
  /** Most connections per upstream origin. */
  connections: number;
  /** Longest idle time of a kept upstream connection, in ms (shortened to the server's own keep-alive hint). */
  keepAliveMs: number;
  /** Extra trusted certificate authorities (PEM) for https upstreams, e.g. an on-prem model server's. */
  ca?: string;
}

export const DEFAULT_UPSTREAM_OPTIONS: UpstreamOptions = {
  headersTimeoutMs: 30_000,
  bodyTimeoutMs: 60_000,
  failureThreshold: 5,
  coolDownMs: 10_000,
  connections: 64,
  keepAliveMs: 30_000,
};

/**
 * Client request headers passed on to model servers unless the operator
 * names others (`forwardHeaders`): W3C trace context only. Everything else a
 * client sends stays at the sidecar — its own `authorization`, `x-api-key`,
 * cookies, and the `x-` headers its signals read. The model server's
 * credential is the sidecar's (`authorization: Bearer <key>` from the
 * credentials file or `api_key_env`); `header_mutation` plugins add theirs.
 */
export const DEFAULT_FORWARDED_HEADERS: readonly string[] = ["traceparent", "tracestate"];

/** Header names that carry credentials: never forwarded from a client, whatever the allow-list says. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie)$|auth|api[-_]?key|token|secret|passw|session|credential/;

/** Whether a header name looks like it carries a credential (then it is never passed on from a client). */
export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL_HEADER.test(name.toLowerCase());
}

/**
 * The allow-list of client headers to forward, lower-cased; a name that
 * carries credentials is refused with an error naming it (a configuration
 * mistake, found at start-up).
 */
export function forwardAllowList(names: readonly string[] = DEFAULT_FORWARDED_HEADERS): ReadonlySet<string> {
  const out = new Set<string>();
  for (const raw of names) {
    const name = raw.trim().toLowerCase();
    if (name === "") continue;
    if (isCredentialHeader(name)) throw new Error(`header \`${raw}\` carries credentials and is never forwarded to model servers; remove it from the forwarded headers`);
    if (sidecarOwnedHeader(name) !== null) throw new Error(`header \`${raw}\` is a hop-by-hop or framing header the sidecar writes itself and is never forwarded to model servers; remove it from the forwarded headers`);
    out.add(name);
  }
  return out;
}

/**
 * The headers of an upstream request: the allow-listed client headers, then
 * what the route's header_mutation plugins set and remove, the request id,
 * and last the model's own credential (so nothing else can replace it).
 */
export function upstreamHeaders(
  client: Readonly<Record<string, string | string[] | undefined>>,
  allow: ReadonlySet<string>,
  mutation: { setHeaders: Record<string, string>; removeHeaders: string[] },
  requestId: string,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of allow) {
    const v = client[name];
    if (typeof v === "string" && !mutation.removeHeaders.includes(name)) out[name] = v;
  }
  Object.assign(out, mutation.setHeaders);
  out["x-request-id"] = requestId;
  return out;
}

/** What stands in for a model credential an upstream echoed back. */
export const CREDENTIAL_SCRUBBED = "[credential removed]";

/** The text with every occurrence of the secret replaced (nothing to do without one). */
export function scrubSecret(text: string, secret: string | null | undefined): string {
  return secret && text.includes(secret) ? text.replaceAll(secret, CREDENTIAL_SCRUBBED) : text;
}

/**
 * Scrubs a secret from a byte stream whose chunks may split it: a chunk's
 * tail that could be the start of the secret is held back until the next
 * chunk shows whether it is (only then; an SSE chunk ending in "\n\n" is sent
 * whole). `end()` releases what is held.
 */
export class StreamScrubber {
  private readonly needle: Buffer;
  private readonly replacement = Buffer.from(CREDENTIAL_SCRUBBED);
  private held: Buffer = Buffer.alloc(0);
  constructor(secret: string) {
    this.needle = Buffer.from(secret, "utf8");
  }
  push(chunk: Buffer | string): Buffer {
    const data = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
    const buf = this.held.length > 0 ? Buffer.concat([this.held, data]) : data;
    const parts: Buffer[] = [];
    let from = 0;
    for (let at = buf.indexOf(this.needle, from); at >= 0; at = buf.indexOf(this.needle, from)) {
      parts.push(buf.subarray(from, at), this.replacement);
      from = at + this.needle.length;
    }
    // The longest tail (shorter than the secret) that is a prefix of it.
    let keep = Math.min(this.needle.length - 1, buf.length - from);
    for (; keep > 0; keep--) if (buf.subarray(buf.length - keep).equals(this.needle.subarray(0, keep))) break;
    parts.push(buf.subarray(from, buf.length - keep));
    this.held = Buffer.from(buf.subarray(buf.length - keep));
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
  end(): Buffer {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return rest;
  }
}

/** `cancelled`: the sidecar withdrew the request itself (a hedge's loser): not the model's failure. */
export type UpstreamFailure = "timeout" | "connect" | "status" | "circuit-open" | "cancelled";

/**
 * A failed attempt that the next model of the chain may succeed at: a
 * timeout, a failed connection, an open circuit, or a 429/5xx answer. An
 * answer no other model would fix (another 4xx) is not an error: `send`
 * resolves with it and the client gets it as it is.
 */
export class UpstreamError extends Error {
  readonly kind: UpstreamFailure;
  readonly status: number | null;
  constructor(kind: UpstreamFailure, message: string, status: number | null = null) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

/**
 * The first header that is not a valid HTTP field name or value, or (with
 * `owned`) that the sidecar owns (framing, hop-by-hop, the model's key:
 * bundle/headers.ts), said without its value (which may be a credential); or null.
 */
function invalidHeader(headers: Record<string, string>, owned: boolean): string | null {
  for (const name in headers) {
    try {
      validateHeaderName(name);
    } catch {
      return `invalid header name ${JSON.stringify(name)}`;
    }
    const why = owned ? sidecarOwnedHeader(name) : null;
    if (why !== null) return why;
    try {
      validateHeaderValue(name, headers[name]);
    } catch {
      return `the value of header \`${name}\` contains a line break or control character`;
    }
  }
  return null;
}

interface Breaker {
  failures: number;
  openUntil: number;
  trial: boolean;
}

export interface UpstreamCall {
  model: ModelSpec;
  path: string; // e.g. "/chat/completions", appended to the model's endpoint path
  body: string;
  /** Everything but the sidecar's own headers (bundle/headers.ts): a framing, hop-by-hop or `authorization` header here is refused. */
  headers: Record<string, string>;
  /** The model's key, sent as `authorization: Bearer <key>` (and scrubbed from what the model server answers). */
  key?: string | null;
  /** Withdraws the request (a hedge's loser); a withdrawn request does not count against the model's circuit. */
  signal?: AbortSignal;
}

export class Upstreams {
  private readonly pools = new Map<string, OriginPool>();
  private readonly breakers = new Map<string, Breaker>();
  private readonly latency = new Map<string, number>();
  private readonly options: UpstreamOptions;

  constructor(options: Partial<UpstreamOptions> = {}) {
    this.options = { ...DEFAULT_UPSTREAM_OPTIONS, ...options };
  }

  /** Observed latency per model (EWMA of time to response headers, ms). */
  latencies(): Record<string, number> {
    return Object.fromEntries(this.latency);
  }

  /** Whether the model's circuit lets a request through now (an open circuit admits one trial after its cool-down). */
  available(model: string, now = Date.now()): boolean {
    const b = this.breakers.get(model);
    if (!b || b.openUntil === 0) return true;
    if (now < b.openUntil || b.trial) return false;
    return true;
  }

  circuitState(model: string): "closed" | "open" | "half-open" {
    const b = this.breakers.get(model);
    if (!b || b.openUntil === 0) return "closed";
    return Date.now() < b.openUntil ? "open" : "half-open";
  }

  /**
   * Sends the call; resolves with the upstream response once its headers
   * arrived and its status is a success (2xx) or a client error that no other
   * model would fix (4xx except 429). Anything else rejects with UpstreamError.
   */
  async send(call: UpstreamCall): Promise<ClientResponse> {
    const name = call.model.name;
    // Last line of defence (the compiler and Engine.load check first): a CR or LF here would split the request,
    // a second host, content-length or transfer-encoding would smuggle one, and the key is the sidecar's alone.
    const headers = { ...call.headers, "content-type": "application/json", ...(call.key ? { authorization: `Bearer ${call.key}` } : {}) };
    const bad = invalidHeader(call.headers, true) ?? invalidHeader(headers, false);
    if (bad !== null) throw new UpstreamError("connect", `refused to send a request to ${name}: ${bad}`);
    if (!this.available(name)) throw new UpstreamError("circuit-open", `the circuit for ${name} is open after repeated failures`);
    const b = this.breaker(name);
    // This call is the half-open circuit's one trial: withdrawn, it must give the trial back.
    const trial = b.openUntil !== 0;
    if (trial) b.trial = true;
    const url = this.parsed(call.model.endpoint);
    const pool = this.pool(url.origin);
    const started = performance.now();
    let res: ClientResponse;
    try {
      res = await pool.request({
        method: "POST",
        path: url.base + call.path,
        headers,
        body: call.body,
        headersTimeoutMs: this.options.headersTimeoutMs,
        bodyTimeoutMs: this.options.bodyTimeoutMs,
        ...(call.signal ? { signal: call.signal } : {}),
      });
    } catch (err) {
      if (!(err instanceof ClientError)) {
        if (trial) b.trial = false;
        throw err;
      }
      if (call.signal?.aborted) {
        if (trial) b.trial = false;
        throw new UpstreamError("cancelled", `the request to ${name} was withdrawn`);
      }
      this.failed(name);
      if (err.kind === "timeout") throw new UpstreamError("timeout", `${name} did not answer within ${this.options.headersTimeoutMs} ms`);
      throw new UpstreamError("connect", `${name} at ${url.origin}: ${err.message}`);
    }
    const ms = performance.now() - started;
    const prev = this.latency.get(name);
    this.latency.set(name, prev === undefined ? ms : prev * 0.8 + ms * 0.2);
    if (res.statusCode >= 500 || res.statusCode === 429) {
      // The error body goes into the message the client may see: never with the credential in it.
      const text = scrubSecret(await res.body.text().catch(() => ""), call.key || null);
      this.failed(name);
      throw new UpstreamError("status", `${name} answered ${res.statusCode}${text ? `: ${text.slice(0, 200)}` : ""}`, res.statusCode);
    }
    this.succeeded(name);
    return res;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }

  /** An endpoint's origin and path prefix, parsed once. */
  private parsed(endpoint: string): { origin: string; base: string } {
    let p = this.endpoints.get(endpoint);
    if (!p) {
      const url = new URL(endpoint);
      this.endpoints.set(endpoint, (p = { origin: url.origin, base: url.pathname.replace(/\/$/, "") }));
    }
    return p;
  }

  private readonly endpoints = new Map<string, { origin: string; base: string }>();

  private pool(origin: string): OriginPool {
    let p = this.pools.get(origin);
    if (!p) this.pools.set(origin, (p = new OriginPool(origin, { connections: this.options.connections, keepAliveMs: this.options.keepAliveMs, ca: this.options.ca })));
    return p;
  }

  private breaker(model: string): Breaker {
    let b = this.breakers.get(model);
    if (!b) this.breakers.set(model, (b = { failures: 0, openUntil: 0, trial: false }));
    return b;
  }

  private failed(model: string): void {
    const b = this.breaker(model);
    b.failures++;
    b.trial = false;
    if (b.failures >= this.options.failureThreshold) b.openUntil = Date.now() + this.options.coolDownMs;
  }

  private succeeded(model: string): void {
    const b = this.breaker(model);
    b.failures = 0;
    b.openUntil = 0;
    b.trial = false;
  }
}
