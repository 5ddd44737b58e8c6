// The sidecar's side of the distribution protocol (ADR 13): it long-polls the
// controller for its policy's bundle and offers every bundle it receives to
// the BundleStore, which verifies it exactly as a bundle file. The next poll
// is the answer: `If-None-Match` with the new ETag is the ACK, the old ETag
// plus `Routeplane-Nack` the NACK. Whatever goes wrong on the way (the
// controller away, a refused token, a malformed or oversized answer), the
// last known good bundle keeps serving and the poll is retried with
// exponential backoff and full jitter; the log says when that state changes,
// not at every retry.
//
// A control-plane request every `wait` seconds is not the hot path, so this
// uses node:http/https (ADR 9's own client is for model servers): one
// keep-alive connection, the controller's CA, a deadline and cancelling.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { readFileSync } from "node:fs";
import {
  HEALTH_HEADER, MAX_WAIT_SECONDS, NACK_HEADER, SHARES_HEADER, SIDECAR_HEADER, bundleEtag, bundlePath, healthHeader, nackHeader, serializeBundle, sharesHeader,
  type Bundle, type DistributionError, type RevisionHealth,
} from "../../bundle/index.ts";

/** Where a projected service-account token (audience "routeplane") is mounted by default. */
export const DEFAULT_TOKEN_FILE = "/var/run/secrets/routeplane/token";
/** The largest bundle accepted from the controller (the body of a 200), in bytes. */
export const DEFAULT_MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
/** How much of an error answer's body is read for its message. */
const ERROR_BODY_LIMIT = 64 * 1024;

export interface ControllerTiming {
  /** How long the controller may hold a poll (`Prefer: wait`), in seconds (default 30, at most 60). */
  waitSeconds: number;
  /** A poll not answered within wait + this many ms is aborted and retried (default 15 s). */
  graceMs: number;
  /** Backoff after a failed poll: full jitter over initialMs · 2^(n−1), capped at maxMs (defaults 0.5 s and 30 s). */
  backoffInitialMs: number;
  backoffMaxMs: number;
  /**
   * Polls whose answer changes nothing (a 304, or a bundle already active or
   * already refused) start at least this far apart (default 1 s), so a
   * controller that answers at once cannot make the sidecar spin.
   */
  minIdlePollMs: number;
}

const DEFAULT_TIMING: ControllerTiming = { waitSeconds: 30, graceMs: 15_000, backoffInitialMs: 500, backoffMaxMs: 30_000, minIdlePollMs: 1_000 };

/**
 * What the subscription needs of a bundle store: the active bundle, and offering one.
 * The sidecar's BundleStore; the benchmark's simulated sidecars use a lighter one.
 */
export interface SubscriptionStore {
  readonly current: { bundle: Bundle; signed: boolean; health?: RevisionHealth } | null;
  offer(text: string, source: string): Promise<string | null>;
}

export interface ControllerSubscriptionOptions {
  /** The controller's base URL: https (or http on loopback only: controllerUrlProblem). */
  url: string;
  namespace: string;
  name: string;
  store: SubscriptionStore;
  /** Read before every poll: projected tokens rotate. */
  tokenFile: string;
  sidecarId: string;
  /** PEM certificate authorities that replace the system ones for the controller's certificate. */
  ca?: string;
  /** Largest bundle accepted, in bytes (default DEFAULT_MAX_BUNDLE_BYTES). */
  maxBundleBytes?: number;
  timing?: Partial<ControllerTiming>;
  /** One line per state change (the caller adds its prefix). */
  log?: (line: string) => void;
  /** For the backoff's jitter (tests): a number in [0, 1). */
  random?: () => number;
}

/** How each poll ended (`routeplane_controller_polls_total{outcome}`). */
export type PollOutcome = "accepted" | "rejected" | "not_modified" | "error";

export interface ControllerStatus {
  url: string;
  policyRef: string;
  /** The last poll got an answer of the protocol (200 or 304). */
  connected: boolean;
  /** Why the polls are failing, or null. */
  problem: string | null;
  since: Date | null;
  /** The bundle refused most recently (carried as the NACK until a newer one is activated). */
  refused: { etag: string; reason: string; at: Date } | null;
  polls: Record<PollOutcome, number>;
}

/** Why a controller URL cannot be used, or null. Tokens never travel in clear: http only to a loopback host. */
export function controllerUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${JSON.stringify(text)} is not a URL (https://host[:port])`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return `${text} is not an http(s) URL`;
  if (url.username || url.password) return `${text} carries credentials; the sidecar authenticates with its token file (--token-file)`;
  if (url.search || url.hash) return `${text} has a query or fragment; give the controller's base URL`;
  if (url.protocol === "http:" && !isLoopbackHost(url.hostname)) {
    return `${text} would send the service-account token in clear text: use https:// (with --controller-ca for the controller's CA); http:// is accepted only for a loopback host (127.0.0.1, ::1, localhost)`;
  }
  return null;
}

function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127(?:\.\d{1,3}){3}$/.test(h);
}

/** `{ namespace, name }` of a `namespace/name` reference to a RoutingPolicy, or why it is not one. */
export function parsePolicyRef(text: string): { namespace: string; name: string } | string {
  const m = /^([^/]+)\/([^/]+)$/.exec(text);
  if (!m) return `takes <namespace>/<name> of a RoutingPolicy, not ${JSON.stringify(text)}`;
  // Kubernetes names: a namespace is an RFC 1123 label, an object name an RFC 1123 subdomain.
  if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(m[1])) return `namespace ${JSON.stringify(m[1])} is not a Kubernetes namespace name (lower-case letters, digits and '-', at most 63)`;
  if (m[2].length > 253 || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(m[2])) {
    return `name ${JSON.stringify(m[2])} is not a Kubernetes object name (lower-case letters, digits, '-' and '.', at most 253)`;
  }
  return { namespace: m[1], name: m[2] };
}

/** The backoff before retry number `failures` (1, 2, …): full jitter over an exponentially growing cap. */
export function backoffDelay(failures: number, timing: Pick<ControllerTiming, "backoffInitialMs" | "backoffMaxMs">, random: () => number = Math.random): number {
  const cap = Math.min(timing.backoffMaxMs, timing.backoffInitialMs * 2 ** Math.min(failures - 1, 30));
  return Math.floor(random() * cap);
}

/** A poll that got no usable answer; `key` names the kind of failure, so the log speaks only when it changes. */
class PollFailure extends Error {
  readonly key: string;
  constructor(key: string, message: string) {
    super(message);
    this.key = key;
  }
}

interface Answer {
  status: number;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

const STRONG_ETAG = /^"[0-9a-f]{64}"$/;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export class ControllerSubscription {
  /** The learned shares the sidecar applies now (set by the sidecar), reported with every poll for the policy's status. */
  private sharesInEffect: (() => { version: string; routes: Record<string, Record<string, number>> } | null) | null = null;

  reportShares(provider: () => { version: string; routes: Record<string, Record<string, number>> } | null): void {
    this.sharesInEffect = provider;
  }

  private readonly options: ControllerSubscriptionOptions;
  private readonly timing: ControllerTiming;
  private readonly endpoint: URL;
  private readonly agent: HttpAgent;
  private readonly abort = new AbortController();
  private readonly maxBundleBytes: number;
  private readonly random: () => number;
  private readonly etags = new WeakMap<Bundle, string>();
  private running: Promise<void> | null = null;
  private connected = false;
  private problem: { key: string; message: string; since: Date } | null = null;
  private failures = 0;
  /** The last bundle refused: its NACK goes with every poll until another bundle is activated or refused. */
  private refused: { etag: string; reason: string; at: Date } | null = null;
  private repeatLogged = false;
  /** The ETag of the last bundle accepted from the controller, with the active bundle it left. */
  private acked: { etag: string; active: SubscriptionStore["current"] } | null = null;
  readonly polls: Record<PollOutcome, number> = { accepted: 0, rejected: 0, not_modified: 0, error: 0 };

  constructor(options: ControllerSubscriptionOptions) {
    const problem = controllerUrlProblem(options.url);
    if (problem) throw new Error(problem);
    this.options = options;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    this.timing.waitSeconds = Math.max(0, Math.min(MAX_WAIT_SECONDS, Math.floor(this.timing.waitSeconds)));
    const base = new URL(options.url);
    this.endpoint = new URL(base.pathname.replace(/\/+$/, "") + bundlePath(options.namespace, options.name), base);
    this.agent = this.endpoint.protocol === "https:"
      ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ...(options.ca !== undefined ? { ca: options.ca } : {}) })
      : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    this.maxBundleBytes = options.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
    this.random = options.random ?? Math.random;
  }

  /** The URL polled. */
  get url(): string {
    return this.endpoint.href;
  }

  /** The ETag of the active bundle: the SHA-256 of its exact bytes, which are its canonical serialization (readBundle insists). */
  activeEtag(): string | null {
    const active = this.options.store.current;
    if (!active || !active.signed) return null;
    let etag = this.etags.get(active.bundle);
    if (etag === undefined) this.etags.set(active.bundle, (etag = bundleEtag(serializeBundle(active.bundle))));
    return etag;
  }

  status(): ControllerStatus {
    return {
      url: this.endpoint.href,
      policyRef: `${this.options.namespace}/${this.options.name}`,
      connected: this.connected,
      problem: this.problem?.message ?? null,
      since: this.problem?.since ?? null,
      refused: this.refused,
      polls: { ...this.polls },
    };
  }

  /** Starts polling (once). */
  start(): void {
    this.running ??= this.loop();
  }

  /** Aborts the open poll or the backoff and resolves once the loop has ended. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.running;
    this.agent.destroy();
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async loop(): Promise<void> {
    const { signal } = this.abort;
    while (!signal.aborted) {
      const started = Date.now();
      const etag = this.currentEtag();
      // The first poll, and the first after a failure, asks to be answered at once (`Prefer: wait=0`): the sidecar
      // learns right away that the controller answers it again, rather than after a held poll of `wait` seconds.
      const wait = this.connected ? this.timing.waitSeconds : 0;
      let answer: Answer;
      try {
        answer = await this.poll(etag, wait);
        if (answer.status !== 200 && answer.status !== 304) throw this.statusFailure(answer);
      } catch (err) {
        if (signal.aborted) break;
        this.fail(err);
        await this.sleep(backoffDelay(this.failures, this.timing, this.random));
        continue;
      }
      this.recover();
      if (answer.status === 304) this.polls.not_modified++;
      // A bundle accepted or refused: the next poll, at once, is the ACK or NACK. Nothing new: the next poll is paced.
      const idle = answer.status === 304 || !(await this.receive(answer, etag));
      if (idle && wait > 0) await this.sleep(started + this.timing.minIdlePollMs - Date.now());
    }
  }

  /**
   * The ETag the next poll sends in If-None-Match: that of the last bundle the
   * sidecar accepted from the controller while it is still the active one (the
   * store takes a bundle of the same revision and place, e.g. re-signed with
   * another key, as no change and keeps its own bytes), else the active
   * bundle's own.
   */
  private currentEtag(): string | null {
    const active = this.options.store.current;
    if (this.acked && this.acked.active === active) return this.acked.etag;
    return this.activeEtag();
  }

  /** Handles a 200; returns whether it accepted or refused a bundle it had not answered before. */
  private async receive(answer: Answer, sent: string | null): Promise<boolean> {
    const computed = bundleEtag(answer.body);
    const header = typeof answer.headers.etag === "string" && STRONG_ETAG.test(answer.headers.etag) ? answer.headers.etag : null;
    // The NACK names what the controller offered (its ETag), so that it stops offering it.
    const etag = header ?? computed;
    if (sent !== null && etag === sent) {
      // The bundle it runs (a 200 despite If-None-Match): no change, an ACK again.
      this.polls.accepted++;
      this.refused = null;
      return false;
    }
    if (this.refused?.etag === etag) {
      // The controller should not offer a refused bundle again (ADR 13): refused again without checking.
      this.polls.rejected++;
      if (!this.repeatLogged) this.log(`controller ${this.endpoint.href} offered again the bundle ${short(etag)} this sidecar refused; refusing it again (${this.refused.reason})`);
      this.repeatLogged = true;
      return false;
    }
    let reason: string | null;
    let ours = true;
    if (header === null) reason = `the controller's answer carries no valid ETag (its body hashes to ${computed})`;
    else if (header !== computed) reason = `the answer's ETag ${header} is not the SHA-256 of its body (${computed}): it was changed on the way`;
    else {
      let text: string | null = null;
      try {
        text = utf8.decode(answer.body);
      } catch {
        // reported below
      }
      ours = text === null;
      reason = text === null ? "the bundle is not UTF-8 text" : await this.options.store.offer(text, `controller ${this.endpoint.href} (ETag ${short(etag)})`);
    }
    this.repeatLogged = false;
    if (reason === null) {
      // Activated, or the store's "no change" (the same revision and place): either way the ACK.
      this.polls.accepted++;
      this.refused = null;
      this.acked = { etag, active: this.options.store.current };
      return true;
    }
    // The store logs its own rejections; these checks are this client's.
    if (ours) this.log(`rejected the bundle from controller ${this.endpoint.href}: ${reason}; keeping the last verified bundle`);
    this.polls.rejected++;
    this.refused = { etag, reason, at: new Date() };
    return true;
  }

  private fail(err: unknown): void {
    this.failures++;
    this.polls.error++;
    this.connected = false;
    const failure = err instanceof PollFailure ? err : networkFailure(err);
    if (this.problem?.key === failure.key) return;
    this.problem = { key: failure.key, message: failure.message, since: this.problem?.since ?? new Date() };
    const active = this.options.store.current;
    const keeping = active ? `keeping the active bundle ${active.bundle.manifest.revision.slice(0, 19)}…` : "no bundle is active yet (not ready)";
    this.log(`controller ${this.endpoint.href}: ${failure.message}; ${keeping}; retrying with backoff up to ${this.timing.backoffMaxMs / 1000} s (logged again when this changes)`);
  }

  private recover(): void {
    this.connected = true;
    if (this.problem) this.log(`controller ${this.endpoint.href} answers again (after ${this.failures} failed poll${this.failures === 1 ? "" : "s"} since ${this.problem.since.toISOString()})`);
    this.problem = null;
    this.failures = 0;
  }

  private statusFailure(answer: Answer): PollFailure {
    let detail = "";
    try {
      const body = JSON.parse(answer.body.toString("utf8")) as DistributionError;
      if (typeof body?.error?.message === "string") detail = `: ${printable(body.error.message)}`;
    } catch {
      // Not the protocol's error body: the status says enough.
    }
    const hint: Record<number, string> = {
      401: ` (the token in ${this.options.tokenFile} was not accepted: audience "routeplane", expired, or not a service-account token)`,
      403: ` (this sidecar's service account may not read policy ${this.options.namespace}/${this.options.name}: only policies of its own namespace)`,
      404: ` (no RoutingPolicy ${this.options.namespace}/${this.options.name}, or it has never compiled)`,
      503: " (the controller is not ready yet)",
    };
    const other = answer.status < 400 ? " (not an answer of the distribution protocol, ADR 13)" : "";
    return new PollFailure(`status ${answer.status}`, `answered ${answer.status}${detail}${hint[answer.status] ?? other}`);
  }

  /** One poll; a reused keep-alive connection the controller closed meanwhile is retried once on a new one. */
  private async poll(etag: string | null, wait: number): Promise<Answer> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.token()}`,
      [SIDECAR_HEADER]: this.options.sidecarId,
      prefer: `wait=${wait}`,
      accept: "application/json",
      "user-agent": "routeplane-sidecar",
    };
    if (etag !== null) headers["if-none-match"] = etag;
    if (this.refused) headers[NACK_HEADER] = nackHeader(this.refused.etag, this.refused.reason);
    // What this sidecar saw on the revision it runs: the controller's canary analysis compares revisions by it.
    const health = this.options.store.current?.health;
    if (etag !== null && health) headers[HEALTH_HEADER] = healthHeader(etag, health);
    const shares = this.sharesInEffect?.();
    if (shares) headers[SHARES_HEADER] = sharesHeader(shares.version, shares.routes);
    try {
      return await this.exchange(headers, wait);
    } catch (err) {
      if ((err as { reused?: boolean }).reused && (err as NodeJS.ErrnoException).code === "ECONNRESET" && !this.abort.signal.aborted) return this.exchange(headers, wait);
      throw err;
    }
  }

  private token(): string {
    let token: string;
    try {
      token = readFileSync(this.options.tokenFile, "utf8").trim();
    } catch (err) {
      throw new PollFailure("token", `cannot read the token file ${this.options.tokenFile} (--token-file): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (token === "") throw new PollFailure("token", `the token file ${this.options.tokenFile} is empty`);
    if (!/^[\x21-\x7e]+$/.test(token)) throw new PollFailure("token", `the token file ${this.options.tokenFile} holds characters a bearer token cannot carry`);
    return token;
  }

  private async exchange(headers: Record<string, string>, wait: number): Promise<Answer> {
    const deadlineMs = wait * 1000 + this.timing.graceMs;
    const send = this.endpoint.protocol === "https:" ? httpsRequest : httpRequest;
    const req = send(this.endpoint, { method: "GET", headers, agent: this.agent, signal: this.abort.signal });
    // Errors after the answer was settled (a destroy below) must not go unhandled.
    req.on("error", () => undefined);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      req.destroy();
    }, deadlineMs);
    try {
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        req.once("response", resolve);
        req.once("error", (err) => reject(Object.assign(err, { reused: req.reusedSocket })));
        req.end();
      });
      const status = res.statusCode ?? 0;
      const limit = status === 200 ? this.maxBundleBytes : ERROR_BODY_LIMIT;
      const tooLarge = () => new PollFailure("too-large", `the bundle is larger than the sidecar's limit of ${this.maxBundleBytes} bytes`);
      const declared = Number(res.headers["content-length"]);
      if (status === 200 && declared > limit) {
        req.destroy();
        throw tooLarge();
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of res as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > limit) {
          req.destroy();
          if (status === 200) throw tooLarge();
          break; // an error body: its start is enough for the message
        }
        chunks.push(chunk);
      }
      return { status, headers: res.headers, body: Buffer.concat(chunks) };
    } catch (err) {
      if (timedOut) throw new PollFailure("timeout", `no answer within ${deadlineMs / 1000} s (wait ${wait} s + ${this.timing.graceMs / 1000} s)`);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Waits `ms` (nothing when ≤ 0), or less when closed. */
  private sleep(ms: number): Promise<void> {
    const { signal } = this.abort;
    if (ms <= 0 || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

function networkFailure(err: unknown): PollFailure {
  const code = (err as NodeJS.ErrnoException).code;
  const message = (err as Error).message ?? String(err);
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ISSUER/.test(code)) {
    return new PollFailure(`tls ${code}`, `cannot verify its certificate: ${code} ${message} (is --controller-ca the CA that signed the controller's certificate?)`);
  }
  return new PollFailure(`network ${code ?? message}`, `cannot reach it: ${code ? `${code} ` : ""}${message}`);
}

/** A controller's message for the log: control characters out, bounded. */
function printable(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, " ").slice(0, 300);
}

function short(etag: string): string {
  return `${etag.slice(0, 13)}…"`;
}
