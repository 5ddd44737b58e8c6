# Every SIGNAL type of the DSL, each tested by a route.

SIGNAL keyword urgent { operator: "OR", keywords: ["urgent", "asap"], case_sensitive: false }
SIGNAL keyword billing_all { operator: "AND", keywords: ["invoice", "refund"] }
SIGNAL keyword no_code { operator: "NOR", keywords: ["python", "stack trace"] }
SIGNAL keyword fuzzy_help {
  operator: "OR"
  keywords: ["help me", "support"]
  method: "bm25"
  bm25_threshold: 0.12
}
SIGNAL embedding code_help {
  threshold: 0.75
  candidates: ["debug this function", "fix the stack trace"]
  aggregation_method: "max"
}
SIGNAL domain math { description: "Mathematics." }
SIGNAL domain "computer science" { description: "Programming and systems." mmlu_categories: ["computer science"] }
SIGNAL language en { description: "English" }
SIGNAL language chinese { threshold: 0.6 }
SIGNAL context long_context { min_tokens: "8K", max_tokens: "256K" }
SIGNAL context short_context { min_tokens: "0", max_tokens: 999 }
SIGNAL complexity reasoning {
  threshold: 0.12
  hard: { candidates: ["prove the theorem"] }
  easy: { candidates: ["what is 2 plus 2"] }
}
SIGNAL jailbreak jb { method: "classifier", threshold: 0.65, include_history: true }
SIGNAL pii pii_strict { threshold: 0.9, pii_types_allowed: ["EMAIL_ADDRESS", "PERSON"] }
SIGNAL user_feedback wrong_answer { description: "the user says the answer was wrong" }
SIGNAL user_feedback satisfied {}
SIGNAL reask asked_again { threshold: 0.8, lookback_turns: 4 }
SIGNAL preference concise { examples: ["keep it short", "one paragraph"], threshold: 0.7 }
SIGNAL input_modality has_image { modalities: ["image"] }
SIGNAL metadata tenant { key: "tenant", values: ["acme", "globex"] }
SIGNAL modality wants_image { description: "image generation" }
SIGNAL fact_check needs_check { description: "asks for sources" }
SIGNAL kb privacy_policy { kb: "privacy_kb", target: { kind: "group", value: "privacy" }, match: "best" }
SIGNAL structure many_questions { feature: { type: "count", source: { type: "regex", pattern: "[?]" } }, predicate: { gte: 4 } }
SIGNAL conversation long_chat { feature: { type: "count", source: { type: "message" } }, predicate: { gt: 10 } }
SIGNAL event incident { event_types: ["outage"], severities: ["high"] }
SIGNAL authz admins { role: "admin", subjects: [{ kind: "Group", name: "ops" }] }
SIGNAL safety unsafe { threshold: 0.5 }
SIGNAL hallucination risky {}
SIGNAL classifier intent_clf { model: "my-classifier" }
SIGNAL decision picked { model: "router-model" }
SIGNAL agentic_facts tool_heavy {}
SIGNAL telepathy mind_reader { strength: 11 }

MODEL qwen/qwen3-8b { quality_score: 0.7 }

ROUTE safety (description = "Jailbreaks and PII stay local.") {
  PRIORITY 900
  WHEN jailbreak("jb") OR pii("pii_strict")
  MODEL "qwen/qwen3-8b"
}

ROUTE words {
  PRIORITY 800
  WHEN keyword("urgent") AND keyword("billing_all") AND NOT keyword("no_code") OR keyword("fuzzy_help")
  MODEL "qwen/qwen3-8b"
}

ROUTE meaning {
  PRIORITY 700
  WHEN embedding("code_help") AND (domain("computer science") OR domain("math"))
  MODEL "qwen/qwen3-8b"
}

ROUTE language_and_size {
  PRIORITY 600
  WHEN (language("en") OR language("chinese")) AND (context("long_context") OR NOT context("short_context"))
  MODEL "qwen/qwen3-8b"
}

ROUTE levels {
  PRIORITY 500
  WHEN complexity("reasoning:hard") OR complexity("reasoning:medium") AND NOT complexity("reasoning:easy")
  MODEL "qwen/qwen3-8b"
}

ROUTE conversation_turns {
  PRIORITY 400
  WHEN user_feedback("wrong_answer") OR user_feedback("satisfied") OR reask("asked_again") OR preference("concise")
  MODEL "qwen/qwen3-8b"
}

ROUTE request_parts {
  PRIORITY 300
  WHEN input_modality("has_image") AND metadata("tenant")
  MODEL "qwen/qwen3-8b"
}

ROUTE not_in_routeplane {
  PRIORITY 200
  WHEN modality("wants_image") OR fact_check("needs_check") OR kb("privacy_policy") OR structure("many_questions") OR conversation("long_chat") OR event("incident") OR authz("admins") OR safety("unsafe") OR hallucination("risky") OR classifier("intent_clf") OR decision("picked") OR agentic_facts("tool_heavy") OR telepathy("mind_reader") OR keyword("never_declared")
  MODEL "qwen/qwen3-8b"
}

ROUTE with_fields {
  PRIORITY 100
  WHEN domain("math", threshold: 0.9)
  MODEL "qwen/qwen3-8b"
}
