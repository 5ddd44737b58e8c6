// `routeplane import vllm-sr <recipe.dsl> [--config config.yaml] -o <dir>`:
// a vLLM Semantic Router DSL program written as the files of one routeplane
// package (its recipes as profiles) and an IMPORT.md
// (docs/migrating-from-vllm-sr.md). Every bad input is one line
// naming the place and the fix, and exit code 2 (usage) or 1 (the result does
// not check); the files are written only when the program parsed.
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { importVllmSr, MAX_CONFIG_BYTES } from "../importer/index.ts";
import { VLLM_SR_LIMITS } from "../grammar/index.ts";
import { UsageError } from "./usage.ts";
import { EXIT, type Io } from "./io.ts";

export interface ImportFlags {
  config?: string;
  output?: string;
  force?: boolean;
}

const SOURCES = ["vllm-sr"];

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

/** A text file the user named, refused (before it is read) when larger than `limit` bytes. */
function readInput(file: string, what: string, limit: number): string {
  let st;
  try {
    st = statSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!st.isFile()) throw new UsageError(`${what} ${file} is not a file`);
  if (st.size > limit) throw new UsageError(`${what} ${file} has ${st.size} bytes, more than the limit of ${limit}: split it, or remove what is not routing policy`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new UsageError(`${what} ${file} is not UTF-8 text`);
  }
  if (text.includes("\0")) throw new UsageError(`${what} ${file} is not text (it holds a NUL byte)`);
  return text;
}

/** The package a file's name suggests: `privacy/recipe.dsl` → `privacy`, `balance.dsl` → `balance`. */
function packageFrom(file: string): string {
  const abs = path.resolve(file);
  const stem = path.basename(abs).replace(/\.[^.]*$/, "");
  const generic = ["recipe", "config", "main", "router", "policy", ""].includes(stem.toLowerCase());
  const dir = path.basename(path.dirname(abs));
  return generic && dir && dir !== path.sep ? dir : stem || "imported";
}

/**
 * Reads files config.yaml names (a knowledge base's labels.json) from inside config.yaml's directory
 * only: a path that leaves it, by `..` or by a symlink, is not read, nor is anything but a regular
 * file of at most MAX_CONFIG_BYTES.
 */
function confinedReader(dir: string): (relativePath: string) => string | undefined {
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    return () => undefined;
  }
  return (relativePath) => {
    try {
      if (path.isAbsolute(relativePath)) return undefined;
      const real = realpathSync(path.join(root, relativePath));
      if (real !== root && !real.startsWith(root + path.sep)) return undefined;
      const st = statSync(real);
      if (!st.isFile() || st.size > MAX_CONFIG_BYTES) return undefined;
      return readFileSync(real, "utf8");
    } catch {
      return undefined;
    }
  };
}

function prepareOutput(dir: string, force: boolean): void {
  if (existsSync(dir)) {
    const st = statSync(dir);
    if (!st.isDirectory()) throw new UsageError(`-o ${dir} is a file, not a directory: name a new or empty directory`);
    if (readdirSync(dir).length > 0 && !force) throw new UsageError(`-o ${dir} is not empty: name a new or empty directory, or pass --force to write into it`);
  }
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new UsageError(`cannot create -o ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function cmdImport(io: Io, positionals: string[], opts: ImportFlags): number {
  const [source, file, ...rest] = positionals;
  if (source === undefined) throw new UsageError(`import needs the router the policy comes from: ${SOURCES.join(", ")}`);
  if (!SOURCES.includes(source)) throw new UsageError(`cannot import from \`${source}\`: routeplane imports ${SOURCES.join(", ")}`);
  if (file === undefined) throw new UsageError("import vllm-sr needs the DSL file: routeplane import vllm-sr recipe.dsl -o <dir>");
  if (rest.length) throw new UsageError(`import vllm-sr takes one DSL file, not also ${rest.join(" ")}`);
  if (!opts.output) throw new UsageError("import vllm-sr needs -o <dir>: the directory the .route files and IMPORT.md go to");
  const text = readInput(file, "DSL file", VLLM_SR_LIMITS.maxSourceBytes);
  const config = opts.config ? { text: readInput(opts.config, "config", MAX_CONFIG_BYTES), name: path.basename(opts.config) } : undefined;
  const result = importVllmSr({ source: text, sourceName: path.basename(file), config, packageName: packageFrom(file), ...(opts.config ? { readFile: confinedReader(path.dirname(opts.config)) } : {}) });
  if (result.files.length === 0) {
    // Nothing parsed: the errors name the places; the output directory is not touched.
    for (const e of result.errors) io.err(`routeplane import: ${e}`);
    io.err(`routeplane import: nothing written; fix ${result.errors.length === 1 ? "the error" : "the errors"} above and run it again`);
    return EXIT.usage;
  }
  prepareOutput(opts.output, opts.force === true);
  for (const f of result.files) {
    const target = path.join(opts.output, f.path);
    try {
      mkdirSync(path.dirname(target), { recursive: true });
      writeFileSync(target, f.text);
    } catch (err) {
      throw new UsageError(`cannot write ${target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  for (const e of result.errors) io.err(`routeplane import: ${e}`);
  const counts = { approximate: 0, dropped: 0, renamed: 0, derived: 0 };
  for (const n of result.notes) counts[n.status]++;
  const routeFiles = result.files.filter((f) => f.path.endsWith(".route")).length;
  io.out(`wrote ${routeFiles} .route file${routeFiles === 1 ? "" : "s"} and IMPORT.md to ${opts.output}: ${counts.approximate} approximated, ${counts.dropped} dropped, ${counts.renamed} renamed, ${counts.derived} derived (see IMPORT.md)`);
  for (const c of result.checks) {
    const where = path.join(opts.output, c.dir);
    if (c.errors.length) {
      io.err(`routeplane import: the policy in ${where} does not compile (${c.errors.length} error${c.errors.length === 1 ? "" : "s"}, listed in IMPORT.md): run \`routeplane check ${where}\` and fix it by hand`);
    } else {
      const profiles = result.profiles.length ? ` (${result.profiles.length} profile${result.profiles.length === 1 ? "" : "s"}: ${result.profiles.map((p) => p.name).join(", ")})` : "";
      io.out(`${where}: compiles, ${c.routes} route${c.routes === 1 ? "" : "s"}${profiles}, ${c.warnings.length} lint warning${c.warnings.length === 1 ? "" : "s"}`);
    }
  }
  return result.ok ? EXIT.ok : EXIT.failed;
}
