// The distribution protocol between controller and sidecars (ADR 13): a
// long-polled GET per policy, whose next request carries the ACK or NACK.
// Both sides import these names and helpers, so they cannot drift apart.
import { createHash } from "node:crypto";

/** The audience a sidecar's service-account token must be issued for. */
export const TOKEN_AUDIENCE = "routeplane";
/** The sidecar's identity (its pod name, or `serve --sidecar-id`). */
export const SIDECAR_HEADER = "routeplane-sidecar";
/** The ETag of a bundle the sidecar refused, with `reason="…"` (percent-encoded). */
export const NACK_HEADER = "routeplane-nack";
/** The longest a poll may be held, in seconds (`Prefer: wait=N` is clamped to it). */
export const MAX_WAIT_SECONDS = 60;
/** The longest NACK reason carried (after decoding), in characters. */
export const MAX_NACK_REASON = 1024;

/** The path a sidecar polls for the bundle of policy `namespace/name`. */
export function bundlePath(namespace: string, name: string): string {
  return `/v1/policies/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/bundle`;
}

/** `{ namespace, name }` from a bundle path, or null when the path is not one. */
export function parseBundlePath(pathname: string): { namespace: string; name: string } | null {
  const m = /^\/v1\/policies\/([^/]+)\/([^/]+)\/bundle$/.exec(pathname);
  if (!m) return null;
  try {
    return { namespace: decodeURIComponent(m[1]), name: decodeURIComponent(m[2]) };
  } catch {
    return null;
  }
}

/** A bundle's ETag: the SHA-256 of its exact bytes, quoted (RFC 9110 strong validator). */
export function bundleEtag(bytes: string | Uint8Array): string {
  return `"${createHash("sha256").update(bytes).digest("hex")}"`;
}

/** The NACK header's value for a refused bundle. */
export function nackHeader(etag: string, reason: string): string {
  return `${etag}; reason="${encodeURIComponent(reason.slice(0, MAX_NACK_REASON))}"`;
}

/** `{ etag, reason }` from a NACK header, or null when it is malformed. */
export function parseNackHeader(value: string): { etag: string; reason: string } | null {
  const m = /^("[0-9a-f]{64}")\s*;\s*reason="([A-Za-z0-9\-_.!~*'()%]*)"$/.exec(value);
  if (!m) return null;
  try {
    return { etag: m[1], reason: decodeURIComponent(m[2]).slice(0, MAX_NACK_REASON) };
  } catch {
    return null;
  }
}

/** Seconds from `Prefer: wait=N` (RFC 7240), clamped to 0 … MAX_WAIT_SECONDS; 0 when absent or malformed. */
export function preferredWait(prefer: string | undefined): number {
  const m = /(?:^|[,;\s])wait=(\d{1,6})(?:$|[,;\s])/.exec(prefer ?? "");
  return m ? Math.min(Number(m[1]), MAX_WAIT_SECONDS) : 0;
}

/** The JSON body of every non-2xx answer: what went wrong, and whether retrying can help. */
export interface DistributionError {
  error: { code: "unauthenticated" | "forbidden" | "not-found" | "not-ready" | "bad-request"; message: string; retryable: boolean };
}

/**
 * What a sidecar saw since it activated a revision, reported with every poll (`routeplane-health`)
 * for the controller's canary analysis: requests, server-side failures (5xx), summed latency, and
 * feedback ratings with their summed quality (0–1, as `qualityOf` reads them).
 */
export const HEALTH_HEADER = "routeplane-health";

export interface RevisionHealth {
  requests: number;
  errors: number;
  latencyMs: number;
  ratings: number;
  quality: number;
}

export const emptyHealth = (): RevisionHealth => ({ requests: 0, errors: 0, latencyMs: 0, ratings: 0, quality: 0 });

export function addHealth(a: RevisionHealth, b: RevisionHealth): RevisionHealth {
  return { requests: a.requests + b.requests, errors: a.errors + b.errors, latencyMs: a.latencyMs + b.latencyMs, ratings: a.ratings + b.ratings, quality: a.quality + b.quality };
}

/** The health header's value: the ETag the figures are about, then the figures. */
export function healthHeader(etag: string, h: RevisionHealth): string {
  return `${etag}; requests=${h.requests}; errors=${h.errors}; latency_ms=${Math.round(h.latencyMs)}; ratings=${h.ratings}; quality=${h.quality.toFixed(3)}`;
}

/** Figures above this are not believed (a sidecar cannot have served more requests). */
const MAX_FIGURE = 1e13;

/** `{ etag, health }` from a health header, or null when it is malformed or inconsistent (errors > requests, quality > ratings). */
export function parseHealthHeader(value: string): { etag: string; health: RevisionHealth } | null {
  const m = /^("[0-9a-f]{64}");\s*requests=(\d{1,14});\s*errors=(\d{1,14});\s*latency_ms=(\d{1,14});\s*ratings=(\d{1,14});\s*quality=(\d{1,14}(?:\.\d{1,6})?)$/.exec(value);
  if (!m) return null;
  const [requests, errors, latencyMs, ratings, quality] = m.slice(2).map(Number);
  if ([requests, errors, latencyMs, ratings, quality].some((x) => !(x <= MAX_FIGURE)) || errors > requests || quality > ratings) return null;
  return { etag: m[1], health: { requests, errors, latencyMs, ratings, quality } };
}

/**
 * The learned shares a sidecar applies (reported with every poll, `routeplane-shares`), so the
 * policy's status can show the adaptation state: `"<version>"; <route>=<model>:<share>,…; …`.
 * Routes that do not fit in MAX_SHARES_HEADER characters are left out.
 */
export const SHARES_HEADER = "routeplane-shares";
export const MAX_SHARES_HEADER = 4096;

const NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/;

export function sharesHeader(version: string, routes: Readonly<Record<string, Readonly<Record<string, number>>>>): string {
  let out = JSON.stringify(version.slice(0, 128).replace(/[^\x20-\x7e]|["\\]/g, "?"));
  for (const [route, shares] of Object.entries(routes)) {
    if (!NAME.test(route) || Object.keys(shares).some((m) => !NAME.test(m))) continue;
    const part = `; ${route}=${Object.entries(shares).map(([m, s]) => `${m}:${s.toFixed(3)}`).join(",")}`;
    if (out.length + part.length > MAX_SHARES_HEADER) break;
    out += part;
  }
  return out;
}

/** `{ version, routes }` from a shares header, or null when it is malformed. */
export function parseSharesHeader(value: string): { version: string; routes: Record<string, Record<string, number>> } | null {
  if (value.length > MAX_SHARES_HEADER) return null;
  const m = /^"([\x20-\x21\x23-\x5b\x5d-\x7e]{0,128})"((?:;\s*[^;]+)*)$/.exec(value);
  if (!m) return null;
  const routes: Record<string, Record<string, number>> = {};
  for (const part of m[2].split(";").slice(1)) {
    const r = /^\s*([A-Za-z_][A-Za-z0-9_-]{0,127})=((?:[A-Za-z_][A-Za-z0-9_-]{0,127}:(?:0|1)(?:\.\d{1,6})?,?)+)$/.exec(part);
    if (!r || r[2].endsWith(",")) return null;
    const shares: Record<string, number> = {};
    for (const pair of r[2].split(",")) {
      const [model, share] = pair.split(":");
      const n = Number(share);
      if (!(n >= 0 && n <= 1)) return null;
      shares[model] = n;
    }
    routes[r[1]] = shares;
  }
  return { version: m[1], routes };
}
