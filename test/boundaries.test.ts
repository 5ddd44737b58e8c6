// The dependency direction between parts is a lint rule; prove it bites.
import { test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { ESLint } from "eslint";
import { REPO } from "./support/golden.ts";

async function violations(file: string, code: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: REPO });
  const [result] = await eslint.lintText(code, { filePath: path.join(REPO, file) });
  return result.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message);
}

test("runtime may import only bundle, and only through its index", async () => {
  const v = await violations("runtime/engine/x.ts", [
    'import { compile } from "../../compiler/index.ts";',
    'import { canonicalJson } from "../../bundle/canonical.ts";',
    'import { BUNDLE_FORMAT } from "../../bundle/index.ts";',
    'export const x = [compile, canonicalJson, BUNDLE_FORMAT];',
  ].join("\n"));
  assert.equal(v.length, 2);
  assert.match(v[0], /runtime\/ may not import compiler\//);
  assert.match(v[1], /only through bundle\/index.ts/);
});

test("bundle and grammar import nothing of ours; third-party libraries stay home", async () => {
  assert.equal((await violations("bundle/x.ts", 'import { parseFile } from "../grammar/index.ts";\nexport const x = parseFile;')).length, 1);
  assert.equal((await violations("grammar/x.ts", 'import { sha256Hex } from "../bundle/index.ts";\nexport const x = sha256Hex;')).length, 1);
  const moo = await violations("compiler/x.ts", 'import moo from "moo";\nexport const x = moo;');
  assert.match(moo[0], /moo is used only inside grammar\//);
});

test("compiler may import grammar and bundle through their indexes; cli may import anything", async () => {
  assert.deepEqual(await violations("compiler/x.ts", 'import { parseFile } from "../grammar/index.ts";\nimport { sha256Hex } from "../bundle/index.ts";\nexport const x = [parseFile, sha256Hex];'), []);
  assert.deepEqual(await violations("cli/x.ts", 'import { Engine } from "../runtime/index.ts";\nimport { compile } from "../compiler/index.ts";\nexport const x = [Engine, compile];'), []);
  assert.equal((await violations("compiler/x.ts", 'import { Engine } from "../runtime/index.ts";\nexport const x = Engine;')).length, 1);
});

test("the runtime has two more entry points, the engine's and the sidecar's, and nothing else inside it is reachable", async () => {
  assert.deepEqual(await violations("cli/x.ts", 'import { Engine } from "../runtime/engine/index.ts";\nimport { createSidecar } from "../runtime/sidecar/index.ts";\nexport const x = [Engine, createSidecar];'), []);
  const inside = await violations("cli/x.ts", 'import { Engine } from "../runtime/engine/engine.ts";\nimport { BundleStore } from "../runtime/sidecar/bundle-store.ts";\nexport const x = [Engine, BundleStore];');
  assert.equal(inside.length, 2);
  assert.match(inside[0], /only through runtime\/index.ts or runtime\/engine\/index.ts or runtime\/sidecar\/index.ts/);
  assert.equal((await violations("compiler/x.ts", 'import { Engine } from "../runtime/engine/index.ts";\nexport const x = Engine;')).length, 1);
});

test("the compiler's version is an entry point of its own, so the sidecar need not load the compiler", async () => {
  assert.deepEqual(await violations("cli/x.ts", 'import { COMPILER_VERSION } from "../compiler/version.ts";\nexport const x = COMPILER_VERSION;'), []);
  const inside = await violations("cli/x.ts", 'import { compile } from "../compiler/compile.ts";\nexport const x = compile;');
  assert.equal(inside.length, 1);
  assert.match(inside[0], /only through compiler\/index.ts or compiler\/version.ts/);
  assert.equal((await violations("runtime/x.ts", 'import { COMPILER_VERSION } from "../compiler/version.ts";\nexport const x = COMPILER_VERSION;')).length, 1);
});
