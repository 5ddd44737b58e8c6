// The `capture` plugin: a sample of a route's decisions recorded with every
// signal value the engine computed (not only whether each matched), in the
// routing event's `capture`, so that `routeplane replay` can decide the same
// requests again under another policy. Only values from closed sets leave the
// sidecar: a header's or metadata key's value is kept when the policy lists
// it, else it is "(other)" (a header signal may read a credential).
import type { Bundle, Condition, JsonObject, SignalSpec } from "../../bundle/index.ts";
import { unitHash } from "../engine/engine.ts";
import type { SignalValue } from "../engine/signals.ts";

/** Whether this request is in the plugin's sample (`sample`, default 1), by its id: the same id, the same answer. */
export function sampled(requestId: string, config: JsonObject): boolean {
  const sample = (config.sample as number | undefined) ?? 1;
  return sample >= 1 || unitHash(`capture\u0000${requestId}`) < sample;
}

/** Per signal, the strings the policy's conditions compare it with: values a capture may keep, as listed ones. */
const comparedOf = new WeakMap<Bundle, Map<string, Set<string>>>();
function compared(bundle: Bundle): Map<string, Set<string>> {
  let out = comparedOf.get(bundle);
  if (out) return out;
  out = new Map();
  const add = (signal: string, v: unknown) => {
    if (typeof v === "string") (out!.get(signal) ?? out!.set(signal, new Set()).get(signal)!).add(v);
  };
  const visit = (c: Condition): void => {
    if (c.op === "and" || c.op === "or") c.args.forEach(visit);
    else if (c.op === "not") visit(c.arg);
    else if (c.op === "cmp") add(c.signal, c.value);
    else if (c.op === "in") c.values.forEach((v) => add(c.signal, v));
  };
  for (const r of bundle.policy.routes) visit(r.when);
  comparedOf.set(bundle, out);
  return out;
}

/** The computed signals as the routing event's `capture.signals`: `{ matched, ...outputs }` each, free-text values withheld. */
export function capturedSignals(signals: Readonly<Record<string, SignalValue>>, bundle: Bundle): Record<string, Record<string, boolean | number | string>> {
  const specs: readonly SignalSpec[] = bundle.policy.signals;
  const byName = new Map(specs.map((s) => [s.name, s]));
  const literals = compared(bundle);
  const out: Record<string, Record<string, boolean | number | string>> = {};
  for (const name in signals) {
    const v = signals[name];
    const spec = byName.get(name);
    const values: Record<string, boolean | number | string> = { matched: v.matched };
    for (const [k, x] of Object.entries(v.outputs)) {
      const open = (spec?.type === "header" || spec?.type === "metadata") && k === "value";
      const listed = (Array.isArray(spec?.config.values) && (spec.config.values as string[]).includes(String(x))) || (literals.get(name)?.has(String(x)) ?? false);
      values[k] = open && x !== "" && !listed ? "(other)" : x;
    }
    out[name] = values;
  }
  return out;
}
