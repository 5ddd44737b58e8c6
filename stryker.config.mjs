// Mutation testing with StrykerJS (issue 11, "tests that would notice"): on
// demand, never part of `npm test`. See docs/development.md, "Mutation
// testing", for the commands, the latest scores and the survivors we keep.
//
//   npm run mutation                                   # every part below (hours: pick one)
//   npm run mutation -- --mutate "bundle/**/*.ts"
//   npm run mutation -- --mutate "runtime/sidecar/bundle-store.ts"
//   npm run mutation -- --mutate "compiler/analysis/model.ts:1-200"
//
// The tap runner runs each test file as `node --test-reporter=tap -r <hook>
// <file>` with the sandbox's own code; Node 24 strips the types of the
// instrumented .ts files directly (Stryker's instrumented TypeScript stays
// erasable: it adds plain functions, ternaries and comma expressions, never
// enums, namespaces or parameter properties). `node` must be Node 24: `npm
// run` puts node_modules/.bin (the pinned `node` package) first on PATH.
//
// A test file is one "test" to Stryker, and with per-test coverage a mutant
// runs only the files that reach its code. Which files a run loads depends on
// the part being mutated (the --mutate argument), so a run of one part starts
// only the tests relevant to it.

/**
 * The parts we mutate and the test files that guard each. A --mutate pattern
 * uses the entry with the longest matching root. The slow CLI and fuzz tests
 * are never used (the fuzz test's seed is random, which would make a run's
 * result depend on the day), nor is http.test.ts outside the HTTP layers: its
 * streaming test is timing-sensitive on a loaded machine, and a failure in
 * the initial run aborts the whole run.
 */
const PARTS = [
  {
    root: "bundle/",
    mutate: ["bundle/**/*.ts", "!bundle/**/*.d.ts", "!bundle/index.ts", "!bundle/types.ts"],
    tests: ["test/bundle.test.ts", "test/bundle-trust.test.ts", "test/boundaries.test.ts", "test/compiler.test.ts"],
  },
  {
    root: "runtime/engine/",
    mutate: ["runtime/engine/**/*.ts"],
    tests: ["test/engine.test.ts", "test/engine-agrees.test.ts", "test/safety-recall.test.ts", "test/attack-text.test.ts"],
  },
  {
    root: "runtime/sidecar/",
    mutate: ["runtime/sidecar/**/*.ts"],
    tests: ["test/bundle-trust.test.ts", "test/sidecar.test.ts", "test/sidecar-fallbacks.test.ts"],
  },
  {
    root: "runtime/sidecar/http-",
    mutate: ["runtime/sidecar/http-*.ts"],
    tests: ["test/http.test.ts", "test/sidecar.test.ts"],
  },
  {
    root: "compiler/analysis/",
    mutate: ["compiler/analysis/**/*.ts"],
    tests: ["test/analysis.test.ts", "test/soundness.test.ts"],
  },
];
/** Tests written from the survivors of earlier runs; every part loads them. */
const MUTATION_KILLS = "test/mutation-kills.test.ts";

/** The --mutate/-m patterns given on the command line, if any. */
function mutateArgs(argv) {
  const out = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--mutate" || a === "-m") out.push(...(argv[i + 1] ?? "").split(","));
    else if (a.startsWith("--mutate=")) out.push(...a.slice("--mutate=".length).split(","));
  }
  return out.map((p) => p.trim()).filter((p) => p && !p.startsWith("!"));
}

/** The part a pattern names: "runtime/engine/signals.ts:10-40" is runtime/engine/, "runtime/**" is every runtime part. */
function partsOf(pattern) {
  const file = pattern.replace(/:\d+(:\d+)?-\d+(:\d+)?$/, "");
  const literal = file.replace(/[*{?[].*$/, "");
  const inside = PARTS.filter((p) => file.startsWith(p.root)).sort((a, b) => b.root.length - a.root.length);
  if (inside.length > 0) return [inside[0]];
  return PARTS.filter((p) => p.root.startsWith(literal));
}

const requested = mutateArgs(process.argv.slice(2));
const parts = requested.length === 0 ? PARTS : [...new Set(requested.flatMap(partsOf))];
const unknown = requested.filter((p) => partsOf(p).length === 0);
if (unknown.length > 0) {
  throw new Error(`stryker.config.mjs: no test files are configured for ${unknown.join(", ")}; add the part to PARTS`);
}

export default {
  $schema: "./node_modules/@stryker-mutator/core/schema/stryker-schema.json",
  packageManager: "npm",
  testRunner: "tap",
  tap: {
    testFiles: [...new Set([...parts.flatMap((p) => p.tests), MUTATION_KILLS])],
    nodeArgs: ["--test-reporter=tap", "-r", "{{hookFile}}", "{{testFile}}"],
    forceBail: true,
  },
  // Overridden by --mutate; this is the whole scope of issue 11.
  mutate: [...new Set(PARTS.filter((p) => p.root.endsWith("/")).flatMap((p) => p.mutate))],
  coverageAnalysis: "perTest",
  // No TypeScript checker: a mutant that does not type-check is still run
  // (Node only strips types).
  checkers: [],
  // Node never type-checks, and Stryker's default would put `// @ts-nocheck`
  // atop every .js/.ts file, generated validators too (whose staleness
  // tests then fail).
  disableTypeChecks: false,
  // The machine has two cores, shared with other work: at most two test
  // processes at once (`--concurrency 1` when something else runs).
  concurrency: 2,
  timeoutMS: 10000,
  timeoutFactor: 2,
  reporters: ["clear-text", "progress", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  clearTextReporter: { allowColor: false, logTests: false, reportScoreTable: true, reportMutants: true },
  tempDirName: ".stryker-tmp",
  cleanTempDir: "always",
  thresholds: { high: 90, low: 75, break: null },
};
