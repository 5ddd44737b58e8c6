// compile, check and fmt: the commands that turn sources into diagnostics,
// bundles and formatted text.
import { writeFileSync } from "node:fs";
import { compile, diagnosticsToJson, formatFile, renderDiagnostics, type CompileResult } from "../compiler/index.ts";
import { serializeBundle, signBundle } from "../bundle/index.ts";
import { parseFile } from "../grammar/index.ts";
import { collectRouteFiles, fsHost, policyRoot, readTextFile, UsageError } from "./files.ts";
import { EXIT, type Io } from "./io.ts";

/** Compiles the .route files under `paths`, confined to `root` (default: policyRoot(paths)). */
export function compilePaths(paths: string[], emit: boolean, policyName?: string, root?: string): CompileResult {
  return compile(fsHost, collectRouteFiles(paths), { emit, policyName, root: root ?? policyRoot(paths) });
}

export function reportDiagnostics(io: Io, result: CompileResult, format: string): void {
  if (format === "json") {
    io.out(JSON.stringify({ diagnostics: diagnosticsToJson(result.diagnostics) }, null, 2));
    return;
  }
  const sources = new Map(result.files.map((f) => [f.path, f.source]));
  const text = renderDiagnostics(result.diagnostics, sources, { color: io.color });
  if (text) io.err(text);
}

function hasErrors(result: CompileResult): boolean {
  return result.diagnostics.some((d) => d.severity === "error");
}

export function checkFormat(format: string | undefined): string {
  const f = format ?? "text";
  if (f !== "text" && f !== "json") throw new UsageError(`--format must be text or json, not ${f}`);
  return f;
}

export function cmdCompile(io: Io, paths: string[], opts: { output?: string; key?: string; name?: string; format?: string }): number {
  const format = checkFormat(opts.format);
  if (!opts.output) throw new UsageError("compile needs -o <bundle.json>");
  const keyPem = opts.key ? readTextFile(opts.key, "private key") : undefined;
  const result = compilePaths(paths, true, opts.name);
  reportDiagnostics(io, result, format);
  if (hasErrors(result) || !result.bundle) return EXIT.failed;
  let bundle = result.bundle;
  if (keyPem) {
    try {
      bundle = signBundle(bundle, keyPem);
    } catch (err) {
      throw new UsageError(`cannot sign with ${opts.key}: ${(err as Error).message}`);
    }
  }
  writeFileSync(opts.output, serializeBundle(bundle));
  if (format === "text") {
    const p = bundle.policy;
    io.out(`wrote ${opts.output}: policy ${bundle.manifest.policy}, revision ${bundle.manifest.revision.slice(0, 19)}…, ${p.routes.length} routes, ${p.signals.length} signals, ${p.models.length} models${keyPem ? `, signed by ${bundle.signatures.map((s) => s.keyId).join(", ")}` : ", unsigned"}`);
  }
  return EXIT.ok;
}

export function cmdCheck(io: Io, paths: string[], opts: { format?: string }): number {
  const format = checkFormat(opts.format);
  const result = compilePaths(paths, false);
  reportDiagnostics(io, result, format);
  if (format === "text" && !hasErrors(result)) {
    const c = result.checked!;
    io.out(`ok: ${result.files.length} file(s), ${c.routes.length} routes, ${c.signals.length} signals, ${c.models.length} models, ${c.tests.length} tests`);
  }
  return hasErrors(result) ? EXIT.failed : EXIT.ok;
}

/** Formats files in place, or with --check only reports which would change. */
export function cmdFmt(io: Io, paths: string[], opts: { check?: boolean; stdout?: boolean }): number {
  const files = collectRouteFiles(paths);
  const root = policyRoot(paths);
  let changed = 0;
  let broken = 0;
  for (const file of files) {
    const source = fsHost.readFile(file, root);
    if (typeof source !== "string") {
      // Outside the root, not text or too large: the same diagnostic as check, and the file is left alone.
      reportDiagnostics(io, compile(fsHost, [file], { emit: false, root }), "text");
      io.err(`${file}: not formatted`);
      broken++;
      continue;
    }
    const parsed = parseFile(file, source);
    if (parsed.problems.length > 0) {
      // Formatting would drop the blocks that failed to parse: refuse, and say why.
      const result = compile(fsHost, [file], { emit: false, root });
      reportDiagnostics(io, { ...result, diagnostics: result.diagnostics.filter((d) => d.code < "RP0100") }, "text");
      io.err(`${file}: not formatted: fix the syntax errors first`);
      broken++;
      continue;
    }
    const formatted = formatFile(parsed);
    if (opts.stdout) {
      io.out(formatted);
      continue;
    }
    if (formatted === source) continue;
    changed++;
    if (opts.check) io.out(`${file}: not formatted`);
    else {
      writeFileSync(file, formatted);
      io.out(`formatted ${file}`);
    }
  }
  if (broken > 0) return EXIT.failed;
  return opts.check && changed > 0 ? EXIT.failed : EXIT.ok;
}
