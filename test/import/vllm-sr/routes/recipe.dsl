# ROUTE in all its forms: options, priorities and tiers, models with options,
# every ALGORITHM, plugins (templates, overrides, inline), and what is dropped.

SIGNAL keyword urgent { operator: "OR", keywords: ["urgent"] }
SIGNAL keyword refund { operator: "OR", keywords: ["refund"] }
SIGNAL embedding code_help { threshold: 0.7, candidates: ["fix my code"] }
SIGNAL embedding math_help { threshold: 0.7, candidates: ["solve the equation"] }
SIGNAL jailbreak jb { threshold: 0.5 }

MODEL small { context_window_size: 32768, quality_score: 0.6, tags: ["cost:low"], capabilities: ["chat"] }
MODEL large { context_window_size: 131072, quality_score: 0.9, param_size: "70b" }
MODEL openai/gpt-4o { quality_score: 0.92 }

PLUGIN be_brief system_prompt { system_prompt: "Answer briefly.", mode: "insert" }
PLUGIN tagging header_mutation {
  add: [{ name: "x-route-source", value: "vllm-sr" }, { name: "authorization", value: "Bearer nope" }]
  delete: ["x-debug"]
}
PLUGIN cache semantic_cache { enabled: true, similarity_threshold: 0.9 }
PLUGIN off system_prompt { enabled: false, system_prompt: "never" }

ROUTE guard (description = "Jailbreak attempts go to the small model.", on_unknown = "skip") {
  PRIORITY 1000
  TIER 1
  WHEN jailbreak("jb")
  MODEL small
  PLUGIN be_brief
  PLUGIN off
}

ROUTE code {
  PRIORITY 500
  TIER 2
  WHEN embedding("code_help")
  MODEL large (reasoning = true, effort = "high"), small
  ALGORITHM static
  PLUGIN be_brief { system_prompt: "Show code first." }
  PLUGIN tagging
}

ROUTE math {
  PRIORITY 500
  TIER 2
  WHEN embedding("math_help")
  MODEL large, small
  ALGORITHM confidence { threshold: 0.8, confidence_method: "avg_logprob" }
}

ROUTE urgent_refund {
  PRIORITY 400
  TIER 2
  WHEN keyword("urgent") AND keyword("refund")
  MODEL "openai/gpt-4o" (weight = 3), small (weight = 1)
  PLUGIN cache
  PLUGIN system_prompt { system_prompt: "Be kind.", mode: "replace" }
}

ROUTE urgent_only {
  PRIORITY 400
  TIER 2
  WHEN keyword("urgent") AND NOT keyword("refund")
  MODEL small, large
  ALGORITHM elo { k_factor: 32 }
}

ROUTE refund_or_urgent {
  PRIORITY 400
  TIER 2
  WHEN keyword("refund") OR (keyword("urgent") AND (keyword("refund") OR embedding("code_help")))
  MODEL small, large
  ALGORITHM latency_aware { tpot_percentile: 90 }
}

ROUTE random_pick {
  PRIORITY -5
  TIER 3
  WHEN keyword("refund") AND (keyword("urgent") OR (jailbreak("jb") OR embedding("math_help")))
  MODEL small, large
  ALGORITHM random
  ACTION route "guard"
  EMIT retention { drop: true }
  FOR m IN decision.candidates { MODEL m }
}

ROUTE remom_pick {
  PRIORITY 10
  TIER 3
  DESCRIPTION "Many models at once."
  WHEN NOT NOT keyword("urgent")
  MODEL small, large, small
  ALGORITHM remom { breadth_schedule: [2, 1] }
}

ROUTE fallback_everything {
  PRIORITY 0
  TIER 3
  MODEL small
  PLUGIN tagging
}

ROUTE second_catch_all {
  PRIORITY 0
  TIER 3
  MODEL large
}
