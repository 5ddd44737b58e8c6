// The .route language's syntax: lexer, grammar and parser, and the AST they build.
export { parseFile, tokenize, describeToken, countParses, BLOCK_KEYWORDS, PARSE_LIMITS } from "./parse.ts";
export type {
  Pos, Span, Name, StringLit, NumberLit, BoolLit, IdentValue, ListValue, ObjectValue, ArithValue, Value, Field,
  RefExpr, LiteralExpr, NotExpr, BinaryExpr, CompareOp, CompareExpr, AppliesExpr, ParenExpr, Expr,
  PackageDecl, ImportDecl, ModelDecl, SignalDecl, PluginDecl, WhenStmt, UseStmt, SelectStmt, ApplyItem, ApplyStmt,
  RouteStmt, RouteDecl, DefaultDecl, GuaranteeDecl, AssumeDecl, RequestStmt, ExpectItem, ExpectStmt, TestStmt, TestDecl, Block,
  Comment, SyntaxProblem, PolicyFile,
} from "./ast.ts";
