// The bounds of an adaptive selection, shared by whoever learns shares (the
// adapter) and whoever enforces them (the sidecar re-checks every overlay):
// a policy's `select adaptive { models, explore, floor }` allows any split of
// traffic in which
//   - every candidate keeps at least `floor`, and
//   - at most `explore` of the traffic left after the floors goes to
//     candidates other than the top one (the one with the largest share).
// The compiler's guarantees hold for every model a route may choose, so they
// hold for every split inside these bounds (docs/adaptation.md).
//
// The adapter publishes learned splits as a SharesOverlay; the sidecar applies
// one only when every route in it is an adaptive route of the active bundle
// and its split is inside that route's bounds.
import type { Bundle, ModelSpec, Selection } from "./types.ts";
import { routeActions } from "./actions.ts";

/** The bounds of one adaptive route, as the bundle lowers them. */
export interface AdaptiveBounds {
  models: readonly string[];
  explore: number;
  floor: number;
  /** The route's context signals (`context: [...]`), whose truth values name its cells; absent: one split. */
  context?: readonly string[];
}

/** Signals one adaptive route may split its learning by: 2⁴ = 16 cells at most. */
export const MAX_CONTEXT_SIGNALS = 4;

/**
 * The cell of an adaptive route a request falls in: each context signal's name, prefixed with `!`
 * when it does not hold, in the policy's order — `long,!code`. The sidecar records it in the routing
 * event (`selection.context`), the adapter learns per cell, an overlay may give shares per cell.
 */
export function contextCell(context: readonly string[], holds: readonly boolean[]): string {
  let out = "";
  for (let i = 0; i < context.length; i++) out += (i > 0 ? "," : "") + (holds[i] ? "" : "!") + context[i];
  return out;
}

/** Every cell of a route with these context signals, in a fixed order (all hold first). */
export function contextCells(context: readonly string[]): string[] {
  const out: string[] = [];
  for (let bits = 0; bits < 1 << context.length; bits++) out.push(contextCell(context, context.map((_, i) => (bits & (1 << i)) === 0)));
  return out;
}

/** Shares that sum to 1 and are off by at most this much are accepted (floating point). */
export const SHARE_TOLERANCE = 1e-6;

/** Why `shares` is outside the bounds, or null when it is inside. */
export function sharesProblem(bounds: AdaptiveBounds, shares: Readonly<Record<string, number>>): string | null {
  const names = Object.keys(shares);
  for (const name of names) if (!bounds.models.includes(name)) return `\`${name}\` is not a candidate (the candidates are ${bounds.models.join(", ")})`;
  for (const m of bounds.models) {
    const s = shares[m];
    if (typeof s !== "number" || !Number.isFinite(s)) return `no share for candidate \`${m}\``;
    // A share is a probability: recorded in routing events, whose schema takes (0, 1].
    if (s < 0 || s > 1) return `\`${m}\` has ${round(s)}, outside [0, 1]`;
    if (s < bounds.floor - SHARE_TOLERANCE) return `\`${m}\` has ${round(s)}, below the floor ${bounds.floor}`;
  }
  const total = bounds.models.reduce((t, m) => t + shares[m], 0);
  if (Math.abs(total - 1) > SHARE_TOLERANCE) return `the shares add up to ${round(total)}, not 1`;
  const top = Math.max(...bounds.models.map((m) => shares[m]));
  const free = 1 - bounds.floor * bounds.models.length;
  const leastTop = bounds.floor + free * (1 - bounds.explore);
  if (bounds.models.length > 1 && top < leastTop - SHARE_TOLERANCE) {
    return `the top candidate has ${round(top)}; with explore ${bounds.explore} and floor ${bounds.floor} it keeps at least ${round(leastTop)}`;
  }
  return null;
}

/**
 * The split inside the bounds closest to `wanted` (any non-negative weights): floors first, the
 * rest in proportion to `wanted`, then whatever the other candidates have beyond `explore` of the
 * free traffic moved back to the top one.
 */
export function withinBounds(bounds: AdaptiveBounds, wanted: Readonly<Record<string, number>>): Record<string, number> {
  const { models, floor, explore } = bounds;
  const n = models.length;
  const free = 1 - floor * n;
  const weight = (m: string) => (Number.isFinite(wanted[m]) && wanted[m] > 0 ? wanted[m] : 0);
  const sum = models.reduce((t, m) => t + weight(m), 0);
  const extra: Record<string, number> = {};
  for (const m of models) extra[m] = sum > 0 ? (free * weight(m)) / sum : free / n;
  // The top candidate: the largest wanted weight (the first of equals, in the policy's order).
  let top = models[0];
  for (const m of models) if (extra[m] > extra[top]) top = m;
  const others = models.reduce((t, m) => (m === top ? t : t + extra[m]), 0);
  const allowed = free * explore;
  if (n > 1 && others > allowed) {
    const scale = allowed / others;
    for (const m of models) if (m !== top) extra[m] *= scale;
    extra[top] = free - allowed;
  }
  const shares: Record<string, number> = {};
  // Kept within [0, 1]: a sum of floats may pass 1 by a unit in the last place.
  for (const m of models) shares[m] = Math.min(1, Math.max(0, floor + extra[m]));
  return shares;
}

const round = (x: number) => Number(x.toFixed(6));

/** Learned splits for a policy's adaptive routes, as the adapter publishes them. */
export interface SharesOverlay {
  /** Which publication this is; recorded in every routing event the overlay decides. */
  version: string;
  /** The policy revision the shares were learned for; an overlay for another revision is not applied. */
  revision?: string;
  /** route → model → share. For a route with context signals: the split of a cell the overlay has no shares for. */
  routes: Record<string, Record<string, number>>;
  /** route → cell (contextCell) → model → share: per-cell splits of routes with context signals. */
  cells?: Record<string, Record<string, Record<string, number>>>;
}

/** The adaptive routes of a bundle and their bounds, by route name (the default action is "default"). */
export function adaptiveRoutesOf(bundle: Bundle): Map<string, AdaptiveBounds> {
  const out = new Map<string, AdaptiveBounds>();
  const actions = routeActions(bundle.policy);
  for (const [name, action] of actions) {
    const sel = action.select;
    if (sel.algorithm === "adaptive") out.set(name, { models: sel.models, explore: sel.explore, floor: sel.floor, ...(sel.context?.length ? { context: sel.context } : {}) });
  }
  return out;
}

/** What is wrong with an overlay's shape (before any bundle is known), or null. */
export function overlayShapeProblem(value: unknown): string | null {
  const shape = 'an overlay is {"version": "<text>", "revision": "<policy revision, optional>", "routes": {"<route>": {"<model>": <share>}}, "cells": {"<route>": {"<cell>": {"<model>": <share>}}} (optional)}';
  if (typeof value !== "object" || value === null || Array.isArray(value)) return shape;
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!["version", "revision", "routes", "cells"].includes(key)) return `unknown field \`${key}\`: ${shape}`;
  if (typeof o.version !== "string" || o.version.length === 0 || o.version.length > 200) return `\`version\` must be a non-empty string (at most 200 characters): ${shape}`;
  if (o.revision !== undefined && typeof o.revision !== "string") return "`revision` must be a string";
  if (typeof o.routes !== "object" || o.routes === null || Array.isArray(o.routes)) return `\`routes\` must be an object: ${shape}`;
  for (const [route, models] of Object.entries(o.routes)) {
    if (typeof models !== "object" || models === null || Array.isArray(models)) return `the shares of route \`${route}\` must be an object of model → number`;
    for (const [model, share] of Object.entries(models)) if (typeof share !== "number" || !Number.isFinite(share)) return `the share of \`${model}\` on route \`${route}\` must be a number`;
  }
  if (o.cells !== undefined) {
    if (typeof o.cells !== "object" || o.cells === null || Array.isArray(o.cells)) return `\`cells\` must be an object: ${shape}`;
    for (const [route, cells] of Object.entries(o.cells)) {
      if (typeof cells !== "object" || cells === null || Array.isArray(cells)) return `the cells of route \`${route}\` must be an object of cell → shares`;
      for (const [cell, models] of Object.entries(cells)) {
        if (typeof models !== "object" || models === null || Array.isArray(models)) return `the shares of cell \`${cell}\` of route \`${route}\` must be an object of model → number`;
        for (const [model, share] of Object.entries(models)) if (typeof share !== "number" || !Number.isFinite(share)) return `the share of \`${model}\` in cell \`${cell}\` of route \`${route}\` must be a number`;
      }
    }
  }
  return null;
}

/** Why `overlay` may not decide `bundle`'s traffic, or null when every route in it is inside its bounds. */
export function overlayProblem(overlay: SharesOverlay, bundle: Bundle): string | null {
  if (overlay.revision !== undefined && overlay.revision !== bundle.manifest.revision) {
    return `the overlay was learned for revision ${overlay.revision.slice(0, 19)}…, the active policy is ${bundle.manifest.revision.slice(0, 19)}…`;
  }
  const adaptive = adaptiveRoutesOf(bundle);
  for (const [route, shares] of Object.entries(overlay.routes)) {
    const bounds = adaptive.get(route);
    if (!bounds) return `route \`${route}\` is not an adaptive route of the active policy`;
    const problem = sharesProblem(bounds, shares);
    if (problem) return `route \`${route}\`: ${problem}`;
  }
  for (const [route, cells] of Object.entries(overlay.cells ?? {})) {
    const bounds = adaptive.get(route);
    if (!bounds) return `route \`${route}\` is not an adaptive route of the active policy`;
    if (!bounds.context) return `route \`${route}\` has no context signals, so it has no cells`;
    const known = contextCells(bounds.context);
    for (const [cell, shares] of Object.entries(cells)) {
      if (!known.includes(cell)) return `route \`${route}\` has no cell \`${cell.slice(0, 200)}\` (its cells are ${known.join(" ")})`;
      const problem = sharesProblem(bounds, shares);
      if (problem) return `route \`${route}\`, cell \`${cell}\`: ${problem}`;
    }
  }
  return null;
}

/**
 * An adaptive route's split before anything is learned (or when what was learned is refused): the
 * best by the objective over the models' declared priors gets what `explore` and the floors leave,
 * the others share `explore`. The sidecar's engine, `replay` and the controller's status use it.
 */
export function priorShares(sel: Extract<Selection, { algorithm: "adaptive" }>, model: (name: string) => ModelSpec | undefined): Record<string, number> {
  const n = sel.models.length;
  const score = (m: string): number => {
    const spec = model(m);
    const cost = spec?.cost ? (spec.cost.input + spec.cost.output) / 2 : 0;
    return sel.objective.quality * (spec?.quality ?? 0.5) + sel.objective.cost_usd * cost + sel.objective.latency_ms * (spec?.latency_ms ?? 0);
  };
  let best = sel.models[0];
  for (const m of sel.models) if (score(m) > score(best)) best = m;
  const free = 1 - sel.floor * n;
  const shares: Record<string, number> = {};
  for (const m of sel.models) {
    const extra = m === best ? free * (1 - sel.explore) + (n > 1 ? 0 : free * sel.explore) : (free * sel.explore) / (n - 1);
    shares[m] = sel.floor + extra;
  }
  return shares;
}

/**
 * With which probability a policy picks each model on a route (by name; "default" for the default
 * action): a weighted or adaptive split (learned shares when inside the bounds), else the one model
 * a static, cheapest or fastest choice makes — fastest by the declared `latency_ms`, as the sidecar
 * does before it has observed any. Null when the policy has no such route.
 */
export function routeShares(bundle: Bundle, route: string, learned?: Readonly<Record<string, number>> | null): Record<string, number> | null {
  const action = routeActions(bundle.policy).find(([name]) => name === route)?.[1];
  if (!action) return null;
  const sel = action.select;
  const specs = new Map(bundle.policy.models.map((m) => [m.name, m]));
  const first = (order: (m: string) => number) => {
    let best = sel.models[0];
    for (const m of sel.models) if (order(m) < order(best)) best = m;
    return { [best]: 1 };
  };
  switch (sel.algorithm) {
    case "use":
    case "static":
      return { [sel.models[0]]: 1 };
    case "cheapest":
      return first((m) => {
        const c = specs.get(m)?.cost;
        return c ? c.input + c.output : Infinity;
      });
    case "fastest":
      return first((m) => specs.get(m)?.latency_ms ?? Infinity);
    case "weighted": {
      const total = sel.weights.reduce((a, b) => a + b, 0);
      return Object.fromEntries(sel.models.map((m, i) => [m, sel.weights[i] / total]));
    }
    case "adaptive":
      if (learned && sharesProblem(sel, learned) === null) return Object.fromEntries(sel.models.map((m) => [m, learned[m]]));
      return priorShares(sel, (m) => specs.get(m));
    case "cascade":
    case "hedge":
      // Which model answers depends on the answers' confidence or latency, not on a split: no estimate.
      return null;
  }
}
