// Sidecars authenticate with their service-account token (audience
// `routeplane`, ADR 13): the apiserver's TokenReview API says whose it is.
// Answers are cached for a short while by the token's hash, so a fleet's
// polls do not each cost an apiserver call.
import { createHash } from "node:crypto";
import type { AuthenticationV1Api } from "@kubernetes/client-node";
import { TOKEN_AUDIENCE } from "../bundle/index.ts";
import type { Authenticate } from "./distribution.ts";

export interface TokenReviewOptions {
  ttlMs?: number;
  maxEntries?: number;
  audience?: string;
  /**
   * Reviews asked of the apiserver at once (default 32). Unknown tokens are not cached before
   * their answer, so a client sending a new garbage token per request would otherwise turn each
   * request into an apiserver call; past this, polls get a retryable 503.
   */
  maxInFlight?: number;
}

/** Longer than any service-account token (a JWT of about 1 KB): refused without asking the apiserver. */
export const MAX_TOKEN_CHARS = 8192;

export function tokenReviewAuthenticator(api: AuthenticationV1Api, options: TokenReviewOptions = {}): Authenticate & { reviews: () => number } {
  const ttl = options.ttlMs ?? 30_000;
  const max = options.maxEntries ?? 10_000;
  const audience = options.audience ?? TOKEN_AUDIENCE;
  const cache = new Map<string, { at: number; answer: Awaited<ReturnType<Authenticate>> }>();
  const maxInFlight = options.maxInFlight ?? 32;
  let reviews = 0;
  let inFlight = 0;
  const authenticate = async (token: string): Promise<Awaited<ReturnType<Authenticate>>> => {
    if (token.length > MAX_TOKEN_CHARS) return { ok: false, message: `the token is longer than ${MAX_TOKEN_CHARS} characters: not a service-account token` };
    const key = createHash("sha256").update(token).digest("hex");
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < ttl) return hit.answer;
    if (inFlight >= maxInFlight) return { ok: false, message: "too many token reviews in flight; retry shortly", retryable: true };
    reviews++;
    inFlight++;
    let answer: Awaited<ReturnType<Authenticate>>;
    try {
      const review = await api.createTokenReview({ body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token, audiences: [audience] } } });
      const status = review.status;
      if (!status?.authenticated || !status.user?.username) answer = { ok: false, message: `the token is not valid for audience ${audience}${status?.error ? ` (${status.error})` : ""}: mount a projected service-account token with audience ${audience}` };
      else if (!(status.audiences ?? []).includes(audience)) answer = { ok: false, message: `the token is not issued for audience ${audience}` };
      else {
        const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(status.user.username);
        answer = { ok: true, namespace: m ? m[1] : null, user: status.user.username };
      }
    } catch (err) {
      // The apiserver could not be asked: not cached, the sidecar retries.
      return { ok: false as const, message: `the token could not be reviewed (${(err as Error).message})`, retryable: true };
    } finally {
      inFlight--;
    }
    if (cache.size >= max) cache.delete(cache.keys().next().value!);
    cache.set(key, { at: Date.now(), answer });
    return answer;
  };
  return Object.assign(authenticate, { reviews: () => reviews });
}
