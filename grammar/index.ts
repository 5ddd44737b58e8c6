// The .route language's syntax: lexer, grammar and parser, and the AST they build.
export { parseFile, tokenize, describeToken, countParses, BLOCK_KEYWORDS, PARSE_LIMITS } from "./parse.ts";
export type {
  Pos, Span, Name, StringLit, NumberLit, BoolLit, IdentValue, ListValue, ObjectValue, ArithValue, Value, Field,
  RefExpr, LiteralExpr, NotExpr, BinaryExpr, CompareOp, CompareExpr, AppliesExpr, ParenExpr, Expr,
  PackageDecl, ImportDecl, ModelDecl, ProfileDecl, SignalDecl, PluginDecl, WhenStmt, UseStmt, SelectStmt, ApplyItem, ApplyStmt,
  RouteStmt, RouteDecl, DefaultDecl, GuaranteeDecl, AssumeDecl, RequestStmt, ExpectItem, ExpectStmt, TestStmt, TestDecl, Block,
  Comment, SyntaxProblem, PolicyFile,
} from "./ast.ts";
// vLLM Semantic Router's DSL, for `routeplane import vllm-sr` (docs/adr/0022-importing-vllm-sr.md).
export { parseVllmSr, VLLM_SR_LIMITS } from "./vllm-sr.ts";
export type {
  VPos, VString, VNumber, VBool, VIdent, VArray, VObject, VValue, VField, VOption, VSignalRef, VNot, VBinary, VExpr,
  VModelRef, VAlgorithm, VPluginRef, VCandidateFor, VEmit, VAction, VRouteItem, VSignalDecl, VSignalGroupDecl, VProjectionDecl,
  VRouteDecl, VTreeBranch, VDecisionTreeDecl, VModelDecl, VPluginDecl, VTestEntry, VTestDecl, VBackendDecl, VGlobalDecl,
  VRoutingDecl, VEntrypointDecl, VRecipeEntry, VRecipeDecl, VTopLevel, VSyntaxError, VProgram,
} from "./vllm-sr-ast.ts";
