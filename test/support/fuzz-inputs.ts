// Fuzz inputs, reproducible from a seed: mutations of the examples and the
// diagnostics cases, random token soups, and random characters.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { REPO } from "./golden.ts";

export function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n) => {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

export const SHARED = readFileSync(path.join(REPO, "examples/shared/models.route"), "utf8");
const CORPUS = [
  ...["support", "coding", "platform"].map((e) => readFileSync(path.join(REPO, "examples", e, "main.route"), "utf8")),
  ...readdirSync(path.join(REPO, "test/diagnostics/cases")).filter((n) => n.endsWith(".route")).map((n) => readFileSync(path.join(REPO, "test/diagnostics/cases", n), "utf8")),
];
const VOCAB = [
  "package", "import", "model", "signal", "plugin", "route", "default", "guarantee", "assume", "test", "when", "use", "fallback",
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

/** The i-th input of a run is a pure function of the seed. */
export function* fuzzInputs(seed: number, runs: number): Generator<string> {
  const r = rng(seed);
  for (let i = 0; i < runs; i++) {
    const kind = r(10);
    // Half the mutations start from a full example, so that many still compile and exercise emit.
    const base = r(2) === 0 ? CORPUS[r(3)] : CORPUS[r(CORPUS.length)];
    yield kind < 7 ? mutate(base, r) : kind < 9 ? randomTokens(r) : Array.from({ length: r(200) }, () => String.fromCharCode(r(0x10000))).join("");
  }
}
