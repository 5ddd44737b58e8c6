// Stage "load": read the root files, parse them, and follow their imports.
// Every file is read and parsed once, however often it is imported.
//
// Confinement: a policy reaches only `.route` files inside its policy root.
// An import that is absolute or leaves the root is refused here, before the
// host is asked for anything; the host refuses what only it can see (a
// symlink out of the root or to a file whose real name is not `.route`, a
// file that is not text or too large). A refused
// file is never parsed, so no diagnostic can echo its content.
import path from "node:path";
import { parseFile, PARSE_LIMITS, type PolicyFile, type SyntaxProblem } from "../grammar/index.ts";
import { FILE_START, type DiagnosticBag } from "./diagnostics.ts";

/** Why a host would not hand over a file; the file's content is never part of it. */
export interface SourceRefusal {
  /** `link-not-route`: the name ends in `.route` but its real path (symlinks resolved) does not. */
  refused: "outside-root" | "not-a-file" | "too-large" | "not-text" | "link-not-route";
}

/** Where sources come from: the filesystem in the CLI, a map in tests and the controller. */
export interface SourceHost {
  /**
   * The file's text, undefined when it does not exist or cannot be read, or a
   * refusal. `root` is the policy root (`filePath` is lexically inside it); a
   * host over a real filesystem must refuse a file whose real path leaves it
   * or is not a `.route` file (a symlink named `*.route` to another file).
   */
  readFile(filePath: string, root: string): string | undefined | SourceRefusal;
}

export interface LoadOptions {
  /**
   * The policy root: every file, named or imported, must lie inside it.
   * Default: the current directory (`.`), in the host's own path space.
   */
  root?: string;
  /**
   * The files given are a bag (the controller's RoutingPolicy sources, a ConfigMap):
   * one that another file imports is not a root, so a shared file of another package
   * can sit beside the files that import it. Default false: every file given is a root.
   */
  importedAreNotRoots?: boolean;
}

export interface SourceSet {
  /** Files named by the user; together they are the policy. */
  roots: string[];
  /** Every loaded file, roots first, then imports in discovery order. */
  files: PolicyFile[];
}

type Loaded = PolicyFile | "missing" | SourceRefusal["refused"] | "not-route";

/** Whether `target` is lexically inside `root` (both resolved against the same current directory). */
export function insideRoot(root: string, target: string): boolean {
  const rel = path.relative(path.resolve(root), path.resolve(target));
  return rel !== ".." && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel);
}

const REFUSAL_HELP = "imports name .route files by a relative path inside the policy root (see \"Imports and the policy root\" in docs/language.md)";

export function loadSources(host: SourceHost, roots: string[], diags: DiagnosticBag, options: LoadOptions = {}): SourceSet {
  const byPath = new Map<string, PolicyFile>();
  const files: PolicyFile[] = [];
  const normalizedRoots = roots.map((r) => path.normalize(r));
  const policyRoot = path.normalize(options.root ?? ".");
  const imported = new Set<string>();

  const load = (filePath: string): Loaded => {
    const known = byPath.get(filePath);
    if (known) return known;
    if (!insideRoot(policyRoot, filePath)) return "outside-root";
    if (path.extname(filePath) !== ".route") return "not-route";
    const text = host.readFile(filePath, policyRoot);
    if (text === undefined) return "missing";
    if (typeof text !== "string") return text.refused;
    // Hosts over memory are not trusted to have checked either.
    if (text.length > PARSE_LIMITS.maxSourceChars) return "too-large";
    if (text.includes("\0")) return "not-text";
    const file = parseFile(filePath, text);
    byPath.set(filePath, file);
    files.push(file);
    for (const p of file.problems) reportSyntax(diags, filePath, p);
    return file;
  };

  /** Reports a file that was not loaded; never shows its content. */
  const refuse = (why: Loaded, at: { file: string; span: typeof FILE_START }, what: string, target: string): void => {
    switch (why) {
      case "outside-root":
        diags.add("RP0107", at.file, at.span, `${what} \`${target}\` is outside the policy root \`${policyRoot}\``, { help: REFUSAL_HELP });
        return;
      case "not-route":
        diags.add("RP0108", at.file, at.span, `${what} \`${target}\` is not a .route file`, { help: REFUSAL_HELP });
        return;
      case "link-not-route":
        diags.add("RP0108", at.file, at.span, `${what} \`${target}\` is a link to a file that is not a .route file`, { help: REFUSAL_HELP });
        return;
      case "not-a-file":
        diags.add("RP0108", at.file, at.span, `${what} \`${target}\` is not a regular file`, { help: REFUSAL_HELP });
        return;
      case "too-large":
        diags.add("RP0108", at.file, at.span, `${what} \`${target}\` is larger than the limit of ${PARSE_LIMITS.maxSourceChars} bytes`, {
          help: "split the policy into files that import each other",
        });
        return;
      case "not-text":
        diags.add("RP0108", at.file, at.span, `${what} \`${target}\` is not UTF-8 text`, { help: "policy sources are UTF-8 text without NUL characters" });
        return;
      default:
        return;
    }
  };

  for (const root of normalizedRoots) {
    const got = load(root);
    if (got === "missing") diags.add("RP0106", root, FILE_START, `cannot read \`${root}\``, { help: "check that the path exists and is a readable .route file" });
    else refuse(got, { file: root, span: FILE_START }, "policy file", root);
  }
  // Breadth-first over imports; cycles are found separately below.
  for (let i = 0; i < files.length; i++) {
    const file = files[i];
    for (const block of file.blocks) {
      if (block.kind !== "import") continue;
      const at = { file: file.path, span: block.path.span };
      if (path.isAbsolute(block.path.value) || path.win32.isAbsolute(block.path.value)) {
        diags.add("RP0107", file.path, block.path.span, `import \`${block.path.value}\` is an absolute path`, {
          help: "import paths are relative to the importing file and stay inside the policy root",
        });
        continue;
      }
      const target = resolveImport(file.path, block.path.value);
      imported.add(target);
      const got = load(target);
      if (got === "missing") {
        diags.add("RP0101", file.path, block.path.span, `imported file \`${block.path.value}\` not found (looked for \`${target}\`)`, {
          help: "import paths are relative to the importing file",
        });
      } else {
        refuse(got, at, "import", block.path.value);
      }
    }
  }
  reportCycles(files, byPath, diags);
  if (options.importedAreNotRoots) {
    const entry = normalizedRoots.filter((r) => !imported.has(r));
    // Files that all import each other (a cycle, reported above) keep every file a root.
    if (entry.length > 0) return { roots: entry, files };
  }
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
    case "limit":
      diags.add("RP0005", file, p.span, p.found, p.help ? { help: p.help } : {});
      return;
  }
}
