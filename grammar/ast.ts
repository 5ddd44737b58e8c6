// The syntax tree of one `.route` file: what the parser produces, with a span
// on every node so that later stages can point at the exact text they judge.

export interface Pos {
  offset: number;
  line: number; // 1-based
  col: number; // 1-based
}

export interface Span {
  start: Pos;
  end: Pos;
}

export interface Name {
  name: string;
  span: Span;
}

export interface StringLit {
  kind: "string";
  value: string;
  span: Span;
}
export interface NumberLit {
  kind: "number";
  value: number;
  span: Span;
}
export interface BoolLit {
  kind: "bool";
  value: boolean;
  span: Span;
}
export interface IdentValue {
  kind: "ident";
  /** A name; `jb.score` (with dots) names a signal's output in a derived score's `value`. */
  name: string;
  span: Span;
}
export interface ListValue {
  kind: "list";
  items: Value[];
  span: Span;
}
export interface ObjectValue {
  kind: "object";
  fields: Field[];
  span: Span;
}
/** Arithmetic over names and numbers; only meaningful in `objective` and a score signal's `value`. */
export interface ArithValue {
  kind: "arith";
  op: "+" | "-" | "*" | "/";
  left: Value;
  right: Value;
  span: Span;
}
export type Value = StringLit | NumberLit | BoolLit | IdentValue | ListValue | ObjectValue | ArithValue;

export interface Field {
  key: Name;
  value: Value;
  span: Span;
}

// ---- conditions

export interface RefExpr {
  kind: "ref";
  path: Name[]; // `jb`, `topic.code`, `model.tags`
  span: Span;
}
export interface LiteralExpr {
  kind: "literal";
  value: Value;
  span: Span;
}
export interface NotExpr {
  kind: "not";
  arg: Expr;
  span: Span;
}
export interface BinaryExpr {
  kind: "and" | "or";
  left: Expr;
  right: Expr;
  span: Span;
}
export type CompareOp = "==" | "!=" | ">" | ">=" | "<" | "<=" | "in" | "has";
export interface CompareExpr {
  kind: "compare";
  op: CompareOp;
  left: Expr;
  right: Expr;
  span: Span;
}
/** `applies pii_redact`: only meaningful inside a guarantee's `require`. */
export interface AppliesExpr {
  kind: "applies";
  plugin: Name;
  span: Span;
}
/** Parentheses are kept so that the formatter can print them back. */
export interface ParenExpr {
  kind: "paren";
  expr: Expr;
  span: Span;
}
export type Expr = RefExpr | LiteralExpr | NotExpr | BinaryExpr | CompareExpr | AppliesExpr | ParenExpr;

// ---- blocks

export interface PackageDecl {
  kind: "package";
  name: Name;
  span: Span;
}
export interface ImportDecl {
  kind: "import";
  path: StringLit;
  span: Span;
}
export interface ModelDecl {
  kind: "model";
  name: Name;
  body: ObjectValue;
  span: Span;
}
export interface SignalDecl {
  kind: "signal";
  type: Name;
  name: Name;
  body: ObjectValue;
  span: Span;
}
export interface PluginDecl {
  kind: "plugin";
  type: Name;
  name: Name;
  body: ObjectValue;
  span: Span;
}

export interface WhenStmt {
  kind: "when";
  expr: Expr;
  span: Span;
}
/** `use a fallback b { max_tokens: 512 } fallback c` */
export interface UseStmt {
  kind: "use";
  models: Name[];
  /** Per model, in the same order: its `{ ... }` parameters, or null. */
  params: (ObjectValue | null)[];
  span: Span;
}
export interface SelectStmt {
  kind: "select";
  algorithm: Name;
  body: ObjectValue;
  span: Span;
}
export interface ApplyItem {
  name: Name;
  overrides: ObjectValue | null;
  span: Span;
}
export interface ApplyStmt {
  kind: "apply";
  plugins: ApplyItem[];
  span: Span;
}
export type RouteStmt = WhenStmt | UseStmt | SelectStmt | ApplyStmt;

export interface RouteDecl {
  kind: "route";
  name: Name;
  /** `route x in coding priority …`: the profile it belongs to; null: the policy's own routes. */
  profile: Name | null;
  priority: NumberLit;
  /** Routes of equal priority this one wins against. */
  before: Name[];
  body: RouteStmt[];
  span: Span;
  bodySpan: Span;
}
export interface DefaultDecl {
  kind: "default";
  /** `default in coding { … }`; null: the policy's own default. */
  profile: Name | null;
  body: RouteStmt[];
  span: Span;
  bodySpan: Span;
}
export interface GuaranteeDecl {
  kind: "guarantee";
  name: StringLit;
  when: Expr | null;
  require: Expr;
  span: Span;
}

/** `assume "…" { when … require … }`: a relation between signals the analysis takes as given. */
export interface AssumeDecl {
  kind: "assume";
  name: StringLit;
  when: Expr | null;
  require: Expr;
  span: Span;
}

export interface RequestStmt {
  kind: "request";
  body: ObjectValue;
  span: Span;
}
export type ExpectItem =
  | { kind: "route"; target: Name; span: Span }
  | { kind: "model"; target: Name; span: Span }
  | { kind: "plugins"; list: ListValue; span: Span }
  | { kind: "blocked"; span: Span }
  | { kind: "allowed"; span: Span };
export interface ExpectStmt {
  kind: "expect";
  items: ExpectItem[];
  span: Span;
}
export type TestStmt = RequestStmt | ExpectStmt;
export interface TestDecl {
  kind: "test";
  name: StringLit;
  body: TestStmt[];
  span: Span;
}

/** `profile coding { models: [...], path_prefix: "/coding" }`: requests for these model names or under this path prefix get this profile's routes. */
export interface ProfileDecl {
  kind: "profile";
  name: Name;
  body: ObjectValue;
  span: Span;
}
export type Block =
  | ProfileDecl
  | PackageDecl
  | ImportDecl
  | ModelDecl
  | SignalDecl
  | PluginDecl
  | RouteDecl
  | DefaultDecl
  | GuaranteeDecl
  | AssumeDecl
  | TestDecl;

export interface Comment {
  text: string; // including the leading '#'
  span: Span;
  /** True when code precedes the comment on its line. */
  trailing: boolean;
}

/** A problem the parser met. The compiler turns these into diagnostics. */
export interface SyntaxProblem {
  /** `limit`: the file or a block exceeds one of the parser's limits (see LIMITS in parse.ts); `found` says which. */
  kind: "invalid-character" | "unexpected-token" | "unexpected-end" | "limit";
  span: Span;
  found: string;
  expected: string[];
  /** How to get under the limit (`limit` problems). */
  help?: string;
}

/** Pipeline stage 1: one parsed file. */
export interface PolicyFile {
  path: string;
  source: string;
  blocks: Block[];
  comments: Comment[];
  problems: SyntaxProblem[];
  /** Names declared by blocks that failed to parse; references to them are not reported again. */
  brokenNames: string[];
}
