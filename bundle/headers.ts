// Headers of the upstream request that belong to the sidecar, not to a policy.
// One predicate, used by the compiler (RP0307), by Engine.load and by the
// upstream client just before it writes a request.

/**
 * Hop-by-hop and framing headers: the sidecar's HTTP client writes `host` and
 * `content-length` itself and frames every request alone. A second `host`,
 * `content-length` or `transfer-encoding` would let a server or proxy read the
 * body as another request (smuggling); `connection` could name any other
 * header as hop-by-hop, so it is the sidecar's too, and with it every header
 * it could name is out of a policy's reach.
 */
const FRAMING = new Set([
  "host", "content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "te", "trailer", "trailers",
  "proxy-connection", "expect", "proxy-authorization", "proxy-authenticate", "http2-settings",
]);

/** Why the sidecar owns this upstream header (so a policy cannot set or remove it), or null when a policy may. Case-insensitive. */
export function sidecarOwnedHeader(name: string): string | null {
  const n = name.toLowerCase();
  if (FRAMING.has(n)) return `\`${n}\` is a hop-by-hop or framing header, which the sidecar writes itself`;
  if (n === "authorization") return "`authorization` carries the model's key, which is the sidecar's";
  return null;
}
