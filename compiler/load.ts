// Stage "load": read the root files, parse them, and follow their imports.
// Every file is read and parsed once, however often it is imported.
import path from "node:path";
import { parseFile, type PolicyFile, type SyntaxProblem } from "../grammar/index.ts";
import { FILE_START, type DiagnosticBag } from "./diagnostics.ts";

/** Where sources come from: the filesystem in the CLI, a map in tests and the controller. */
export interface SourceHost {
  /** The file's text, or undefined when it does not exist or cannot be read. */
  readFile(filePath: string): string | undefined;
}

export interface SourceSet {
  /** Files named by the user; together they are the policy. */
  roots: string[];
  /** Every loaded file, roots first, then imports in discovery order. */
  files: PolicyFile[];
}

export function loadSources(host: SourceHost, roots: string[], diags: DiagnosticBag): SourceSet {
  const byPath = new Map<string, PolicyFile>();
  const files: PolicyFile[] = [];
  const normalizedRoots = roots.map((r) => path.normalize(r));

  const load = (filePath: string): PolicyFile | null => {
    const known = byPath.get(filePath);
    if (known) return known;
    const text = host.readFile(filePath);
    if (text === undefined) return null;
    const file = parseFile(filePath, text);
    byPath.set(filePath, file);
    files.push(file);
    for (const p of file.problems) reportSyntax(diags, filePath, p);
    return file;
  };

  for (const root of normalizedRoots) {
    if (load(root) === null) diags.add("RP0106", root, FILE_START, `cannot read \`${root}\``, { help: "check that the path exists and is a readable .route file" });
  }
  // Breadth-first over imports; cycles are found separately below.
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    for (const block of file.blocks) {
      if (block.kind !== "import") continue;
      const target = resolveImport(file.path, block.path.value);
      if (load(target) === null) {
        diags.add("RP0101", file.path, block.path.span, `imported file \`${block.path.value}\` not found (looked for \`${target}\`)`, {
          help: "import paths are relative to the importing file",
        });
      }
    }
  }
  reportCycles(files, byPath, diags);
  return { roots: normalizedRoots, files };
}

export function resolveImport(fromFile: string, importPath: string): string {
  return path.normalize(path.join(path.dirname(fromFile), importPath));
}

function reportCycles(files: PolicyFile[], byPath: Map<string, PolicyFile>, diags: DiagnosticBag): void {
  const state = new Map<string, "active" | "done">();
  const stack: string[] = [];
  const visit = (file: PolicyFile): void => {
    state.set(file.path, "active");
    stack.push(file.path);
    for (const block of file.blocks) {
      if (block.kind !== "import") continue;
      const target = resolveImport(file.path, block.path.value);
      const next = byPath.get(target);
      if (!next) continue;
      if (state.get(target) === "active") {
        const cycle = [...stack.slice(stack.indexOf(target)), target];
        diags.add("RP0102", file.path, block.span, `import cycle: ${cycle.map((p) => `\`${p}\``).join(" → ")}`, {
          help: "move the shared definitions into a file that both can import",
        });
      } else if (!state.has(target)) {
        visit(next);
      }
    }
    stack.pop();
    state.set(file.path, "done");
  };
  for (const file of files) if (!state.has(file.path)) visit(file);
}

function reportSyntax(diags: DiagnosticBag, file: string, p: SyntaxProblem): void {
  const expected = p.expected.length > 8 ? [...p.expected.slice(0, 8), "…"] : p.expected;
  const wanted = expected.length > 0 ? `expected ${expected.join(", ")}` : undefined;
  switch (p.kind) {
    case "invalid-character":
      if (p.found === '"') {
        diags.add("RP0004", file, p.span, "unterminated string", { help: "close the string with `\"` on the same line" });
      } else {
        diags.add("RP0001", file, p.span, `invalid character ${JSON.stringify(p.found)}`, { help: "names use letters, digits and `_`; text goes in double quotes" });
      }
      return;
    case "unexpected-token":
      diags.add("RP0002", file, p.span, `unexpected ${p.found}`, wanted ? { help: wanted } : {});
      return;
    case "unexpected-end":
      diags.add("RP0003", file, p.span, "the block ends too early", wanted ? { help: wanted } : {});
      return;
  }
}
