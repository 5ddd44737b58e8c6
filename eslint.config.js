// Lint: typescript-eslint's recommended rules, plus the dependency direction
// between the parts (docs/architecture.md) and where each third-party
// library may be used. Parts import each other only through index.ts.
import path from "node:path";
import tseslint from "typescript-eslint";

const PARTS = ["grammar", "bundle", "compiler", "runtime", "controller", "adapter", "importer", "crds", "cli", "e2e", "bench"];

/** Which of our parts each part may import. Tests (test/) and build scripts (scripts/) are white-box and may reach inside any part. */
const MAY_IMPORT = {
  grammar: [],
  bundle: [],
  compiler: ["grammar", "bundle"],
  runtime: ["bundle"],
  controller: ["compiler", "bundle"],
  // The learner and (later) the adapter's consumer: the bundle's contract only.
  adapter: ["bundle"],
  // `routeplane import`: other routers' policies parsed (grammar), written as .route text and checked (compiler).
  importer: ["grammar", "bundle", "compiler"],
  cli: ["grammar", "bundle", "compiler", "runtime", "controller", "adapter", "importer"],
  e2e: ["grammar", "bundle", "compiler", "runtime", "controller", "adapter", "importer", "cli", "bench"],
  // bench/propagation starts the same real apiserver as the e2e tests (e2e/infra).
  bench: ["grammar", "bundle", "compiler", "runtime", "controller", "adapter", "importer", "cli", "e2e"],
};

/**
 * Entry points besides a part's index.ts: the engine alone need not load the
 * sidecar, and the version alone need not load the compiler (the sidecar runs
 * without it: docs/performance.md, "Sidecar footprint").
 */
const ENTRY_POINTS = { runtime: ["engine/index.ts", "sidecar/index.ts"], compiler: ["version.ts"] };

/** Third-party libraries that live in exactly one place. */
const LIBRARY_HOME = {
  nearley: "grammar",
  moo: "grammar",
  kafkajs: "runtime",
  // The sidecar speaks HTTP itself (ADR 9); undici is only bench/proxy's reference for the usual Node stack.
  undici: "bench",
  "@kubernetes/client-node": "controller",
  "node-forge": "controller",
  // vLLM Semantic Router's config.yaml, read by `routeplane import vllm-sr`.
  yaml: "importer",
};

function restrictions(part) {
  const allowed = MAY_IMPORT[part];
  const patterns = [];
  for (const other of PARTS) {
    if (other === part) continue;
    if (allowed.includes(other)) {
      const entries = ENTRY_POINTS[other] ?? [];
      patterns.push({
        // gitignore semantics: a file is re-included only after its directory is (`!**/runtime/engine`).
        group: [`**/${other}/*`, `!**/${other}/index.ts`, `**/${other}/*/**`, ...entries.flatMap((e) => {
          const dir = path.posix.dirname(e);
          return [`!**/${other}/${dir}`, `**/${other}/${dir}/*`, `!**/${other}/${e}`];
        })],
        message: `import ${other} only through ${[`${other}/index.ts`, ...entries.map((e) => `${other}/${e}`)].join(" or ")}`,
      });
    } else {
      patterns.push({ group: [`**/${other}/**`, `**/${other}/index.ts`], message: `${part}/ may not import ${other}/ (see docs/architecture.md)` });
    }
  }
  // e2e/ tests the infrastructure itself with the same clients (issue: real Kafka, real kube-apiserver).
  const paths = Object.entries(LIBRARY_HOME)
    .filter(([, home]) => home !== part && part !== "e2e")
    .map(([name, home]) => ({ name, message: `${name} is used only inside ${home}/` }));
  return ["error", { patterns, paths }];
}

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "reports/**", ".stryker-tmp/**", "grammar/policy.generated.js", "bundle/validate.generated.js", "bundle/events.generated.js", "compiler/fields.generated.js", "**/*.d.ts"] },
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  ...Object.keys(MAY_IMPORT).map((part) => ({
    files: [`${part}/**/*.ts`],
    rules: { "no-restricted-imports": restrictions(part) },
  })),
);
