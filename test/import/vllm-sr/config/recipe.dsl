# Models named in the DSL, served as config.yaml says.

SIGNAL keyword private { operator: "OR", keywords: ["confidential", "internal only"] }
SIGNAL embedding reasoning { threshold: 0.8, candidates: ["compare the trade-offs"] }

MODEL local/private-qwen { context_window_size: 131072, tags: ["deployment:self_hosted"] }
MODEL cloud/frontier { tags: ["deployment:cloud"] }

ROUTE keep_local {
  PRIORITY 300
  WHEN keyword("private")
  MODEL "local/private-qwen"
}

ROUTE frontier {
  PRIORITY 200
  WHEN embedding("reasoning") AND NOT keyword("private")
  MODEL "cloud/frontier", "local/private-qwen"
  ALGORITHM static
}

ROUTE claude {
  PRIORITY 100
  WHEN embedding("reasoning")
  MODEL "anthropic/claude"
}
