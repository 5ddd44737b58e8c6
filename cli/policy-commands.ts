// compile, check and fmt: the commands that turn sources into diagnostics,
// bundles and formatted text.
import { execFileSync } from "node:child_process";
import { existsSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { compile, diagnosticsToJson, formatFile, renderDiagnostics, type CompileOptions, type CompileResult } from "../compiler/index.ts";
import { serializeBundle, signBundle } from "../bundle/index.ts";
import { parseFile } from "../grammar/index.ts";
import { collectRouteFiles, fsHost, policyRoot, readTextFile, UsageError } from "./files.ts";
import { EXIT, type Io } from "./io.ts";

/** Compiles the .route files under `paths`, confined to `options.root` (default: policyRoot(paths)). */
export function compilePaths(paths: string[], emit: boolean, policyName?: string, options: Omit<CompileOptions, "emit" | "policyName"> = {}): CompileResult {
  return compile(fsHost, collectRouteFiles(paths), { ...options, emit, policyName, root: options.root ?? policyRoot(paths) });
}

/**
 * `manifest.serial` when --serial is not given (ADR 10): $SOURCE_DATE_EPOCH
 * (the reproducible-builds convention), else the commit time of the last git
 * commit that touched the sources, else 0. Each is fixed for given sources in
 * a given checkout, so the same sources still give the same bytes.
 */
export function defaultSerial(paths: string[], env: NodeJS.ProcessEnv = process.env): { serial: number; from: string } {
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== "") return { serial: parseSerial(epoch, "SOURCE_DATE_EPOCH"), from: "$SOURCE_DATE_EPOCH" };
  const abs = paths.map((p) => path.resolve(p));
  const first = abs[0];
  if (first !== undefined) {
    try {
      const cwd = existsSync(first) && statSync(first).isDirectory() ? first : path.dirname(first);
      const out = execFileSync("git", ["log", "-1", "--format=%ct", "--", ...abs], { cwd, stdio: ["ignore", "pipe", "ignore"], encoding: "utf8" }).trim();
      if (/^\d+$/.test(out)) return { serial: Number(out), from: "the time of the last git commit to the sources" };
    } catch {
      // Not a git checkout, or no git: fall through.
    }
  }
  return { serial: 0, from: "no --serial, $SOURCE_DATE_EPOCH or git history: a sidecar that runs a bundle of this policy with a higher serial refuses it" };
}

function parseSerial(text: string, what: string): number {
  if (!/^(0|[1-9][0-9]*)$/.test(text) || !Number.isSafeInteger(Number(text))) throw new UsageError(`${what} must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, not ${JSON.stringify(text)}`);
  return Number(text);
}

/**
 * Prints diagnostics. Notes (severity `info`, e.g. RP1014's context windows)
 * are shown by `lint` and with `--notes`; other commands only count them, so
 * `check`, `compile` and `test` stay quiet on a clean policy. JSON has everything.
 */
export function reportDiagnostics(io: Io, result: CompileResult, format: string, { notes = false, countNotes = true }: { notes?: boolean; countNotes?: boolean } = {}): void {
  if (format === "json") {
    io.out(JSON.stringify({ diagnostics: diagnosticsToJson(result.diagnostics) }, null, 2));
    return;
  }
  const shown = notes ? result.diagnostics : result.diagnostics.filter((d) => d.severity !== "info");
  const hidden = result.diagnostics.length - shown.length;
  const sources = new Map(result.files.map((f) => [f.path, f.source]));
  const text = shown.length ? renderDiagnostics(shown, sources, { color: io.color }) : "";
  if (text) io.err(text);
  if (hidden > 0 && countNotes) io.err(`(${hidden} note${hidden === 1 ? "" : "s"} not shown: \`routeplane lint\` or --notes shows ${hidden === 1 ? "it" : "them"})`);
}

function hasErrors(result: CompileResult): boolean {
  return result.diagnostics.some((d) => d.severity === "error");
}

export function checkFormat(format: string | undefined): string {
  const f = format ?? "text";
  if (f !== "text" && f !== "json") throw new UsageError(`--format must be text or json, not ${f}`);
  return f;
}

export interface CompileFlags {
  output?: string;
  key?: string;
  name?: string;
  format?: string;
  serial?: string;
  rollback?: boolean;
  "allow-unproved"?: boolean;
  notes?: boolean;
}

export function cmdCompile(io: Io, paths: string[], opts: CompileFlags): number {
  const format = checkFormat(opts.format);
  if (!opts.output) throw new UsageError("compile needs -o <bundle.json>");
  if (opts.rollback && opts.serial === undefined) throw new UsageError("--rollback needs --serial N: the serial of the bundle it rolls back (the one sidecars run now)");
  const keyPem = opts.key ? readTextFile(opts.key, "private key") : undefined;
  const { serial, from } = opts.serial !== undefined ? { serial: parseSerial(opts.serial, "--serial"), from: "--serial" } : defaultSerial(paths);
  const result = compilePaths(paths, true, opts.name, { serial, rollback: opts.rollback === true, allowUnproved: opts["allow-unproved"] === true });
  reportDiagnostics(io, result, format, { notes: opts.notes === true });
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
    const m = bundle.manifest;
    io.out(`wrote ${opts.output}: policy ${m.policy}, revision ${m.revision.slice(0, 19)}…, serial ${m.serial}${m.rollback ? " (rollback)" : ""} (${from}), ${p.routes.length} routes, ${p.signals.length} signals, ${p.models.length} models${keyPem ? `, signed by ${bundle.signatures.map((s) => s.keyId).join(", ")}` : ", unsigned"}`);
  }
  return EXIT.ok;
}

export function cmdCheck(io: Io, paths: string[], opts: { format?: string; notes?: boolean }): number {
  const format = checkFormat(opts.format);
  const result = compilePaths(paths, false);
  reportDiagnostics(io, result, format, { notes: opts.notes === true });
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
  // Say what happened, as check does (not with --stdout: the output is the formatted text).
  if (!opts.stdout) {
    const n = files.length;
    const clean = n - changed - broken;
    const parts = [`${n} file${n === 1 ? "" : "s"}`, opts.check ? `${changed} not formatted` : `${changed} formatted`, `${clean} already formatted`];
    if (broken) parts.push(`${broken} not formattable`);
    (broken || (opts.check && changed) ? io.err : io.out)(`fmt: ${parts.join(", ")}`);
  }
  if (broken > 0) return EXIT.failed;
  return opts.check && changed > 0 ? EXIT.failed : EXIT.ok;
}
