# The early DSL: BACKEND and GLOBAL blocks, the pii and jailbreak plugins,
# and SIGNAL_GROUP before PROJECTION partition.

SIGNAL keyword support { operator: "OR", keywords: ["help", "support"] }
SIGNAL embedding billing { threshold: 0.8, candidates: ["my invoice is wrong"] }
SIGNAL embedding shipping { threshold: 0.8, candidates: ["where is my parcel"] }

SIGNAL_GROUP topics {
  members: ["billing", "shipping"]
}

BACKEND vllm_endpoint local_gpu {
  address: "10.0.0.5"
  port: 8000
  model: "qwen3"
  api_key: "sk-should-never-be-copied"
}
BACKEND provider_profile openai_prod {
  type: "openai"
  base_url: "https://api.openai.com/v1"
}
BACKEND semantic_cache cache { enabled: true, backend_type: "memory" }
BACKEND embedding_model embedder { mmbert_model_path: "models/mmbert" }

MODEL qwen3 { quality_score: 0.7 }
MODEL gpt-4o-mini { provider_profile: "openai_prod", quality_score: 0.8 }

GLOBAL {
  default_model: "qwen3"
  strategy: "priority"
  prompt_guard: { enabled: true, threshold: 0.7 }
  observability: { tracing: { enabled: true } }
}

ROUTE billing_route {
  PRIORITY 100
  WHEN embedding("billing")
  MODEL "gpt-4o-mini"
  PLUGIN pii { enabled: true, pii_types_allowed: ["EMAIL_ADDRESS"] }
}

ROUTE shipping_route {
  PRIORITY 100
  WHEN embedding("shipping")
  MODEL "qwen3"
  PLUGIN jailbreak { enabled: true, threshold: 0.7 }
}

ROUTE support_route {
  PRIORITY 50
  WHEN keyword("support")
  MODEL "qwen3"
  PLUGIN hallucination { enabled: true }
  PLUGIN header_mutation { delete: ["content-length"] }
}
