// Filesystem plumbing for the CLI: which .route files a path names, the
// policy root they are confined to, and a SourceHost that reads them.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { insideRoot, type SourceHost } from "../compiler/index.ts";
import { PARSE_LIMITS } from "../grammar/index.ts";
import { UsageError } from "./usage.ts";

// What commands that read no policy use is in usage.ts, which loads no compiler.
export { UsageError, readJsonFile, readTextFile } from "./usage.ts";

/** Expands files and directories into a sorted list of .route files. */
export function collectRouteFiles(paths: string[]): string[] {
  const out = new Set<string>();
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (entry.name.startsWith(".") || entry.name === "node_modules") continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".route")) out.add(path.normalize(full));
    }
  };
  for (const p of paths) {
    let st;
    try {
      st = statSync(p);
    } catch {
      throw new UsageError(`no such file or directory: ${p}`);
    }
    if (st.isDirectory()) walk(p);
    else out.add(path.normalize(p));
  }
  if (out.size === 0) throw new UsageError(`no .route files in ${paths.join(", ")}`);
  return [...out];
}

/**
 * The policy root for paths named on the command line (docs/language.md,
 * "Imports and the policy root"): the top of the git working tree that holds
 * them (the nearest directory above them with a `.git`); outside a
 * repository, the current directory when it holds them all, else the deepest
 * directory holding them all (a directory argument counts as itself, a file
 * as its directory). Returned relative to `cwd` ("." for the current directory).
 */
export function policyRoot(paths: string[], cwd = process.cwd()): string {
  const dirs = paths.map((p) => {
    const abs = path.resolve(cwd, p);
    try {
      return statSync(abs).isDirectory() ? abs : path.dirname(abs);
    } catch {
      return path.dirname(abs);
    }
  });
  let common = dirs[0];
  while (!dirs.every((d) => insideRoot(common, d))) common = path.dirname(common);
  for (let d = common; ; d = path.dirname(d)) {
    if (existsSync(path.join(d, ".git"))) return path.relative(cwd, d) || ".";
    if (path.dirname(d) === d) break;
  }
  if (insideRoot(cwd, common)) return ".";
  return path.relative(cwd, common) || ".";
}

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reads policy sources confined to the policy root: the real path (symlinks
 * resolved) must stay inside the root's real path and name a `.route` file
 * (as the path asked for must), the file must be a regular
 * file of at most PARSE_LIMITS.maxSourceChars bytes, and UTF-8 text without
 * NUL. A refusal carries the reason only, never the content.
 */
export const fsHost: SourceHost = {
  readFile(filePath, root) {
    let real: string;
    let realRoot: string;
    try {
      real = realpathSync(filePath);
      realRoot = realpathSync(root);
    } catch {
      return undefined;
    }
    if (!insideRoot(realRoot, real)) return { refused: "outside-root" };
    // The name was checked by the compiler; the file it resolves to must be a .route file too (not `x.route -> ../.npmrc`).
    if (path.extname(real) !== ".route") return { refused: "link-not-route" };
    let bytes: Buffer;
    try {
      const st = statSync(real);
      if (!st.isFile()) return { refused: "not-a-file" };
      if (st.size > PARSE_LIMITS.maxSourceChars) return { refused: "too-large" };
      bytes = readFileSync(real);
    } catch {
      return undefined;
    }
    if (bytes.length > PARSE_LIMITS.maxSourceChars) return { refused: "too-large" };
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      return { refused: "not-text" };
    }
    return text.includes("\0") ? { refused: "not-text" } : text;
  },
};
