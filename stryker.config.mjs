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
// only the tests relevant to it: the slow end-to-end-ish files (cli, fuzz) are
// never used, and the fuzz test's random seed would make results unstable.

/** The parts we mutate and the test files that guard each. */
const PARTS = [
  {
    mutate: ["bundle/**/*.ts", "!bundle/**/*.d.ts", "!bundle/index.ts"],
    tests: ["test/bundle.test.ts", "test/bundle-trust.test.ts", "test/boundaries.test.ts", "test/compiler.test.ts", "test/mutation-kills.test.ts"],
  },
  {
    mutate: ["runtime/engine/**/*.ts"],
    tests: ["test/engine.test.ts", "test/engine-agrees.test.ts", "test/mutation-kills.test.ts"],
  },
  {
    mutate: ["runtime/sidecar/**/*.ts"],
    tests: ["test/bundle-trust.test.ts", "test/sidecar.test.ts", "test/sidecar-fallbacks.test.ts", "test/http.test.ts", "test/mutation-kills.test.ts"],
  },
  {
    mutate: ["compiler/analysis/**/*.ts"],
    tests: ["test/analysis.test.ts", "test/soundness.test.ts", "test/mutation-kills.test.ts"],
  },
];

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

/** The top folder of a part a pattern names, e.g. "runtime/engine/" for "runtime/engine/signals.ts:10-40". */
function partOf(pattern) {
  const file = pattern.replace(/:\d+(:\d+)?-\d+(:\d+)?$/, "");
  return PARTS.find((p) => {
    const root = p.mutate[0].slice(0, p.mutate[0].indexOf("**"));
    return file.startsWith(root) || root.startsWith(file.replace(/\*.*$/, ""));
  });
}

const requested = mutateArgs(process.argv.slice(2));
const parts = requested.length === 0 ? PARTS : [...new Set(requested.map(partOf))];
if (parts.includes(undefined)) {
  throw new Error(`stryker.config.mjs: no test files are configured for ${requested.join(", ")}; add the part to PARTS`);
}

export default {
  $schema: "./node_modules/@stryker-mutator/core/schema/stryker-schema.json",
  packageManager: "npm",
  testRunner: "tap",
  tap: {
    testFiles: [...new Set(parts.flatMap((p) => p.tests))],
    nodeArgs: ["--test-reporter=tap", "-r", "{{hookFile}}", "{{testFile}}"],
    forceBail: true,
  },
  // Overridden by --mutate; this is the whole scope of issue 11.
  mutate: PARTS.flatMap((p) => p.mutate),
  coverageAnalysis: "perTest",
  // No TypeScript checker: a mutant that does not type-check is still run
  // (Node only strips types), and the instrumented files carry @ts-nocheck.
  checkers: [],
  // Node never type-checks, and Stryker's default would put `// @ts-nocheck`
  // atop every .js/.ts file, generated validators too (whose staleness
  // tests then fail).
  disableTypeChecks: false,
  // Two cores, shared: keep one for everything else.
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
