// Generates realistic policies of any size for the benchmarks: shared
// signals, threshold ladders, context bands, header tiers and keyword lists,
// about five signals per route.

const WORDS = ["refund", "invoice", "password", "deploy", "kubernetes", "latency", "contract", "diagnosis", "tax", "python",
  "rust", "budget", "delivery", "warranty", "subscription", "outage", "login", "export", "import", "report", "schema",
  "migration", "vacation", "payroll", "shipping", "security", "audit", "privacy", "billing", "upgrade"];

export interface GeneratedPolicy {
  source: string;
  routes: number;
  signals: number;
}

/**
 * With `scores` > 0: that many derived scores over the shared jailbreak, complexity and topic
 * scores (three inputs each, bands low/mid/high), and one route in three also requires a band of
 * one of them or a threshold on its value — what vLLM Semantic Router policies do with their
 * weighted signal sums; one of those in six can never hold, which only the link between a score
 * and its inputs shows. And one partition per two scores, over three intent classifiers each (the
 * most similar wins), one route in six requiring a winner (a quarter of those impossibly).
 */
export function generatePolicy(routes: number, options: { scores?: number } = {}): GeneratedPolicy {
  const scores = options.scores ?? 0;
  const lines: string[] = ["package bench", ""];
  const models = 10;
  for (let m = 0; m < models; m++) {
    lines.push(`model m${m} { provider: openai_compatible, endpoint: "http://127.0.0.1:${9000 + m}/v1", cost: { input: ${(0.1 * (m + 1)).toFixed(2)}, output: ${(0.2 * (m + 1)).toFixed(2)} }, context_window: ${8192 * (1 + (m % 4))}, latency_ms: ${200 + 50 * m}, tags: [${m % 3 === 0 ? "onprem" : "cloud"}] }`);
  }
  lines.push("", 'plugin pii_redact redact { types: [email, phone, credit_card] }', 'plugin jailbreak_guard guard { action: block }', 'plugin system_prompt polite { text: "Be brief." }', "");
  // Shared signals every route may use.
  lines.push('signal jailbreak jb { threshold: 0.8 }', "signal pii pii { types: [email, phone, credit_card] }", 'signal header tier { name: "x-tier", values: ["free", "pro", "enterprise"] }');
  const signalsPerRoute = 5;
  let signalCount = 3;
  if (scores > 0) {
    lines.push("signal complexity cx {}", "signal domain topic { classes: [code, math, law, medicine] }");
    const classes = ["code", "math", "law", "medicine"];
    for (let s = 0; s < scores; s++) {
      const w = [0.2 + 0.05 * (s % 5), 0.3, 0.5 - 0.05 * (s % 5)];
      lines.push(`signal score risk${s} { value: ${w[0].toFixed(2)} * jb.score + ${w[1]} * cx.score + ${w[2].toFixed(2)} * topic.${classes[s % 4]}, min: 0, max: 1, bands: { low: { max: 0.3 }, mid: { min: 0.3, max: 0.6 }, high: { min: 0.6 } } }`);
    }
    // Exclusive groups of three intent classifiers each: the most similar wins.
    for (let k = 0; k < partitionsOf(scores); k++) {
      for (let j = 0; j < 3; j++) lines.push(`signal embedding intent${k}_${j} { candidates: ["intent ${k} example ${j}"], threshold: ${(0.6 + 0.05 * j).toFixed(2)} }`);
      lines.push(`signal partition lane${k} { members: [intent${k}_0, intent${k}_1, intent${k}_2], default: intent${k}_0 }`);
    }
    signalCount += 2 + scores + 4 * partitionsOf(scores);
  }
  for (let r = 0; r < routes; r++) {
    const w = (k: number) => `${WORDS[(r + k) % WORDS.length]}${Math.floor(r / WORDS.length)}`;
    lines.push(`signal keyword kw${r} { any: ["${w(0)}", "${w(1)}", "${w(2)} now"] }`);
    lines.push(`signal keyword kall${r} { all: ["${w(3)}", "${w(4)}"], none: ["${w(5)}"] }`);
    lines.push(`signal regex rx${r} { pattern: "T${r}-[0-9]{4}" }`);
    lines.push(`signal context ctx${r} { min_tokens: ${(r % 10) * 100}, max_tokens: ${(r % 10) * 100 + 2000} }`);
    lines.push(`signal header h${r} { name: "x-team-${r % 50}" }`);
    signalCount += signalsPerRoute;
  }
  lines.push("");
  // Jailbreak attempts go first to an on-prem model behind the guard, so the guarantees below hold.
  lines.push(`route jailbreaks priority ${routes + 1} {`, "  when jb", "  use m0", "  apply guard", "}");
  for (let r = 0; r < routes; r++) {
    const variants = [
      `(kw${r} or kall${r}) and not jb`,
      `rx${r} and ctx${r} and tier == "pro"`,
      `kw${r} and h${r} == "on" and not pii`,
      `(kall${r} or rx${r}) and ctx${r}.tokens > ${(r % 7) * 50}`,
    ];
    const action = r % 5 === 0
      ? `select adaptive { models: [m${r % 10}, m${(r + 3) % 10}], objective: quality - 2 * cost_usd, explore: 0.05, floor: 0.1 }`
      : r % 5 === 1 ? `select cheapest { models: [m${r % 10}, m${(r + 1) % 10}, m${(r + 2) % 10}] }`
      : `use m${r % 10} fallback m${(r + 1) % 10}`;
    let derived = "";
    if (scores > 0 && r % 6 === 1) {
      const k = Math.floor(r / 6) % partitionsOf(scores);
      const j = Math.floor(r / 6) % 3;
      // One in four of these can never hold: a member that wins while another matches with a higher score.
      derived = ` and lane${k}.intent${k}_${j}${r % 24 === 7 ? ` and intent${k}_${(j + 1) % 3}.score > 0.9 and intent${k}_${j}.score < 0.8` : ""}`;
    }
    if (scores > 0 && r % 3 === 0) {
      const j = (r / 3) % scores;
      const cls = ["code", "math", "law", "medicine"][j % 4];
      // The fifth kind can never hold: with all three inputs below 0.2 the score stays below 0.6.
      derived = " and " + [`risk${j}.high`, `risk${j}.mid`, `risk${j}.low and cx.score > 0.5`, `risk${j}.value >= ${(0.1 * (r % 9)).toFixed(1)}`,
        `risk${j}.high and jb.score < 0.2 and cx.score < 0.2 and topic.${cls} < 0.2`, `not risk${j}.low and cx.score < 0.5`][(r / 3) % 6];
    }
    lines.push(`route r${r} priority ${routes - r} {`, `  when (${variants[r % variants.length]})${derived}`, `  ${action}`, `  apply ${r % 2 ? "redact, polite" : "redact"}`, "}");
  }
  lines.push("", "default { use m0; apply redact, polite }", "");
  // Guarantees the analysis proves over every request (bench/analysis measures it).
  lines.push('guarantee "PII never reaches a cloud model unredacted" {', "  when pii", "  require model.tags has onprem or applies redact", "}");
  lines.push('guarantee "jailbreak attempts meet the guard" {', "  when jb", "  require applies guard", "}", "");
  return { source: lines.join("\n"), routes, signals: signalCount };
}

/** Partitions generated with `scores` derived scores: one per two scores. */
function partitionsOf(scores: number): number {
  return Math.max(1, Math.floor(scores / 2));
}

/** Requests that exercise early, late and no matches. */
export function sampleRequests(routes: number, n: number): { messages: { role: string; content: string }[]; headers: Record<string, string>; metadata: Record<string, never>; signals: Record<string, never> }[] {
  const out = [];
  for (let i = 0; i < n; i++) {
    const r = (i * 7919) % routes;
    const word = `${WORDS[r % WORDS.length]}${Math.floor(r / WORDS.length)}`;
    const texts = [
      `Hello, I have a question about ${word} for my account, can you help?`,
      `Please check ticket T${r}-1234 and tell me what happened with the ${word} last week.`,
      "What are your opening hours on Sunday? Thanks a lot.",
      `my email is someone${i}@example.com and I need help with ${word}`,
    ];
    out.push({ messages: [{ role: "user", content: texts[i % texts.length] }], headers: { "x-tier": i % 2 ? "pro" : "free", [`x-team-${r % 50}`]: "on" }, metadata: {}, signals: {} });
  }
  return out;
}
