// A parser for vLLM Semantic Router's routing DSL (`recipe.dsl`), for
// `routeplane import vllm-sr`. Written from the DSL's grammar, not from its
// code (docs/adr/0022-importing-vllm-sr.md): a moo lexer with the DSL's token
// rules, and recursive descent over the grammar below, which is the union of
// what the DSL has accepted across its versions. Keywords are ordinary words
// the grammar expects in a place, as in the DSL, so `MODEL` can still name a
// field. Errors say file:line:col, what was found and what was expected;
// after one, parsing resumes at the next top-level keyword, so one mistake
// does not hide the rest. Bad input never throws.
//
//   program      = toplevel*
//   toplevel     = ROUTING '{' field* '}' | ENTRYPOINT '{' field* '}' | GLOBAL '{' field* '}'
//                | RECIPE name options? '{' recipeEntry* '}'
//                | SIGNAL word name '{' field* '}' | SIGNAL_GROUP name '{' field* '}'
//                | PROJECTION (partition|score|mapping) name '{' field* '}'
//                | ROUTE name options? '{' routeItem* '}'
//                | DECISION_TREE name '{' IF expr '{' treeItem* '}' (ELSE IF expr '{' treeItem* '}')* ELSE '{' treeItem* '}' '}'
//                | MODEL name '{' field* '}' | PLUGIN name word '{' field* '}' | BACKEND word name '{' field* '}'
//                | TEST name '{' (string ('->'|'→') name)* '}'
//   recipeEntry  = ROUTING … | SIGNAL … | SIGNAL_GROUP … | PROJECTION … | ROUTE … | DECISION_TREE … | PLUGIN … | TEST …
//   options      = '(' (word '=' value ','?)* ')'
//   routeItem    = PRIORITY int | TIER int | WHEN expr | MODEL models | ALGORITHM word ('{' field* '}')?
//                | PLUGIN name ('{' field* '}')? | DESCRIPTION string | ACTION word name | for | EMIT word '{' field* '}'
//   treeItem     = NAME name | DESCRIPTION string | TIER int | MODEL models | ALGORITHM … | PLUGIN … | for | EMIT …
//   for          = FOR word IN (name | '[' models ']') '{' (MODEL models)* '}'
//   models       = modelRef (',' modelRef)* ','?      modelRef = name ('(' word '=' value (',' word '=' value)* ','? ')')?
//   expr         = and (OR and)*      and = factor (AND factor)*
//   factor       = NOT factor | '(' expr ')' | word '(' name field* ')'
//   field        = ','? word ':' value
//   value        = string | float | int | true | false | word | '[' (value (',' value)* ','?)? ']' | '{' field* '}'
//   name         = word | string
import moo from "moo";
import type {
  VAlgorithm, VCandidateFor, VExpr, VField, VModelRef, VNumber, VOption, VPluginRef, VPos, VProgram, VRecipeEntry,
  VRouteItem, VSyntaxError, VTestEntry, VTopLevel, VTreeBranch, VValue,
} from "./vllm-sr-ast.ts";

/**
 * Limits that keep a hostile or runaway `.dsl` from exhausting the importer
 * (docs/migrating-from-vllm-sr.md, "Limits"). The maintained recipes are
 * under 64 KB with brackets nested a few levels deep.
 */
export const VLLM_SR_LIMITS = {
  /** Bytes (or characters) in one `.dsl` file; the CLI refuses a larger file before reading it. */
  maxSourceBytes: 2 * 1024 * 1024,
  /** Brackets, braces, parentheses and `NOT`s open at once. */
  maxNesting: 64,
  /** Syntax errors reported before the parser stops looking for more. */
  maxErrors: 20,
} as const;

const TOP_KEYWORDS = new Set([
  "ROUTING", "ENTRYPOINT", "RECIPE", "SIGNAL", "SIGNAL_GROUP", "PROJECTION", "ROUTE", "DECISION_TREE", "MODEL", "PLUGIN", "TEST", "BACKEND", "GLOBAL",
]);
const RECIPE_KEYWORDS = new Set(["ROUTING", "SIGNAL", "SIGNAL_GROUP", "PROJECTION", "ROUTE", "DECISION_TREE", "PLUGIN", "TEST"]);

const lexer = moo.compile({
  ws: { match: /\s+/, lineBreaks: true },
  comment: /#[^\n]*/,
  float: /[+-]?[0-9]+\.[0-9]+/,
  int: /[+-]?[0-9]+/,
  // Strings may span lines, as in the DSL; one without its closing quote runs to the end of the file.
  string: { match: /"(?:[^"\\]|\\[^])*"/, lineBreaks: true },
  unterminated: { match: /"(?:[^"\\]|\\[^])*/, lineBreaks: true },
  arrow: ["->", "→"],
  word: /[a-zA-Z_][a-zA-Z0-9_\-./]*/,
  punct: ["{", "}", "(", ")", "[", "]", ":", ",", "=", ">"],
  invalid: { match: /[^]/, lineBreaks: true },
});

interface Tok {
  type: string;
  text: string;
  line: number;
  col: number;
}

class ParseError extends Error {
  readonly at: VPos;
  constructor(at: VPos, message: string) {
    super(message);
    this.at = at;
  }
}

/** Go-style string literal: `\n`, `\t`, `\"`, `\\`, `\uXXXX`, `\xHH`; anything else after `\` stands for itself. */
function unquote(text: string): string {
  const body = text.slice(1, -1);
  return body.replace(/\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[^])/g, (_m, e: string) => {
    switch (e[0]) {
      case "n": return "\n";
      case "t": return "\t";
      case "r": return "\r";
      case "a": return "\x07";
      case "b": return "\b";
      case "f": return "\f";
      case "v": return "\v";
      case "u":
      case "U": {
        const cp = parseInt(e.slice(1), 16);
        return cp <= 0x10ffff ? String.fromCodePoint(cp) : "\ufffd";
      }
      case "x": return String.fromCharCode(parseInt(e.slice(1), 16));
      default: return e;
    }
  });
}

function describe(tok: Tok | undefined): string {
  if (!tok) return "the end of the file";
  switch (tok.type) {
    case "word": return `\`${tok.text.length > 40 ? tok.text.slice(0, 37) + "..." : tok.text}\``;
    case "string": return `string ${tok.text.length > 32 ? tok.text.slice(0, 29) + '..."' : tok.text}`;
    case "float":
    case "int": return `number ${tok.text}`;
    default: return `\`${tok.text}\``;
  }
}

class Parser {
  private i = 0;
  private depth = 0;
  private readonly toks: Tok[];
  constructor(toks: Tok[]) {
    this.toks = toks;
  }

  private peek(k = 0): Tok | undefined {
    return this.toks[this.i + k];
  }
  private posOf(tok: Tok | undefined): VPos {
    if (tok) return { line: tok.line, col: tok.col };
    const last = this.toks[this.toks.length - 1];
    if (!last) return { line: 1, col: 1 };
    const lines = last.text.split("\n");
    return lines.length > 1 ? { line: last.line + lines.length - 1, col: lines[lines.length - 1].length + 1 } : { line: last.line, col: last.col + last.text.length };
  }
  private here(): VPos {
    return this.posOf(this.peek());
  }
  private fail(expected: string): never {
    throw new ParseError(this.here(), `expected ${expected}, found ${describe(this.peek())}`);
  }
  private isWord(text?: string, k = 0): boolean {
    const t = this.peek(k);
    return t !== undefined && t.type === "word" && (text === undefined || t.text === text);
  }
  private isPunct(p: string, k = 0): boolean {
    const t = this.peek(k);
    return t !== undefined && t.type === "punct" && t.text === p;
  }
  private next(): Tok {
    return this.toks[this.i++];
  }
  private keyword(word: string, what: string): Tok {
    if (!this.isWord(word)) this.fail(what);
    return this.next();
  }
  private word(what: string): Tok {
    if (!this.isWord()) this.fail(what);
    return this.next();
  }
  private punct(p: string, what: string): Tok {
    if (!this.isPunct(p)) this.fail(what);
    return this.next();
  }
  private open(p: string, what: string): Tok {
    const t = this.punct(p, what);
    this.enter(t);
    return t;
  }
  private enter(t: Tok): void {
    if (++this.depth > VLLM_SR_LIMITS.maxNesting) {
      throw new ParseError(this.posOf(t), `more than ${VLLM_SR_LIMITS.maxNesting} brackets, braces, parentheses or NOTs open at once: flatten the condition or value`);
    }
  }
  private close(p: string, what: string): void {
    this.punct(p, what);
    this.depth--;
  }
  /** A name: a bare word or a string. */
  private name(what: string): { text: string; pos: VPos } {
    const t = this.peek();
    if (t && t.type === "word") {
      this.i++;
      return { text: t.text, pos: this.posOf(t) };
    }
    if (t && t.type === "string") {
      this.i++;
      return { text: unquote(t.text), pos: this.posOf(t) };
    }
    this.fail(what);
  }
  private int(what: string): VNumber {
    const t = this.peek();
    if (!t || t.type !== "int") this.fail(what);
    this.i++;
    return { kind: "number", value: Number(t.text), text: t.text.replace(/^\+/, ""), integer: true, pos: this.posOf(t) };
  }

  // ---- program

  program(errors: VSyntaxError[]): VTopLevel[] {
    const decls: VTopLevel[] = [];
    while (this.peek() && errors.length < VLLM_SR_LIMITS.maxErrors) {
      const start = this.i;
      try {
        this.depth = 0;
        decls.push(this.topLevel());
      } catch (err) {
        if (!(err instanceof ParseError)) throw err;
        errors.push({ pos: err.at, message: err.message });
        this.recover(start);
      }
    }
    return decls;
  }

  /** Skips to the next top-level keyword outside the broken declaration's braces, or in column 1. */
  private recover(start: number): void {
    let depth = 0;
    for (let k = start; k < this.i; k++) {
      const t = this.toks[k];
      if (t.type === "punct" && t.text === "{") depth++;
      else if (t.type === "punct" && t.text === "}") depth--;
    }
    if (this.i === start) this.i++;
    while (this.i < this.toks.length) {
      const t = this.toks[this.i];
      if (t.type === "word" && TOP_KEYWORDS.has(t.text) && (depth <= 0 || t.col === 1)) return;
      if (t.type === "punct" && t.text === "{") depth++;
      else if (t.type === "punct" && t.text === "}") depth--;
      this.i++;
    }
  }

  private topLevel(): VTopLevel {
    const t = this.peek()!;
    if (t.type === "word") {
      switch (t.text) {
        case "ENTRYPOINT":
          this.i++;
          return { kind: "entrypoint", fields: this.fieldBlock("`{` after ENTRYPOINT"), pos: this.posOf(t) };
        case "GLOBAL":
          this.i++;
          return { kind: "global", fields: this.fieldBlock("`{` after GLOBAL"), pos: this.posOf(t) };
        case "RECIPE":
          return this.recipe();
        case "MODEL": {
          this.i++;
          const name = this.name("the model's name (a word or a string) after MODEL");
          return { kind: "model", name: name.text, fields: this.fieldBlock("`{` after the model's name"), pos: this.posOf(t) };
        }
        case "BACKEND": {
          this.i++;
          const type = this.word("the backend's type (vllm_endpoint, provider_profile, …) after BACKEND");
          const name = this.name("the backend's name after its type");
          return { kind: "backend", backendType: type.text, name: name.text, fields: this.fieldBlock("`{` after the backend's name"), pos: this.posOf(t) };
        }
        default:
          if (RECIPE_KEYWORDS.has(t.text)) return this.recipeEntry();
      }
    }
    this.fail("a declaration (SIGNAL, PROJECTION, ROUTE, MODEL, PLUGIN, TEST, DECISION_TREE, RECIPE, ENTRYPOINT, ROUTING, BACKEND, GLOBAL)");
  }

  private recipe(): VTopLevel {
    const t = this.next();
    const name = this.name("the recipe's name after RECIPE");
    const options = this.isPunct("(") ? this.options() : [];
    this.open("{", "`{` to open the recipe's body");
    const entries: VRecipeEntry[] = [];
    while (!this.isPunct("}")) {
      const k = this.peek();
      if (!k) this.fail("`}` to close the recipe");
      if (k.type !== "word" || !RECIPE_KEYWORDS.has(k.text)) {
        if (k.type === "word" && TOP_KEYWORDS.has(k.text)) {
          throw new ParseError(this.posOf(k), `${k.text} cannot be declared inside a RECIPE (models, backends, entry points and GLOBAL are top-level); close the recipe with \`}\` first`);
        }
        this.fail("a declaration inside the recipe (SIGNAL, PROJECTION, ROUTE, DECISION_TREE, PLUGIN, TEST, ROUTING) or `}`");
      }
      entries.push(this.recipeEntry());
    }
    this.close("}", "`}`");
    return { kind: "recipe", name: name.text, options, entries, pos: this.posOf(t) };
  }

  private recipeEntry(): VRecipeEntry {
    const t = this.next();
    const pos = this.posOf(t);
    switch (t.text) {
      case "ROUTING":
        return { kind: "routing", fields: this.fieldBlock("`{` after ROUTING"), pos };
      case "SIGNAL": {
        const type = this.word("the signal's type (keyword, embedding, domain, …) after SIGNAL");
        const name = this.name("the signal's name after its type");
        return { kind: "signal", signalType: type.text, name: name.text, fields: this.fieldBlock("`{` after the signal's name"), pos };
      }
      case "SIGNAL_GROUP": {
        const name = this.name("the group's name after SIGNAL_GROUP");
        return { kind: "signal_group", name: name.text, fields: this.fieldBlock("`{` after the group's name"), pos };
      }
      case "PROJECTION": {
        const kind = this.peek();
        if (!kind || kind.type !== "word" || !["partition", "score", "mapping"].includes(kind.text)) this.fail("`partition`, `score` or `mapping` after PROJECTION");
        this.i++;
        const name = this.name("the projection's name");
        return { kind: "projection", projection: kind.text as "partition" | "score" | "mapping", name: name.text, fields: this.fieldBlock("`{` after the projection's name"), pos };
      }
      case "ROUTE": {
        const name = this.name("the route's name after ROUTE");
        const options = this.isPunct("(") ? this.options() : [];
        this.open("{", "`{` to open the route's body (or `(` for its options)");
        const items: VRouteItem[] = [];
        while (!this.isPunct("}")) items.push(this.routeItem(false));
        this.close("}", "`}`");
        return { kind: "route", name: name.text, options, items, pos };
      }
      case "DECISION_TREE":
        return this.decisionTree(pos);
      case "PLUGIN": {
        const name = this.name("the plugin's name after PLUGIN");
        const type = this.word("the plugin's type (system_prompt, semantic_cache, …) after its name");
        return { kind: "plugin", name: name.text, pluginType: type.text, fields: this.fieldBlock("`{` after the plugin's type"), pos };
      }
      default: {
        // TEST
        const name = this.name("the test block's name after TEST");
        this.open("{", "`{` after the test block's name");
        const entries: VTestEntry[] = [];
        while (!this.isPunct("}")) {
          const q = this.peek();
          if (!q || q.type !== "string") this.fail("a query string (`\"…\" -> route_name`) or `}`");
          this.i++;
          if (this.peek()?.type !== "arrow") this.fail("`->` after the test query");
          this.i++;
          const route = this.name("the expected route's name after `->`");
          entries.push({ query: unquote(q.text), route: route.text, pos: this.posOf(q) });
        }
        this.close("}", "`}`");
        return { kind: "test", name: name.text, entries, pos };
      }
    }
  }

  private decisionTree(pos: VPos): VRecipeEntry {
    const name = this.name("the tree's name after DECISION_TREE");
    this.open("{", "`{` after the tree's name");
    const branches: VTreeBranch[] = [];
    const first = this.keyword("IF", "`IF` to start the decision tree");
    branches.push({ condition: this.expr(), items: this.treeBody(), pos: this.posOf(first) });
    for (;;) {
      const e = this.keyword("ELSE", "`ELSE IF` or `ELSE` (a decision tree ends with ELSE)");
      if (this.isWord("IF")) {
        this.i++;
        branches.push({ condition: this.expr(), items: this.treeBody(), pos: this.posOf(e) });
        continue;
      }
      branches.push({ condition: null, items: this.treeBody(), pos: this.posOf(e) });
      break;
    }
    this.close("}", "`}` to close the decision tree after its ELSE branch");
    return { kind: "decision_tree", name: name.text, branches, pos };
  }

  private treeBody(): VRouteItem[] {
    this.open("{", "`{` to open the branch");
    const items: VRouteItem[] = [];
    while (!this.isPunct("}")) items.push(this.routeItem(true));
    this.close("}", "`}`");
    return items;
  }

  private routeItem(inTree: boolean): VRouteItem {
    const t = this.peek();
    const pos = this.posOf(t);
    const expected = inTree
      ? "a branch statement (NAME, DESCRIPTION, TIER, MODEL, ALGORITHM, PLUGIN, FOR, EMIT) or `}`"
      : "a route statement (PRIORITY, TIER, WHEN, MODEL, ALGORITHM, PLUGIN, DESCRIPTION, ACTION, FOR, EMIT) or `}`";
    if (!t || t.type !== "word") this.fail(expected);
    switch (t.text) {
      case "PRIORITY":
        if (inTree) break;
        this.i++;
        return { kind: "priority", value: this.int("a whole number after PRIORITY"), pos };
      case "TIER":
        this.i++;
        return { kind: "tier", value: this.int("a whole number after TIER"), pos };
      case "WHEN":
        if (inTree) break;
        this.i++;
        return { kind: "when", expr: this.expr(), pos };
      case "MODEL":
        this.i++;
        return { kind: "model", models: this.modelList(), pos };
      case "ALGORITHM":
        this.i++;
        return { kind: "algorithm", algorithm: this.algorithm(), pos };
      case "PLUGIN":
        this.i++;
        return { kind: "plugin", plugin: this.pluginRef(), pos };
      case "DESCRIPTION": {
        this.i++;
        const s = this.peek();
        if (!s || s.type !== "string") this.fail("a string after DESCRIPTION");
        this.i++;
        return { kind: "description", text: unquote(s.text), pos };
      }
      case "ACTION": {
        if (inTree) break;
        this.i++;
        const type = this.word("the action's type after ACTION (e.g. `route`)");
        const dest = this.name("the action's destination");
        return { kind: "action", action: { type: type.text, destination: dest.text, pos }, pos };
      }
      case "NAME": {
        if (!inTree) break;
        this.i++;
        return { kind: "name", name: this.name("the branch's route name after NAME").text, pos };
      }
      case "FOR":
        return { kind: "for", loop: this.candidateFor(), pos };
      case "EMIT": {
        this.i++;
        const kind = this.word("what to emit after EMIT (e.g. `retention`)");
        return { kind: "emit", emit: { kind: kind.text, fields: this.fieldBlock("`{` after EMIT's kind") , pos }, pos };
      }
    }
    this.fail(expected);
  }

  private candidateFor(): VCandidateFor {
    const t = this.next();
    const variable = this.word("the loop variable after FOR");
    this.keyword("IN", "`IN` after the loop variable");
    let source: VCandidateFor["source"];
    if (this.isPunct("[")) {
      this.open("[", "`[`");
      source = { kind: "models", models: this.modelList() };
      this.close("]", "`]` after the model list");
    } else {
      source = { kind: "ref", name: this.name("`decision.candidates` or `[models…]` after IN").text };
    }
    this.open("{", "`{` to open the loop's body");
    const outputs: VModelRef[][] = [];
    while (!this.isPunct("}")) {
      this.keyword("MODEL", "MODEL or `}` in the loop's body");
      outputs.push(this.modelList());
    }
    this.close("}", "`}`");
    return { variable: variable.text, source, outputs, pos: this.posOf(t) };
  }

  private modelList(): VModelRef[] {
    const models = [this.modelRef()];
    while (this.isPunct(",")) {
      this.i++;
      const n = this.peek();
      if (!n || (n.type !== "word" && n.type !== "string") || (n.type === "word" && /^[A-Z_]+$/.test(n.text) && this.isRouteKeyword(n.text))) break;
      models.push(this.modelRef());
    }
    return models;
  }

  private isRouteKeyword(w: string): boolean {
    return ["PRIORITY", "TIER", "WHEN", "MODEL", "ALGORITHM", "PLUGIN", "DESCRIPTION", "ACTION", "FOR", "EMIT", "NAME"].includes(w);
  }

  private modelRef(): VModelRef {
    const t = this.peek();
    const name = this.name("a model name (a string or a word)");
    const options: VOption[] = [];
    if (this.isPunct("(")) {
      this.open("(", "`(`");
      if (!this.isPunct(")")) {
        options.push(this.option("a model option (`reasoning = true`, `effort = \"high\"`, …)"));
        while (this.isPunct(",")) {
          this.i++;
          if (this.isPunct(")")) break;
          options.push(this.option("a model option after `,`"));
        }
      }
      this.close(")", "`,` or `)` in the model's options");
    }
    return { model: name.text, options, pos: this.posOf(t) };
  }

  private option(what: string): VOption {
    const key = this.word(what);
    this.punct("=", `\`=\` after \`${key.text}\``);
    return { key: key.text, value: this.value(), pos: this.posOf(key) };
  }

  /** `( key = value ,? … )` after a ROUTE's or RECIPE's name. */
  private options(): VOption[] {
    this.open("(", "`(`");
    const out: VOption[] = [];
    while (!this.isPunct(")")) {
      out.push(this.option("an option (`description = \"…\"`) or `)`"));
      if (this.isPunct(",")) this.i++;
    }
    this.close(")", "`)`");
    return out;
  }

  private algorithm(): VAlgorithm {
    const t = this.word("the algorithm's type after ALGORITHM (static, confidence, …)");
    const fields = this.isPunct("{") ? this.fieldBlock("`{`") : [];
    return { type: t.text, fields, pos: this.posOf(t) };
  }

  private pluginRef(): VPluginRef {
    const t = this.peek();
    const name = this.name("a plugin's name (a PLUGIN template or a plugin type) after PLUGIN");
    const fields = this.isPunct("{") ? this.fieldBlock("`{`") : null;
    return { name: name.text, fields, pos: this.posOf(t) };
  }

  // ---- conditions

  private expr(): VExpr {
    return this.leftAssoc("OR", "or", () => this.conj());
  }

  private conj(): VExpr {
    return this.leftAssoc("AND", "and", () => this.factor());
  }

  /** `operand (WORD operand)*`, left-associative: OR over AND over NOT. */
  private leftAssoc(word: string, kind: "or" | "and", operand: () => VExpr): VExpr {
    let left = operand();
    while (this.isWord(word)) {
      const op = this.next();
      left = { kind, left, right: operand(), pos: this.posOf(op) };
    }
    return left;
  }

  private factor(): VExpr {
    const t = this.peek();
    if (this.isWord("NOT")) {
      this.i++;
      this.enter(t!);
      const arg = this.factor();
      this.depth--;
      return { kind: "not", arg, pos: this.posOf(t) };
    }
    if (this.isPunct("(")) {
      this.open("(", "`(`");
      const e = this.expr();
      this.close(")", "`AND`, `OR` or `)`");
      return e;
    }
    if (t && t.type === "word" && this.isPunct("(", 1)) {
      this.i++;
      this.open("(", "`(`");
      const name = this.name(`the signal's name in \`${t.text}(…)\`, a string like "math"`);
      const fields: VField[] = [];
      while (!this.isPunct(")")) {
        if (!this.isPunct(",") && !(this.isWord() && this.isPunct(":", 1))) this.fail(`\`)\` to close \`${t.text}(…)\``);
        fields.push(this.field());
      }
      this.close(")", "`)`");
      return { kind: "ref", signalType: t.text, name: name.text, fields, pos: this.posOf(t) };
    }
    this.fail("a condition: a signal reference like `domain(\"math\")`, `NOT`, or `(`");
  }

  // ---- fields and values

  private fieldBlock(what: string): VField[] {
    this.open("{", what);
    const fields: VField[] = [];
    while (!this.isPunct("}")) fields.push(this.field());
    this.close("}", "`}`");
    return fields;
  }

  private field(): VField {
    if (this.isPunct(",")) this.i++;
    const key = this.word("a field (`name: value`) or a closing bracket");
    this.punct(":", `\`:\` after the field name \`${key.text}\``);
    return { key: key.text, value: this.value(), pos: this.posOf(key) };
  }

  private value(): VValue {
    const t = this.peek();
    if (!t) this.fail("a value");
    const pos = this.posOf(t);
    switch (t.type) {
      case "string":
        this.i++;
        return { kind: "string", value: unquote(t.text), pos };
      case "float":
      case "int":
        this.i++;
        return { kind: "number", value: Number(t.text), text: t.text.replace(/^\+/, ""), integer: t.type === "int", pos };
      case "word":
        this.i++;
        if (t.text === "true" || t.text === "false") return { kind: "bool", value: t.text === "true", pos };
        return { kind: "ident", name: t.text, pos };
      case "punct":
        if (t.text === "[") {
          this.open("[", "`[`");
          const items: VValue[] = [];
          if (!this.isPunct("]")) {
            items.push(this.value());
            while (this.isPunct(",")) {
              this.i++;
              if (this.isPunct("]")) break;
              items.push(this.value());
            }
          }
          this.close("]", "`,` or `]` in the list");
          return { kind: "array", items, pos };
        }
        if (t.text === "{") return { kind: "object", fields: this.fieldBlock("`{`"), pos };
    }
    this.fail("a value (a string, number, true/false, word, `[…]` or `{…}`)");
  }
}

/** Tokens without blanks and comments; a lexical error (an unterminated string, a stray character) as a syntax error. */
function lex(source: string): { toks: Tok[]; error: VSyntaxError | null } {
  lexer.reset(source);
  const toks: Tok[] = [];
  for (const t of lexer as Iterable<moo.Token>) {
    if (t.type === "ws" || t.type === "comment") continue;
    const pos = { line: t.line, col: t.col };
    if (t.type === "unterminated") return { toks, error: { pos, message: "unterminated string: this `\"` has no closing `\"` before the end of the file" } };
    if (t.type === "invalid") return { toks, error: { pos, message: `unexpected character ${JSON.stringify(t.text)}` } };
    toks.push({ type: t.type!, text: t.text, line: t.line, col: t.col });
  }
  return { toks, error: null };
}

/**
 * Parses a vLLM Semantic Router DSL program. Never throws on bad input: syntax
 * errors come back in `errors` (positions are 1-based line and column), and
 * the declarations that parsed in `decls`.
 */
export function parseVllmSr(source: string): VProgram {
  if (source.length > VLLM_SR_LIMITS.maxSourceBytes) {
    return { decls: [], errors: [{ pos: { line: 1, col: 1 }, message: `the file has ${source.length} characters, more than the limit of ${VLLM_SR_LIMITS.maxSourceBytes}` }] };
  }
  const { toks, error } = lex(source);
  const errors: VSyntaxError[] = [];
  // Declarations before a lexical error still parse; the error is reported where it is.
  const decls = new Parser(toks).program(errors);
  if (error) {
    // The tokens stop at the lexical error: a declaration cut short there is that error, not a second one.
    const cut = errors.filter((e) => !e.message.endsWith("found the end of the file"));
    errors.length = 0;
    errors.push(...cut, error);
  }
  errors.sort((a, b) => a.pos.line - b.pos.line || a.pos.col - b.pos.col);
  return { decls, errors: errors.slice(0, VLLM_SR_LIMITS.maxErrors) };
}
