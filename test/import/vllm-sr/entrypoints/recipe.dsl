# The later ENTRYPOINT forms: a `name` and `aliases` for the model names,
# `rules` whose matches are a path (prefix or exact) or a caller's claim, the
# models an entrypoint assigns to its recipe's decisions, and another API.

MODEL qwen { quality_score: 0.6 }
MODEL llama { quality_score: 0.8 }

SIGNAL keyword code { operator: "OR", keywords: ["python", "bug"] }

ROUTE general { PRIORITY 10 WHEN keyword("code") MODEL llama }

RECIPE coding {
  SIGNAL keyword code { operator: "OR", keywords: ["python", "bug", "stack trace"] }
  ROUTE fix { PRIORITY 20 WHEN keyword("code") MODEL llama }
  ROUTE general { MODEL qwen }
  TEST coding_smoke { "a python bug" -> fix "hi" -> general }
}

RECIPE support (description = "Tickets and refunds.") {
  SIGNAL keyword urgent { operator: "OR", keywords: ["urgent", "asap"] }
  ROUTE escalate { PRIORITY 20 WHEN keyword("urgent") MODEL llama }
  TEST support_smoke { "urgent: refund" -> escalate }
}

RECIPE team_a {
  SIGNAL keyword code { operator: "OR", keywords: ["python", "bug"] }
  ROUTE fix { PRIORITY 5 WHEN keyword("code") MODEL qwen }
}

ENTRYPOINT {
  name: "coder"
  aliases: ["router/coder"]
  rules: [
    { name: "team", matches: [{ path: { prefix: "/team-a/" } }], recipe: "team_a",
      assignments: [{ decision: "fix", models: [{ model: "qwen", priority: 0 }] }] },
    { name: "gold", matches: [{ claim: { name: "tier", exact: "gold" } }], recipe: "support",
      assignments: [{ decision: "escalate", models: [{ model: "llama" }] }] },
    { name: "main", recipe: "coding",
      assignments: [{ decision: "fix", models: [{ model: "llama", priority: 0 }, { model: "qwen", priority: 1 }] }] },
  ]
}

ENTRYPOINT {
  name: "helpdesk"
  rules: [
    { name: "exact", matches: [{ path: { exact: "/support/v1/chat/completions" } }], recipe: "support",
      assignments: [{ decision: "escalate", models: [{ model: "llama" }] }] },
    { name: "api", matches: [{ path: { prefix: "/v1/messages" } }], recipe: "coding",
      assignments: [{ decision: "fix", models: [{ model: "llama" }] }] },
    { name: "all", recipe: "support", assignments: [{ decision: "escalate", models: [{ model: "llama" }] }] },
  ]
}

ENTRYPOINT { api: "systemone", recipe: "coding", model_names: ["coder-s1"] }
ENTRYPOINT { recipe: "coding", model_names: ["coder", "coder v2"], owner: "platform" }
