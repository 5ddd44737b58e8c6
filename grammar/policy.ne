# The .route policy language. Compiled by `npm run build:grammar` into
# policy.generated.js; test/grammar.test.ts fails when that file is stale.
#
# The parser is fed one top-level block at a time (see parse.ts), so the start
# symbol is `block`. Postprocessors only build AST nodes with spans; every
# judgement about meaning belongs to the compiler.

@preprocessor esmodule

@{%
import moo from "moo";

const lexer = moo.compile({
  // Newlines are not significant: one token per run of blank space, lines included.
  ws: { match: /[ \t\r\f\v\n]+/, lineBreaks: true },
  comment: /#[^\n]*/,
  string: /"(?:\\["\\/bfnrt]|\\u[0-9a-fA-F]{4}|[^"\\\n])*"/,
  number: /(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/,
  ident: {
    match: /[A-Za-z_][A-Za-z0-9_]*/,
    type: moo.keywords({
      kw: [
        "package", "import", "model", "signal", "plugin", "route", "default",
        "guarantee", "assume", "test", "when", "use", "fallback", "select", "apply",
        "and", "or", "not", "in", "true", "false",
      ],
    }),
  },
  op: ["==", "!=", ">=", "<=", ">", "<", "+", "-", "*", "/"],
  punct: ["{", "}", "[", "]", "(", ")", ",", ":", ";", "."],
  // Any other single character: the parser reports it and moves on.
  invalid: /[^\n]/,
});

function pos(tok) {
  return { offset: tok.offset, line: tok.line, col: tok.col };
}
function endPos(tok) {
  return { offset: tok.offset + tok.text.length, line: tok.line, col: tok.col + tok.text.length };
}
function tokSpan(tok) {
  return { start: pos(tok), end: endPos(tok) };
}
// Span from the first to the last of a node's parts (tokens or nodes).
function spanOf(first, last) {
  const a = first.span ? first.span.start : pos(first);
  const b = last.span ? last.span.end : endPos(last);
  return { start: a, end: b };
}
function ident(tok) {
  return { name: tok.value, span: tokSpan(tok) };
}
// Raw control characters (a tab inside quotes) are allowed; JSON.parse is not so lenient.
function unquote(text) {
  return JSON.parse(text.replace(/[\u0000-\u001f]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0")));
}
function str(tok) {
  return { kind: "string", value: unquote(tok.text), span: tokSpan(tok) };
}
function num(tok) {
  return { kind: "number", value: Number(tok.text), span: tokSpan(tok) };
}
function binary(kind) {
  return (d) => ({ kind, left: d[0], right: d[2], span: spanOf(d[0], d[2]) });
}
%}

@lexer lexer

block -> package {% id %}
       | import {% id %}
       | model {% id %}
       | signal {% id %}
       | plugin {% id %}
       | route {% id %}
       | default {% id %}
       | guarantee {% id %}
       | assume {% id %}
       | test {% id %}
       | profile {% id %}

package -> "package" qualified
  {% (d) => ({ kind: "package", name: d[1], span: spanOf(d[0], d[1]) }) %}

qualified -> %ident ("." %ident):*
  {% (d) => {
    const parts = [d[0], ...d[1].map((x) => x[1])];
    const last = parts[parts.length - 1];
    return { name: parts.map((t) => t.value).join("."), span: spanOf(d[0], last) };
  } %}

import -> "import" %string
  {% (d) => ({ kind: "import", path: str(d[1]), span: spanOf(d[0], d[1]) }) %}

model -> "model" %ident object
  {% (d) => ({ kind: "model", name: ident(d[1]), body: d[2], span: spanOf(d[0], d[2]) }) %}

signal -> "signal" %ident %ident object
  {% (d) => ({ kind: "signal", type: ident(d[1]), name: ident(d[2]), body: d[3], span: spanOf(d[0], d[3]) }) %}

plugin -> "plugin" %ident %ident object
  {% (d) => ({ kind: "plugin", type: ident(d[1]), name: ident(d[2]), body: d[3], span: spanOf(d[0], d[3]) }) %}

route -> "route" %ident inProfile:? "priority" %number before:? "{" routeStmt:* "}"
  {% (d) => ({
    kind: "route", name: ident(d[1]), profile: d[2], priority: num(d[4]), before: d[5] || [], body: d[7],
    span: spanOf(d[0], d[8]), bodySpan: spanOf(d[6], d[8]),
  }) %}

# `route fix in coding priority 10`, `default in coding { … }`: the route belongs to a profile.
inProfile -> "in" %ident {% (d) => ident(d[1]) %}

# `profile coding { models: ["coding-assistant"], path_prefix: "/coding" }`. `profile` is not a
# reserved word: the block cutter (parse.ts) takes it as a block only as `profile <name> {`.
profile -> "profile" %ident object
  {% (d) => ({ kind: "profile", name: ident(d[1]), body: d[2], span: spanOf(d[0], d[2]) }) %}

before -> "before" %ident ("," %ident):*
  {% (d) => [ident(d[1]), ...d[2].map((x) => ident(x[1]))] %}

default -> "default" inProfile:? "{" routeStmt:* "}"
  {% (d) => ({ kind: "default", profile: d[1], body: d[3], span: spanOf(d[0], d[4]), bodySpan: spanOf(d[2], d[4]) }) %}

routeStmt -> routeStmtBody ";":? {% id %}

routeStmtBody -> "when" expr
    {% (d) => ({ kind: "when", expr: d[1], span: spanOf(d[0], d[1]) }) %}
  | "use" useItem ("fallback" useItem):*
    {% (d) => {
      const items = [d[1], ...d[2].map((x) => x[1])];
      const last = items[items.length - 1];
      return { kind: "use", models: items.map((i) => i.name), params: items.map((i) => i.params), span: spanOf(d[0], last.params || last.name) };
    } %}
  | "select" %ident object
    {% (d) => ({ kind: "select", algorithm: ident(d[1]), body: d[2], span: spanOf(d[0], d[2]) }) %}
  | "apply" applyItem ("," applyItem):*
    {% (d) => {
      const plugins = [d[1], ...d[2].map((x) => x[1])];
      return { kind: "apply", plugins, span: spanOf(d[0], plugins[plugins.length - 1]) };
    } %}

# `use qwen { reasoning: false, max_tokens: 1024 }`: parameters where the route uses the model.
useItem -> %ident object:?
  {% (d) => ({ name: ident(d[0]), params: d[1] }) %}

applyItem -> %ident object:?
  {% (d) => ({ name: ident(d[0]), overrides: d[1], span: d[1] ? spanOf(d[0], d[1]) : tokSpan(d[0]) }) %}

guarantee -> "guarantee" %string "{" ("when" expr ";":?):? "require" expr ";":? "}"
  {% (d) => ({
    kind: "guarantee", name: str(d[1]), when: d[3] ? d[3][1] : null, require: d[5],
    span: spanOf(d[0], d[7]),
  }) %}

# What the analysis may take as true of every request, where it cannot know
# (two classifier classes that never both score high): `when` implies `require`.
assume -> "assume" %string "{" ("when" expr ";":?):? "require" expr ";":? "}"
  {% (d) => ({
    kind: "assume", name: str(d[1]), when: d[3] ? d[3][1] : null, require: d[5],
    span: spanOf(d[0], d[7]),
  }) %}

test -> "test" %string "{" testStmt:* "}"
  {% (d) => ({ kind: "test", name: str(d[1]), body: d[3], span: spanOf(d[0], d[4]) }) %}

testStmt -> testStmtBody ";":? {% id %}

testStmtBody -> "request" object
    {% (d) => ({ kind: "request", body: d[1], span: spanOf(d[0], d[1]) }) %}
  | "expect" expectItem ("," expectItem):*
    {% (d) => {
      const items = [d[1], ...d[2].map((x) => x[1])];
      return { kind: "expect", items, span: spanOf(d[0], items[items.length - 1]) };
    } %}

expectItem -> "route" %ident
    {% (d) => ({ kind: "route", target: ident(d[1]), span: spanOf(d[0], d[1]) }) %}
  | "route" "default"
    {% (d) => ({ kind: "route", target: ident(d[1]), span: spanOf(d[0], d[1]) }) %}
  | "model" %ident
    {% (d) => ({ kind: "model", target: ident(d[1]), span: spanOf(d[0], d[1]) }) %}
  | "plugins" list
    {% (d) => ({ kind: "plugins", list: d[1], span: spanOf(d[0], d[1]) }) %}
  | "blocked"
    {% (d) => ({ kind: "blocked", span: tokSpan(d[0]) }) %}
  | "allowed"
    {% (d) => ({ kind: "allowed", span: tokSpan(d[0]) }) %}

# ---- values: objects, lists and arithmetic (arithmetic only in `objective` and a score's `value`)

object -> "{" field:* "}"
  {% (d) => ({ kind: "object", fields: d[1], span: spanOf(d[0], d[2]) }) %}

field -> fieldKey ":" value ("," | ";"):?
  {% (d) => ({ key: d[0], value: d[2], span: spanOf(d[0], d[2]) }) %}

fieldKey -> %ident {% (d) => ident(d[0]) %}
  | %string {% (d) => ({ name: unquote(d[0].text), span: tokSpan(d[0]) }) %}
  # `default` and `model` are keywords, and a partition's and a test request's fields too.
  | "default" {% (d) => ident(d[0]) %}
  | "model" {% (d) => ident(d[0]) %}

list -> "[" "]"
    {% (d) => ({ kind: "list", items: [], span: spanOf(d[0], d[1]) }) %}
  | "[" value ("," value):* ",":? "]"
    {% (d) => ({ kind: "list", items: [d[1], ...d[2].map((x) => x[1])], span: spanOf(d[0], d[4]) }) %}

value -> sum {% id %}

sum -> sum ("+" | "-") product
    {% (d) => ({ kind: "arith", op: d[1][0].value, left: d[0], right: d[2], span: spanOf(d[0], d[2]) }) %}
  | product {% id %}

product -> product ("*" | "/") unary
    {% (d) => ({ kind: "arith", op: d[1][0].value, left: d[0], right: d[2], span: spanOf(d[0], d[2]) }) %}
  | unary {% id %}

unary -> "-" %number
    {% (d) => ({ kind: "number", value: -Number(d[1].text), span: spanOf(d[0], d[1]) }) %}
  | %string {% (d) => str(d[0]) %}
  | %number {% (d) => num(d[0]) %}
  | "true" {% (d) => ({ kind: "bool", value: true, span: tokSpan(d[0]) }) %}
  | "false" {% (d) => ({ kind: "bool", value: false, span: tokSpan(d[0]) }) %}
  | %ident ("." %ident):*
    {% (d) => {
      // `jb.score` in a derived score's `value`: one name with its dots.
      const parts = [d[0], ...d[1].map((x) => x[1])];
      return { kind: "ident", name: parts.map((t) => t.value).join("."), span: spanOf(d[0], parts[parts.length - 1]) };
    } %}
  | list {% id %}
  | object {% id %}
  | "(" sum ")" {% (d) => d[1] %}

# ---- conditions. Precedence, loosest first: or, and, not, comparison.

expr -> expr "or" conj {% binary("or") %}
  | conj {% id %}

conj -> conj "and" neg {% binary("and") %}
  | neg {% id %}

neg -> "not" neg {% (d) => ({ kind: "not", arg: d[1], span: spanOf(d[0], d[1]) }) %}
  | comparison {% id %}

comparison -> operand cmpOp operand
    {% (d) => ({ kind: "compare", op: d[1].value, left: d[0], right: d[2], span: spanOf(d[0], d[2]) }) %}
  | operand "in" list
    {% (d) => ({ kind: "compare", op: "in", left: d[0], right: { kind: "literal", value: d[2], span: d[2].span }, span: spanOf(d[0], d[2]) }) %}
  | operand "has" operand
    {% (d) => ({ kind: "compare", op: "has", left: d[0], right: d[2], span: spanOf(d[0], d[2]) }) %}
  | operand {% id %}

cmpOp -> "==" {% id %} | "!=" {% id %} | ">" {% id %} | ">=" {% id %} | "<" {% id %} | "<=" {% id %}

operand -> ref {% id %}
  | "applies" %ident {% (d) => ({ kind: "applies", plugin: ident(d[1]), span: spanOf(d[0], d[1]) }) %}
  | %string {% (d) => ({ kind: "literal", value: str(d[0]), span: tokSpan(d[0]) }) %}
  | %number {% (d) => ({ kind: "literal", value: num(d[0]), span: tokSpan(d[0]) }) %}
  | "-" %number {% (d) => ({ kind: "literal", value: { kind: "number", value: -Number(d[1].text), span: spanOf(d[0], d[1]) }, span: spanOf(d[0], d[1]) }) %}
  | "true" {% (d) => ({ kind: "literal", value: { kind: "bool", value: true, span: tokSpan(d[0]) }, span: tokSpan(d[0]) }) %}
  | "false" {% (d) => ({ kind: "literal", value: { kind: "bool", value: false, span: tokSpan(d[0]) }, span: tokSpan(d[0]) }) %}
  | "(" expr ")" {% (d) => ({ kind: "paren", expr: d[1], span: spanOf(d[0], d[2]) }) %}

ref -> refHead ("." %ident):*
  {% (d) => {
    const path = [d[0], ...d[1].map((x) => ident(x[1]))];
    return { kind: "ref", path, span: spanOf(path[0], path[path.length - 1]) };
  } %}

# `model` and `route` are keywords, but guarantees talk about the decision's model.
refHead -> %ident {% (d) => ident(d[0]) %}
  | "model" {% (d) => ident(d[0]) %}
  | "route" {% (d) => ident(d[0]) %}
