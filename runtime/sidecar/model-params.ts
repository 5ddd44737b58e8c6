// Per-use model parameters (`use qwen { reasoning: false, max_tokens: 1024 }`)
// applied to the body one model is sent: what each parameter becomes on each
// provider is in docs/sidecar.md, "Per-use model parameters". The policy
// decides: a client's own value for a parameter the route sets is replaced,
// and a cap lowers a larger (or malformed) client value to the cap.
import type { JsonObject, JsonValue, ModelParams, ModelSpec } from "../../bundle/index.ts";

/** Anthropic's thinking budget per effort (tokens); `medium` when reasoning is on without an effort. */
export const THINKING_BUDGET = { minimal: 1024, low: 2048, medium: 8192, high: 24576 } as const;

/** The body for one model: its served name (or the LoRA adapter's), with the route's parameters for it applied. */
export function bodyForModel(body: JsonObject, spec: ModelSpec, params: ModelParams | undefined, endpoint: "chat" | "completions"): JsonObject {
  const out: JsonObject = { ...body, model: params?.lora ?? spec.served_name };
  if (!params) return out;
  if (params.max_tokens !== undefined) capTokens(out, spec.provider, params.max_tokens, endpoint);
  if (params.temperature !== undefined) out.temperature = capped(out.temperature, params.temperature, false);
  if (params.reasoning !== undefined || params.effort !== undefined) reasoning(out, spec.provider, params);
  return out;
}

/**
 * A client's value lowered to the cap; a missing or malformed one becomes the cap: not a number,
 * negative, or — for token counts — not a whole number of at least 1 (model servers read 0 as "no
 * limit": vLLM's `max_completion_tokens or max_tokens`, Ollama's num_predict).
 */
function capped(v: JsonValue | undefined, cap: number, tokens = true): number {
  const ok = typeof v === "number" && Number.isFinite(v) && v <= cap && (tokens ? Number.isInteger(v) && v >= 1 : v >= 0);
  return ok ? (v as number) : cap;
}

/**
 * The token cap on every token-limit field the client sent; with none, on the one the provider
 * reads (OpenAI's reasoning models take only `max_completion_tokens`; completions take `max_tokens`).
 */
function capTokens(out: JsonObject, provider: string, cap: number, endpoint: "chat" | "completions"): void {
  const fields = endpoint === "chat" ? ["max_tokens", "max_completion_tokens"] : ["max_tokens"];
  const given = fields.filter((f) => out[f] !== undefined && out[f] !== null);
  if (given.length === 0) given.push(endpoint === "chat" && (provider === "openai" || provider === "azure_openai") ? "max_completion_tokens" : "max_tokens");
  for (const f of given) out[f] = capped(out[f], cap);
}

/** Chat-template switches for reasoning the client could set: Qwen3's and Granite's, DeepSeek-V3.1's. */
const THINKING_KWARGS = ["enable_thinking", "thinking"] as const;

function reasoning(out: JsonObject, provider: string, p: ModelParams): void {
  // The route decides: the client's own effort does not survive a route that sets reasoning.
  if (p.effort === undefined) delete out.reasoning_effort;
  switch (provider) {
    case "openai":
    case "azure_openai":
      // Reasoning models cannot turn reasoning off; the least there is is `minimal`.
      if (p.effort !== undefined) out.reasoning_effort = p.effort;
      else if (p.reasoning === false) out.reasoning_effort = "minimal";
      return;
    case "anthropic": {
      // Thinking is Anthropic's switch: a client's `reasoning_effort` beside it does not survive.
      delete out.reasoning_effort;
      // The budget must be below max_tokens, and at least 1,024: a cap that leaves no room turns thinking off.
      const max = typeof out.max_tokens === "number" ? out.max_tokens : Infinity;
      const budget = Math.min(THINKING_BUDGET[p.effort ?? "medium"], max - 1);
      out.thinking = p.reasoning === false || budget < THINKING_BUDGET.minimal ? { type: "disabled" } : { type: "enabled", budget_tokens: budget };
      return;
    }
    case "ollama":
      out.reasoning_effort = p.reasoning === false ? "none" : (p.effort ?? "medium");
      return;
    default: {
      // vLLM and other OpenAI-compatible servers: the chat template's switch (Qwen3, DeepSeek, Granite) and the effort (gpt-oss).
      if (p.reasoning !== undefined) {
        const kwargs = out.chat_template_kwargs;
        const base = kwargs !== null && typeof kwargs === "object" && !Array.isArray(kwargs) ? kwargs : {};
        out.chat_template_kwargs = { ...base, ...Object.fromEntries(THINKING_KWARGS.map((k) => [k, p.reasoning!])) };
      }
      if (p.effort !== undefined) out.reasoning_effort = p.effort;
    }
  }
}
