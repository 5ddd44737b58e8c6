// The syntax tree of a vLLM Semantic Router DSL program (`recipe.dsl`), as
// grammar/vllm-sr.ts parses it: the union of the constructs the DSL has had
// across its versions (SIGNAL … TEST, BACKEND and GLOBAL of the early DSL,
// SIGNAL_GROUP before it became PROJECTION partition, RECIPE/ENTRYPOINT/ROUTING
// scopes, DECISION_TREE). Every node carries the line and column it starts at,
// so that `routeplane import vllm-sr` can cite `recipe.dsl:42` for each thing
// it approximates or drops. Meaning is the importer's business, not this file's.

export interface VPos {
  line: number; // 1-based
  col: number; // 1-based
}

export interface VString {
  kind: "string";
  value: string;
  pos: VPos;
}
export interface VNumber {
  kind: "number";
  value: number;
  /** As written (`0.50`, `-3`): kept so that the importer prints numbers as the user wrote them. */
  text: string;
  integer: boolean;
  pos: VPos;
}
export interface VBool {
  kind: "bool";
  value: boolean;
  pos: VPos;
}
/** A bare word used as a value (`operator: OR`, `mode: passthrough`); the DSL treats it as a string. */
export interface VIdent {
  kind: "ident";
  name: string;
  pos: VPos;
}
export interface VArray {
  kind: "array";
  items: VValue[];
  pos: VPos;
}
export interface VObject {
  kind: "object";
  fields: VField[];
  pos: VPos;
}
export type VValue = VString | VNumber | VBool | VIdent | VArray | VObject;

/** `key: value` in a block; later duplicates are kept (the importer reports them). */
export interface VField {
  key: string;
  value: VValue;
  pos: VPos;
}

/** `key = value` in a ROUTE's or RECIPE's header, or a model reference's options. */
export interface VOption {
  key: string;
  value: VValue;
  pos: VPos;
}

// ---- WHEN conditions: OR of ANDs of factors, left-associative, as the DSL builds them.

export interface VSignalRef {
  kind: "ref";
  /** `domain` in `domain("math")`. */
  signalType: string;
  /** `math` in `domain("math")`; may hold a level (`complexity("task:hard")`). */
  name: string;
  /** Optional fields after the name: `domain("math", threshold: 0.8)`. */
  fields: VField[];
  pos: VPos;
}
export interface VNot {
  kind: "not";
  arg: VExpr;
  pos: VPos;
}
export interface VBinary {
  kind: "and" | "or";
  left: VExpr;
  right: VExpr;
  pos: VPos;
}
export type VExpr = VSignalRef | VNot | VBinary;

// ---- route bodies

export interface VModelRef {
  /** As written, unquoted: `"qwen/qwen3-8b"` or `gpt-4o`. */
  model: string;
  options: VOption[];
  pos: VPos;
}
export interface VAlgorithm {
  type: string;
  fields: VField[];
  pos: VPos;
}
export interface VPluginRef {
  /** A PLUGIN template's name, or a plugin type used inline. */
  name: string;
  /** Fields that override the template's (or configure the inline plugin); null when no block was written. */
  fields: VField[] | null;
  pos: VPos;
}
/** `FOR m IN decision.candidates { MODEL m }` or `FOR m IN [a, b] { … }`. */
export interface VCandidateFor {
  variable: string;
  source: { kind: "ref"; name: string } | { kind: "models"; models: VModelRef[] };
  outputs: VModelRef[][];
  pos: VPos;
}
export interface VEmit {
  kind: string;
  fields: VField[];
  pos: VPos;
}
export interface VAction {
  type: string;
  destination: string;
  pos: VPos;
}

/** One statement of a ROUTE (or of a DECISION_TREE branch). Repeats are kept in order. */
export type VRouteItem =
  | { kind: "priority"; value: VNumber; pos: VPos }
  | { kind: "tier"; value: VNumber; pos: VPos }
  | { kind: "when"; expr: VExpr; pos: VPos }
  | { kind: "model"; models: VModelRef[]; pos: VPos }
  | { kind: "algorithm"; algorithm: VAlgorithm; pos: VPos }
  | { kind: "plugin"; plugin: VPluginRef; pos: VPos }
  | { kind: "description"; text: string; pos: VPos }
  | { kind: "action"; action: VAction; pos: VPos }
  | { kind: "for"; loop: VCandidateFor; pos: VPos }
  | { kind: "emit"; emit: VEmit; pos: VPos }
  | { kind: "name"; name: string; pos: VPos };

// ---- top-level declarations

export interface VSignalDecl {
  kind: "signal";
  signalType: string;
  name: string;
  fields: VField[];
  pos: VPos;
}
/** `SIGNAL_GROUP name { … }`: the early form of `PROJECTION partition`. */
export interface VSignalGroupDecl {
  kind: "signal_group";
  name: string;
  fields: VField[];
  pos: VPos;
}
export interface VProjectionDecl {
  kind: "projection";
  projection: "partition" | "score" | "mapping";
  name: string;
  fields: VField[];
  pos: VPos;
}
export interface VRouteDecl {
  kind: "route";
  name: string;
  options: VOption[];
  items: VRouteItem[];
  pos: VPos;
}
export interface VTreeBranch {
  /** Null for the final ELSE. */
  condition: VExpr | null;
  items: VRouteItem[];
  pos: VPos;
}
export interface VDecisionTreeDecl {
  kind: "decision_tree";
  name: string;
  branches: VTreeBranch[];
  pos: VPos;
}
export interface VModelDecl {
  kind: "model";
  name: string;
  fields: VField[];
  pos: VPos;
}
export interface VPluginDecl {
  kind: "plugin";
  name: string;
  pluginType: string;
  fields: VField[];
  pos: VPos;
}
export interface VTestEntry {
  query: string;
  route: string;
  pos: VPos;
}
export interface VTestDecl {
  kind: "test";
  name: string;
  entries: VTestEntry[];
  pos: VPos;
}
export interface VBackendDecl {
  kind: "backend";
  backendType: string;
  name: string;
  fields: VField[];
  pos: VPos;
}
export interface VGlobalDecl {
  kind: "global";
  fields: VField[];
  pos: VPos;
}
export interface VRoutingDecl {
  kind: "routing";
  fields: VField[];
  pos: VPos;
}
export interface VEntrypointDecl {
  kind: "entrypoint";
  fields: VField[];
  pos: VPos;
}
/** What a RECIPE's body may hold: everything but MODEL, BACKEND, GLOBAL, ENTRYPOINT and RECIPE. */
export type VRecipeEntry = VRoutingDecl | VSignalDecl | VSignalGroupDecl | VProjectionDecl | VRouteDecl | VDecisionTreeDecl | VPluginDecl | VTestDecl;
export interface VRecipeDecl {
  kind: "recipe";
  name: string;
  options: VOption[];
  entries: VRecipeEntry[];
  pos: VPos;
}

export type VTopLevel = VRecipeEntry | VModelDecl | VBackendDecl | VGlobalDecl | VEntrypointDecl | VRecipeDecl;

/** A parse error: where, what was found, what would have been accepted. */
export interface VSyntaxError {
  pos: VPos;
  message: string;
}

export interface VProgram {
  decls: VTopLevel[];
  /** Empty when the program parsed. A declaration with an error is left out of `decls`. */
  errors: VSyntaxError[];
}
