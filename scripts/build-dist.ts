// Builds dist/, the installable package's JavaScript (`npm run build`, run by
// `npm pack` through prepack). Node refuses to strip types from files under
// node_modules, so an installed routeplane cannot run the .ts sources; dist/
// holds them compiled, with the sources' layout, so every relative path the
// code resolves at run time (`new URL("../examples/support", import.meta.url)`,
// the package.json above compiler/version) points at the same thing in both.
//
// 1. tsc -p tsconfig.build.json: erase types, rewrite `./x.ts` imports to `./x.js`.
// 2. Copy what tsc does not emit: the committed generated JavaScript
//    (grammar/policy.generated.js, bundle/validate.generated.js,
//    compiler/fields.generated.js: every .js file in the runtime parts) and the
//    demo policy that `routeplane demo` and `serve --demo` load (examples/support
//    and the examples/shared it imports).
// 3. Check that every relative import in dist/ names a file that is there.
//
// The TypeScript compiler is the repository's (node_modules) or, where there is
// none, the `tsc` on PATH: the GitHub Action builds from its checkout with only
// the compiler installed (docs/adr/0014-the-action-installs-the-packed-package.md).
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = path.join(ROOT, "dist");
/** The parts that run in the installed package (tsconfig.build.json's include). */
const PARTS = ["grammar", "compiler", "bundle", "runtime", "importer", "cli"];
/** Files read at run time relative to the code: the embedded demo policy. */
const ASSETS = ["examples/support", "examples/shared"];

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}

function tsc(args: string[]): void {
  let bin: string | undefined;
  try {
    bin = createRequire(path.join(ROOT, "package.json")).resolve("typescript/bin/tsc");
  } catch {
    bin = undefined;
  }
  if (bin) execFileSync(process.execPath, [bin, ...args], { cwd: ROOT, stdio: "inherit" });
  else execFileSync("tsc", args, { cwd: ROOT, stdio: "inherit" });
}

const t0 = performance.now();
rmSync(DIST, { recursive: true, force: true });
tsc(["-p", "tsconfig.build.json"]);

let copied = 0;
for (const part of PARTS) {
  for (const file of walk(path.join(ROOT, part)).filter((f) => f.endsWith(".js"))) {
    cpSync(file, path.join(DIST, path.relative(ROOT, file)));
    copied++;
  }
}
for (const asset of ASSETS) cpSync(path.join(ROOT, asset), path.join(DIST, asset), { recursive: true });

// Every relative specifier (static or dynamic import, export … from) must resolve in dist/.
const files = walk(DIST).filter((f) => f.endsWith(".js"));
const missing: string[] = [];
for (const file of files) {
  const text = readFileSync(file, "utf8");
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)["'](\.{1,2}\/[^"']+)["']/g)) {
    const target = path.resolve(path.dirname(file), m[1]);
    if (!existsSync(target)) missing.push(`${path.relative(ROOT, file)}: ${m[1]}`);
  }
}
if (missing.length) {
  console.error(`build-dist: imports that do not resolve in dist/:\n  ${missing.join("\n  ")}`);
  process.exit(1);
}
// To stderr: `npm pack --json` passes the scripts' stdout through into its JSON.
console.error(`build-dist: dist/ has ${files.length} JavaScript files (${copied} generated ones copied) and the demo policy, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
