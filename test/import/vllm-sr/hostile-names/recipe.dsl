# Names routeplane reserves or cannot spell, and duplicates.

SIGNAL keyword route { operator: "OR", keywords: ["route"] }
SIGNAL keyword default { operator: "OR", keywords: ["default"] }
SIGNAL keyword __proto__ { operator: "OR", keywords: ["proto"] }
SIGNAL keyword "not" { operator: "OR", keywords: ["not"] }
SIGNAL keyword "émoji 🎉 name" { operator: "OR", keywords: ["party"] }
SIGNAL keyword "2fast" { operator: "OR", keywords: ["fast"] }
SIGNAL embedding route { threshold: 0.5, candidates: ["a route"] }
SIGNAL domain "__proto__" {}
SIGNAL domain default {}

MODEL model { quality_score: 0.5 }
MODEL "__proto__" {}
MODEL "weird model name!" {}

PLUGIN test system_prompt { system_prompt: "line one\nline \"two\"" }

ROUTE default {
  PRIORITY 30
  WHEN keyword("route") AND keyword("default")
  MODEL model
  PLUGIN test
}

ROUTE "__proto__" {
  PRIORITY 20
  WHEN keyword("__proto__") OR keyword("not") OR domain("__proto__") OR domain("default")
  MODEL "__proto__"
}

ROUTE when {
  PRIORITY 10
  WHEN keyword("émoji 🎉 name") OR keyword("2fast") OR embedding("route")
  MODEL "weird model name!"
}

ROUTE when {
  PRIORITY 5
  WHEN keyword("2fast")
  MODEL model
}
