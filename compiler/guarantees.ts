// A guarantee's `require` speaks about the decision: which model, which
// route, which plugins, blocked or not; it may also mention request signals.
import type { Expr, Span } from "../grammar/index.ts";
import { EFFORTS, type CmpOp, type Condition, type ModelParams, type ModelSpec, type PluginSpec } from "../bundle/index.ts";
import { didYouMean, type DiagnosticBag } from "./diagnostics.ts";
import { lowerCondition, type ConditionEnv } from "./conditions.ts";
import type { CheckedPolicy } from "./check.ts";
import type { Analysis } from "./analysis/analyze.ts";

/**
 * Fail closed: a guarantee the analysis could not prove (it stopped at its
 * budget, RP1009) is error RP1017, so no bundle claims it. With
 * `allowUnproved` it is a warning and the bundle records the guarantee as
 * `unchecked` (and its `guarantees` check as not passed), which sidecars
 * refuse unless they are started with --allow-unproved.
 */
export function reportUnproved(policy: CheckedPolicy, analysis: Analysis, diags: DiagnosticBag, allowUnproved: boolean): void {
  // Another error already stops the bundle (RP1016 leaves every guarantee unchecked too).
  if (diags.errorCount > 0) return;
  const origins = new Map(policy.guarantees.map((g) => [g.name, g]));
  for (const g of analysis.guarantees) {
    const origin = origins.get(g.name);
    if (g.status !== "unchecked" || !origin) continue;
    diags.add("RP1017", origin.file, origin.span, `guarantee "${g.name}" was not proved (${g.detail}), so it cannot go into a bundle as if it held`, {
      severity: allowUnproved ? "warning" : "error",
      help: allowUnproved
        ? "the bundle records this guarantee as unchecked; sidecars refuse it unless started with --allow-unproved"
        : "make the analysis complete (see RP1009), or compile with --allow-unproved to sign the bundle with the guarantee recorded as unchecked (sidecars then refuse it unless started with --allow-unproved)",
    });
  }
}

type ModelParam = keyof ModelParams;
const PARAM_KINDS: Record<ModelParam, "bool" | "number" | "name"> = { reasoning: "bool", effort: "name", lora: "name", max_tokens: "number", temperature: "number" };
const PARAM_HELP = "per-use parameters: `model.reasoning` (set on), `model.reasoning == false` (set off), `model.effort == high`, `model.lora == \"name\"`, `model.max_tokens <= 4096`, `model.temperature <= 0.7`; a parameter the route does not set is absent (no cap)";

/**
 * Whether a route's parameters for a model satisfy a `model-param` test. A parameter the route does
 * not set is absent: the model's own default, which the analysis does not know. So an absent cap is
 * no cap (`max_tokens <= 4096` fails, `> 4096` holds), and an absent flag or name equals nothing
 * (`reasoning == false` fails, `reasoning != true` holds).
 */
export function paramHolds(params: ModelParams | undefined, param: ModelParam, cmp: CmpOp, value: number | string | boolean): boolean {
  const v = params?.[param];
  if (typeof value === "number") {
    const x = typeof v === "number" ? v : Infinity;
    switch (cmp) {
      case "==": return x === value;
      case "!=": return x !== value;
      case ">": return x > value;
      case ">=": return x >= value;
      case "<": return x < value;
      case "<=": return x <= value;
    }
  }
  return cmp === "==" ? v === value : v !== value;
}

export type DecisionPredicate =
  | { op: "and" | "or"; args: DecisionPredicate[] }
  | { op: "not"; arg: DecisionPredicate }
  | { op: "model-is"; models: string[] }
  | { op: "model-tag"; tag: string }
  | { op: "model-field"; field: "provider"; value: string }
  /** A per-use parameter of the chosen model on this route (`model.max_tokens <= 4096`); one the route does not set is absent. */
  | { op: "model-param"; param: "reasoning" | "effort" | "lora" | "max_tokens" | "temperature"; cmp: CmpOp; value: number | string | boolean }
  | { op: "route-is"; routes: string[] }
  /** The profile whose routes decide (docs/language.md, profiles); the policy's own routes are in none. */
  | { op: "profile-is"; profiles: string[] }
  | { op: "applies"; plugin: string } // a plugin name or a plugin type
  | { op: "blocked" }
  | { op: "request"; cond: Condition };

interface DecisionScope {
  profiles: Map<string, unknown>;
  models: Map<string, ModelSpec>;
  plugins: Map<string, PluginSpec>;
  routes: Map<string, unknown>;
}

export function lowerRequire(expr: Expr, env: ConditionEnv, scope: DecisionScope): DecisionPredicate | null {
  const fail = (span: Span, message: string, extra: object = {}): null => {
    env.diags.add("RP0601", env.file, span, message, {
      help: "a requirement tests `model`, `model.tags has <tag>`, `model.provider`, the route's parameters for the model (`model.max_tokens <= 4096`, `model.reasoning`), `route`, `applies <plugin>`, `blocked`, or request signals",
      ...extra,
    });
    return null;
  };
  const nameList = (e: Expr): { names: string[]; spans: Span[] } | null => {
    if (e.kind === "ref" && e.path.length === 1) return { names: [e.path[0].name], spans: [e.path[0].span] };
    // A quoted name: what a dotted one (a profile's default, `"coding.default"`) must be.
    if (e.kind === "literal" && e.value.kind === "string") return { names: [e.value.value], spans: [e.span] };
    if (e.kind === "literal" && e.value.kind === "list") {
      const items = e.value.items;
      if (items.every((i) => i.kind === "ident" || i.kind === "string")) {
        return { names: items.map((i) => (i.kind === "ident" ? i.name : (i as { value: string }).value)), spans: items.map((i) => i.span) };
      }
    }
    return null;
  };
  const known = (names: { names: string[]; spans: Span[] }, table: Map<string, unknown>, what: string): boolean => {
    let ok = true;
    names.names.forEach((n, i) => {
      if (!table.has(n) && !env.quiet.has(n)) {
        env.diags.add(what === "model" ? "RP0205" : "RP0207", env.file, names.spans[i], `undefined ${what} \`${n}\``, didYouMean(n, table.keys(), names.spans[i]));
        ok = false;
      }
    });
    return ok;
  };

  const lower = (e: Expr): DecisionPredicate | null => {
    switch (e.kind) {
      case "paren":
        return lower(e.expr);
      case "and":
      case "or": {
        const a = lower(e.left);
        const b = lower(e.right);
        return a && b ? { op: e.kind, args: [a, b] } : null;
      }
      case "not": {
        const a = lower(e.arg);
        return a && { op: "not", arg: a };
      }
      case "applies": {
        const name = e.plugin.name;
        const types = new Set([...scope.plugins.values()].map((p) => p.type));
        if (!scope.plugins.has(name) && !types.has(name) && !env.quiet.has(name)) {
          return fail(e.plugin.span, `\`${name}\` is neither a plugin nor the type of one in this policy`, didYouMean(name, [...scope.plugins.keys(), ...types], e.plugin.span));
        }
        return { op: "applies", plugin: name };
      }
      case "ref":
        if (e.path.length === 1 && e.path[0].name === "blocked" && !env.signals.has("blocked")) return { op: "blocked" };
        if (e.path.length === 2 && e.path[0].name === "model" && e.path[1].name === "reasoning") return { op: "model-param", param: "reasoning", cmp: "==", value: true };
        if (e.path[0].name === "model" || e.path[0].name === "route") {
          return fail(e.span, `\`${e.path.map((p) => p.name).join(".")}\` must be compared`, { help: "e.g. `model == local` or `model.tags has onprem`" });
        }
        break;
      case "compare": {
        if (e.left.kind !== "ref") break;
        const head = e.left.path[0].name;
        const field = e.left.path[1]?.name;
        if (head === "model" && field === undefined && (e.op === "==" || e.op === "!=" || e.op === "in")) {
          const names = nameList(e.right);
          if (!names) return fail(e.right.span, "compare `model` with a model name or a list of them");
          if (!known(names, scope.models, "model")) return null;
          const p: DecisionPredicate = { op: "model-is", models: names.names };
          return e.op === "!=" ? { op: "not", arg: p } : p;
        }
        if (head === "model" && field !== undefined && field in PARAM_KINDS && e.left.path.length === 2 && e.op !== "has" && e.op !== "in") {
          const kind = PARAM_KINDS[field as ModelParam];
          const v = e.right.kind === "literal" ? e.right.value : e.right.kind === "ref" && e.right.path.length === 1 ? { kind: "string" as const, value: e.right.path[0].name } : null;
          const ordered = kind === "number";
          if (v === null || (kind === "number" ? v.kind !== "number" : kind === "bool" ? v.kind !== "bool" : v.kind !== "string") || (!ordered && e.op !== "==" && e.op !== "!=")) {
            return fail(e.span, `\`model.${field}\` ${ordered ? "is compared with a number" : kind === "bool" ? "is `true` or `false`" : "is compared with `==` or `!=` and a name"}`, { help: PARAM_HELP });
          }
          const value = (v as { value: string | number | boolean }).value;
          if (field === "effort" && !(EFFORTS as readonly unknown[]).includes(value)) return fail(e.right.span, `effort is one of ${EFFORTS.join(", ")}`);
          return { op: "model-param", param: field as ModelParam, cmp: e.op as CmpOp, value };
        }
        if (head === "model" && field === "tags" && e.left.path.length === 2 && e.op === "has") {
          const tag = e.right.kind === "ref" && e.right.path.length === 1 ? e.right.path[0].name : e.right.kind === "literal" && e.right.value.kind === "string" ? e.right.value.value : null;
          if (tag === null) return fail(e.right.span, "`has` takes a tag name");
          return { op: "model-tag", tag };
        }
        if (head === "model" && field === "provider" && e.left.path.length === 2 && (e.op === "==" || e.op === "!=")) {
          const v = e.right.kind === "literal" && e.right.value.kind === "string" ? e.right.value.value : e.right.kind === "ref" && e.right.path.length === 1 ? e.right.path[0].name : null;
          if (v === null) return fail(e.right.span, "compare `model.provider` with a provider name");
          const p: DecisionPredicate = { op: "model-field", field: "provider", value: v };
          return e.op === "!=" ? { op: "not", arg: p } : p;
        }
        if (head === "profile" && field === undefined && (e.op === "==" || e.op === "!=" || e.op === "in") && !env.signals.has("profile")) {
          const names = nameList(e.right);
          if (!names) return fail(e.right.span, "compare `profile` with a profile name or a list of them");
          let ok = true;
          names.names.forEach((n, i) => {
            if (scope.profiles.has(n) || env.quiet.has(n)) return;
            ok = false;
            env.diags.add("RP0209", env.file, names.spans[i], `undefined profile \`${n}\``, didYouMean(n, scope.profiles.keys(), names.spans[i]));
          });
          if (!ok) return null;
          const p: DecisionPredicate = { op: "profile-is", profiles: names.names };
          return e.op === "!=" ? { op: "not", arg: p } : p;
        }
        if (head === "route" && field === undefined && (e.op === "==" || e.op === "!=" || e.op === "in")) {
          const names = nameList(e.right);
          if (!names) return fail(e.right.span, "compare `route` with a route name or a list of them");
          const withDefault = new Map(scope.routes);
          withDefault.set("default", null);
          // A profile's default decides as `<profile>.default` (write it quoted: `route == "coding.default"`).
          for (const p of scope.profiles.keys()) withDefault.set(`${p}.default`, null);
          if (!known(names, withDefault, "route")) return null;
          const p: DecisionPredicate = { op: "route-is", routes: names.names };
          return e.op === "!=" ? { op: "not", arg: p } : p;
        }
        if (head === "model" || head === "route") {
          return fail(e.span, `cannot test \`${e.left.path.map((p) => p.name).join(".")} ${e.op} …\``);
        }
        break;
      }
      default:
        break;
    }
    const cond = lowerCondition(e, env);
    return cond && { op: "request", cond };
  };
  return lower(expr);
}
