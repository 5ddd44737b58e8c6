// Generated automatically by nearley, version 2.20.1
// http://github.com/Hardmath123/nearley
function id(x) { return x[0]; }

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
let Lexer = lexer;
let ParserRules = [
    {"name": "block", "symbols": ["package"], "postprocess": id},
    {"name": "block", "symbols": ["import"], "postprocess": id},
    {"name": "block", "symbols": ["model"], "postprocess": id},
    {"name": "block", "symbols": ["signal"], "postprocess": id},
    {"name": "block", "symbols": ["plugin"], "postprocess": id},
    {"name": "block", "symbols": ["route"], "postprocess": id},
    {"name": "block", "symbols": ["default"], "postprocess": id},
    {"name": "block", "symbols": ["guarantee"], "postprocess": id},
    {"name": "block", "symbols": ["assume"], "postprocess": id},
    {"name": "block", "symbols": ["test"], "postprocess": id},
    {"name": "block", "symbols": ["profile"], "postprocess": id},
    {"name": "package", "symbols": [{"literal":"package"}, "qualified"], "postprocess": (d) => ({ kind: "package", name: d[1], span: spanOf(d[0], d[1]) })},
    {"name": "qualified$ebnf$1", "symbols": []},
    {"name": "qualified$ebnf$1$subexpression$1", "symbols": [{"literal":"."}, (lexer.has("ident") ? {type: "ident"} : ident)]},
    {"name": "qualified$ebnf$1", "symbols": ["qualified$ebnf$1", "qualified$ebnf$1$subexpression$1"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "qualified", "symbols": [(lexer.has("ident") ? {type: "ident"} : ident), "qualified$ebnf$1"], "postprocess":  (d) => {
          const parts = [d[0], ...d[1].map((x) => x[1])];
          const last = parts[parts.length - 1];
          return { name: parts.map((t) => t.value).join("."), span: spanOf(d[0], last) };
        } },
    {"name": "import", "symbols": [{"literal":"import"}, (lexer.has("string") ? {type: "string"} : string)], "postprocess": (d) => ({ kind: "import", path: str(d[1]), span: spanOf(d[0], d[1]) })},
    {"name": "model", "symbols": [{"literal":"model"}, (lexer.has("ident") ? {type: "ident"} : ident), "object"], "postprocess": (d) => ({ kind: "model", name: ident(d[1]), body: d[2], span: spanOf(d[0], d[2]) })},
    {"name": "signal", "symbols": [{"literal":"signal"}, (lexer.has("ident") ? {type: "ident"} : ident), (lexer.has("ident") ? {type: "ident"} : ident), "object"], "postprocess": (d) => ({ kind: "signal", type: ident(d[1]), name: ident(d[2]), body: d[3], span: spanOf(d[0], d[3]) })},
    {"name": "plugin", "symbols": [{"literal":"plugin"}, (lexer.has("ident") ? {type: "ident"} : ident), (lexer.has("ident") ? {type: "ident"} : ident), "object"], "postprocess": (d) => ({ kind: "plugin", type: ident(d[1]), name: ident(d[2]), body: d[3], span: spanOf(d[0], d[3]) })},
    {"name": "route$ebnf$1", "symbols": ["inProfile"], "postprocess": id},
    {"name": "route$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "route$ebnf$2", "symbols": ["before"], "postprocess": id},
    {"name": "route$ebnf$2", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "route$ebnf$3", "symbols": []},
    {"name": "route$ebnf$3", "symbols": ["route$ebnf$3", "routeStmt"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "route", "symbols": [{"literal":"route"}, (lexer.has("ident") ? {type: "ident"} : ident), "route$ebnf$1", {"literal":"priority"}, (lexer.has("number") ? {type: "number"} : number), "route$ebnf$2", {"literal":"{"}, "route$ebnf$3", {"literal":"}"}], "postprocess":  (d) => ({
          kind: "route", name: ident(d[1]), profile: d[2], priority: num(d[4]), before: d[5] || [], body: d[7],
          span: spanOf(d[0], d[8]), bodySpan: spanOf(d[6], d[8]),
        }) },
    {"name": "inProfile", "symbols": [{"literal":"in"}, (lexer.has("ident") ? {type: "ident"} : ident)], "postprocess": (d) => ident(d[1])},
    {"name": "profile", "symbols": [{"literal":"profile"}, (lexer.has("ident") ? {type: "ident"} : ident), "object"], "postprocess": (d) => ({ kind: "profile", name: ident(d[1]), body: d[2], span: spanOf(d[0], d[2]) })},
    {"name": "before$ebnf$1", "symbols": []},
    {"name": "before$ebnf$1$subexpression$1", "symbols": [{"literal":","}, (lexer.has("ident") ? {type: "ident"} : ident)]},
    {"name": "before$ebnf$1", "symbols": ["before$ebnf$1", "before$ebnf$1$subexpression$1"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "before", "symbols": [{"literal":"before"}, (lexer.has("ident") ? {type: "ident"} : ident), "before$ebnf$1"], "postprocess": (d) => [ident(d[1]), ...d[2].map((x) => ident(x[1]))]},
    {"name": "default$ebnf$1", "symbols": ["inProfile"], "postprocess": id},
    {"name": "default$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "default$ebnf$2", "symbols": []},
    {"name": "default$ebnf$2", "symbols": ["default$ebnf$2", "routeStmt"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "default", "symbols": [{"literal":"default"}, "default$ebnf$1", {"literal":"{"}, "default$ebnf$2", {"literal":"}"}], "postprocess": (d) => ({ kind: "default", profile: d[1], body: d[3], span: spanOf(d[0], d[4]), bodySpan: spanOf(d[2], d[4]) })},
    {"name": "routeStmt$ebnf$1", "symbols": [{"literal":";"}], "postprocess": id},
    {"name": "routeStmt$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "routeStmt", "symbols": ["routeStmtBody", "routeStmt$ebnf$1"], "postprocess": id},
    {"name": "routeStmtBody", "symbols": [{"literal":"when"}, "expr"], "postprocess": (d) => ({ kind: "when", expr: d[1], span: spanOf(d[0], d[1]) })},
    {"name": "routeStmtBody$ebnf$1", "symbols": []},
    {"name": "routeStmtBody$ebnf$1$subexpression$1", "symbols": [{"literal":"fallback"}, "useItem"]},
    {"name": "routeStmtBody$ebnf$1", "symbols": ["routeStmtBody$ebnf$1", "routeStmtBody$ebnf$1$subexpression$1"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "routeStmtBody", "symbols": [{"literal":"use"}, "useItem", "routeStmtBody$ebnf$1"], "postprocess":  (d) => {
          const items = [d[1], ...d[2].map((x) => x[1])];
          const last = items[items.length - 1];
          return { kind: "use", models: items.map((i) => i.name), params: items.map((i) => i.params), span: spanOf(d[0], last.params || last.name) };
        } },
    {"name": "routeStmtBody", "symbols": [{"literal":"select"}, (lexer.has("ident") ? {type: "ident"} : ident), "object"], "postprocess": (d) => ({ kind: "select", algorithm: ident(d[1]), body: d[2], span: spanOf(d[0], d[2]) })},
    {"name": "routeStmtBody$ebnf$2", "symbols": []},
    {"name": "routeStmtBody$ebnf$2$subexpression$1", "symbols": [{"literal":","}, "applyItem"]},
    {"name": "routeStmtBody$ebnf$2", "symbols": ["routeStmtBody$ebnf$2", "routeStmtBody$ebnf$2$subexpression$1"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "routeStmtBody", "symbols": [{"literal":"apply"}, "applyItem", "routeStmtBody$ebnf$2"], "postprocess":  (d) => {
          const plugins = [d[1], ...d[2].map((x) => x[1])];
          return { kind: "apply", plugins, span: spanOf(d[0], plugins[plugins.length - 1]) };
        } },
    {"name": "useItem$ebnf$1", "symbols": ["object"], "postprocess": id},
    {"name": "useItem$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "useItem", "symbols": [(lexer.has("ident") ? {type: "ident"} : ident), "useItem$ebnf$1"], "postprocess": (d) => ({ name: ident(d[0]), params: d[1] })},
    {"name": "applyItem$ebnf$1", "symbols": ["object"], "postprocess": id},
    {"name": "applyItem$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "applyItem", "symbols": [(lexer.has("ident") ? {type: "ident"} : ident), "applyItem$ebnf$1"], "postprocess": (d) => ({ name: ident(d[0]), overrides: d[1], span: d[1] ? spanOf(d[0], d[1]) : tokSpan(d[0]) })},
    {"name": "guarantee$ebnf$1$subexpression$1$ebnf$1", "symbols": [{"literal":";"}], "postprocess": id},
    {"name": "guarantee$ebnf$1$subexpression$1$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "guarantee$ebnf$1$subexpression$1", "symbols": [{"literal":"when"}, "expr", "guarantee$ebnf$1$subexpression$1$ebnf$1"]},
    {"name": "guarantee$ebnf$1", "symbols": ["guarantee$ebnf$1$subexpression$1"], "postprocess": id},
    {"name": "guarantee$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "guarantee$ebnf$2", "symbols": [{"literal":";"}], "postprocess": id},
    {"name": "guarantee$ebnf$2", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "guarantee", "symbols": [{"literal":"guarantee"}, (lexer.has("string") ? {type: "string"} : string), {"literal":"{"}, "guarantee$ebnf$1", {"literal":"require"}, "expr", "guarantee$ebnf$2", {"literal":"}"}], "postprocess":  (d) => ({
          kind: "guarantee", name: str(d[1]), when: d[3] ? d[3][1] : null, require: d[5],
          span: spanOf(d[0], d[7]),
        }) },
    {"name": "assume$ebnf$1$subexpression$1$ebnf$1", "symbols": [{"literal":";"}], "postprocess": id},
    {"name": "assume$ebnf$1$subexpression$1$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "assume$ebnf$1$subexpression$1", "symbols": [{"literal":"when"}, "expr", "assume$ebnf$1$subexpression$1$ebnf$1"]},
    {"name": "assume$ebnf$1", "symbols": ["assume$ebnf$1$subexpression$1"], "postprocess": id},
    {"name": "assume$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "assume$ebnf$2", "symbols": [{"literal":";"}], "postprocess": id},
    {"name": "assume$ebnf$2", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "assume", "symbols": [{"literal":"assume"}, (lexer.has("string") ? {type: "string"} : string), {"literal":"{"}, "assume$ebnf$1", {"literal":"require"}, "expr", "assume$ebnf$2", {"literal":"}"}], "postprocess":  (d) => ({
          kind: "assume", name: str(d[1]), when: d[3] ? d[3][1] : null, require: d[5],
          span: spanOf(d[0], d[7]),
        }) },
    {"name": "test$ebnf$1", "symbols": []},
    {"name": "test$ebnf$1", "symbols": ["test$ebnf$1", "testStmt"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "test", "symbols": [{"literal":"test"}, (lexer.has("string") ? {type: "string"} : string), {"literal":"{"}, "test$ebnf$1", {"literal":"}"}], "postprocess": (d) => ({ kind: "test", name: str(d[1]), body: d[3], span: spanOf(d[0], d[4]) })},
    {"name": "testStmt$ebnf$1", "symbols": [{"literal":";"}], "postprocess": id},
    {"name": "testStmt$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "testStmt", "symbols": ["testStmtBody", "testStmt$ebnf$1"], "postprocess": id},
    {"name": "testStmtBody", "symbols": [{"literal":"request"}, "object"], "postprocess": (d) => ({ kind: "request", body: d[1], span: spanOf(d[0], d[1]) })},
    {"name": "testStmtBody$ebnf$1", "symbols": []},
    {"name": "testStmtBody$ebnf$1$subexpression$1", "symbols": [{"literal":","}, "expectItem"]},
    {"name": "testStmtBody$ebnf$1", "symbols": ["testStmtBody$ebnf$1", "testStmtBody$ebnf$1$subexpression$1"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "testStmtBody", "symbols": [{"literal":"expect"}, "expectItem", "testStmtBody$ebnf$1"], "postprocess":  (d) => {
          const items = [d[1], ...d[2].map((x) => x[1])];
          return { kind: "expect", items, span: spanOf(d[0], items[items.length - 1]) };
        } },
    {"name": "expectItem", "symbols": [{"literal":"route"}, (lexer.has("ident") ? {type: "ident"} : ident)], "postprocess": (d) => ({ kind: "route", target: ident(d[1]), span: spanOf(d[0], d[1]) })},
    {"name": "expectItem", "symbols": [{"literal":"route"}, {"literal":"default"}], "postprocess": (d) => ({ kind: "route", target: ident(d[1]), span: spanOf(d[0], d[1]) })},
    {"name": "expectItem", "symbols": [{"literal":"model"}, (lexer.has("ident") ? {type: "ident"} : ident)], "postprocess": (d) => ({ kind: "model", target: ident(d[1]), span: spanOf(d[0], d[1]) })},
    {"name": "expectItem", "symbols": [{"literal":"plugins"}, "list"], "postprocess": (d) => ({ kind: "plugins", list: d[1], span: spanOf(d[0], d[1]) })},
    {"name": "expectItem", "symbols": [{"literal":"blocked"}], "postprocess": (d) => ({ kind: "blocked", span: tokSpan(d[0]) })},
    {"name": "expectItem", "symbols": [{"literal":"allowed"}], "postprocess": (d) => ({ kind: "allowed", span: tokSpan(d[0]) })},
    {"name": "object$ebnf$1", "symbols": []},
    {"name": "object$ebnf$1", "symbols": ["object$ebnf$1", "field"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "object", "symbols": [{"literal":"{"}, "object$ebnf$1", {"literal":"}"}], "postprocess": (d) => ({ kind: "object", fields: d[1], span: spanOf(d[0], d[2]) })},
    {"name": "field$ebnf$1$subexpression$1", "symbols": [{"literal":","}]},
    {"name": "field$ebnf$1$subexpression$1", "symbols": [{"literal":";"}]},
    {"name": "field$ebnf$1", "symbols": ["field$ebnf$1$subexpression$1"], "postprocess": id},
    {"name": "field$ebnf$1", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "field", "symbols": ["fieldKey", {"literal":":"}, "value", "field$ebnf$1"], "postprocess": (d) => ({ key: d[0], value: d[2], span: spanOf(d[0], d[2]) })},
    {"name": "fieldKey", "symbols": [(lexer.has("ident") ? {type: "ident"} : ident)], "postprocess": (d) => ident(d[0])},
    {"name": "fieldKey", "symbols": [(lexer.has("string") ? {type: "string"} : string)], "postprocess": (d) => ({ name: unquote(d[0].text), span: tokSpan(d[0]) })},
    {"name": "fieldKey", "symbols": [{"literal":"default"}], "postprocess": (d) => ident(d[0])},
    {"name": "fieldKey", "symbols": [{"literal":"model"}], "postprocess": (d) => ident(d[0])},
    {"name": "list", "symbols": [{"literal":"["}, {"literal":"]"}], "postprocess": (d) => ({ kind: "list", items: [], span: spanOf(d[0], d[1]) })},
    {"name": "list$ebnf$1", "symbols": []},
    {"name": "list$ebnf$1$subexpression$1", "symbols": [{"literal":","}, "value"]},
    {"name": "list$ebnf$1", "symbols": ["list$ebnf$1", "list$ebnf$1$subexpression$1"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "list$ebnf$2", "symbols": [{"literal":","}], "postprocess": id},
    {"name": "list$ebnf$2", "symbols": [], "postprocess": function(d) {return null;}},
    {"name": "list", "symbols": [{"literal":"["}, "value", "list$ebnf$1", "list$ebnf$2", {"literal":"]"}], "postprocess": (d) => ({ kind: "list", items: [d[1], ...d[2].map((x) => x[1])], span: spanOf(d[0], d[4]) })},
    {"name": "value", "symbols": ["sum"], "postprocess": id},
    {"name": "sum$subexpression$1", "symbols": [{"literal":"+"}]},
    {"name": "sum$subexpression$1", "symbols": [{"literal":"-"}]},
    {"name": "sum", "symbols": ["sum", "sum$subexpression$1", "product"], "postprocess": (d) => ({ kind: "arith", op: d[1][0].value, left: d[0], right: d[2], span: spanOf(d[0], d[2]) })},
    {"name": "sum", "symbols": ["product"], "postprocess": id},
    {"name": "product$subexpression$1", "symbols": [{"literal":"*"}]},
    {"name": "product$subexpression$1", "symbols": [{"literal":"/"}]},
    {"name": "product", "symbols": ["product", "product$subexpression$1", "unary"], "postprocess": (d) => ({ kind: "arith", op: d[1][0].value, left: d[0], right: d[2], span: spanOf(d[0], d[2]) })},
    {"name": "product", "symbols": ["unary"], "postprocess": id},
    {"name": "unary", "symbols": [{"literal":"-"}, (lexer.has("number") ? {type: "number"} : number)], "postprocess": (d) => ({ kind: "number", value: -Number(d[1].text), span: spanOf(d[0], d[1]) })},
    {"name": "unary", "symbols": [(lexer.has("string") ? {type: "string"} : string)], "postprocess": (d) => str(d[0])},
    {"name": "unary", "symbols": [(lexer.has("number") ? {type: "number"} : number)], "postprocess": (d) => num(d[0])},
    {"name": "unary", "symbols": [{"literal":"true"}], "postprocess": (d) => ({ kind: "bool", value: true, span: tokSpan(d[0]) })},
    {"name": "unary", "symbols": [{"literal":"false"}], "postprocess": (d) => ({ kind: "bool", value: false, span: tokSpan(d[0]) })},
    {"name": "unary$ebnf$1", "symbols": []},
    {"name": "unary$ebnf$1$subexpression$1", "symbols": [{"literal":"."}, (lexer.has("ident") ? {type: "ident"} : ident)]},
    {"name": "unary$ebnf$1", "symbols": ["unary$ebnf$1", "unary$ebnf$1$subexpression$1"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "unary", "symbols": [(lexer.has("ident") ? {type: "ident"} : ident), "unary$ebnf$1"], "postprocess":  (d) => {
          // `jb.score` in a derived score's `value`: one name with its dots.
          const parts = [d[0], ...d[1].map((x) => x[1])];
          return { kind: "ident", name: parts.map((t) => t.value).join("."), span: spanOf(d[0], parts[parts.length - 1]) };
        } },
    {"name": "unary", "symbols": ["list"], "postprocess": id},
    {"name": "unary", "symbols": ["object"], "postprocess": id},
    {"name": "unary", "symbols": [{"literal":"("}, "sum", {"literal":")"}], "postprocess": (d) => d[1]},
    {"name": "expr", "symbols": ["expr", {"literal":"or"}, "conj"], "postprocess": binary("or")},
    {"name": "expr", "symbols": ["conj"], "postprocess": id},
    {"name": "conj", "symbols": ["conj", {"literal":"and"}, "neg"], "postprocess": binary("and")},
    {"name": "conj", "symbols": ["neg"], "postprocess": id},
    {"name": "neg", "symbols": [{"literal":"not"}, "neg"], "postprocess": (d) => ({ kind: "not", arg: d[1], span: spanOf(d[0], d[1]) })},
    {"name": "neg", "symbols": ["comparison"], "postprocess": id},
    {"name": "comparison", "symbols": ["operand", "cmpOp", "operand"], "postprocess": (d) => ({ kind: "compare", op: d[1].value, left: d[0], right: d[2], span: spanOf(d[0], d[2]) })},
    {"name": "comparison", "symbols": ["operand", {"literal":"in"}, "list"], "postprocess": (d) => ({ kind: "compare", op: "in", left: d[0], right: { kind: "literal", value: d[2], span: d[2].span }, span: spanOf(d[0], d[2]) })},
    {"name": "comparison", "symbols": ["operand", {"literal":"has"}, "operand"], "postprocess": (d) => ({ kind: "compare", op: "has", left: d[0], right: d[2], span: spanOf(d[0], d[2]) })},
    {"name": "comparison", "symbols": ["operand"], "postprocess": id},
    {"name": "cmpOp", "symbols": [{"literal":"=="}], "postprocess": id},
    {"name": "cmpOp", "symbols": [{"literal":"!="}], "postprocess": id},
    {"name": "cmpOp", "symbols": [{"literal":">"}], "postprocess": id},
    {"name": "cmpOp", "symbols": [{"literal":">="}], "postprocess": id},
    {"name": "cmpOp", "symbols": [{"literal":"<"}], "postprocess": id},
    {"name": "cmpOp", "symbols": [{"literal":"<="}], "postprocess": id},
    {"name": "operand", "symbols": ["ref"], "postprocess": id},
    {"name": "operand", "symbols": [{"literal":"applies"}, (lexer.has("ident") ? {type: "ident"} : ident)], "postprocess": (d) => ({ kind: "applies", plugin: ident(d[1]), span: spanOf(d[0], d[1]) })},
    {"name": "operand", "symbols": [(lexer.has("string") ? {type: "string"} : string)], "postprocess": (d) => ({ kind: "literal", value: str(d[0]), span: tokSpan(d[0]) })},
    {"name": "operand", "symbols": [(lexer.has("number") ? {type: "number"} : number)], "postprocess": (d) => ({ kind: "literal", value: num(d[0]), span: tokSpan(d[0]) })},
    {"name": "operand", "symbols": [{"literal":"-"}, (lexer.has("number") ? {type: "number"} : number)], "postprocess": (d) => ({ kind: "literal", value: { kind: "number", value: -Number(d[1].text), span: spanOf(d[0], d[1]) }, span: spanOf(d[0], d[1]) })},
    {"name": "operand", "symbols": [{"literal":"true"}], "postprocess": (d) => ({ kind: "literal", value: { kind: "bool", value: true, span: tokSpan(d[0]) }, span: tokSpan(d[0]) })},
    {"name": "operand", "symbols": [{"literal":"false"}], "postprocess": (d) => ({ kind: "literal", value: { kind: "bool", value: false, span: tokSpan(d[0]) }, span: tokSpan(d[0]) })},
    {"name": "operand", "symbols": [{"literal":"("}, "expr", {"literal":")"}], "postprocess": (d) => ({ kind: "paren", expr: d[1], span: spanOf(d[0], d[2]) })},
    {"name": "ref$ebnf$1", "symbols": []},
    {"name": "ref$ebnf$1$subexpression$1", "symbols": [{"literal":"."}, (lexer.has("ident") ? {type: "ident"} : ident)]},
    {"name": "ref$ebnf$1", "symbols": ["ref$ebnf$1", "ref$ebnf$1$subexpression$1"], "postprocess": function arrpush(d) {return d[0].concat([d[1]]);}},
    {"name": "ref", "symbols": ["refHead", "ref$ebnf$1"], "postprocess":  (d) => {
          const path = [d[0], ...d[1].map((x) => ident(x[1]))];
          return { kind: "ref", path, span: spanOf(path[0], path[path.length - 1]) };
        } },
    {"name": "refHead", "symbols": [(lexer.has("ident") ? {type: "ident"} : ident)], "postprocess": (d) => ident(d[0])},
    {"name": "refHead", "symbols": [{"literal":"model"}], "postprocess": (d) => ident(d[0])},
    {"name": "refHead", "symbols": [{"literal":"route"}], "postprocess": (d) => ident(d[0])}
];
let ParserStart = "block";
export default { Lexer, ParserRules, ParserStart };
