// A witness as a real request, where its signals allow: the phrases its
// matching keyword signals need, sample PII of the types it reports, the
// header and metadata values it names. Signals whose values cannot be written
// down as text this way (regexes, scores, languages, token counts,
// modalities) make it give up. The result is a proposal: `lint` and `diff`
// run it through the decision engine and show it only when the engine decides
// it as the finding says. (Words that a non-matching keyword signal also lists
// are not avoided: that signal may not matter for the decision, and the engine
// is the judge of whether it does.)
import type { JsonObject } from "../../bundle/index.ts";
import type { CheckedPolicy } from "../check.ts";
import type { ExampleRequest } from "../diagnostics.ts";
import type { Witness } from "./model.ts";

/** Values the engine's PII detectors accept (valid checksums). */
const PII_SAMPLES: Record<string, string> = {
  email: "ann@example.com",
  phone: "+1 415 555 0132",
  credit_card: "4111 1111 1111 1111",
  iban: "DE89 3704 0044 0532 0130 00",
  ssn: "219-09-9999",
  ip_address: "203.0.113.7",
};

/** Signal types that can be left at rest by a short, plain message. */
const AT_REST: ReadonlySet<string> = new Set(["regex", "language", "jailbreak", "complexity", "embedding", "domain", "reask", "feedback", "modality"]);

export function exampleRequest(witness: Witness, policy: CheckedPolicy): ExampleRequest | null {
  const words: string[] = [];
  const headers: Record<string, string> = {};
  const metadata: Record<string, string> = {};
  for (const s of policy.signals) {
    const given = witness.signals[s.name] as JsonObject | undefined;
    if (!given) continue;
    const matched = given.matched === true;
    switch (s.type) {
      case "keyword": {
        const any = (s.config.any as string[] | undefined) ?? [];
        const all = (s.config.all as string[] | undefined) ?? [];
        if (matched) words.push(...all, ...any.slice(0, 1));
        break;
      }
      case "pii":
        for (const [type, sample] of Object.entries(PII_SAMPLES)) if (given[type] === true) words.push(sample);
        break;
      case "context":
        // A short message has a few dozen tokens at most; longer witnesses cannot be written this way.
        // Without a match a short message is tried (the engine confirms it, as above).
        if (matched && typeof given.tokens === "number" && given.tokens > 40) return null;
        break;
      case "header":
      case "metadata": {
        const value = given.value;
        if (typeof value !== "string" || value === "") break;
        const target = s.type === "header" ? headers : metadata;
        const key = String(s.type === "header" ? s.config.name : s.config.key);
        if (target[key] !== undefined && target[key] !== value) return null;
        target[key] = value === "(other)" ? "other" : value;
        break;
      }
      default:
        // A match of these types (a regex, a score over its threshold, a language) cannot be written as plain
        // text here. Without a match, a plain message is tried whatever score the witness gives: callers run
        // the example through the engine and show it only when the engine decides it as the finding says.
        if (AT_REST.has(s.type) && matched) return null;
    }
  }
  const content = words.length ? `Hello, about ${words.join(", ")}.` : "Hello.";
  return { body: { messages: [{ role: "user", content }], ...(Object.keys(metadata).length ? { metadata } : {}) }, headers };
}

/**
 * The example with every header and metadata entry it does not need left
 * out: one at a time, kept out while `holds` (the caller's engine check)
 * still accepts the smaller request. A witness fixes every signal, so its
 * request names headers the decision never reads.
 */
export function trimExample(example: ExampleRequest, holds: (e: ExampleRequest) => boolean): ExampleRequest {
  let cur = example;
  for (const key of Object.keys(example.headers)) {
    const { [key]: _dropped, ...headers } = cur.headers;
    const next = { ...cur, headers };
    if (holds(next)) cur = next;
  }
  for (const key of Object.keys(example.body.metadata ?? {})) {
    const { [key]: _dropped, ...metadata } = cur.body.metadata ?? {};
    const { metadata: _old, ...rest } = cur.body;
    const next = { ...cur, body: Object.keys(metadata).length ? { ...rest, metadata } : rest };
    if (holds(next)) cur = next;
  }
  return cur;
}
