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
  if (params.temperature !== undefined) out.temperature = capped(out.temperature, params.temperature);
  if (params.reasoning !== undefined || params.effort !== undefined) reasoning(out, spec.provider, params);
  return out;
}

/** A client's value lowered to the cap; a missing or malformed one (a string, NaN, negative) becomes the cap. */
function capped(v: JsonValue | undefined, cap: number): number {
  return typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= cap ? v : cap;
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

function reasoning(out: JsonObject, provider: string, p: ModelParams): void {
  switch (provider) {
    case "openai":
    case "azure_openai":
      // Reasoning models cannot turn reasoning off; the least there is is `minimal`.
      if (p.effort !== undefined) out.reasoning_effort = p.effort;
      else if (p.reasoning === false) out.reasoning_effort = "minimal";
      return;
    case "anthropic":
      out.thinking = p.reasoning === false ? { type: "disabled" } : { type: "enabled", budget_tokens: THINKING_BUDGET[p.effort ?? "medium"] };
      return;
    case "ollama":
      out.reasoning_effort = p.reasoning === false ? "none" : (p.effort ?? "medium");
      return;
    default: {
      // vLLM and other OpenAI-compatible servers: the chat template's switch (Qwen3, DeepSeek, Granite) and the effort (gpt-oss).
      if (p.reasoning !== undefined) {
        const kwargs = out.chat_template_kwargs;
        const base = kwargs !== null && typeof kwargs === "object" && !Array.isArray(kwargs) ? kwargs : {};
        out.chat_template_kwargs = { ...base, enable_thinking: p.reasoning };
      }
      if (p.effort !== undefined) out.reasoning_effort = p.effort;
    }
  }
}
