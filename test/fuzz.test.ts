// Parser and compiler fuzzing: at least 10,000 mutated and random inputs per
// run. Each must end in a bundle or in error diagnostics: never an exception,
// never more than a second. Inputs that parse cleanly must also survive the
// formatter (fmt(fmt(x)) === fmt(x), and the output parses cleanly).
// The seed is printed; ROUTEPLANE_FUZZ_SEED=<n> replays a run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { compile, formatFile, memoryHost } from "../compiler/index.ts";
import { parseFile } from "../grammar/index.ts";
import { Engine, loadTextModels } from "../runtime/index.ts";
import { REPO } from "./support/golden.ts";

const RUNS = Number(process.env.ROUTEPLANE_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.ROUTEPLANE_FUZZ_SEED ?? Date.now() % 1_000_000);

function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

const SHARED = readFileSync(path.join(REPO, "examples/shared/models.route"), "utf8");
const CORPUS = [
  ...["support", "coding", "platform"].map((e) => readFileSync(path.join(REPO, "examples", e, "main.route"), "utf8")),
  ...readdirSync(path.join(REPO, "test/diagnostics/cases")).filter((n) => n.endsWith(".route")).map((n) => readFileSync(path.join(REPO, "test/diagnostics/cases", n), "utf8")),
];
const VOCAB = [
  "package", "import", "model", "signal", "plugin", "route", "default", "guarantee", "test", "when", "use", "fallback",
  "select", "apply", "and", "or", "not", "in", "has", "applies", "priority", "before", "request", "expect", "blocked",
  "true", "false", "{", "}", "[", "]", "(", ")", ",", ":", ";", ".", "==", "!=", ">=", "<=", ">", "<", "+", "-", "*", "/",
  "0", "1.5", "-3", "1e999", "99999999999999999999", '"x"', '"', '"\\u00e9"', "\n", "  ", "#c\n", "keyword", "regex",
  "context", "adaptive", "weighted", "m", "k", "qwen_local", "gpt_4o", "pii", "jb", "topic.code", "lang.code", "§", "\u0000", "é", "😀",
];

function mutate(text: string, r: (n: number) => number): string {
  let t = text;
  const edits = 1 + r(4);
  for (let i = 0; i < edits; i++) {
    const a = r(t.length + 1);
    const b = Math.min(t.length, a + r(40));
    switch (r(6)) {
      case 0: t = t.slice(0, a) + t.slice(b); break;                                   // delete
      case 1: t = t.slice(0, a) + VOCAB[r(VOCAB.length)] + t.slice(a); break;          // insert a token
      case 2: t = t.slice(0, a) + t.slice(a, b) + t.slice(a); break;                   // duplicate
      case 3: t = t.slice(0, a); break;                                                // truncate
      case 4: { const c = r(t.length + 1); t = t.slice(0, c) + t.slice(a, b) + t.slice(c); break; } // copy elsewhere
      default: t = t.slice(0, a) + String.fromCharCode(r(0x3000)) + t.slice(a + 1);    // replace a character
    }
  }
  return t;
}

function randomTokens(r: (n: number) => number): string {
  const n = r(60);
  let out = "";
  for (let i = 0; i < n; i++) out += VOCAB[r(VOCAB.length)] + (r(3) === 0 ? "\n" : " ");
  return out;
}

test(`fuzz: ${RUNS} inputs end in a bundle or diagnostics, fast`, { timeout: 600_000 }, async () => {
  await loadTextModels({ tokens: true, language: true });
  console.log(`fuzz seed ${SEED} (replay with ROUTEPLANE_FUZZ_SEED=${SEED})`);
  const r = rng(SEED);
  let bundles = 0;
  let slowest = 0;
  for (let i = 0; i < RUNS; i++) {
    const kind = r(10);
    // Half the mutations start from a full example, so that many still compile and exercise emit.
    const base = r(2) === 0 ? CORPUS[r(3)] : CORPUS[r(CORPUS.length)];
    const input = kind < 7 ? mutate(base, r) : kind < 9 ? randomTokens(r) : Array.from({ length: r(200) }, () => String.fromCharCode(r(0x10000))).join("");
    const files = { "p/main.route": input, "shared/models.route": SHARED };
    const t0 = performance.now();
    let result;
    try {
      result = compile(memoryHost(files), ["p/main.route"]);
      if (result.bundle) {
        bundles++;
        (await Engine.load(result.bundle)).decide({ messages: [{ role: "user", content: "refund order TCK-123456 for a@b.io" }], headers: {}, metadata: {}, signals: {} });
      }
      const parsed = parseFile("p/main.route", input);
      if (parsed.problems.length === 0) {
        const once = formatFile(parsed);
        const reparsed = parseFile("p/main.route", once);
        assert.deepEqual(reparsed.problems, [], `formatted output does not parse (seed ${SEED}, input ${i})`);
        assert.equal(formatFile(reparsed), once, `fmt is not idempotent (seed ${SEED}, input ${i})`);
      }
    } catch (err) {
      assert.fail(`input ${i} (seed ${SEED}) threw ${(err as Error).stack}\n--- input ---\n${input}`);
    }
    const ms = performance.now() - t0;
    slowest = Math.max(slowest, ms);
    assert.ok(ms < 1000, `input ${i} (seed ${SEED}) took ${ms.toFixed(0)} ms`);
    assert.ok(result.bundle !== null || result.diagnostics.some((d) => d.severity === "error"), `input ${i} produced neither a bundle nor an error`);
  }
  console.log(`fuzz: ${RUNS} inputs, ${bundles} compiled to bundles, slowest ${slowest.toFixed(1)} ms`);
  assert.ok(bundles > 0, "no input compiled: the mutations are too destructive to exercise emit");
});
