// Stage "resolve": one namespace per kind of definition across all loaded
// files; duplicate names, unknown types and package mismatches reported.
import type {
  AssumeDecl, DefaultDecl, GuaranteeDecl, ModelDecl, PluginDecl, PolicyFile, ProfileDecl, RouteDecl, SignalDecl, Span, TestDecl,
} from "../grammar/index.ts";
import { PLUGIN_TYPES, SIGNAL_TYPES } from "../bundle/index.ts";
import { didYouMeanOr, FILE_START, type DiagnosticBag } from "./diagnostics.ts";
import type { SourceSet } from "./load.ts";

export interface Located<T> {
  decl: T;
  file: string;
}

/** Pipeline stage 2: every definition by name, ready for checking. */
export interface ResolvedProgram {
  package: string;
  roots: string[];
  files: PolicyFile[];
  signals: Map<string, Located<SignalDecl>>;
  models: Map<string, Located<ModelDecl>>;
  plugins: Map<string, Located<PluginDecl>>;
  routes: Map<string, Located<RouteDecl>>;
  default: Located<DefaultDecl> | null;
  /** Request-facing profiles, and each one's default (`default in p { … }`). */
  profiles: Map<string, Located<ProfileDecl>>;
  profileDefaults: Map<string, Located<DefaultDecl>>;
  guarantees: Located<GuaranteeDecl>[];
  assumptions: Located<AssumeDecl>[];
  tests: Located<TestDecl>[];
  /** Names whose declaration failed to parse: references to them are not errors. */
  broken: Set<string>;
}

export function resolveProgram(sources: SourceSet, diags: DiagnosticBag): ResolvedProgram {
  const program: ResolvedProgram = {
    package: "",
    roots: sources.roots,
    files: sources.files,
    signals: new Map(),
    models: new Map(),
    plugins: new Map(),
    routes: new Map(),
    default: null,
    profiles: new Map(),
    profileDefaults: new Map(),
    guarantees: [],
    assumptions: [],
    tests: [],
    broken: new Set(sources.files.flatMap((f) => f.brokenNames)),
  };
  const rootSet = new Set(sources.roots);
  let rootPackage: { name: string; file: string } | null = null;

  const define = <T extends { name: { name: string; span: Span } }>(table: Map<string, Located<T>>, what: string, decl: T, file: string): void => {
    if (decl.name.name === "__proto__") {
      // Names become keys of JSON objects everywhere (bundles, shares, telemetry): this one is not a key in JavaScript.
      diags.add("RP0208", file, decl.name.span, `\`__proto__\` is reserved: it cannot name a ${what}`, { help: "choose another name" });
      return;
    }
    const prior = table.get(decl.name.name);
    if (prior) {
      diags.add("RP0201", file, decl.name.span, `${what} \`${decl.name.name}\` is defined twice`, {
        help: "rename one of them",
        related: [{ file: prior.file, span: prior.decl.name.span, message: "first defined here" }],
      });
      return;
    }
    table.set(decl.name.name, { decl, file });
  };

  const unknownType = (code: "RP0202" | "RP0203", what: string, type: { name: string; span: Span }, known: string[], file: string): void => {
    diags.add(code, file, type.span, `unknown ${what} type \`${type.name}\``, didYouMeanOr(type.name, known, type.span, `${what} types: ${known.join(", ")}`));
  };

  for (const file of sources.files) {
    const packages = file.blocks.filter((b) => b.kind === "package");
    if (packages.length === 0 && file.problems.length === 0) {
      diags.add("RP0103", file.path, FILE_START, "the file has no `package` declaration", {
        help: "start the file with `package <name>`",
        fix: { message: "add a package declaration", replacement: "package main\n\n" },
      });
    }
    for (const extra of packages.slice(1)) {
      diags.add("RP0104", file.path, extra.span, "a file declares its package once", { help: "remove this declaration" });
    }
    const pkg = packages[0];
    if (pkg && rootSet.has(file.path)) {
      if (rootPackage === null) rootPackage = { name: pkg.name.name, file: file.path };
      else if (rootPackage.name !== pkg.name.name) {
        diags.add("RP0105", file.path, pkg.name.span, `package \`${pkg.name.name}\` differs from \`${rootPackage.name}\` declared in ${rootPackage.file}`, {
          help: "compile each package on its own, or import the other file instead of naming it on the command line",
        });
      }
    }

    for (const block of file.blocks) {
      switch (block.kind) {
        case "signal":
          define(program.signals, "signal", block, file.path);
          if (!(block.type.name in SIGNAL_TYPES)) unknownType("RP0202", "signal", block.type, Object.keys(SIGNAL_TYPES), file.path);
          break;
        case "plugin":
          define(program.plugins, "plugin", block, file.path);
          if (!(block.type.name in PLUGIN_TYPES)) unknownType("RP0203", "plugin", block.type, Object.keys(PLUGIN_TYPES), file.path);
          break;
        case "model":
          define(program.models, "model", block, file.path);
          break;
        case "route":
          define(program.routes, "route", block, file.path);
          break;
        case "profile":
          define(program.profiles, "profile", block, file.path);
          break;
        case "default": {
          const prior = block.profile ? program.profileDefaults.get(block.profile.name) : program.default;
          if (prior) {
            diags.add("RP0511", file.path, block.span, block.profile ? `profile \`${block.profile.name}\` has more than one \`default\`` : "the policy has more than one `default`", {
              help: "keep one default; use a route for the other case",
              related: [{ file: prior.file, span: prior.decl.span, message: "first default here" }],
            });
          } else if (block.profile) {
            program.profileDefaults.set(block.profile.name, { decl: block, file: file.path });
          } else {
            program.default = { decl: block, file: file.path };
          }
          break;
        }
        case "guarantee":
          program.guarantees.push({ decl: block, file: file.path });
          break;
        case "assume":
          program.assumptions.push({ decl: block, file: file.path });
          break;
        case "test":
          program.tests.push({ decl: block, file: file.path });
          break;
        case "package":
        case "import":
          break;
      }
    }
  }
  program.package = (rootPackage as { name: string } | null)?.name ?? "main";
  return program;
}
