// Derived scores (`signal score risk { value: 0.6 * jb.score + 0.4 * topic.code, … }`,
// docs/language.md "Derived scores"): the `value` expression lowered to
// weighted terms, the inputs checked once every signal is known (another
// signal's numeric output, not a score), and the score's outputs — `value`
// with the range its inputs and clamp give it, and one boolean per band.
import { MAX_SCORE_WEIGHT, type Output, type ScoreConfig, type ScoreTerm } from "../bundle/index.ts";
import type { ObjectValue, Span, Value } from "../grammar/index.ts";
import { outputsOf, type CheckedSignal } from "./conditions.ts";
import { didYouMean, didYouMeanOr, type DiagnosticBag } from "./diagnostics.ts";

/** A linear expression: coefficient per name, plus a constant. */
export interface Linear {
  coef: Map<string, number>;
  spans: Map<string, Span>;
  constant: number;
}

/**
 * A linear expression over names from `+ - * /`, numbers and names (`quality`, `jb.score`); null
 * after reporting through `fail` when it is not linear or names something `known` refuses. `what`
 * and `names` word the messages ("an objective", "metrics").
 */
export function lowerLinear(value: Value, known: (name: string, span: Span) => boolean, fail: (span: Span, message: string) => void, what: string, names: string): Linear | null {
  const isConst = (l: Linear) => [...l.coef.values()].every((c) => c === 0);
  const scale = (l: Linear, k: number): Linear => ({ coef: new Map([...l.coef].map(([n, c]) => [n, c * k])), spans: l.spans, constant: l.constant * k });
  const lin = (v: Value): Linear | null => {
    switch (v.kind) {
      case "number":
        return { coef: new Map(), spans: new Map(), constant: v.value };
      case "ident":
        return known(v.name, v.span) ? { coef: new Map([[v.name, 1]]), spans: new Map([[v.name, v.span]]), constant: 0 } : null;
      case "arith": {
        const a = lin(v.left);
        const b = lin(v.right);
        if (!a || !b) return null;
        if (v.op === "+" || v.op === "-") {
          const sign = v.op === "+" ? 1 : -1;
          const coef = new Map(a.coef);
          for (const [n, c] of b.coef) coef.set(n, (coef.get(n) ?? 0) + sign * c);
          return { coef, spans: new Map([...b.spans, ...a.spans]), constant: a.constant + sign * b.constant };
        }
        if (v.op === "*") {
          if (isConst(a)) return scale(b, a.constant);
          if (isConst(b)) return scale(a, b.constant);
          fail(v.span, `${what} must be linear: multiply ${names} by numbers, not by each other`);
          return null;
        }
        if (!isConst(b) || b.constant === 0) {
          fail(v.span, "divide only by a non-zero number");
          return null;
        }
        return scale(a, 1 / b.constant);
      }
      default:
        fail(v.span, `${what} is an arithmetic expression over ${names}`);
        return null;
    }
  };
  return lin(value);
}

/** Where each input of a score was written, for diagnostics once every signal is known. */
export type ScoreSources = Map<string, { span: Span; inputs: Map<string, Span>; bands: Map<string, Span> }>;

/**
 * The `value` of a score signal's body lowered to terms and a constant (for checkFields to inject),
 * or null after reporting. The inputs are checked later (checkScoreInputs): other signals may be
 * declared after this one.
 */
export function lowerScoreValue(body: ObjectValue, name: string, anchor: Span, file: string, diags: DiagnosticBag, sources: ScoreSources): { terms: ScoreTerm[]; constant: number } | null {
  for (const f of body.fields) {
    if (f.key.name === "terms" || f.key.name === "constant") {
      diags.add("RP0302", file, f.key.span, `\`${f.key.name}\` is not written in source: the compiler derives it from \`value\``, { help: "write `value: 0.6 * jb.score + 0.4 * topic.code + 0.1`" });
      return null;
    }
  }
  const bandsValue = body.fields.find((f) => f.key.name === "bands")?.value;
  if (bandsValue?.kind === "object") {
    for (const f of bandsValue.fields) {
      if (f.key.name === "__proto__") {
        diags.add("RP0208", file, f.key.span, "`__proto__` is reserved: it cannot name a band", { help: "choose another name" });
        return null;
      }
      if (f.key.name === "value" || f.key.name === "matched") {
        diags.add("RP0308", file, f.key.span, `a band cannot be named \`${f.key.name}\`: \`${name}.${f.key.name}\` is the score's own`, { help: "name the band for what it means: `low`, `high`, …" });
        return null;
      }
    }
  }
  const field = body.fields.find((f) => f.key.name === "value");
  if (!field) {
    diags.add("RP0303", file, anchor, `score signal \`${name}\` has no \`value\``, { help: "give it one: `value: 0.6 * jb.score + 0.4 * topic.code`" });
    return null;
  }
  let ok = true;
  const fail = (span: Span, message: string) => {
    ok = false;
    diags.add("RP0308", file, span, message, { help: "a score's value is a weighted sum of other signals' numeric outputs plus a constant: `0.6 * jb.score + 0.4 * topic.code + 0.1`" });
  };
  const known = (ref: string, span: Span) => {
    if (/^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$/.test(ref)) return true;
    fail(span, `\`${ref}\` is not a signal output: write \`<signal>.<output>\`, e.g. \`jb.score\``);
    return false;
  };
  const lin = lowerLinear(field.value, known, fail, "a score's value", "signal outputs");
  if (!lin || !ok) return null;
  const big = (x: number) => !Number.isFinite(x) || Math.abs(x) > MAX_SCORE_WEIGHT;
  if (big(lin.constant) || [...lin.coef.values()].some(big)) {
    fail(field.value.span, `a weight or constant beyond ±${MAX_SCORE_WEIGHT} (or not a finite number): the sum could overflow`);
    return null;
  }
  const terms: ScoreTerm[] = [];
  for (const [ref, weight] of lin.coef) {
    if (weight === 0) continue;
    const [signal, output] = ref.split(".");
    terms.push({ signal, output, weight });
  }
  if (terms.length === 0) {
    fail(field.value.span, "the value does not depend on any signal");
    return null;
  }
  const bandsField = body.fields.find((f) => f.key.name === "bands")?.value;
  const bands = new Map(bandsField?.kind === "object" ? bandsField.fields.map((f) => [f.key.name, f.span]) : []);
  sources.set(name, { span: field.value.span, inputs: lin.spans, bands });
  return { terms, constant: lin.constant };
}

/**
 * Checks each score's inputs against the declared signals and its clamp and bands, and gives it its
 * outputs. A score that fails is removed from `signals` and named in `quiet` (nothing more is said of it).
 */
export function checkScores(signals: Map<string, CheckedSignal>, sources: ScoreSources, quiet: Set<string>, diags: DiagnosticBag): void {
  for (const s of [...signals.values()]) {
    if (s.type !== "score") continue;
    const c = s.config as unknown as ScoreConfig;
    const src = sources.get(s.name);
    let ok = true;
    const bad = (span: Span, message: string, help: string) => {
      ok = false;
      diags.add("RP0308", s.file, span, message, { help });
    };
    let lo = c.constant ?? 0;
    let hi = c.constant ?? 0;
    for (const t of c.terms) {
      const span = src?.inputs.get(`${t.signal}.${t.output}`) ?? s.span;
      const input = signals.get(t.signal);
      if (!input) {
        ok = false;
        if (!quiet.has(t.signal)) diags.add("RP0204", s.file, span, `undefined signal \`${t.signal}\``, didYouMeanOr(t.signal, signals.keys(), span, `declare it: \`signal <type> ${t.signal} { ... }\``));
        continue;
      }
      if (input.type === "score") {
        bad(span, `\`${t.signal}\` is a score: a score's inputs are other signals' outputs`, `write \`${t.signal}\`'s terms into this score's value instead`);
        continue;
      }
      if (input.type === "partition") {
        bad(span, `\`${t.signal}\` is a partition: it has no numeric output`, "a score adds numeric outputs (scores, counts, token counts)");
        continue;
      }
      const out = outputsOf(input)[t.output];
      if (!out) {
        const numeric = Object.entries(outputsOf(input)).filter(([, o]) => o.type === "number").map(([n]) => n);
        ok = false;
        diags.add("RP0401", s.file, span, `${input.type} signal \`${t.signal}\` has no output \`${t.output}\``, {
          ...didYouMean(t.output, numeric, span),
          help: numeric.length ? `its numeric outputs: ${numeric.join(", ")}` : `a ${input.type} signal has no numeric output`,
        });
        continue;
      }
      if (out.type !== "number") {
        bad(span, `\`${t.signal}.${t.output}\` is not a number`, "a score adds numeric outputs (scores, counts, token counts)");
        continue;
      }
      const [a, b] = [t.weight * out.min, t.weight * (out.max ?? Infinity)];
      lo += Math.min(a, b);
      hi += Math.max(a, b);
    }
    if (c.min !== undefined && c.max !== undefined && c.min > c.max) bad(s.span, `score \`${s.name}\` has min ${c.min} above max ${c.max}`, "give min ≤ max");
    for (const [band, range] of Object.entries(c.bands ?? {})) {
      const span = src?.bands.get(band) ?? s.span;
      if (range.min === undefined && range.max === undefined) bad(span, `band \`${band}\` of score \`${s.name}\` has neither min nor max`, "a band is `{ min: a }`, `{ max: b }` or `{ min: a, max: b }`: at least a, below b");
      else if (range.min !== undefined && range.max !== undefined && range.min >= range.max) bad(span, `band \`${band}\` of score \`${s.name}\` is empty: min ${range.min} is not below max ${range.max}`, "a band holds from its min (included) up to its max (excluded)");
    }
    if (!ok) {
      signals.delete(s.name);
      quiet.add(s.name);
      continue;
    }
    if (c.min !== undefined) [lo, hi] = [Math.max(lo, c.min), Math.max(hi, c.min)];
    if (c.max !== undefined) [lo, hi] = [Math.min(lo, c.max), Math.min(hi, c.max)];
    const outputs: Record<string, Output> = { value: { type: "number", min: lo, max: Number.isFinite(hi) ? hi : null } };
    for (const band of Object.keys(c.bands ?? {})) outputs[band] = { type: "bool" };
    s.outputs = outputs;
  }
}
