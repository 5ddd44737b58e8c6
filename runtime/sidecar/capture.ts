// The `capture` plugin: a sample of a route's decisions recorded with every
// signal value the engine computed (not only whether each matched), in the
// routing event's `capture`, so that `routeplane replay` can decide the same
// requests again under another policy. Only values from closed sets leave the
// sidecar: a header's or metadata key's value is kept when the policy lists
// it, else it is "(other)" (a header signal may read a credential).
import type { JsonObject, SignalSpec } from "../../bundle/index.ts";
import { unitHash } from "../engine/engine.ts";
import type { SignalValue } from "../engine/signals.ts";

/** Whether this request is in the plugin's sample (`sample`, default 1), by its id: the same id, the same answer. */
export function sampled(requestId: string, config: JsonObject): boolean {
  const sample = (config.sample as number | undefined) ?? 1;
  return sample >= 1 || unitHash(`capture\u0000${requestId}`) < sample;
}

/** The computed signals as the routing event's `capture.signals`: `{ matched, ...outputs }` each, free-text values withheld. */
export function capturedSignals(signals: Readonly<Record<string, SignalValue>>, specs: readonly SignalSpec[]): Record<string, Record<string, boolean | number | string>> {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const out: Record<string, Record<string, boolean | number | string>> = {};
  for (const name in signals) {
    const v = signals[name];
    const spec = byName.get(name);
    const values: Record<string, boolean | number | string> = { matched: v.matched };
    for (const [k, x] of Object.entries(v.outputs)) {
      const open = (spec?.type === "header" || spec?.type === "metadata") && k === "value";
      const listed = Array.isArray(spec?.config.values) && (spec.config.values as string[]).includes(String(x));
      values[k] = open && x !== "" && !listed ? "(other)" : x;
    }
    out[name] = values;
  }
  return out;
}
