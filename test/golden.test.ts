// Golden tests: diagnostics for every catalog code, example bundles, and the
// formatter. Accept new output with `npm run goldens:accept`, then review.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { CATALOG, compile, formatFile, renderDiagnostics } from "../compiler/index.ts";
import { parseFile } from "../grammar/index.ts";
import { collectRouteFiles } from "../cli/files.ts";
import { checkGolden, REPO } from "./support/golden.ts";

const CASES = path.join(REPO, "test/diagnostics/cases");
const host = { readFile: (p: string) => { try { return readFileSync(path.join(REPO, p), "utf8"); } catch { return undefined; } } };

function relFiles(abs: string): string[] {
  const files = statSync(abs).isDirectory() ? collectRouteFiles([abs]) : [abs];
  return files.map((f) => path.relative(REPO, f));
}

const seen = new Set<string>();
const caseNames = readdirSync(CASES).filter((n) => n.endsWith(".route") || statSync(path.join(CASES, n)).isDirectory()).sort();

for (const name of caseNames) {
  const code = name.slice(0, 6);
  test(`diagnostics golden ${name}`, () => {
    const result = compile(host, relFiles(path.join(CASES, name)), { emit: false });
    const sources = new Map(result.files.map((f) => [f.path, f.source]));
    const text = renderDiagnostics(result.diagnostics, sources);
    for (const d of result.diagnostics) seen.add(d.code);
    assert.ok(result.diagnostics.some((d) => d.code === code), `case ${name} should produce ${code}, got ${result.diagnostics.map((d) => d.code).join(", ") || "nothing"}`);
    checkGolden(path.join(CASES, name.replace(/\.route$/, "") + ".errors.txt"), text);
  });
}

test("every diagnostic code has a golden case (RP0106 is covered in compiler.test.ts)", () => {
  const missing = Object.keys(CATALOG).filter((c) => c !== "RP0106" && !caseNames.some((n) => n.startsWith(c)));
  assert.deepEqual(missing, []);
});

for (const example of ["support", "coding", "platform"]) {
  test(`example ${example} compiles to its golden bundle`, () => {
    const result = compile(host, relFiles(path.join(REPO, "examples", example)));
    // Notes (severity info) are reviewed in test/analysis.test.ts; nothing else may be reported.
    assert.deepEqual(result.diagnostics.filter((d) => d.severity !== "info").map((d) => `${d.code} ${d.message}`), []);
    checkGolden(path.join(REPO, "test/golden/examples", `${example}.bundle.json`), JSON.stringify(result.bundle, null, 2) + "\n");
  });
}

test("example sources are already in canonical format", () => {
  for (const file of collectRouteFiles([path.join(REPO, "examples")])) {
    const source = readFileSync(file, "utf8");
    assert.equal(formatFile(parseFile(file, source)), source, `${path.relative(REPO, file)} is not formatted`);
  }
});

test("fmt golden: messy input becomes canonical, comments kept, and fmt is idempotent", () => {
  const input = path.join(REPO, "test/golden/fmt/messy.route");
  const source = readFileSync(input, "utf8");
  const once = formatFile(parseFile(input, source));
  checkGolden(path.join(REPO, "test/golden/fmt/messy.formatted.route"), once);
  assert.equal(formatFile(parseFile(input, once)), once);
  const comments = source.match(/#[^\n]*/g) ?? [];
  for (const c of comments) assert.ok(once.includes(c.trimEnd()), `comment lost: ${c}`);
});
