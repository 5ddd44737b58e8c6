// The formatter writes every string so the lexer reads back the same value:
// control characters included (JSON's `\b` and `\f` are not escapes of the
// language; fuzz seed 352954 found it).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseFile } from "../grammar/index.ts";
import { formatFile } from "../compiler/index.ts";

test("every control character and backslash sequence in a string survives fmt and parses back to the same value", () => {
  const values = [...Array.from({ length: 32 }, (_, c) => `a${String.fromCharCode(c)}b`), "\\b", "\\\\b", "x\\", '"', "\u2028", "\u007f", "é\u0000"];
  for (const v of values) {
    // The literal written by hand: quotes and backslashes escaped, control characters as \u escapes.
    const literal = `"${[...v].map((ch) => (ch === '"' ? '\\"' : ch === "\\" ? "\\\\" : ch.charCodeAt(0) < 0x20 ? `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}` : ch)).join("")}"`;
    const source = `package t\n\nimport ${literal}\n`;
    const parsed = parseFile("p.route", source);
    if (parsed.problems.length > 0) continue; // a raw newline in a string is a syntax error, not the formatter's to keep
    const formatted = formatFile(parsed);
    const again = parseFile("p.route", formatted);
    assert.deepEqual(again.problems, [], `${JSON.stringify(v)} → ${formatted}`);
    const block = again.blocks.find((b) => b.kind === "import");
    assert.ok(block && block.kind === "import");
    assert.equal(block.path.value, v, JSON.stringify(v));
  }
});
