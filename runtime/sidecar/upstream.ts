// Upstream model servers: one pooled keep-alive client (http-client.ts) per
// origin, timeouts, a circuit breaker per model (open after consecutive
// failures, one trial request after a cool-down), and observed latency (EWMA)
// for the `fastest` selection.
import type { ModelSpec } from "../../bundle/index.ts";
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

export type UpstreamFailure = "timeout" | "connect" | "status" | "circuit-open";

export class UpstreamError extends Error {
  readonly kind: UpstreamFailure;
  readonly status: number | null;
  /** Whether trying the next model in the chain can help. */
  readonly retriable: boolean;
  constructor(kind: UpstreamFailure, message: string, status: number | null = null) {
    super(message);
    this.kind = kind;
    this.status = status;
    this.retriable = kind !== "status" || status === null || status === 429 || status >= 500;
  }
}

/** The first header that is not a valid HTTP field name or value (said without its value, which may be a credential), or null. */
function invalidHeader(headers: Record<string, string>): string | null {
  for (const name in headers) {
    try {
      validateHeaderName(name);
    } catch {
      return `invalid header name ${JSON.stringify(name)}`;
    }
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
  headers: Record<string, string>;
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
    const headers = { ...call.headers, "content-type": "application/json" };
    // Last line of defence (the compiler and Engine.load check first): a CR or LF here would split the request.
    const bad = invalidHeader(headers);
    if (bad !== null) throw new UpstreamError("connect", `refused to send a request to ${name}: ${bad}`);
    if (!this.available(name)) throw new UpstreamError("circuit-open", `the circuit for ${name} is open after repeated failures`);
    const b = this.breaker(name);
    if (b.openUntil !== 0) b.trial = true;
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
      });
    } catch (err) {
      if (!(err instanceof ClientError)) throw err;
      this.failed(name);
      if (err.kind === "timeout") throw new UpstreamError("timeout", `${name} did not answer within ${this.options.headersTimeoutMs} ms`);
      throw new UpstreamError("connect", `${name} at ${url.origin}: ${err.message}`);
    }
    const ms = performance.now() - started;
    const prev = this.latency.get(name);
    this.latency.set(name, prev === undefined ? ms : prev * 0.8 + ms * 0.2);
    if (res.statusCode >= 500 || res.statusCode === 429) {
      const text = await res.body.text().catch(() => "");
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
