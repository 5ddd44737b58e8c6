// Source text → tokens → blocks. The lexer runs once over the whole file;
// the token stream is then cut at top-level block keywords and each piece is
// parsed on its own. That gives error recovery for free (a typo costs only
// its own block) and keeps each Earley chart small, so big policies parse in
// time linear in their size.
import nearley from "nearley";
import type { Token } from "moo";
import grammar from "./policy.generated.js";
import type { Block, Comment, PolicyFile, Span, SyntaxProblem } from "./ast.ts";

/**
 * Limits that keep a hostile or runaway source from exhausting the stack or
 * the regex engine in any later stage (docs/language.md, "Limits"). Every
 * stage after the parser (lowering, analysis, formatter, engine) recurses over
 * conditions and values, and a left-associative chain `a and b and …` is as
 * deep as it is long, so bounding brackets and operators per block here bounds
 * the depth everywhere. A block over a limit is reported and not parsed.
 */
export const PARSE_LIMITS = {
  /** Characters in one file (the CLI refuses a file of more bytes before reading it). */
  maxSourceChars: 8 * 1024 * 1024,
  /** Characters in one line; bounds every token, since strings and comments end at the line. */
  maxLineChars: 1024 * 1024,
  /** Brackets `(`, `[`, `{` open at once within one block. */
  maxNesting: 64,
  /** Operators (`and`, `or`, `not`, `+`, `-`, `*`, `/`) in one block. */
  maxOperators: 1000,
} as const;

/** Keywords that open a top-level block. */
export const BLOCK_KEYWORDS: ReadonlySet<string> = new Set([
  "package", "import", "model", "signal", "plugin", "route", "default", "guarantee", "assume", "test",
]);

// fromCompiled takes the start symbol as a second argument; the typings omit it.
const fromCompiled = nearley.Grammar.fromCompiled as (rules: nearley.CompiledRules, start: string) => nearley.Grammar;
const compiledGrammar = fromCompiled(grammar, "block");
// One grammar per block kind, started at that kind's rule: a chunk's first
// token says what it is, and predicting only that rule makes each parser
// cheaper to start. Chunks that start with anything else use `block`.
const grammarFor = new Map([...BLOCK_KEYWORDS, "profile"].map((k) => [k, fromCompiled(grammar, k)]));

/** Feeds nearley a ready-made token array instead of text. */
class TokenArrayLexer {
  private index = 0;
  private readonly tokens: Token[];
  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }
  reset(): void {
    this.index = 0;
  }
  next(): Token | undefined {
    return this.tokens[this.index++];
  }
  save(): object {
    return {};
  }
  formatError(_token: Token, message: string): string {
    return message;
  }
  has(): boolean {
    return true;
  }
}

function tokenSpan(tok: Token): Span {
  return {
    start: { offset: tok.offset, line: tok.line, col: tok.col },
    end: { offset: tok.offset + tok.text.length, line: tok.line, col: tok.col + tok.text.length },
  };
}

/** How a token is named in "expected …" lists and "found …" messages. */
export function describeToken(tok: Token): string {
  switch (tok.type) {
    case "ident":
      return `name \`${tok.text}\``;
    case "string":
      return `string ${tok.text.length > 30 ? tok.text.slice(0, 27) + '..."' : tok.text}`;
    case "number":
      return `number ${tok.text}`;
    case "invalid":
      return `character ${JSON.stringify(tok.text)}`;
    default:
      return `\`${tok.text}\``;
  }
}

const TYPE_NAMES: Record<string, string> = { ident: "a name", string: "a string", number: "a number" };

interface NearleyState {
  rule: { symbols: unknown[] };
  dot: number;
}

/** The terminals some live parse state could have accepted next. */
function expectedAt(parser: nearley.Parser, column: number): string[] {
  const table = (parser as unknown as { table: { states: NearleyState[] }[] }).table;
  const out = new Set<string>();
  for (const state of table[column]?.states ?? []) {
    const sym = state.rule.symbols[state.dot] as { literal?: string; type?: string } | string | undefined;
    if (sym === undefined || typeof sym === "string") continue;
    if (sym.literal !== undefined) out.add(`\`${sym.literal}\``);
    else if (sym.type !== undefined) out.add(TYPE_NAMES[sym.type] ?? sym.type);
  }
  return [...out].sort();
}

/** The name a block that failed to parse was declaring, so references to it do not cascade into more errors. */
function declaredName(tokens: Token[]): string | null {
  const at = tokens[0]?.value === "signal" || tokens[0]?.value === "plugin" ? 2 : 1;
  const named = ["model", "signal", "plugin", "route", "profile"].includes(tokens[0]?.value);
  const tok = tokens[at];
  return named && tok?.type === "ident" ? tok.value : null;
}

function parseChunk(tokens: Token[]): { block: Block | null; problem: SyntaxProblem | null } {
  const start = tokens[0].type === "kw" || isProfileHead(tokens, 0) ? grammarFor.get(tokens[0].value) : undefined;
  // keepHistory: nearley otherwise `delete`s each finished column, which turns its table into a slow holey array; a block's chart is small.
  const parser = new nearley.Parser(start ?? compiledGrammar, { lexer: new TokenArrayLexer(tokens) as never, keepHistory: true });
  try {
    parser.feed("");
  } catch (err) {
    const e = err as { token?: Token; offset?: number };
    if (e.token === undefined || e.offset === undefined) throw err;
    const tok = e.token;
    if (tok.type === "invalid") {
      return { block: null, problem: invalidCharacter(tok) };
    }
    return {
      block: null,
      problem: { kind: "unexpected-token", span: tokenSpan(tok), found: describeToken(tok), expected: expectedAt(parser, e.offset) },
    };
  }
  if (parser.results.length === 0) {
    const last = tokens[tokens.length - 1];
    const span = tokenSpan(last);
    return {
      block: null,
      problem: {
        kind: "unexpected-end",
        span: { start: span.end, end: span.end },
        found: "the end of the block",
        expected: expectedAt(parser, tokens.length),
      },
    };
  }
  // The grammar is unambiguous; more than one result would be a grammar bug
  // that the grammar tests catch, so taking the first is safe here.
  return { block: parser.results[0] as Block, problem: null };
}

function invalidCharacter(tok: Token): SyntaxProblem {
  return { kind: "invalid-character", span: tokenSpan(tok), found: tok.text, expected: [] };
}

const OPERATORS = new Set(["and", "or", "not", "+", "-", "*", "/"]);

function limitProblem(span: Span, found: string, help: string): SyntaxProblem {
  return { kind: "limit", span, found, expected: [], help };
}

/**
 * Cuts the token stream into top-level blocks, handing each to `onChunk` as
 * soon as it is complete, so a block's tokens die young instead of the whole
 * file's tokens living until parsing ends. Comments are collected. A block
 * that goes over the nesting or operator limit is handed over with the
 * problem, and its tokens after that point are dropped unseen (an 8 MiB run of
 * `(` costs no memory).
 */
function splitBlocks(source: string, onChunk: (tokens: Token[], limit: SyntaxProblem | null) => void): Comment[] {
  const lexer = grammar.Lexer;
  lexer.reset(source);
  const comments: Comment[] = [];
  let current: Token[] | null = null;
  let depth = 0;
  let operators = 0;
  let limit: SyntaxProblem | null = null;
  let lastCodeLine = 0;
  for (const tok of lexer as Iterable<Token>) {
    if (tok.type === "ws") continue;
    if (tok.type === "comment") {
      comments.push({ text: tok.text.trimEnd(), span: tokenSpan(tok), trailing: lastCodeLine === tok.line });
      continue;
    }
    lastCodeLine = tok.line;
    // A block keyword starts a new block at depth 0, or in column 1 even inside
    // braces: then an unclosed `{` above costs only its own block.
    const startsBlock = tok.type === "kw" && BLOCK_KEYWORDS.has(tok.value) && (depth === 0 || tok.col === 1);
    if (startsBlock || current === null) {
      if (current !== null) onChunk(current, limit);
      current = [];
      depth = 0;
      operators = 0;
      limit = null;
    }
    // `profile <name> {` at depth 0 starts a block though `profile` is no keyword: the two words go to a block of their own.
    if (tok.value === "{" && depth === 0 && current.length > 2 && isProfileHead(current, current.length - 2) && !(current.length === 3 && (current[0].value === "signal" || current[0].value === "plugin"))) {
      const head: Token[] = current.splice(current.length - 2, 2);
      onChunk(current, limit);
      current = head;
      operators = 0;
      limit = null;
    }
    if (tok.value === "{" || tok.value === "[" || tok.value === "(") {
      if (++depth > PARSE_LIMITS.maxNesting && limit === null) {
        limit = limitProblem(tokenSpan(tok), `more than ${PARSE_LIMITS.maxNesting} brackets open at once`, "flatten the expression, or name a part of it as its own signal or route");
      }
    } else if (tok.value === "}" || tok.value === "]" || tok.value === ")") {
      depth = Math.max(0, depth - 1);
    } else if (OPERATORS.has(tok.value) && (tok.type === "kw" || tok.type === "op")) {
      if (++operators > PARSE_LIMITS.maxOperators && limit === null) {
        limit = limitProblem(tokenSpan(tok), `more than ${PARSE_LIMITS.maxOperators} operators (\`and\`, \`or\`, \`not\`, arithmetic) in one block`, "split the condition over several routes, or match many words with one keyword signal");
      }
    }
    if (limit === null) current!.push(tok);
  }
  if (current !== null) onChunk(current, limit);
  return comments;
}

/** Whether tokens[i], tokens[i + 1] are `profile <name>`: the head of a profile block when `{` follows. */
function isProfileHead(tokens: Token[], i: number): boolean {
  return tokens[i]?.type === "ident" && tokens[i].value === "profile" && tokens[i + 1]?.type === "ident";
}

/** A file too large or with a line too long to lex safely; its text is then not looked at again (or echoed). */
function sourceLimitProblem(source: string): SyntaxProblem | null {
  const at = { offset: 0, line: 1, col: 1 };
  if (source.length > PARSE_LIMITS.maxSourceChars) {
    return limitProblem({ start: at, end: at }, `the file has ${source.length} characters, more than the limit of ${PARSE_LIMITS.maxSourceChars}`, "split the policy into files that import each other");
  }
  let line = 1;
  for (let start = 0; start <= source.length; line++) {
    const nl = source.indexOf("\n", start);
    const end = nl === -1 ? source.length : nl;
    if (end - start > PARSE_LIMITS.maxLineChars) {
      const pos = { offset: start, line, col: 1 };
      return limitProblem({ start: pos, end: pos }, `line ${line} has ${end - start} characters, more than the limit of ${PARSE_LIMITS.maxLineChars}`, "break the line; long lists can span lines");
    }
    if (nl === -1) break;
    start = nl + 1;
  }
  return null;
}

/** Stage 1: parse one file. Never throws on bad input. */
export function parseFile(path: string, source: string): PolicyFile {
  const tooBig = sourceLimitProblem(source);
  // The text is dropped so that nothing downstream lexes, renders or echoes it.
  if (tooBig) return { path, source: "", blocks: [], comments: [], problems: [tooBig], brokenNames: [] };
  const problems: SyntaxProblem[] = [];
  const blocks: Block[] = [];
  const brokenNames: string[] = [];
  const comments = splitBlocks(source, (chunk, limit) => {
    const { block, problem } = limit ? { block: null, problem: limit } : parseChunk(chunk);
    if (block) blocks.push(block);
    if (problem) {
      problems.push(problem);
      const name = declaredName(chunk);
      if (name !== null) brokenNames.push(name);
    }
  });
  return { path, source, blocks, comments, problems, brokenNames };
}

/** How many parses each block of a source has: 1 everywhere for an unambiguous grammar (a grammar test). */
export function countParses(source: string): number[] {
  if (sourceLimitProblem(source)) return [];
  const counts: number[] = [];
  splitBlocks(source, (tokens, limit) => {
    if (limit) {
      counts.push(0);
      return;
    }
    const parser = new nearley.Parser(compiledGrammar, { lexer: new TokenArrayLexer(tokens) as never });
    parser.feed("");
    counts.push(parser.results.length);
  });
  return counts;
}

/** All tokens of a source, for tools (fuzzing, highlighting). */
export function tokenize(source: string): Token[] {
  const lexer = grammar.Lexer;
  lexer.reset(source);
  return [...(lexer as Iterable<Token>)];
}
