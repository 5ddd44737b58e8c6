// Parser and compiler fuzzing: at least 10,000 mutated and random inputs per
// run. Each must end in a bundle or in error diagnostics: never an exception,
// never more than a second. Inputs that parse cleanly must also survive the
// formatter (fmt(fmt(x)) === fmt(x), and the output parses cleanly).
// The seed is printed; ROUTEPLANE_FUZZ_SEED=<n> replays a run.
import { test } from "node:test";
import assert from "node:assert/strict";
import { compile, formatFile, memoryHost } from "../compiler/index.ts";
import { parseFile } from "../grammar/index.ts";
import { Engine } from "../runtime/index.ts";
import { loadTextModels } from "../runtime/engine/detectors.ts";
import { fuzzInputs, SHARED } from "./support/fuzz-inputs.ts";

const RUNS = Number(process.env.ROUTEPLANE_FUZZ_RUNS ?? 10_000);
const SEED = Number(process.env.ROUTEPLANE_FUZZ_SEED ?? Date.now() % 1_000_000);

test(`fuzz: ${RUNS} inputs end in a bundle or diagnostics, fast`, { timeout: 600_000 }, async () => {
  await loadTextModels({ tokens: true, language: true });
  console.log(`fuzz seed ${SEED} (replay with ROUTEPLANE_FUZZ_SEED=${SEED})`);
  let bundles = 0;
  let slowest = 0;
  let i = -1;
  for (const input of fuzzInputs(SEED, RUNS)) {
    i++;
    const files = { "p/main.route": input, "shared/models.route": SHARED };
    const timed = () => {
      const t0 = performance.now();
      const r = compile(memoryHost(files), ["p/main.route"]);
      return { r, ms: performance.now() - t0 };
    };
    let result;
    let ms = 0;
    try {
      ({ r: result, ms } = timed());
      // A hang repeats; a stall of this shared VM does not: time an overrun once more.
      if (ms >= 1000) ms = Math.min(ms, timed().ms);
      if (result.bundle) {
        bundles++;
        const engine = await Engine.load(result.bundle);
        // The input doubles as untrusted prompt text: deciding on it must not throw either.
        for (const content of ["refund order TCK-123456 for a@b.io", input]) engine.decide({ messages: [{ role: "user", content }], headers: { "x-tenant": input.slice(0, 20) }, metadata: {}, signals: {} }, { trace: true });
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
    slowest = Math.max(slowest, ms);
    assert.ok(ms < 1000, `compiling input ${i} (seed ${SEED}) took ${ms.toFixed(0)} ms, twice`);
    assert.ok(result.bundle !== null || result.diagnostics.some((d) => d.severity === "error"), `input ${i} produced neither a bundle nor an error`);
  }
  console.log(`fuzz: ${RUNS} inputs, ${bundles} compiled to bundles, slowest ${slowest.toFixed(1)} ms`);
  assert.ok(bundles > 0, "no input compiled: the mutations are too destructive to exercise emit");
});
