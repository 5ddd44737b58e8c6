// Helpers to compile policies held in strings.
import { compile, memoryHost, type CompileResult } from "../../compiler/index.ts";

export const PRELUDE = `package t

model m { provider: openai, endpoint: "http://m.local/v1" }
model local { provider: vllm, endpoint: "http://l.local/v1", tags: [onprem], cost: { input: 0.01, output: 0.02 } }
`;

/** Compiles one file held in a string; `withPrelude` adds a package and two models. */
export function compileText(text: string, withPrelude = true): CompileResult {
  return compile(memoryHost({ "p.route": withPrelude ? PRELUDE + text : text }), ["p.route"]);
}

export function codes(result: CompileResult): string[] {
  return result.diagnostics.map((d) => d.code);
}

export function errorsOf(result: CompileResult): string[] {
  return result.diagnostics.filter((d) => d.severity === "error").map((d) => `${d.code} ${d.span.start.line}:${d.span.start.col} ${d.message}`);
}
