// Filesystem plumbing for the CLI: which .route files a path names, and a
// SourceHost that reads them.
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import type { SourceHost } from "../compiler/index.ts";

export class UsageError extends Error {}

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

export const fsHost: SourceHost = {
  readFile(filePath) {
    try {
      return readFileSync(filePath, "utf8");
    } catch {
      return undefined;
    }
  },
};

export function readTextFile(filePath: string, what: string): string {
  try {
    return readFileSync(filePath, "utf8");
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${filePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function readJsonFile(filePath: string, what: string): unknown {
  const text = readTextFile(filePath, what);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${what} ${filePath} is not valid JSON: ${(err as Error).message}`);
  }
}
