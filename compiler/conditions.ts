// Type-checks conditions and lowers them to the bundle's Condition form.
// Route conditions speak about the request (signals); a guarantee's
// `require` may also speak about the decision (model, route, plugins).
import type { CompareExpr, Expr, RefExpr, Span, Value } from "../grammar/index.ts";
import { SIGNAL_TYPES, type CmpOp, type Condition, type JsonObject, type Output } from "../bundle/index.ts";
import { didYouMean, didYouMeanOr, type DiagnosticBag } from "./diagnostics.ts";
import { LANGUAGE_CODES } from "./languages.ts";

export interface CheckedSignal {
  name: string;
  type: string;
  config: JsonObject;
  span: Span;
  file: string;
  /** Outputs that depend on other signals (a derived score's: compiler/scores.ts); else the type's. */
  outputs?: Record<string, Output>;
}

export interface ConditionEnv {
  file: string;
  signals: ReadonlyMap<string, CheckedSignal>;
  /** Names declared by blocks that failed to check or parse: stay quiet about them. */
  quiet: ReadonlySet<string>;
  diags: DiagnosticBag;
  /** Signals referenced, for the unused-signal analysis and lazy evaluation. */
  used: Set<string>;
}

/** Everything `sig.<output>` can name for this signal, with its type. */
export function outputsOf(signal: CheckedSignal): Record<string, Output> {
  if (signal.outputs) return signal.outputs;
  const info = SIGNAL_TYPES[signal.type];
  const out: Record<string, Output> = { ...(info?.outputs ?? {}) };
  if (signal.type === "domain") {
    for (const cls of (signal.config.classes as string[] | undefined) ?? []) out[cls] = { type: "number", min: 0, max: 1 };
  }
  if (signal.type === "complexity") {
    for (const level of Object.keys((signal.config.levels as object | undefined) ?? {})) out[level] = { type: "bool" };
  }
  return out;
}

/** The values a categorical output can take, or null when any string is possible. */
export function categoryValues(signal: CheckedSignal, output: Output & { type: "category" }): string[] | null {
  const v = output.values;
  if (v === "open") return null;
  if (v === "languages") return LANGUAGE_CODES;
  if (Array.isArray(v)) return v;
  const fromConfig = signal.config[v.fromConfig];
  // A list of values, or a block whose keys are the values (a knowledge base's labels).
  if (fromConfig !== null && typeof fromConfig === "object" && !Array.isArray(fromConfig)) return Object.keys(fromConfig);
  return Array.isArray(fromConfig) ? (fromConfig as string[]) : null;
}

interface ResolvedRef {
  signal: CheckedSignal;
  output: string | null; // null: the bare signal
  type: Output;
  span: Span;
}

const BOOL: Output = { type: "bool" };

/** Resolves `sig` or `sig.output`; reports and returns null when it names nothing. */
function resolveRef(ref: RefExpr, env: ConditionEnv): ResolvedRef | null {
  const [head, ...rest] = ref.path;
  const signal = env.signals.get(head.name);
  if (!signal) {
    if (env.quiet.has(head.name)) return null;
    if (head.name === "model" || head.name === "route" || head.name === "blocked") {
      env.diags.add("RP0405", env.file, ref.span, `\`${head.name}\` describes the decision, which a route condition cannot depend on`, {
        help: "decision properties belong in a guarantee's `require`",
      });
      return null;
    }
    env.diags.add("RP0204", env.file, head.span, `undefined signal \`${head.name}\``, didYouMeanOr(head.name, env.signals.keys(), head.span, `declare it: \`signal <type> ${head.name} { ... }\``));
    return null;
  }
  env.used.add(signal.name);
  if (rest.length === 0) return { signal, output: null, type: BOOL, span: ref.span };
  const outputs = outputsOf(signal);
  const outName = rest[0];
  const type = outputs[outName.name];
  if (!type || rest.length > 1) {
    const bad = type ? rest[1] : outName;
    const names = Object.keys(outputs);
    const hint = type ? {} : didYouMean(outName.name, names, outName.span);
    env.diags.add("RP0401", env.file, bad.span, type
      ? `\`${signal.name}.${outName.name}\` has no field \`${bad.name}\``
      : `${signal.type} signal \`${signal.name}\` has no output \`${outName.name}\``, {
      ...hint,
      help: hint.help ?? (names.length ? `its outputs are: ${names.join(", ")}` : `a ${signal.type} signal is only true or false: write \`${signal.name}\``),
    });
    return null;
  }
  return { signal, output: outName.name, type, span: ref.span };
}

function describeRef(r: ResolvedRef): string {
  return r.output === null ? r.signal.name : `${r.signal.name}.${r.output}`;
}

const FLIP: Record<string, CmpOp> = { "==": "==", "!=": "!=", ">": "<", ">=": "<=", "<": ">", "<=": ">=" };

/**
 * Most levels of `not`, `and` and `or` in one lowered condition (chains of one
 * operator flatten into one level, parentheses add none). The sidecar's
 * Engine.load enforces the same number (MAX_CONDITION_DEPTH in
 * runtime/engine/engine.ts), and the bundle's schema validator and the engine
 * recurse over it, so it is kept well inside their stack.
 */
export const MAX_CONDITION_DEPTH = 256;

/** Depth of lowered conditions built so far (leaves are 1), to report the first level over the limit. */
const depths = new WeakMap<Condition, number>();
const depthOf = (c: Condition): number => depths.get(c) ?? 1;

function nested(c: Condition, depth: number, expr: Expr, env: ConditionEnv): Condition | null {
  if (depth > MAX_CONDITION_DEPTH) {
    env.diags.add("RP0005", env.file, expr.span, `the condition nests \`not\`, \`and\` and \`or\` more than ${MAX_CONDITION_DEPTH} levels deep`, {
      help: "simplify it (`not not x` is `x`), or split it over several routes",
    });
    return null;
  }
  depths.set(c, depth);
  return c;
}

export function lowerCondition(expr: Expr, env: ConditionEnv): Condition | null {
  switch (expr.kind) {
    case "paren":
      return lowerCondition(expr.expr, env);
    case "and":
    case "or": {
      const left = lowerCondition(expr.left, env);
      const right = lowerCondition(expr.right, env);
      if (!left || !right) return null;
      const parts = [left, right];
      const args = parts.flatMap((c) => (c.op === expr.kind ? c.args : [c]));
      return nested({ op: expr.kind, args }, Math.max(...parts.map((c) => (c.op === expr.kind ? depthOf(c) - 1 : depthOf(c)))) + 1, expr, env);
    }
    case "not": {
      const arg = lowerCondition(expr.arg, env);
      return arg && nested({ op: "not", arg }, depthOf(arg) + 1, expr, env);
    }
    case "ref": {
      const r = resolveRef(expr, env);
      if (!r) return null;
      if (r.type.type !== "bool") {
        env.diags.add("RP0406", env.file, expr.span, `\`${describeRef(r)}\` is a ${r.type.type === "number" ? "score" : "category"}, not true or false`, {
          help: r.type.type === "number" ? `compare it, e.g. \`${describeRef(r)} > 0.5\`` : `compare it, e.g. \`${describeRef(r)} == "…"\``,
        });
        return null;
      }
      return r.output === null ? { op: "signal", signal: r.signal.name } : { op: "signal", signal: r.signal.name, output: r.output };
    }
    case "literal":
      if (expr.value.kind === "bool") return { op: expr.value.value ? "true" : "false" };
      env.diags.add("RP0406", env.file, expr.span, "a value on its own is not a condition", { help: "compare a signal with it, e.g. `tenant == \"internal\"`" });
      return null;
    case "applies":
      env.diags.add("RP0405", env.file, expr.span, "`applies` describes the decision, which a route condition cannot depend on", {
        help: "use `applies` in a guarantee's `require`",
      });
      return null;
    case "compare":
      return lowerCompare(expr, env);
  }
}

function literalOf(expr: Expr): Value | null {
  if (expr.kind === "literal") return expr.value;
  return null;
}

function lowerCompare(expr: CompareExpr, env: ConditionEnv): Condition | null {
  let { left, right } = expr;
  let op = expr.op;
  if (left.kind === "literal" && right.kind === "ref" && op in FLIP) {
    [left, right] = [right, left];
    op = FLIP[op];
  }
  if (op === "has") {
    const head = left.kind === "ref" && left.path.length === 1 ? env.signals.get(left.path[0].name) : undefined;
    if (head?.type === "domain") return lowerLabelTest(head, right, expr, env);
    const named = left.kind === "ref" && left.path.length === 1 ? env.signals.get(left.path[0].name) : undefined;
    env.diags.add(named ? "RP0402" : "RP0405", env.file, expr.span, named ? `\`has\` tests the labels of a multi-label domain signal; \`${named.name}\` is a ${named.type} signal` : "`has` tests a multi-label domain signal's labels, or, in a guarantee, a model's tags", {
      help: named ? `test \`${named.name}\` itself, or compare one of its outputs` : "write `topics has \"math\"` for a domain signal with `multi_label: true`, or `model.tags has …` in a guarantee's `require`",
    });
    return null;
  }
  if (left.kind !== "ref") {
    env.diags.add("RP0402", env.file, left.span, "the left side of a comparison must be a signal or a signal output", {
      help: "write it as `signal.output <op> value`, e.g. `topic.code > 0.7`",
    });
    return null;
  }
  const r = resolveRef(left, env);
  if (!r) return null;
  const value = literalOf(right);
  if (value === null) {
    if (right.kind === "ref" && right.path.length === 1 && !env.signals.has(right.path[0].name)) {
      const word = right.path[0].name;
      env.diags.add("RP0402", env.file, right.span, `\`${word}\` is not a value: values are quoted`, {
        help: `did you mean the string "${word}"?`,
        fix: { message: "quote it", replacement: `"${word}"`, span: right.span },
      });
    } else {
      env.diags.add("RP0402", env.file, right.span, "compare with a literal value", { help: "conditions compare a signal output with a number, a string or a list" });
    }
    return null;
  }
  let type = r.type;
  let output = r.output;
  if (output === null && op !== "in") {
    // `tenant == "x"` compares the signal's primary output; `jb == true` its boolean.
    const primary = SIGNAL_TYPES[r.signal.type]?.primary ?? null;
    if (value.kind === "bool") {
      type = BOOL;
    } else if (primary !== null) {
      output = primary;
      type = outputsOf(r.signal)[primary];
    } else {
      env.diags.add("RP0402", env.file, expr.span, `\`${r.signal.name}\` is a ${r.signal.type} signal: it is only true or false`, {
        help: `write \`${r.signal.name}\` or \`not ${r.signal.name}\`${Object.keys(outputsOf(r.signal)).length ? `, or compare one of its outputs: ${Object.keys(outputsOf(r.signal)).join(", ")}` : ""}`,
      });
      return null;
    }
  } else if (output === null && op === "in") {
    const primary = SIGNAL_TYPES[r.signal.type]?.primary ?? null;
    if (primary === null) {
      env.diags.add("RP0402", env.file, expr.span, `\`in\` needs a categorical value, and \`${r.signal.name}\` is only true or false`);
      return null;
    }
    output = primary;
    type = outputsOf(r.signal)[primary];
  }
  const name = output === null ? r.signal.name : `${r.signal.name}.${output}`;
  switch (type.type) {
    case "bool": {
      if (value.kind !== "bool" || (op !== "==" && op !== "!=")) {
        env.diags.add("RP0402", env.file, expr.span, `\`${name}\` is true or false; it cannot be compared with ${op === "in" ? "a list" : describeValue(value)}`, {
          help: `write \`${name}\` or \`not ${name}\``,
        });
        return null;
      }
      const base: Condition = output === null ? { op: "signal", signal: r.signal.name } : { op: "signal", signal: r.signal.name, output };
      return value.value === (op === "==") ? base : { op: "not", arg: base };
    }
    case "number": {
      if (value.kind !== "number" || op === "in") {
        env.diags.add("RP0402", env.file, right.span, `\`${name}\` is a number; compare it with a number, not ${op === "in" ? "a list" : describeValue(value)}`);
        return null;
      }
      if (value.value < type.min || (type.max !== null && value.value > type.max)) {
        env.diags.add("RP0404", env.file, right.span, `\`${name}\` lies in [${type.min}, ${type.max ?? "∞"}], so this comparison is always ${constantOutcome(op, value.value, type.min) ? "true" : "false"}`, {
          help: "use a value inside the output's range",
        });
      }
      return { op: "cmp", signal: r.signal.name, output: output ?? "", cmp: op, value: value.value };
    }
    case "category": {
      const allowed = categoryValues(r.signal, type);
      if (op === "in") {
        if (value.kind !== "list" || value.items.some((i) => i.kind !== "string")) {
          env.diags.add("RP0402", env.file, right.span, "`in` takes a list of strings");
          return null;
        }
        const values = value.items.map((i) => (i as { value: string }).value);
        for (const item of value.items) checkCategory(item as { value: string; span: Span }, allowed, name, env);
        return { op: "in", signal: r.signal.name, output: output ?? "", values };
      }
      if (op !== "==" && op !== "!=") {
        env.diags.add("RP0402", env.file, expr.span, `\`${name}\` is a category; it can be tested with \`==\`, \`!=\` or \`in\`, not \`${op}\``);
        return null;
      }
      if (value.kind !== "string") {
        env.diags.add("RP0402", env.file, right.span, `\`${name}\` is a category; compare it with a string, not ${describeValue(value)}`);
        return null;
      }
      checkCategory(value, allowed, name, env);
      return { op: "cmp", signal: r.signal.name, output: output ?? "", cmp: op, value: value.value };
    }
  }
}

/**
 * `topics has "math"` on a multi-label domain signal: the class scores at least the signal's
 * threshold (every such class is one of its labels). Lowered to that comparison, which the engine
 * and the analysis already read exactly.
 */
function lowerLabelTest(signal: CheckedSignal, right: Expr, expr: CompareExpr, env: ConditionEnv): Condition | null {
  env.used.add(signal.name);
  if (signal.config.multi_label !== true) {
    env.diags.add("RP0402", env.file, expr.span, `\`${signal.name}\` chooses one label: test it with \`==\` or \`in\``, {
      help: `write \`${signal.name} == "…"\`, or declare it with \`multi_label: true\` to test each label with \`has\``,
    });
    return null;
  }
  const label = right.kind === "literal" && right.value.kind === "string" ? { value: right.value.value, span: right.value.span } : right.kind === "ref" && right.path.length === 1 ? { value: right.path[0].name, span: right.span } : null;
  if (label === null) {
    env.diags.add("RP0402", env.file, right.span, "`has` takes one of the signal's classes", { help: `e.g. \`${signal.name} has "${(signal.config.classes as string[])[0]}"\`` });
    return null;
  }
  const classes = signal.config.classes as string[];
  if (!classes.includes(label.value)) {
    checkCategory(label, classes, signal.name, env);
    return null;
  }
  return { op: "cmp", signal: signal.name, output: label.value, cmp: ">=", value: (signal.config.threshold as number | undefined) ?? 0.5 };
}

function constantOutcome(op: CmpOp, v: number, min: number): boolean {
  // Out of range below the minimum: `x > v` is always true; above the maximum it is always false.
  if (v < min) return op === ">" || op === ">=" || op === "!=";
  return op === "<" || op === "<=" || op === "!=";
}

function checkCategory(item: { value: string; span: Span }, allowed: string[] | null, name: string, env: ConditionEnv): void {
  if (allowed === null || allowed.includes(item.value)) return;
  const hint = didYouMean(item.value, allowed, item.span);
  env.diags.add("RP0403", env.file, item.span, `\`${name}\` is never "${item.value}"`, {
    ...hint,
    ...(hint.fix ? { fix: { ...hint.fix, replacement: `"${hint.fix.replacement}"` } } : {}),
    help: hint.help ?? (allowed === LANGUAGE_CODES ? 'languages are ISO 639-1 codes, such as "en" or "de"' : allowed.length <= 12 ? `its values are: ${allowed.join(", ")}` : "check the spelling"),
  });
}

function describeValue(value: Value): string {
  switch (value.kind) {
    case "string":
      return `the string "${value.value}"`;
    case "number":
      return `the number ${value.value}`;
    case "bool":
      return `\`${value.value}\``;
    default:
      return `a ${value.kind}`;
  }
}
