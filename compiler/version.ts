// The compiler's version, recorded in every bundle's manifest: the `version` of
// the nearest package.json above this file. That is the repository's from the
// sources (compiler/version.ts) and the installed package's from the compiled
// package (dist/compiler/version.js), the same lookup Node does for a package's scope.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

function packageVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = path.join(dir, "package.json");
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, "utf8")) as { name?: string; version?: string };
      if (pkg.name === "routeplane" && typeof pkg.version === "string") return pkg.version;
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no routeplane package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

export const COMPILER_VERSION: string = packageVersion();
