// bench/safety: how well the safety signals hold for the ways people write.
//   recall     — generated PII and jailbreak variants per category
//                (test/support/safety-cases.ts), through the engine (signal
//                fires) and pii_redact (nothing of the item leaves);
//   benign     — false positives on the 14,042 real MMLU questions in
//                /work/shared/data/routellm-mmlu/ (every PII type, and the
//                jailbreak score at 0.5 and 0.8);
//   ttft       — time to first token of a streamed answer through the
//                sidecar, with and without `pii_redact { on_response: true }`,
//                from a model server that sends a token every 20 ms.
// Usage: node bench/safety.ts [--mmlu path] [--skip-ttft]
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { serializeBundle } from "../bundle/index.ts";
import { compile, memoryHost } from "../compiler/index.ts";
import { BundleStore, createSidecar, findPii, jailbreakScore, type TelemetrySink } from "../runtime/index.ts";
import { jailbreakCases, jailbreakCaught, knownMisses, piiCases, piiCaught, recallChecker, rng } from "../test/support/safety-cases.ts";

const arg = (name: string) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined);
const MMLU = arg("--mmlu") ?? "/work/shared/data/routellm-mmlu/mmlu.jsonl.gz";

// ---------------------------------------------------------------- recall

const checker = await recallChecker();
const rows = new Map<string, { n: number; detected: number; clean: number }>();
const row = (k: string) => rows.get(k) ?? rows.set(k, { n: 0, detected: 0, clean: 0 }).get(k)!;
for (const pc of piiCases(50, 2026)) {
  const r = piiCaught(checker, pc);
  const x = row(pc.category);
  x.n++;
  if (r.detected) x.detected++;
  if (r.redacted) x.clean++;
}
for (const jc of jailbreakCases()) {
  const x = row(jc.category);
  x.n++;
  if (jailbreakCaught(checker, jc)) {
    x.detected++;
    x.clean++;
  }
}
console.log("recall (detected / nothing left after redaction), per category:");
let total = 0;
let caught = 0;
for (const [k, x] of rows) {
  total += x.n;
  caught += x.clean;
  console.log(`  ${k.padEnd(36)} ${String(x.n).padStart(3)}  ${pct(x.detected, x.n)}  ${k.startsWith("jailbreak") ? "" : pct(x.clean, x.n)}`);
}
console.log(`  all: ${caught}/${total} (${pct(caught, total)})`);
const limits = new Map<string, { n: number; clean: number }>();
for (const pc of knownMisses(50)) {
  const x = limits.get(pc.category) ?? limits.set(pc.category, { n: 0, clean: 0 }).get(pc.category)!;
  x.n++;
  if (piiCaught(checker, pc).redacted) x.clean++;
}
console.log("known limits (documented, not claimed):");
for (const [k, x] of limits) console.log(`  ${k.padEnd(36)} ${String(x.n).padStart(3)}  ${pct(x.clean, x.n)}`);

// ---------------------------------------------------------------- benign text

const prompts = gunzipSync(readFileSync(MMLU)).toString("utf8").trim().split("\n").map((l) => (JSON.parse(l) as { prompt: string }).prompt);
const all = new Set(["email", "phone", "credit_card", "iban", "ssn", "ip_address"]);
const byType: Record<string, number> = {};
let anyPii = 0;
let jb05 = 0;
let jb08 = 0;
const t0 = performance.now();
for (const p of prompts) {
  const found = findPii(p, all);
  if (found.length > 0) anyPii++;
  for (const t of new Set(found.map((f) => f.type))) byType[t] = (byType[t] ?? 0) + 1;
  const s = jailbreakScore(p);
  if (s >= 0.5) jb05++;
  if (s >= 0.8) jb08++;
}
const ms = performance.now() - t0;
console.log(`benign: ${prompts.length} MMLU questions (${(ms / prompts.length * 1000).toFixed(1)} µs each for PII + jailbreak)`);
console.log(`  PII (any of 6 types): ${anyPii} (${pct(anyPii, prompts.length, 3)}) ${JSON.stringify(byType)}`);
console.log(`  jailbreak ≥ 0.5: ${jb05} (${pct(jb05, prompts.length, 3)}), ≥ 0.8: ${jb08} (${pct(jb08, prompts.length, 3)})`);

// Number-heavy benign text (generated): MMLU has few long numbers, real support traffic has many.
const gen = rng(99);
const d = (n: number) => Array.from({ length: n }, () => Math.floor(gen() * 10)).join("");
const numberShapes: Record<string, () => string> = {
  "date and time": () => `on 20${d(2)}-0${1 + Math.floor(gen() * 9)}-1${d(1)} at 1${d(1)}:${d(2)}`,
  price: () => `it cost $${d(1)},${d(3)}.${d(2)} plus ${d(2)}% tax`,
  version: () => `upgrade from ${d(1)}.${d(2)}.${d(1)} to ${d(1)}.${d(2)}.${d(1)}`,
  "order number (8 digits)": () => `order ${d(8)} shipped`,
  "order number (10 digits)": () => `order ${d(10)} shipped`,
  "tracking number (12 digits)": () => `tracking ${d(12)}`,
  "ISBN-13": () => `ISBN 978-${d(1)}-${d(3)}-${d(5)}-${d(1)}`,
  "16-digit reference": () => `reference ${d(16)}`,
  "measurements": () => `${d(3)} x ${d(3)} x ${d(2)} mm, ${d(4)} g`,
};
console.log("benign numbers (generated, 1,000 each): share flagged as PII");
for (const [name, make] of Object.entries(numberShapes)) {
  let flagged = 0;
  const types = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const found = findPii(make(), all);
    if (found.length > 0) flagged++;
    for (const f of found) types.add(f.type);
  }
  console.log(`  ${name.padEnd(28)} ${pct(flagged, 1000)} ${[...types].join(", ")}`);
}

function pct(a: number, b: number, digits = 1): string {
  return `${((100 * a) / b).toFixed(digits)}%`;
}

// ---------------------------------------------------------------- time to first token

if (!process.argv.includes("--skip-ttft")) await ttft();

async function ttft(): Promise<void> {
  const TOKENS = 20;
  const GAP_MS = 20;
  // Tokens as OpenAI streams them (a leading space) or with the space after.
  const styles: Record<string, string[]> = {
    "trailing space": Array.from({ length: TOKENS }, (_, i) => (i === 0 ? "Sure, " : `word${i} `)),
    "leading space": Array.from({ length: TOKENS }, (_, i) => (i === 0 ? "Sure" : i === 1 ? "," : ` word${i}`)),
  };
  let style = styles["trailing space"];
  const upstream: Server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      let i = 0;
      const tokens = style;
      const tick = () => {
        if (i < tokens.length) {
          res.write(`data: ${JSON.stringify({ id: "b", object: "chat.completion.chunk", choices: [{ index: 0, delta: { content: tokens[i++] }, finish_reason: null }] })}\n\n`);
          setTimeout(tick, GAP_MS);
        } else res.end("data: [DONE]\n\n");
      };
      tick();
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  const r = compile(memoryHost({ "t.route": `package ttft
model m { provider: vllm, endpoint: "${upstreamUrl}" }
plugin pii_redact answers { types: [email, phone, credit_card, iban, ssn], on_response: true }
signal keyword redacted { any: ["redacted"] }
route redacted priority 1 { when redacted; use m; apply answers }
default { use m }
` }), ["t.route"]);
  if (!r.bundle) throw new Error("ttft policy does not compile");
  const store = new BundleStore({ trustedKeys: [] });
  await store.offer(serializeBundle(r.bundle), "bench", { requireSignature: false });
  const sink: TelemetrySink = { emit() {}, stats: () => ({ sent: 0, dropped: 0, queued: 0, failures: 0 }), close: async () => {} };
  const sidecar = createSidecar({ store, telemetry: sink });
  const { port } = await sidecar.listen(0);
  const sidecarUrl = `http://127.0.0.1:${port}/v1`;

  /** Milliseconds until the first non-empty content delta arrives. */
  const first = async (base: string, text: string): Promise<number> => {
    const t = performance.now();
    const res = await fetch(`${base}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: "m", stream: true, messages: [{ role: "user", content: text }] }) });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    let at = -1;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value, { stream: true });
      if (at < 0 && /"content":"[^"]/.test(seen)) at = performance.now() - t;
    }
    return at;
  };
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const N = 30;
  console.log(`time to first token (median of ${N}; a token every ${GAP_MS} ms):`);
  for (const [name, tokens] of Object.entries(styles)) {
    style = tokens;
    for (let i = 0; i < 3; i++) await first(sidecarUrl, "redacted warm-up");
    const direct: number[] = [];
    const plain: number[] = [];
    const redacted: number[] = [];
    for (let i = 0; i < N; i++) {
      direct.push(await first(upstreamUrl, "hello"));
      plain.push(await first(sidecarUrl, "hello"));
      redacted.push(await first(sidecarUrl, "redacted please"));
    }
    const [d, p, q] = [median(direct), median(plain), median(redacted)];
    console.log(`  ${name.padEnd(15)} direct ${d.toFixed(2)} ms, sidecar ${p.toFixed(2)} ms, sidecar + answer redaction ${q.toFixed(2)} ms (redaction adds ${(q - p).toFixed(2)} ms)`);
  }
  await sidecar.close();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
}
