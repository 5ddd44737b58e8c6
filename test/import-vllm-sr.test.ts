// `routeplane import vllm-sr`: the DSL parser, the translation of every
// construct (golden .route files and IMPORT.md per case, compared byte for
// byte; `ROUTEPLANE_ACCEPT_GOLDENS=1 node --test test/import-vllm-sr.test.ts`
// rewrites them, then review the diff), that every generated policy compiles
// and lints, and hostile input.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseVllmSr, parseFile, VLLM_SR_LIMITS, type VExpr } from "../grammar/index.ts";
import { compile, formatFile, memoryHost } from "../compiler/index.ts";
import { importVllmSr, SIGNAL_TABLE, PLUGIN_TABLE, ALGORITHM_TABLE, CONSTRUCT_TABLE, readVllmSrConfig, tokenCount } from "../importer/index.ts";
import { conversationMatches } from "../bundle/index.ts";
import { run, bufferIo } from "../cli/index.ts";
import { Engine, requestFromChat } from "../runtime/index.ts";
import { checkGolden, REPO } from "./support/golden.ts";

const CASES = path.join(REPO, "test/import/vllm-sr");
const caseNames = readdirSync(CASES).filter((n) => statSync(path.join(CASES, n)).isDirectory()).sort();

/** Reads files beside a case's config.yaml (a knowledge base's labels.json), never outside its directory. */
function caseReader(dir: string, asked?: string[]) {
  return (rel: string): string | undefined => {
    asked?.push(rel);
    const p = path.resolve(dir, rel);
    return p.startsWith(dir + path.sep) && existsSync(p) ? readFileSync(p, "utf8") : undefined;
  };
}

function importCase(name: string) {
  const dir = path.join(CASES, name);
  const configPath = path.join(dir, "config.yaml");
  return importVllmSr({
    source: readFileSync(path.join(dir, "recipe.dsl"), "utf8"),
    sourceName: "recipe.dsl",
    config: existsSync(configPath) ? { text: readFileSync(configPath, "utf8"), name: "config.yaml" } : undefined,
    packageName: name,
    readFile: caseReader(dir),
  });
}

function listFiles(dir: string, prefix = ""): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`])).sort();
}

for (const name of caseNames) {
  test(`import golden ${name}: every file as expected, every policy compiles without errors`, () => {
    const result = importCase(name);
    assert.deepEqual(result.errors, [], "the import reported errors");
    const expected = path.join(CASES, name, "expected");
    for (const f of result.files) checkGolden(path.join(expected, f.path), f.text);
    if (process.env.ROUTEPLANE_ACCEPT_GOLDENS !== "1") {
      assert.deepEqual(listFiles(expected), result.files.map((f) => f.path).sort(), "the expected files are the files written");
    }
    assert.ok(result.checks.length > 0);
    for (const c of result.checks) assert.deepEqual(c.errors.map((d) => `${d.code} ${d.file}:${d.span.start.line} ${d.message}`), [], `policy ${c.dir || "."} has errors`);
    assert.equal(result.ok, true);
  });
}

test("the generated policies compile again from the golden files, are formatted, and `routeplane lint` and `fmt --check` pass on them", async () => {
  for (const name of caseNames) {
    // Every case is one package, its recipes profiles in recipes/: the whole directory is the policy.
    const expected = path.join(CASES, name, "expected");
    const routeFiles = listFiles(expected).filter((f) => f.endsWith(".route"));
    const files = Object.fromEntries(routeFiles.map((f) => [f, readFileSync(path.join(expected, f), "utf8")]));
    for (const [f, text] of Object.entries(files)) assert.equal(formatFile(parseFile(f, text)), text, `${name}/${f} is not in canonical format`);
    assert.equal(new Set(Object.values(files).map((t) => /^package (\S+)$/m.exec(t)?.[1])).size, 1, `${name}: one package`);
    const result = compile(memoryHost(files), Object.keys(files), { emit: true, serial: 1 });
    assert.deepEqual(result.diagnostics.filter((x) => x.severity === "error").map((x) => `${x.code} ${x.message}`), [], name);
    assert.ok(result.bundle, `${name} gives a bundle`);
    // main.route imports the rest: compiled alone, it is the same package.
    const alone = compile(memoryHost(files), ["main.route"], { emit: false });
    assert.deepEqual(alone.diagnostics.filter((x) => x.severity === "error").map((x) => `${x.code} ${x.message}`), [], `${name}: main.route alone`);
    const io = bufferIo();
    assert.equal(await run(["lint", expected], io), 0, `routeplane lint ${name}:\n${io.stderr}`);
    const fmt = bufferIo();
    assert.equal(await run(["fmt", "--check", expected], fmt), 0, `routeplane fmt --check ${name}:\n${fmt.stderr}`);
  }
});

test("the test programs use every construct of the DSL's grammar", () => {
  const all = caseNames.map((n) => readFileSync(path.join(CASES, n, "recipe.dsl"), "utf8")).join("\n");
  const constructs = [
    "SIGNAL ", "SIGNAL_GROUP ", "PROJECTION partition", "PROJECTION score", "PROJECTION mapping", "ROUTE ", "PRIORITY ", "TIER ", "WHEN ", "MODEL ",
    "ALGORITHM ", "PLUGIN ", "DESCRIPTION ", "ACTION ", "FOR ", "EMIT ", "DECISION_TREE ", "ELSE IF", "ELSE {", "NAME ", "TEST ", "->", "→",
    "BACKEND ", "GLOBAL ", "RECIPE ", "ENTRYPOINT ", "ROUTING ", " AND ", " OR ", "NOT ", "(reasoning = ", "(weight = ", "(description = ", "#",
  ];
  for (const c of constructs) assert.ok(all.includes(c), `no test program uses ${JSON.stringify(c)}`);
  // Every signal type of the table, every plugin and algorithm the tables know of by name, at least once.
  for (const type of Object.keys(SIGNAL_TABLE)) assert.ok(new RegExp(`SIGNAL ${type} `).test(all), `no test program declares a ${type} signal`);
  for (const algo of ["static", "random", "latency_aware", "elo", "confidence", "remom"]) assert.ok(all.includes(`ALGORITHM ${algo}`), algo);
});

test("every table row says exact, approximate or dropped, and why; dropped rows build nothing", () => {
  const rows = [...Object.entries(SIGNAL_TABLE), ...Object.entries(PLUGIN_TABLE), ...Object.entries(ALGORITHM_TABLE), ...Object.entries(CONSTRUCT_TABLE)];
  assert.ok(rows.length > 60);
  for (const [name, row] of rows) {
    assert.ok(["exact", "approximate", "dropped"].includes(row.status), name);
    assert.ok(row.why.length > 10, `${name} says why`);
  }
  for (const [name, row] of Object.entries(SIGNAL_TABLE)) assert.equal(row.routeplane === null, row.status === "dropped", name);
  for (const [name, row] of Object.entries(PLUGIN_TABLE)) assert.equal(row.body === undefined, row.status === "dropped", name);
});

// ---- the parser

function show(e: VExpr): string {
  if (e.kind === "ref") return `${e.signalType}:${e.name}`;
  if (e.kind === "not") return `(not ${show(e.arg)})`;
  return `(${show(e.left)} ${e.kind} ${show(e.right)})`;
}

test("conditions parse with OR loosest, AND tighter, NOT tightest, left-associative, and keep their tree through the import", () => {
  const p = parseVllmSr('ROUTE r { WHEN a("x") OR b("y") AND NOT c("z") OR NOT (d("w") OR e("v")) AND f("u") MODEL m }');
  assert.deepEqual(p.errors, []);
  const when = p.decls[0].kind === "route" ? p.decls[0].items.find((i) => i.kind === "when") : undefined;
  assert.ok(when && when.kind === "when");
  assert.equal(show(when.expr), "((a:x or (b:y and (not c:z))) or ((not (d:w or e:v)) and f:u))");
  const right = parseVllmSr('ROUTE r { WHEN a("x") AND (b("y") AND c("z")) MODEL m }');
  const w2 = right.decls[0].kind === "route" ? right.decls[0].items.find((i) => i.kind === "when") : undefined;
  assert.ok(w2 && w2.kind === "when");
  assert.equal(show(w2.expr), "(a:x and (b:y and c:z))");
  // Printed back without losing the right-nested group.
  const r = importVllmSr({
    source: 'SIGNAL keyword a { keywords: ["a"] }\nSIGNAL keyword b { keywords: ["b"] }\nSIGNAL keyword c { keywords: ["c"] }\nMODEL m {}\nROUTE r { PRIORITY 1 WHEN keyword("a") AND (keyword("b") AND keyword("c")) OR NOT (keyword("a") OR keyword("b")) MODEL m }',
    sourceName: "t.dsl",
    packageName: "t",
  });
  const main = r.files.find((f) => f.path === "main.route")!.text;
  assert.match(main, /when a and \(b and c\) or not \(a or b\)\n/);
});

test("the parser keeps positions, the DSL's string escapes, numbers as written, and every value form", () => {
  const p = parseVllmSr('# c\nSIGNAL keyword "a b" {\n  keywords: ["x\\ty", "\\u00e9", "multi\nline"], n: -3, f: 0.50, on: true, word: OR, o: { k: [] }, e: {}\n}');
  assert.deepEqual(p.errors, []);
  const s = p.decls[0];
  assert.ok(s.kind === "signal");
  assert.deepEqual(s.pos, { line: 2, col: 1 });
  assert.equal(s.name, "a b");
  const v = Object.fromEntries(s.fields.map((f) => [f.key, f.value]));
  assert.deepEqual(v.keywords.kind === "array" && v.keywords.items.map((i) => (i.kind === "string" ? i.value : null)), ["x\ty", "é", "multi\nline"]);
  assert.ok(v.n.kind === "number" && v.n.value === -3 && v.n.integer);
  assert.ok(v.f.kind === "number" && v.f.text === "0.50" && !v.f.integer);
  assert.ok(v.on.kind === "bool" && v.on.value === true);
  assert.ok(v.word.kind === "ident" && v.word.name === "OR");
  assert.ok(v.o.kind === "object" && v.o.fields[0].value.kind === "array");
  assert.ok(v.e.kind === "object" && v.e.fields.length === 0);
});

test("syntax errors name line and column, what was found and what was expected, and parsing goes on at the next declaration", () => {
  const p = parseVllmSr('SIGNAL keyword a { keywords: ["x"] }\nROUTE r {\n  PRIORITY high\n  MODEL m\n}\nSIGNAL keyword b { keywords ["y"] }\nMODEL ok {}\n');
  assert.deepEqual(p.errors.map((e) => `${e.pos.line}:${e.pos.col} ${e.message}`), [
    "3:12 expected a whole number after PRIORITY, found `high`",
    "6:29 expected `:` after the field name `keywords`, found `[`",
  ]);
  assert.deepEqual(p.decls.map((d) => d.kind), ["signal", "model"]);
  const unclosed = parseVllmSr('ROUTE r { WHEN a("x" MODEL m }');
  assert.match(unclosed.errors[0].message, /found `MODEL`/);
  const bad = parseVllmSr("RECIPE x { MODEL m {} }");
  assert.match(bad.errors[0].message, /MODEL cannot be declared inside a RECIPE/);
  const eof = parseVllmSr("ROUTE r {");
  assert.equal(eof.errors[0].message, "expected a route statement (PRIORITY, TIER, WHEN, MODEL, ALGORITHM, PLUGIN, DESCRIPTION, ACTION, FOR, EMIT) or `}`, found the end of the file");
  const r = importVllmSr({ source: "ROUTE r {\n  PRIORITY x\n}", sourceName: "recipe.dsl", packageName: "p" });
  assert.deepEqual(r.errors, ["recipe.dsl:2:12: expected a whole number after PRIORITY, found `x`"]);
  assert.deepEqual(r.files, []);
});

// ---- hostile input

test("hostile input: deep nesting, long NOT chains, unterminated strings, stray bytes, many errors and huge files give clean errors", () => {
  const deep = parseVllmSr(`ROUTE r { WHEN ${"(".repeat(10_000)}a("x")${")".repeat(10_000)} MODEL m }`);
  assert.match(deep.errors[0].message, new RegExp(`more than ${VLLM_SR_LIMITS.maxNesting} brackets`));
  const nots = parseVllmSr(`ROUTE r { WHEN ${"NOT ".repeat(200_000)}a("x") MODEL m }`);
  assert.match(nots.errors[0].message, /more than 64/);
  const values = parseVllmSr(`SIGNAL keyword k { keywords: ${"[".repeat(5000)} }`);
  assert.match(values.errors[0].message, /more than 64/);
  const unterminated = parseVllmSr('SIGNAL keyword k { keywords: ["never closed] }\nROUTE r { MODEL m }');
  assert.deepEqual(unterminated.errors.map((e) => `${e.pos.line}:${e.pos.col} ${e.message}`), ['1:31 unterminated string: this `"` has no closing `"` before the end of the file']);
  const stray = parseVllmSr("SIGNAL keyword k { keywords: [@] }");
  assert.equal(stray.errors[0].message, 'unexpected character "@"');
  const many = parseVllmSr("ROUTE r { PRIORITY x }\n".repeat(500));
  assert.equal(many.errors.length, VLLM_SR_LIMITS.maxErrors);
  const huge = parseVllmSr("#".repeat(VLLM_SR_LIMITS.maxSourceBytes + 1));
  assert.match(huge.errors[0].message, /more than the limit/);
  // A big but legal program parses and imports in reasonable time.
  const big = Array.from({ length: 400 }, (_, i) => `SIGNAL keyword k${i} { keywords: ["w${i}"] }\nROUTE r${i} { PRIORITY ${i} WHEN keyword("k${i}") MODEL m }`).join("\n") + "\nMODEL m {}\n";
  const t0 = performance.now();
  const r = importVllmSr({ source: big, sourceName: "big.dsl", packageName: "big" });
  assert.equal(r.ok, true);
  assert.ok(performance.now() - t0 < 60_000);
});

test("hostile names: __proto__, reserved words and unspellable names are renamed and reported, never crash", () => {
  const r = importVllmSr({
    source: 'SIGNAL keyword __proto__ { keywords: ["x"] }\nSIGNAL keyword constructor { keywords: ["y"] }\nMODEL __proto__ {}\nPLUGIN __proto__ system_prompt { system_prompt: "hi" }\nROUTE __proto__ { PRIORITY 1 WHEN keyword("__proto__") AND keyword("constructor") MODEL __proto__ PLUGIN __proto__ }\nROUTE hasOwnProperty { MODEL __proto__ }',
    sourceName: "p.dsl",
    packageName: "__proto__",
  });
  assert.equal(r.ok, true, JSON.stringify(r.checks.map((c) => c.errors.map((d) => d.message))));
  const main = r.files.find((f) => f.path === "main.route")!.text;
  assert.match(main, /^package proto$/m);
  assert.match(main, /route proto priority 1 \{\n {2}when proto and constructor\n {2}use proto\n {2}apply proto\n\}/);
  assert.ok(r.notes.some((n) => n.status === "renamed" && /`__proto__` cannot name anything/.test(n.text)));
  assert.equal(Object.getPrototypeOf({}), Object.prototype, "nothing was written into Object.prototype");
});

test("the config reader: both layouts, credentials never copied, bad YAML named with its line", () => {
  const c = readVllmSrConfig("default_model: a\nvllm_endpoints:\n  - name: e1\n    address: 10.0.0.1\n    port: 8000\n    api_key: secret\nmodel_config:\n  a:\n    preferred_endpoints: [e1]\n    pricing: { prompt_per_1m: 0.1, completion_per_1m: 0.2 }\n", "c.yaml");
  assert.equal(c.defaultModel, "a");
  assert.deepEqual(c.models.get("a"), { endpoint: "http://10.0.0.1:8000/v1", provider: "vllm", cost: { input: 0.1, output: 0.2 } });
  assert.ok(!JSON.stringify([...c.models.values()]).includes("secret"));
  assert.throws(() => readVllmSrConfig("a: [1, 2\n", "bad.yaml"), /^Error: bad\.yaml:\d+:\d+: not valid YAML/);
  assert.throws(() => readVllmSrConfig("- 1\n- 2\n", "list.yaml"), /not a YAML mapping/);
  assert.throws(() => readVllmSrConfig("a: 1\na: 2\n", "dup.yaml"), /not valid YAML/);
  // An alias bomb is bounded.
  const bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]", ...Array.from({ length: 8 }, (_, i) => `${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(10).fill(`*${String.fromCharCode(97 + i)}`).join(", ")}]`)].join("\n");
  assert.throws(() => readVllmSrConfig(bomb, "bomb.yaml"), /bomb\.yaml/);
  assert.equal(tokenCount("8K"), 8000);
  assert.equal(tokenCount("1.5M"), 1_500_000);
  assert.equal(tokenCount("lots"), undefined);
});

// ---- the command

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), "routeplane-import-"));
}

test("the command reads a knowledge base's labels beside config.yaml, and nothing outside its directory", async () => {
  const dir = tmp();
  try {
    const out = path.join(dir, "out");
    const io = bufferIo();
    assert.equal(await run(["import", "vllm-sr", path.join(CASES, "agentic/recipe.dsl"), "--config", path.join(CASES, "agentic/config.yaml"), "-o", out], io), 0, io.stderr);
    assert.equal(readFileSync(path.join(out, "main.route"), "utf8"), readFileSync(path.join(CASES, "agentic/expected/main.route"), "utf8"), "the same as the golden, whose labels the test's reader gave");
    // A copy whose labels.json is a symlink to a file outside: not read, the signal is a stand-in.
    const copy = path.join(dir, "copy");
    mkdirSync(path.join(copy, "kb/privacy"), { recursive: true });
    writeFileSync(path.join(copy, "config.yaml"), readFileSync(path.join(CASES, "agentic/config.yaml")));
    writeFileSync(path.join(dir, "secret.json"), readFileSync(path.join(CASES, "agentic/kb/privacy/labels.json")));
    symlinkSync(path.join(dir, "secret.json"), path.join(copy, "kb/privacy/labels.json"));
    const out2 = path.join(dir, "out2");
    assert.equal(await run(["import", "vllm-sr", path.join(CASES, "agentic/recipe.dsl"), "--config", path.join(copy, "config.yaml"), "-o", out2], bufferIo()), 0);
    const main = readFileSync(path.join(out2, "main.route"), "utf8");
    assert.doesNotMatch(main, /signal knowledge privacy_kb/);
    assert.match(readFileSync(path.join(out2, "IMPORT.md"), "utf8"), /labels\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("routeplane import vllm-sr writes the files, refuses a non-empty directory without --force, and its errors are one line with the place", async () => {
  const dir = tmp();
  try {
    const out = path.join(dir, "out");
    const src = path.join(CASES, "config/recipe.dsl");
    const io = bufferIo();
    assert.equal(await run(["import", "vllm-sr", src, "--config", path.join(CASES, "config/config.yaml"), "-o", out], io), 0, io.stderr);
    assert.match(io.stdout, /^wrote 2 \.route files and IMPORT\.md to .*out: /m);
    assert.deepEqual(listFiles(out), ["IMPORT.md", "main.route", "models.route"]);
    assert.equal(readFileSync(path.join(out, "main.route"), "utf8"), readFileSync(path.join(CASES, "config/expected/main.route"), "utf8"));

    const again = bufferIo();
    assert.equal(await run(["import", "vllm-sr", src, "-o", out], again), 2);
    assert.match(again.stderr, /^routeplane import: -o .*out is not empty: name a new or empty directory, or pass --force to write into it$/m);
    assert.equal(await run(["import", "vllm-sr", src, "-o", out, "--force"], bufferIo()), 0);

    const cases: [string[], RegExp][] = [
      [["import", "vllm-sr", path.join(dir, "missing.dsl"), "-o", path.join(dir, "x")], /cannot read DSL file .*missing\.dsl: no such file/],
      [["import", "vllm-sr", src], /needs -o <dir>/],
      [["import", "litellm", src, "-o", path.join(dir, "x")], /cannot import from `litellm`: routeplane imports vllm-sr/],
      [["import"], /needs the router the policy comes from/],
      [["import", "vllm-sr", src, "-o", path.join(src, "sub")], /cannot create -o .*: ENOTDIR|is a file/],
      [["import", "vllm-sr", src, "-o", src], /is a file, not a directory/],
      [["import", "vllm-sr", src, "--config", path.join(dir, "nope.yaml"), "-o", path.join(dir, "y")], /cannot read config .*nope\.yaml: no such file/],
    ];
    for (const [args, re] of cases) {
      const e = bufferIo();
      assert.equal(await run(args, e), 2, args.join(" "));
      assert.match(e.stderr, re);
      assert.doesNotMatch(e.stderr, /\n\s+at /, "no stack trace");
    }

    const bad = path.join(dir, "bad.dsl");
    writeFileSync(bad, 'SIGNAL keyword k { keywords: ["x" }\n');
    const parseErr = bufferIo();
    assert.equal(await run(["import", "vllm-sr", bad, "-o", path.join(dir, "z")], parseErr), 2);
    assert.match(parseErr.stderr, /^routeplane import: bad\.dsl:1:35: expected `,` or `\]` in the list, found `\}`$/m);
    assert.ok(!existsSync(path.join(dir, "z")), "nothing written for a program that does not parse");

    const big = path.join(dir, "big.dsl");
    writeFileSync(big, Buffer.alloc(VLLM_SR_LIMITS.maxSourceBytes + 1, 0x23));
    const tooBig = bufferIo();
    assert.equal(await run(["import", "vllm-sr", big, "-o", path.join(dir, "b")], tooBig), 2);
    assert.match(tooBig.stderr, /has 2097153 bytes, more than the limit of 2097152/);

    const binary = path.join(dir, "bin.dsl");
    writeFileSync(binary, Buffer.from([0x53, 0x00, 0xff, 0xfe]));
    const bin = bufferIo();
    assert.equal(await run(["import", "vllm-sr", binary, "-o", path.join(dir, "c")], bin), 2);
    assert.match(bin.stderr, /is not UTF-8 text|is not text/);

    const badYaml = path.join(dir, "bad.yaml");
    writeFileSync(badYaml, "providers: [\n");
    const yamlErr = bufferIo();
    assert.equal(await run(["import", "vllm-sr", src, "--config", badYaml, "-o", path.join(dir, "d")], yamlErr), 2);
    assert.match(yamlErr.stderr, /^routeplane import: bad\.yaml:\d+:\d+: not valid YAML/m);

    const help = bufferIo();
    assert.equal(await run(["import", "--help"], help), 0);
    assert.match(help.stdout, /usage: routeplane import vllm-sr <recipe\.dsl> \[--config config\.yaml\] -o <dir>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("recipes are profiles of one package: `routeplane check`, `lint` and `test` take the output directory, and the model name or path selects the recipe's routes", async () => {
  const dir = tmp();
  try {
    const out = path.join(dir, "out");
    const io = bufferIo();
    assert.equal(await run(["import", "vllm-sr", path.join(CASES, "recipes/recipe.dsl"), "-o", out], io), 0, io.stderr);
    assert.match(io.stdout, /: compiles, 6 routes \(3 profiles: speed, quality_first, batch\), 2 lint warnings$/m);
    assert.deepEqual(listFiles(out), ["IMPORT.md", "main.route", "models.route", "recipes/batch.route", "recipes/quality_first.route", "recipes/speed.route"]);
    for (const args of [["check", out], ["lint", out], ["test", out], ["fmt", "--check", out], ["check", path.join(out, "main.route")]]) {
      const r = bufferIo();
      assert.equal(await run(args, r), 0, `routeplane ${args.join(" ")}:\n${r.stdout}\n${r.stderr}`);
    }
    const checked = bufferIo();
    await run(["check", out], checked);
    assert.match(checked.stdout, /ok: 5 file\(s\), 6 routes/);
    // The models are declared once, in models.route.
    const all = listFiles(out).filter((f) => f.endsWith(".route")).map((f) => readFileSync(path.join(out, f), "utf8")).join("\n");
    assert.equal(all.match(/^model fast_model \{/gm)?.length, 1);
    assert.equal(all.match(/^package recipes$/gm)?.length, 5);

    // One request text, three answers: the top-level routes, and each recipe's by the name or path that selects it.
    const files = Object.fromEntries(listFiles(out).filter((f) => f.endsWith(".route")).map((f) => [f, readFileSync(path.join(out, f), "utf8")]));
    const result = compile(memoryHost(files), Object.keys(files));
    const engine = await Engine.load(result.bundle!);
    const decide = (model: string | undefined, text: string, p?: string) => {
      const request = requestFromChat({ ...(model ? { model } : {}), messages: [{ role: "user", content: text }] } as never);
      return engine.decide({ ...request, profile: engine.profileFor(model, p) });
    };
    assert.equal(decide(undefined, "prove it").route, "top_hard");
    assert.equal(decide("MoM", "prove it").route, "top_hard", "an ENTRYPOINT of `default` is the policy's own routes");
    assert.equal(decide("auto", "prove it").route, "deep", "`auto` selects `quality first` (its first ENTRYPOINT; the second one's `auto` is dropped)");
    assert.equal(decide("auto-quality", "hello").route, "quality_first.default");
    assert.equal(decide("fast", "prove it").route, "speed.default", "`speed` has no route for it: its own default, not the top level's");
    assert.equal(decide(undefined, "prove it", "/batch").route, "batch_top_hard", "a recipe no ENTRYPOINT selects is reached by its derived path");
    assert.deepEqual(["auto-fast", "fast", "auto", "auto-quality", "MoM", "night"].map((m) => engine.profileFor(m)), ["speed", "speed", "quality_first", "quality_first", "", ""]);

    // The renames name their source line.
    const report = readFileSync(path.join(out, "IMPORT.md"), "utf8");
    assert.match(report, /\| `recipe\.dsl:42` \| route `chatty` \(recipe `batch`\) \| named `batch_chatty`: recipe `speed` also declares `chatty`/);
    assert.match(report, /\| `recipe\.dsl:41` \| route `top_hard` \(recipe `batch`\) \| named `batch_top_hard`: the top-level program also declares `top_hard`/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a route name shared by two recipes gets the later recipe's prefix, also when the prefixed name is taken", () => {
  const r = importVllmSr({
    source: ["MODEL m {}", 'SIGNAL keyword k { keywords: ["k"] }', 'ROUTE b_r { PRIORITY 1 WHEN keyword("k") MODEL m }',
      'RECIPE a { SIGNAL keyword k { keywords: ["x"] } ROUTE r { PRIORITY 1 WHEN keyword("k") MODEL m } }',
      'RECIPE b { SIGNAL keyword k { keywords: ["k"] } ROUTE r { PRIORITY 1 WHEN keyword("k") MODEL m } }',
      'ENTRYPOINT { recipe: "a", model_names: ["a"] }', 'ENTRYPOINT { recipe: "b", model_names: ["b"] }'].join("\n"),
    sourceName: "n.dsl",
    packageName: "n",
  });
  assert.equal(r.ok, true, JSON.stringify(r.checks.map((c) => c.errors.map((d) => d.message))));
  const text = (f: string) => r.files.find((x) => x.path === f)!.text;
  assert.match(text("recipes/a.route"), /signal keyword a_k \{[^}]*"x"[^}]*\}\n\nroute r in a priority 1 \{\n {2}when a_k\n/);
  // b's `k` is the top level's (declared identically, once); its `r` is a's, and `b_r` the top level's.
  assert.doesNotMatch(text("recipes/b.route"), /signal keyword/);
  assert.match(text("recipes/b.route"), /route b_r_2 in b priority 1 \{\n {2}when k\n/);
  assert.deepEqual(r.notes.filter((n) => n.status === "renamed").map((n) => `${n.where} ${n.construct} → ${/named `(\w+)`/.exec(n.text)?.[1]}`), [
    "n.dsl:4 signal `k` (recipe `a`) → a_k",
    "n.dsl:5 route `r` (recipe `b`) → b_r_2",
  ]);
  assert.deepEqual(r.profiles.map((p) => [p.name, p.models, p.pathPrefix]), [["a", ["a"], null], ["b", ["b"], null]]);
});

test("a result that does not compile is written, reported in IMPORT.md, and exits 1", async () => {
  const dir = tmp();
  try {
    // A header_mutation value with a line break cannot go on the wire (RP0307): the import keeps it, the compiler refuses it.
    const src = path.join(dir, "r.dsl");
    writeFileSync(src, 'MODEL m {}\nPLUGIN h header_mutation { add: [{ name: "x-a", value: "one\\ntwo" }] }\nROUTE r { PRIORITY 1 WHEN keyword("k") MODEL m PLUGIN h }\nSIGNAL keyword k { keywords: ["k"] }\n');
    const io = bufferIo();
    assert.equal(await run(["import", "vllm-sr", src, "-o", path.join(dir, "out")], io), 1);
    assert.match(io.stderr, /the policy in .*out does not compile \(1 error, listed in IMPORT\.md\)/);
    const report = readFileSync(path.join(dir, "out/IMPORT.md"), "utf8");
    assert.match(report, /error\[RP0307\] `main\.route:\d+:\d+`/);
    assert.match(report, /\*\*1 error\*\*/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("strings with control characters the .route lexer has no short escape for (\\b, \\f) are written as \\u escapes", () => {
  const r = importVllmSr({ source: 'MODEL m {}\nPLUGIN p system_prompt { system_prompt: "bell\\b feed\\f tab\\t \\u2028" }\nROUTE r { PRIORITY 1 WHEN keyword("\\b") MODEL m PLUGIN p }', sourceName: "s.dsl", packageName: "s" });
  assert.deepEqual(r.errors, []);
  assert.equal(r.ok, true);
  const main = r.files.find((f) => f.path === "main.route")!.text;
  assert.ok(main.includes('text: "bell\\u0008 feed\\u000c tab\\t \u2028"'), main);
  assert.ok(main.includes('key: "vllm-sr/keyword/\\u0008"'), main);
});

test("importing twice gives the same bytes", () => {
  for (const name of caseNames) assert.deepEqual(importCase(name).files, importCase(name).files, name);
});



test("docs/migrating-from-vllm-sr.md lists every row of the mapping tables with its status, and its worked example is the golden output", () => {
  const doc = readFileSync(path.join(REPO, "docs/migrating-from-vllm-sr.md"), "utf8");
  const lines = doc.split("\n");
  const tables: [string, Record<string, { status: string }>][] = [["signal", SIGNAL_TABLE], ["plugin", PLUGIN_TABLE], ["algorithm", ALGORITHM_TABLE], ["construct", CONSTRUCT_TABLE]];
  for (const [what, table] of tables) {
    for (const [key, row] of Object.entries(table)) {
      const line = lines.find((l) => l.startsWith(`| \`${key}\` |`));
      assert.ok(line, `the doc has no row for ${what} \`${key}\``);
      assert.ok(line.includes(` | ${row.status} | `), `the doc's row for ${what} \`${key}\` does not say ${row.status}`);
    }
  }
  for (const f of ["main.route", "models.route"]) {
    const text = readFileSync(path.join(CASES, "config/expected", f), "utf8").trim();
    assert.ok(doc.includes(text), `the worked example's ${f} is not the golden output`);
  }
});

test("mutated test programs (inserted tokens, cut and repeated spans) never throw, and whatever parses is written as .route text that parses", () => {
  const sources = caseNames.map((n) => readFileSync(path.join(CASES, n, "recipe.dsl"), "utf8"));
  const pieces = ['"', "{", "}", "(", ")", "[", "]", ",", ":", "=", "AND", "OR", "NOT", "ROUTE", "SIGNAL", "MODEL", "__proto__", "default", "-1", "0.5", "\n", "#", "→", "->", "\\"];
  let seed = 20260315;
  const rnd = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  let parsed = 0;
  for (let i = 0; i < 400; i++) {
    let s = sources[rnd(sources.length)];
    for (let k = 0; k < 1 + rnd(4); k++) {
      const at = rnd(s.length);
      const op = rnd(3);
      if (op === 0) s = s.slice(0, at) + pieces[rnd(pieces.length)] + s.slice(at);
      else if (op === 1) s = s.slice(0, at) + s.slice(at + 1 + rnd(20));
      else {
        const b = rnd(s.length);
        s = s.slice(0, at) + s.slice(b, b + rnd(40)) + s.slice(at);
      }
    }
    const r = importVllmSr({ source: s, sourceName: "m.dsl", packageName: "m" });
    assert.deepEqual(r.errors.filter((e) => e.startsWith("internal error")), [], `mutation ${i}`);
    for (const e of r.errors) assert.match(e, /^m\.dsl:\d+:\d+: /);
    if (r.files.length) parsed++;
  }
  assert.ok(parsed > 50, `only ${parsed} mutations parsed: the test no longer exercises the translation`);
});


// ---- constructs routeplane gained after the first import

test("conversation signals: routeplane's bounds match exactly the counts vLLM-SR's predicate admits, for every exact source", () => {
  const row = SIGNAL_TABLE.conversation;
  assert.equal(row.status, "exact");
  // vLLM-SR's conversationPredicateMatches, as it reads a count.
  const vllm = (feature: string, pred: Record<string, number> | undefined, v: number) => {
    if (feature === "exists") return v > 0;
    if (!pred) return true;
    if (pred.gt !== undefined && v <= pred.gt) return false;
    if (pred.gte !== undefined && v < pred.gte) return false;
    if (pred.lt !== undefined && v >= pred.lt) return false;
    if (pred.lte !== undefined && v > pred.lte) return false;
    return true;
  };
  const sources: [Record<string, string>, string][] = [[{ type: "message", role: "user" }, "user_turns"], [{ type: "tool_definition" }, "tools"], [{ type: "assistant_tool_call" }, "tool_calls"]];
  const bounds = [undefined, -1, 0, 0.5, 1, 2, 2.5, 7, 10];
  let checked = 0;
  for (const [source, output] of sources) {
    for (const feature of ["count", "exists"]) {
      for (const lo of bounds) for (const hi of bounds) for (const [kl, kh] of [["gt", "lt"], ["gte", "lte"], ["gt", "lte"], ["gte", "lt"]]) {
        const pred: Record<string, number> = {};
        if (lo !== undefined) pred[kl] = lo;
        if (hi !== undefined) pred[kh] = hi;
        const fields: Record<string, unknown> = { feature: { type: feature, source }, ...(Object.keys(pred).length ? { predicate: pred } : {}) };
        const body = row.body!({ name: "c", keys: Object.keys(fields), field: (k) => fields[k] });
        assert.equal(body.dropped, undefined);
        assert.equal(body.type, undefined);
        for (let v = 0; v <= 12; v++) {
          const shape = { messages: 0, user_turns: 0, tools: 0, tool_calls: 0, tool_repeats: 0, system: false, response_format: "none", [output]: v };
          assert.equal(conversationMatches(body.fields, shape), vllm(feature, Object.keys(pred).length ? pred : undefined, v), `${JSON.stringify(fields)} at ${output} = ${v}: ${JSON.stringify(body.fields)}`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 5000);
});

test("conversation sources routeplane does not count are stand-ins with the reason, never a guess", () => {
  const r = importVllmSr({
    source: ['SIGNAL conversation a { feature: { type: "count", source: { type: "message", role: "assistant" } }, predicate: { gte: 2 } }',
      'SIGNAL conversation b { feature: { type: "exists", source: { type: "active_tool_loop" } } }',
      'SIGNAL conversation c { feature: { type: "count", source: { type: "telepathy" } }, predicate: { gte: 1 } }',
      "MODEL m {}",
      'ROUTE r { PRIORITY 1 WHEN conversation("a") OR conversation("b") OR conversation("c") MODEL m }'].join("\n"),
    sourceName: "c.dsl",
    packageName: "c",
  });
  assert.equal(r.ok, true);
  const main = r.files.find((f) => f.path === "main.route")!.text;
  for (const n of ["a", "b", "c"]) assert.match(main, new RegExp(`signal metadata ${n} \\{ key: "vllm-sr/conversation/${n}" \\}`));
  assert.doesNotMatch(main, /signal conversation/);
  const dropped = r.notes.filter((n) => n.status === "dropped").map((n) => n.text);
  assert.ok(dropped.some((t) => /routeplane does not count assistant messages/.test(t)));
  assert.ok(dropped.some((t) => /which message is last/.test(t)));
  assert.ok(dropped.some((t) => /unknown `source.type: "telepathy"`/.test(t)));
});

test("a conversation signal without its `feature` block is dropped with the reason, never an always-true signal; an undeclared signal gets a did-you-mean (newcomer review)", () => {
  const r = importVllmSr({
    source: ['SIGNAL conversation has_tools { feature: "exists", source: { type: "tool_definition" } }',
      'SIGNAL keyword k { operator: "OR", keywords: ["x"] }',
      "MODEL m {}",
      'ROUTE r { PRIORITY 1 WHEN conversation("has_tools") OR keyword("kk") OR keyword("k") MODEL m }'].join("\n"),
    sourceName: "c.dsl",
    packageName: "c",
  });
  assert.equal(r.ok, true);
  const main = r.files.find((f) => f.path === "main.route")!.text;
  assert.doesNotMatch(main, /signal conversation/);
  assert.match(main, /signal metadata has_tools/);
  assert.match(main, /keyword signal `kk` is not declared in the program/);
  const dropped = r.notes.filter((n) => n.status === "dropped").map((n) => n.text);
  assert.ok(dropped.some((t) => /no `feature` block \(`source` belongs inside it\)/.test(t)), dropped.join("\n"));
  assert.ok(dropped.some((t) => /no keyword signal `kk` is declared \(did you mean `k`\?\)/.test(t)), dropped.join("\n"));
});

test("a confidence cascade's log-probability threshold is the mean token probability e^threshold; self-verification names a verifier", () => {
  const cascade = (fields: string) => {
    const r = importVllmSr({ source: `MODEL a {}\nMODEL b {}\nROUTE r { MODEL a, b ALGORITHM confidence { ${fields} } }`, sourceName: "x.dsl", packageName: "x" });
    assert.equal(r.ok, true, JSON.stringify(r.checks.map((c) => c.errors.map((d) => d.message))));
    return /default \{\n {2}select cascade \{ (.*) \}\n\}/.exec(r.files.find((f) => f.path === "main.route")!.text)?.[1];
  };
  assert.equal(cascade("threshold: -0.5"), `models: [a, b], min_confidence: ${Math.round(Math.exp(-0.5) * 1000) / 1000}`);
  assert.equal(cascade('confidence_method: "avg_logprob", threshold: -2'), "models: [a, b], min_confidence: 0.135");
  assert.equal(cascade(""), "models: [a, b], min_confidence: 0.368", "vLLM-SR's default threshold, -1.0");
  assert.equal(cascade("threshold: 0"), "models: [a, b], min_confidence: 1");
  assert.equal(cascade('confidence_method: "self_verify", threshold: 0.75'), "models: [a, b], min_confidence: 0.75, verifier: a");
  // Per-use parameters ride along as the select's params.
  const r = importVllmSr({ source: 'MODEL a {}\nMODEL b {}\nROUTE r { MODEL a (reasoning = false, lora = "sql-lora"), b (effort = "low") ALGORITHM confidence { threshold: -1 } }', sourceName: "x.dsl", packageName: "x" });
  assert.match(r.files.find((f) => f.path === "main.route")!.text, /select cascade \{ models: \[a, b\], min_confidence: 0\.368, params: \{ a: \{ reasoning: false, lora: "sql-lora" \}, b: \{ effort: low \} \} \}/);
});

test("knowledge bases: labels.json is read only through the reader, by a relative path inside config.yaml's directory; without a reader kb signals are stand-ins", () => {
  const dir = path.join(CASES, "agentic");
  const source = readFileSync(path.join(dir, "recipe.dsl"), "utf8");
  const config = { text: readFileSync(path.join(dir, "config.yaml"), "utf8"), name: "config.yaml" };
  const asked: string[] = [];
  const withReader = importVllmSr({ source, sourceName: "recipe.dsl", config, packageName: "agentic", readFile: caseReader(dir, asked) });
  assert.equal(withReader.ok, true);
  assert.deepEqual(asked.sort(), ["kb/empty/labels.json", "kb/privacy/labels.json"], "each knowledge base is read once, and `../outside` never");
  const without = importVllmSr({ source, sourceName: "recipe.dsl", config, packageName: "agentic" });
  assert.equal(without.ok, true);
  const main = without.files.find((f) => f.path === "main.route")!.text;
  assert.doesNotMatch(main, /signal knowledge privacy_kb/);
  assert.match(main, /signal metadata private_code \{ key: "vllm-sr\/kb\/private_code" \}/);
  assert.ok(without.notes.some((n) => n.status === "dropped" && /labels are in `kb\/privacy\/labels\.json`, which this import did not read/.test(n.text)));
  const broken = importVllmSr({ source, sourceName: "recipe.dsl", config, packageName: "agentic", readFile: () => "{ not json" });
  assert.equal(broken.ok, true);
  assert.ok(broken.notes.some((n) => /`kb\/privacy\/labels\.json` is not JSON/.test(n.text)));
});

test("partitions leave out members that are labels of a shared knowledge signal or written as their opposite", () => {
  const r = importVllmSr({
    source: ['SIGNAL preference short { examples: ["be brief"] }', 'SIGNAL preference long { examples: ["in depth"] }',
      'SIGNAL keyword not_code { operator: "NOR", keywords: ["python"] }', 'SIGNAL keyword chat { operator: "OR", keywords: ["hi"] }',
      'SIGNAL keyword help { operator: "OR", keywords: ["help"] }',
      'PROJECTION partition styles { members: ["short", "long"] }', 'PROJECTION partition kinds { members: ["not_code", "chat", "help"] }',
      "MODEL m {}", 'ROUTE a { PRIORITY 2 WHEN preference("short") OR keyword("not_code") MODEL m }', 'ROUTE b { PRIORITY 1 WHEN keyword("chat") OR preference("long") MODEL m }'].join("\n"),
    sourceName: "p.dsl",
    packageName: "p",
  });
  assert.equal(r.ok, true, JSON.stringify(r.checks.map((c) => c.errors.map((d) => d.message))));
  const main = r.files.find((f) => f.path === "main.route")!.text;
  assert.match(main, /signal partition kinds \{\n {2}members: \[chat, help\]\n\}/);
  assert.doesNotMatch(main, /partition styles/);
  assert.match(main, /when preferences == "short" or not not_code\n/);
  assert.match(main, /when kinds\.chat or preferences == "long"\n/);
  assert.ok(r.notes.some((n) => /member `short` is a label of `preferences`/.test(n.text)));
  assert.ok(r.notes.some((n) => /member `not_code` is written as its opposite/.test(n.text)));
});
