// How the forward stage asks its models (request-path.ts): one after another
// on failure (a fallback chain), a hedge (the next model also asked when the
// one before has not answered in time; the first answer wins, the others
// are withdrawn), or a cascade (a cheaper model first; its answer taken when
// its confidence — the mean token log-probability, or a verifier model's
// grade — reaches the route's threshold, else the next model asked).
import type { JsonObject, Selection } from "../../bundle/index.ts";
import { bodyForModel } from "./model-params.ts";
import type { RequestPath } from "./request-path.ts";
import { UpstreamError, scrubSecret } from "./upstream.ts";

/** An upstream answer being relayed, and the model that gave it. */
export type Answer = NonNullable<RequestPath["answer"]>;

/** A cascade step's answer that was taken: relayed whole by the caller. */
export interface TakenAnswer {
  text: string;
  status: number;
  contentType: string;
  answer: Omit<Answer, "response">;
}

/** One model asked with the route's parameters for it (and `overrides` on top); recorded either way. */
export async function ask(p: RequestPath, name: string, headers: Record<string, string>, options: { overrides?: JsonObject; body?: JsonObject; signal?: AbortSignal } = {}): Promise<Answer> {
  const { config, rec } = { config: p.config, rec: p.rec! };
  const declared = p.active.models.get(name)!;
  const spec = config.endpointOverride ? { ...declared, endpoint: config.endpointOverride } : declared;
  const key = config.credential(spec);
  const action = p.active.actions.get(p.decision!.route!)!;
  // `body`: a request of the sidecar's own (a verifier's), instead of the client's.
  const body = { ...bodyForModel(options.body ?? p.rewritten!.body, spec, action.params?.[name], p.endpoint), ...options.overrides };
  const t0 = performance.now();
  const span = rec.stage("upstream", { "routeplane.model": name, "server.address": new URL(spec.endpoint).host });
  try {
    const response = await config.upstreams.send({ model: spec, path: p.endpoint === "chat" ? "/chat/completions" : "/completions", body: JSON.stringify(body), headers, key, ...(options.signal ? { signal: options.signal } : {}) });
    rec.answered(name, response.statusCode, performance.now() - t0, span);
    return { response, model: name, spec, key };
  } catch (err) {
    if (err instanceof UpstreamError) rec.failed(name, err, performance.now() - t0, span);
    throw err;
  }
}

/** The models in order until one answers; the last failure when none does. */
export async function inOrder(p: RequestPath, chain: readonly string[], headers: Record<string, string>): Promise<Answer | UpstreamError> {
  // An Error captures a stack when made: made only when a model failed, never on the way to an answer.
  let last: UpstreamError | null = null;
  for (const name of chain) {
    try {
      return await ask(p, name, headers);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      last = err;
    }
  }
  return last ?? new UpstreamError("connect", "no model was tried");
}

/**
 * A hedge: the first model at once, each next one `afterMs` after the one before it (or as soon as
 * every model asked so far has failed). The first answer wins; the others are withdrawn (recorded
 * as `cancelled`, not held against their circuits) and their answers, if any arrive, dropped.
 */
export function hedge(p: RequestPath, chain: readonly string[], headers: Record<string, string>, afterMs: number): Promise<Answer | UpstreamError> {
  return new Promise((resolve) => {
    const controllers: AbortController[] = [];
    let next = 0;
    let pending = 0;
    let done = false;
    let last: UpstreamError | null = null;
    let timer: NodeJS.Timeout | undefined;
    const finish = (result: Answer | UpstreamError) => {
      done = true;
      clearTimeout(timer);
      resolve(result);
    };
    const launch = () => {
      clearTimeout(timer);
      if (done || next >= chain.length) return;
      const name = chain[next++];
      const controller = new AbortController();
      controllers.push(controller);
      pending++;
      ask(p, name, headers, { signal: controller.signal }).then(
        (answer) => {
          pending--;
          if (done) {
            answer.response.body.destroy();
            return;
          }
          for (const c of controllers) if (c !== controller) c.abort();
          finish(answer);
        },
        (err) => {
          pending--;
          if (done) return;
          if (err instanceof UpstreamError) last = err;
          // Every model asked so far failed: the next one now, without waiting.
          if (pending === 0) {
            if (next >= chain.length) finish(last ?? new UpstreamError("connect", "no model was tried"));
            else launch();
          }
        },
      );
      if (next < chain.length) timer = setTimeout(launch, afterMs);
    };
    launch();
  });
}

/** The confidence of an OpenAI chat answer from its tokens' log-probabilities (the geometric mean of their probabilities), or null without them. */
export function logprobConfidence(answer: unknown): number | null {
  const choice = (answer as { choices?: { logprobs?: { content?: { logprob?: unknown }[]; token_logprobs?: unknown[] } }[] } | null)?.choices?.[0];
  // Chat answers list `{ logprob }` per token; completions answers a `token_logprobs` list.
  const tokens = Array.isArray(choice?.logprobs?.content) ? choice.logprobs.content.map((t) => t?.logprob) : choice?.logprobs?.token_logprobs;
  if (!Array.isArray(tokens) || tokens.length === 0) return null;
  let sum = 0;
  for (const lp of tokens) {
    if (typeof lp !== "number" || !Number.isFinite(lp) || lp > 0) return null;
    sum += lp;
  }
  return Math.exp(sum / tokens.length);
}

/** The text of an OpenAI chat (or completions) answer's first choice, or "". */
export function answerText(answer: unknown): string {
  const choice = (answer as { choices?: { message?: { content?: unknown }; text?: unknown }[] } | null)?.choices?.[0];
  const content = choice?.message?.content ?? choice?.text;
  return typeof content === "string" ? content : "";
}

/** A grade in [0, 1]: the first number in the verifier's reply, when it is one. */
export function gradeOf(reply: string): number | null {
  const m = /-?\d+(?:\.\d+)?/.exec(reply);
  if (!m) return null;
  const x = Number(m[0]);
  return x >= 0 && x <= 1 ? x : null;
}

export const VERIFIER_PROMPT = "You grade answers. Reply with one number from 0 to 1: how likely the answer is correct and complete. Reply with the number only.";

/**
 * A cascade: each model but the last is asked for a whole answer (not streamed, with
 * log-probabilities unless a verifier grades); the first whose confidence reaches `min_confidence`
 * is taken. An answer without a confidence (no log-probabilities, a verifier that fails) is not
 * taken. The last model is asked as the client asked (streamed or not). A failing model moves on,
 * as a fallback chain does.
 */
export async function cascade(p: RequestPath, chain: readonly string[], headers: Record<string, string>, sel: Extract<Selection, { algorithm: "cascade" }>): Promise<Answer | TakenAnswer | UpstreamError> {
  const rec = p.rec!;
  let last: UpstreamError | null = null;
  for (let i = 0; i < chain.length; i++) {
    const name = chain[i];
    if (i === chain.length - 1) {
      try {
        return await ask(p, name, headers);
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        return err;
      }
    }
    let answer: Answer;
    try {
      // Chat takes `logprobs: true`; completions a count of alternatives per token (1: the chosen token's).
      answer = await ask(p, name, headers, { overrides: { stream: false, ...(sel.verifier === undefined ? { logprobs: p.endpoint === "chat" ? true : 1 } : {}) } });
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      last = err;
      continue;
    }
    let text: string;
    try {
      text = await answer.response.body.text(p.config.maxResponseBufferBytes);
    } catch {
      rec.declined(name, null);
      continue;
    }
    const status = answer.response.statusCode;
    // A 4xx from a step may be the sidecar's own asking (log-probabilities, a route parameter it does
    // not take): the next model is asked; a request the last model refuses too goes back as it is.
    if (status >= 400) {
      rec.declined(name, null);
      continue;
    }
    // A step not taken was paid for all the same.
    rec.usage(text, answer.spec);
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: no confidence
    }
    // The answer goes to the verifier without the credential its model may have echoed.
    const confidence = sel.verifier === undefined ? logprobConfidence(parsed) : await verify(p, sel.verifier, headers, scrubSecret(answerText(parsed), answer.key));
    if (confidence !== null && confidence >= sel.min_confidence) {
      // The client did not ask for log-probabilities: they go, as if never asked for.
      const asked = p.rewritten!.body.logprobs;
      if (sel.verifier === undefined && (asked === undefined || asked === null || asked === false) && parsed !== null && typeof parsed === "object") text = JSON.stringify(withoutLogprobs(parsed as JsonObject));
      return { text, status, contentType: "application/json", answer: { model: name, spec: answer.spec, key: answer.key } };
    }
    rec.declined(name, confidence);
  }
  return last ?? new UpstreamError("connect", "no model was tried");
}

/** The verifier's grade of an answer to the request's last user message, or null when it cannot give one. */
async function verify(p: RequestPath, verifier: string, headers: Record<string, string>, answer: string): Promise<number | null> {
  const messages = (p.rewritten!.body.messages as { role?: unknown; content?: unknown }[] | undefined) ?? [];
  // A completions request's question is its prompt.
  const question = p.endpoint === "completions" ? p.rewritten!.body.prompt : [...messages].reverse().find((m) => m?.role === "user")?.content;
  const prompt = `Question:\n${typeof question === "string" ? question : JSON.stringify(question ?? "")}\n\nAnswer:\n${answer}`;
  try {
    // A request of the sidecar's own: nothing of the client's (stop words, logit bias, guided decoding, tools) steers the grade.
    const graded = await ask(p, verifier, headers, {
      body: { messages: [{ role: "system", content: VERIFIER_PROMPT }, { role: "user", content: prompt }], max_tokens: 8, temperature: 0, stream: false },
    });
    if (graded.response.statusCode !== 200) {
      graded.response.body.destroy();
      return null;
    }
    const text = await graded.response.body.text(64 * 1024);
    p.rec!.usage(text, graded.spec);
    return gradeOf(answerText(JSON.parse(text)));
  } catch {
    return null;
  }
}

function withoutLogprobs(answer: JsonObject): JsonObject {
  const choices = Array.isArray(answer.choices) ? answer.choices.map((c) => (c !== null && typeof c === "object" && !Array.isArray(c) ? { ...c, logprobs: null } : c)) : answer.choices;
  return { ...answer, choices };
}

/** A whole answer as a stream of one event, for a client that asked to stream a cascade step's answer. */
export function asEventStream(text: string, endpoint: "chat" | "completions" = "chat"): string {
  let parsed: { id?: unknown; created?: unknown; model?: unknown; usage?: unknown; choices?: { index?: unknown; message?: unknown; text?: unknown; finish_reason?: unknown }[] } | null = null;
  try {
    parsed = JSON.parse(text);
  } catch {
    return `data: ${JSON.stringify({ error: { message: "the model's answer was not JSON" } })}\n\ndata: [DONE]\n\n`;
  }
  const head = { id: parsed?.id ?? "routeplane-cascade", object: endpoint === "chat" ? "chat.completion.chunk" : "text_completion", created: parsed?.created ?? Math.floor(Date.now() / 1000), model: parsed?.model ?? "" };
  if (endpoint === "completions") {
    const chunk = { ...head, choices: (parsed?.choices ?? []).map((c, i) => ({ index: c.index ?? i, text: c.text ?? "", finish_reason: c.finish_reason ?? "stop" })), ...(parsed?.usage !== undefined ? { usage: parsed.usage } : {}) };
    return `data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`;
  }
  // The whole message as one delta: content, tool calls (each with its index, as streamed ones carry), reasoning.
  const delta = (m: Record<string, unknown> | undefined) => {
    const out: Record<string, unknown> = { role: m?.role ?? "assistant", content: m?.content ?? "" };
    if (Array.isArray(m?.tool_calls)) out.tool_calls = m.tool_calls.map((t: unknown, index: number) => (t !== null && typeof t === "object" ? { index, ...t } : t));
    for (const k of ["reasoning_content", "refusal"]) if (m?.[k] !== undefined) out[k] = m[k];
    return out;
  };
  const chunk = { ...head, choices: (parsed?.choices ?? []).map((c, i) => ({ index: c.index ?? i, delta: delta(c.message as Record<string, unknown> | undefined), finish_reason: c.finish_reason ?? "stop" })) };
  const usage = parsed?.usage !== undefined ? `data: ${JSON.stringify({ ...head, choices: [], usage: parsed.usage })}\n\n` : "";
  return `data: ${JSON.stringify(chunk)}\n\n${usage}data: [DONE]\n\n`;
}
