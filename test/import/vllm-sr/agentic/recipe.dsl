# Constructs routeplane gained after the first import: conversation shapes,
# fact checks, feedback, preferences and knowledge bases (with config.yaml's
# KBs and their labels.json), caches, tool filters, replay capture, request
# parameters, per-use model options and confidence cascades.

SIGNAL conversation long_chat { feature: { type: "count", source: { type: "message", role: "user" } }, predicate: { gte: 6 } }
SIGNAL conversation few_messages { feature: { type: "count", source: { type: "message" } }, predicate: { lt: 4.5 } }
SIGNAL conversation has_tools { feature: { type: "exists", source: { type: "tool_definition" } } }
SIGNAL conversation many_calls { feature: { type: "count", source: { type: "assistant_tool_call" } }, predicate: { gt: 2, lte: 20 } }
SIGNAL conversation tool_loop { feature: { type: "count", source: { type: "assistant_tool_cycle" } }, predicate: { gte: 3 } }
SIGNAL conversation tool_results { feature: { type: "count", source: { type: "message", role: "tool" } }, predicate: { gte: 1 } }
SIGNAL conversation with_system { feature: { type: "exists", source: { type: "message", role: "system" } } }
SIGNAL conversation no_developer { feature: { type: "count", source: { type: "message", role: "developer" } }, predicate: { lt: 1 } }
SIGNAL conversation any_shape { feature: { type: "count", source: { type: "tool_definition" } } }
SIGNAL conversation with_image { feature: { type: "exists", source: { type: "image_content" } } }
SIGNAL conversation text_only { feature: { type: "count", source: { type: "image_content" } }, predicate: { lte: 0 } }
SIGNAL conversation assistant_heavy { feature: { type: "count", source: { type: "message", role: "assistant" } }, predicate: { gte: 5 } }
SIGNAL conversation must_call { feature: { type: "exists", source: { type: "tool_choice_required" } } }

SIGNAL fact_check needs_fact_check { description: "factual questions" }
SIGNAL fact_check no_fact_check_needed {}
SIGNAL user_feedback need_clarification {}
SIGNAL user_feedback want_different {}
SIGNAL user_feedback frustrated {}
SIGNAL preference concise { examples: ["keep it short", "one paragraph please"], threshold: 0.7 }
SIGNAL preference thorough { examples: ["explain every step", "in depth"], threshold: 0.6 }
SIGNAL preference playful { description: "a light, joking tone" }
SIGNAL domain math {}
SIGNAL domain law {}

SIGNAL kb private_code { kb: "privacy_kb", target: { kind: "label", value: "proprietary_code" }, match: "best" }
SIGNAL kb private_any { kb: "privacy_kb", target: { kind: "group", value: "private" }, match: "threshold" }
SIGNAL kb no_such_label { kb: "privacy_kb", target: { kind: "label", value: "weather" } }
SIGNAL kb unknown_kb { kb: "mmlu_kb", target: { kind: "label", value: "math" } }
SIGNAL kb outside { kb: "escaping_kb", target: { kind: "label", value: "x" } }
SIGNAL kb nothing_in_it { kb: "empty_kb", target: { kind: "label", value: "x" } }

MODEL qwen/qwen3-8b { quality_score: 0.6 }
MODEL qwen/qwen3-32b { quality_score: 0.8 }
MODEL frontier { quality_score: 0.95 }

PLUGIN answers semantic_cache { enabled: true, similarity_threshold: 0.92, ttl_seconds: 3600, scope: "decision" }
PLUGIN exact_answers response_cache { enabled: true, mode: "exact", ttl_seconds: 9999999 }
PLUGIN vague_cache semantic_cache { enabled: true }
PLUGIN no_tools tools { enabled: true, mode: "none", strip_tool_history: true }
PLUGIN read_only tools { enabled: true, mode: "filtered", allow_tools: ["search", "get_order"], block_tools: ["delete_order"], semantic_selection: true }
PLUGIN replay router_replay { enabled: true, max_records: 500, capture_request_body: true }
PLUGIN short_answers request_params { max_tokens_limit: 1024, default_max_tokens: 512, max_n: 1 }
PLUGIN pick_tools tool_selection { enabled: true, top_k: 3 }

ROUTE agent_loop (description = "Agents that keep calling tools go to the big model.") {
  PRIORITY 900
  WHEN conversation("tool_loop") OR conversation("many_calls") AND conversation("tool_results")
  MODEL frontier (reasoning = true, effort = "high")
  PLUGIN replay
}

ROUTE agent {
  PRIORITY 800
  WHEN conversation("has_tools") AND NOT conversation("must_call") AND NOT conversation("assistant_heavy")
  MODEL "qwen/qwen3-32b" (lora = "tool-use-v2", param_size = "32b"), "qwen/qwen3-8b" (mode = "thinking")
  ALGORITHM confidence { confidence_method: "avg_logprob", threshold: -0.5, escalation_order: "size", token_filter: "content" }
  PLUGIN read_only
}

ROUTE checked {
  PRIORITY 700
  WHEN fact_check("needs_fact_check") AND conversation("with_system")
  MODEL "qwen/qwen3-8b", frontier
  ALGORITHM confidence { confidence_method: "self_verify", threshold: 0.75 }
  PLUGIN answers
}

ROUTE unchecked {
  PRIORITY 650
  WHEN fact_check("no_fact_check_needed") AND conversation("few_messages") AND conversation("no_developer")
  MODEL "qwen/qwen3-8b", "qwen/qwen3-32b"
  ALGORITHM confidence { confidence_method: "margin", threshold: 0.4 }
  PLUGIN exact_answers
  PLUGIN short_answers
}

ROUTE unhappy {
  PRIORITY 600
  WHEN user_feedback("need_clarification") OR user_feedback("want_different") OR user_feedback("frustrated")
  MODEL frontier (effort = "extreme", reasoning = "yes", lora = "bad name!")
  PLUGIN short_answers
  PLUGIN request_params { max_tokens_limit: 256 }
}

ROUTE short_style {
  PRIORITY 500
  WHEN preference("concise")
  MODEL "qwen/qwen3-8b" (reasoning = false)
  PLUGIN vague_cache
}

ROUTE long_style {
  PRIORITY 500
  WHEN preference("thorough")
  MODEL "qwen/qwen3-32b"
  PLUGIN no_tools
}

ROUTE fun_style {
  PRIORITY 500
  WHEN preference("playful")
  MODEL "qwen/qwen3-8b"
}

ROUTE math {
  PRIORITY 400
  WHEN domain("math")
  MODEL "qwen/qwen3-32b", frontier
  ALGORITHM automix { verification_threshold: 0.7 }
}

ROUTE law {
  PRIORITY 400
  WHEN domain("law")
  MODEL frontier
  PLUGIN pick_tools
}

ROUTE privacy {
  PRIORITY 300
  WHEN kb("private_code") OR kb("private_any") OR kb("no_such_label") OR kb("unknown_kb") OR kb("outside") OR kb("nothing_in_it")
  MODEL "qwen/qwen3-8b"
}

ROUTE shapes {
  PRIORITY 200
  WHEN conversation("long_chat") OR conversation("any_shape") AND conversation("with_image") OR conversation("text_only")
  MODEL "qwen/qwen3-32b"
}
