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
}

export function tokenReviewAuthenticator(api: AuthenticationV1Api, options: TokenReviewOptions = {}): Authenticate & { reviews: () => number } {
  const ttl = options.ttlMs ?? 30_000;
  const max = options.maxEntries ?? 10_000;
  const audience = options.audience ?? TOKEN_AUDIENCE;
  const cache = new Map<string, { at: number; answer: Awaited<ReturnType<Authenticate>> }>();
  let reviews = 0;
  const authenticate = async (token: string) => {
    const key = createHash("sha256").update(token).digest("hex");
    const hit = cache.get(key);
    if (hit && Date.now() - hit.at < ttl) return hit.answer;
    reviews++;
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
    }
    if (cache.size >= max) cache.delete(cache.keys().next().value!);
    cache.set(key, { at: Date.now(), answer });
    return answer;
  };
  return Object.assign(authenticate, { reviews: () => reviews });
}
