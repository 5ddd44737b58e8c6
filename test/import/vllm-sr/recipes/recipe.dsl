# RECIPE scopes with ENTRYPOINT bindings and ROUTING strategies, beside a
# top-level program. Models are top-level and shared. Each recipe is a scope
# of its own: `batch` reuses names of the top level and of `speed` (two
# declared identically), and no ENTRYPOINT selects it.

MODEL fast-model { quality_score: 0.5 }
MODEL smart-model { quality_score: 0.9 }

ROUTING { strategy: "priority" }

SIGNAL keyword hard { operator: "OR", keywords: ["prove", "derive"] }

ROUTE top_hard {
  PRIORITY 10
  WHEN keyword("hard")
  MODEL smart-model
}

RECIPE speed (description = "Cheap and fast.", strategy = "confidence") {
  ROUTING { strategy: "confidence", tie_break: "name" }
  SIGNAL embedding chat { threshold: 0.6, candidates: ["hello"] }
  SIGNAL embedding quick_fact { threshold: 0.7, candidates: ["what is"] }
  ROUTE chatty { PRIORITY 5 WHEN embedding("chat") MODEL fast-model }
  ROUTE facts { PRIORITY 5 WHEN embedding("quick_fact") MODEL fast-model }
  ROUTE rest { MODEL fast-model }
  TEST speed_tests { "hello" -> chatty "anything" -> rest }
}

RECIPE "quality first" {
  SIGNAL keyword hard { operator: "OR", keywords: ["prove"] }
  PLUGIN careful system_prompt { system_prompt: "Think carefully." }
  DECISION_TREE pick {
    IF keyword("hard") { NAME deep MODEL smart-model PLUGIN careful }
    ELSE { NAME shallow MODEL fast-model }
  }
}

RECIPE batch {
  SIGNAL embedding chat { threshold: 0.6, candidates: ["hello"] }
  SIGNAL keyword hard { operator: "OR", keywords: ["prove", "derive"] }
  ROUTE top_hard { PRIORITY 10 WHEN keyword("hard") MODEL fast-model }
  ROUTE chatty { PRIORITY 5 WHEN embedding("chat") MODEL smart-model }
  TEST speed_tests { "hello" -> chatty }
}

ENTRYPOINT { recipe: "speed", model_names: ["auto-fast"] }
ENTRYPOINT { recipe: "quality first", model_names: ["auto", "auto-quality"] }
ENTRYPOINT { recipe: "speed", model_names: ["auto", "fast"] }
ENTRYPOINT { recipe: "default", model_names: ["MoM"] }
ENTRYPOINT { recipe: "nightly", model_names: ["night"] }
