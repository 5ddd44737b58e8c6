// Types for the parser that nearleyc generates from policy.ne.
import type { CompiledRules } from "nearley";
import type { Lexer } from "moo";

declare const grammar: CompiledRules & { Lexer: Lexer };
export default grammar;
