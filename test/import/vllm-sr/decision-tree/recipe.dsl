# DECISION_TREE: IF / ELSE IF / ELSE, and TEST blocks against its routes.

SIGNAL keyword greeting { operator: "OR", keywords: ["hello", "hi"] }
SIGNAL keyword code { operator: "OR", keywords: ["python", "bug"] }
SIGNAL domain math {}

MODEL chat-small {}
MODEL coder {}
MODEL general {}

DECISION_TREE triage {
  IF keyword("code") AND NOT keyword("greeting") {
    NAME coding
    DESCRIPTION "Code questions."
    MODEL coder
  }
  ELSE IF domain("math") {
    NAME "math questions"
    TIER 2
    MODEL general (reasoning = true)
  }
  ELSE IF keyword("greeting") {
    MODEL chat-small
  }
  ELSE {
    NAME fallback
    MODEL general
  }
}

TEST smoke {
  "my python code has a bug" -> coding
  "hello there" → triage_3
  "what is the weather" -> fallback
  "integrate x squared" -> "math questions"
  "unknown" -> nowhere
}
