# PROJECTION score, mapping and partition, and SIGNAL_GROUP.

SIGNAL keyword reasoning_markers { operator: "OR", keywords: ["step by step", "prove"] }
SIGNAL keyword simple_markers { operator: "OR", keywords: ["quick", "briefly"] }
SIGNAL embedding fast_qa { threshold: 0.72, candidates: ["what is the capital of France"] }
SIGNAL embedding deep_work { threshold: 0.78, candidates: ["design a distributed system"] }
SIGNAL embedding chit_chat { threshold: 0.6, candidates: ["hello there"] }
SIGNAL complexity general { threshold: 0.1 }
SIGNAL context long_context { min_tokens: "8K" }
SIGNAL domain math {}
SIGNAL domain law {}
SIGNAL domain other {}
SIGNAL fact_check needs_check {}
SIGNAL structure many_questions { feature: { type: "count", source: { type: "regex", pattern: "[?]" } }, predicate: { gte: 4 } }
SIGNAL jailbreak jb { threshold: 0.5 }
SIGNAL keyword k1 { operator: "OR", keywords: ["word1"] }
SIGNAL keyword k2 { operator: "OR", keywords: ["word2"] }
SIGNAL keyword k3 { operator: "OR", keywords: ["word3"] }
SIGNAL keyword k4 { operator: "OR", keywords: ["word4"] }
SIGNAL keyword k5 { operator: "OR", keywords: ["word5"] }
SIGNAL keyword k6 { operator: "OR", keywords: ["word6"] }
SIGNAL keyword k7 { operator: "OR", keywords: ["word7"] }
SIGNAL keyword k8 { operator: "OR", keywords: ["word8"] }
SIGNAL keyword k9 { operator: "OR", keywords: ["word9"] }
SIGNAL keyword k10 { operator: "OR", keywords: ["word10"] }
SIGNAL keyword k11 { operator: "OR", keywords: ["word11"] }
SIGNAL keyword k12 { operator: "OR", keywords: ["word12"] }
SIGNAL keyword k13 { operator: "OR", keywords: ["word13"] }
SIGNAL keyword k14 { operator: "OR", keywords: ["word14"] }
SIGNAL keyword k15 { operator: "OR", keywords: ["word15"] }
SIGNAL keyword k16 { operator: "OR", keywords: ["word16"] }
SIGNAL keyword k17 { operator: "OR", keywords: ["word17"] }

PROJECTION score difficulty {
  method: "weighted_sum"
  inputs: [
    { type: "keyword", name: "simple_markers", weight: -0.28 },
    { type: "keyword", name: "reasoning_markers", weight: 0.22, value_source: "confidence" },
    { type: "embedding", name: "fast_qa", weight: -0.16, value_source: "confidence" },
    { type: "embedding", name: "deep_work", weight: 0.18, value_source: "confidence" },
    { type: "complexity", name: "general:medium", weight: 0.1 },
    { type: "complexity", name: "general:hard", weight: 0.22 },
    { type: "context", name: "long_context", weight: 0.18 },
    { type: "domain", name: "math", weight: 0.2 },
    { type: "fact_check", name: "needs_check", weight: 0.28 },
    { type: "kb_metric", kb: "privacy_kb", metric: "private_vs_public", weight: 1.0 },
  ]
}

PROJECTION mapping difficulty_band {
  source: "difficulty"
  method: "threshold_bands"
  calibration: { method: "sigmoid_distance", slope: 10 }
  outputs: [
    { name: "simple", lt: 0.18 },
    { name: "medium", gte: 0.18, lt: 0.48 },
    { name: "complex", gt: 0.48, lte: 0.82 },
    { name: "value", gte: 0.82 },
    { name: "broken", gte: 0.9, lt: 0.5 },
  ]
}

PROJECTION score only_unknowns {
  inputs: [{ type: "structure", name: "many_questions", weight: 1 }]
}

PROJECTION mapping unknown_band {
  source: "only_unknowns"
  outputs: [{ name: "checked", gte: 0.5 }]
}

PROJECTION mapping orphan_band {
  source: "no_such_score"
  outputs: [{ name: "orphan", gte: 0.5 }]
}

PROJECTION score wide {
  inputs: [
    { type: "jailbreak", name: "jb", weight: 0.01 }, { type: "jailbreak", name: "jb", weight: 0.01 },
    { type: "keyword", name: "simple_markers", weight: 0.3 }, { type: "keyword", name: "reasoning_markers", weight: 0.3 },
    { type: "embedding", name: "fast_qa", weight: 0.3 }, { type: "embedding", name: "deep_work", weight: 0.3 },
    { type: "embedding", name: "chit_chat", weight: 0.02 }, { type: "complexity", name: "general", weight: 0.3 },
    { type: "domain", name: "math", weight: 0.3 }, { type: "domain", name: "law", weight: 0.3 }, { type: "domain", name: "other", weight: 0.3 },
    { type: "keyword", name: "k1", weight: 0.01 },
    { type: "keyword", name: "k2", weight: 0.02 },
    { type: "keyword", name: "k3", weight: 0.03 },
    { type: "keyword", name: "k4", weight: 0.04 },
    { type: "keyword", name: "k5", weight: 0.05 },
    { type: "keyword", name: "k6", weight: 0.06 },
    { type: "keyword", name: "k7", weight: 0.07 },
    { type: "keyword", name: "k8", weight: 0.08 },
    { type: "keyword", name: "k9", weight: 0.09 },
    { type: "keyword", name: "k10", weight: 0.10 },
    { type: "keyword", name: "k11", weight: 0.11 },
    { type: "keyword", name: "k12", weight: 0.12 },
    { type: "keyword", name: "k13", weight: 0.13 },
    { type: "keyword", name: "k14", weight: 0.14 },
    { type: "keyword", name: "k15", weight: 0.15 },
    { type: "keyword", name: "k16", weight: 0.16 },
    { type: "keyword", name: "k17", weight: 0.17 },
  ]
}

PROJECTION mapping wide_band {
  source: "wide"
  outputs: [{ name: "wide_high", gte: 2 }]
}

PROJECTION partition intent {
  semantics: "softmax_exclusive"
  temperature: 0.1
  members: ["fast_qa", "deep_work", "chit_chat"]
  default: "chit_chat"
}

SIGNAL_GROUP subjects {
  semantics: "softmax_exclusive"
  members: ["math", "law", "other"]
  default: "other"
}

PROJECTION partition too_small {
  members: ["jb", "math", "nobody"]
}

MODEL small { quality_score: 0.6 }
MODEL large { quality_score: 0.9 }

ROUTE hard_math {
  PRIORITY 300
  WHEN projection("complex") AND domain("math")
  MODEL large
}

ROUTE deep {
  PRIORITY 200
  WHEN embedding("deep_work") OR projection("medium") OR projection("value")
  MODEL large
}

ROUTE quick {
  PRIORITY 100
  WHEN (embedding("fast_qa") OR projection("simple")) AND NOT projection("checked") AND NOT projection("orphan")
  MODEL small
}

ROUTE chat {
  PRIORITY 50
  WHEN embedding("chit_chat") OR domain("law") OR domain("other") OR projection("wide_high")
  MODEL small
}
