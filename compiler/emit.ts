// Stage "emit": CheckedPolicy → Bundle. Deterministic: nothing here reads a
// clock or the environment, so the same sources give the same bytes.
import path from "node:path";
import {
  BUNDLE_FORMAT, computeRevision, sha256Hex, validateBundle,
  type AdaptationMode, type Bundle, type CheckRecord, type LoweredPolicy, type Verification,
} from "../bundle/index.ts";
import type { CheckedPolicy } from "./check.ts";
import type { Analysis } from "./analysis/analyze.ts";
import { COMPILER_VERSION } from "./version.ts";

export interface EmitOptions {
  /** The policy's name in the manifest; defaults to its package. */
  policyName?: string;
  /** `manifest.serial`, the bundle's place in its policy's release order (ADR 10); default 0. */
  serial?: number;
  /** `manifest.rollback`: the bundle deliberately takes the place of the one with the same serial. */
  rollback?: boolean;
  /** `manifest.adaptation`: whether sidecars apply learned shares (the controller sets it from the spec); absent when not given. */
  adaptation?: AdaptationMode;
}

export function emitBundle(checked: CheckedPolicy, analysis: Analysis, options: EmitOptions = {}): Bundle {
  const policy: LoweredPolicy = {
    signals: checked.signals.map((s) => ({ name: s.name, type: s.type, config: s.config })),
    models: checked.models,
    plugins: checked.plugins,
    routes: checked.routes,
    default: checked.default,
    // Bundles of policies without profiles stay as they were (older sidecars load them).
    ...(checked.profiles.length ? { profiles: checked.profiles } : {}),
  };
  const verification: Verification = {
    checks: [
      { name: "syntax", status: "passed" },
      { name: "schema", status: "passed" },
      { name: "types", status: "passed" },
      analysis.complete
        ? { name: "analysis", status: "passed", detail: "no route overlaps ambiguously and every guarantee holds over every request" }
        : { name: "analysis", status: "unchecked", detail: "the analysis did not run to completion (RP1009)" },
      analysis.complete ? { name: "coverage", status: "passed", detail: analysis.coverage } : { name: "coverage", status: "unchecked", detail: analysis.coverage },
      { name: "tests", status: "unchecked", detail: "run `routeplane test` to execute the policy's test blocks" },
      guaranteesCheck(analysis),
    ],
    guarantees: analysis.guarantees.map((g) => ({ name: g.name, status: g.status, detail: g.detail })),
  };
  const base = commonDir(checked.sources.map((s) => s.path));
  const bundle: Bundle = {
    format: BUNDLE_FORMAT,
    manifest: {
      policy: options.policyName ?? checked.package,
      package: checked.package,
      revision: computeRevision(policy, verification),
      compiler: { name: "routeplane", version: COMPILER_VERSION },
      sources: checked.sources
        .map((s) => ({ path: path.relative(base, s.path).split(path.sep).join("/"), sha256: sha256Hex(s.text) }))
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
      serial: options.serial ?? 0,
      rollback: options.rollback ?? false,
      ...(options.adaptation ? { adaptation: options.adaptation } : {}),
    },
    policy,
    verification,
    signatures: [],
  };
  // A bundle that fails its own schema is a compiler bug, not a user error.
  const valid = validateBundle(bundle);
  if (!valid.ok) throw new Error(`internal error: emitted bundle violates its schema: ${JSON.stringify(valid.errors.slice(0, 5))}`);
  return bundle;
}

/**
 * One record a sidecar or a controller can refuse on: "passed" only when every
 * guarantee was proved. A bundle with an unproved guarantee exists only when
 * the compile was told `allowUnproved` (RP1017 otherwise).
 */
function guaranteesCheck(analysis: Analysis): CheckRecord {
  const open = analysis.guarantees.filter((g) => g.status !== "proved");
  if (analysis.guarantees.length === 0) return { name: "guarantees", status: "passed", detail: "the policy states no guarantee" };
  if (open.length === 0) return { name: "guarantees", status: "passed", detail: "every guarantee was proved" };
  return {
    name: "guarantees",
    status: open.some((g) => g.status === "failed") ? "failed" : "unchecked",
    detail: `not proved: ${open.map((g) => `"${g.name}"`).join(", ")}; compiled with --allow-unproved, and sidecars refuse the bundle unless started with --allow-unproved`,
  };
}

function commonDir(paths: string[]): string {
  if (paths.length === 0) return ".";
  const split = paths.map((p) => path.dirname(path.resolve(p)).split(path.sep));
  const first = split[0];
  let n = first.length;
  for (const parts of split) {
    let i = 0;
    while (i < n && parts[i] === first[i]) i++;
    n = i;
  }
  return first.slice(0, n).join(path.sep) || path.sep;
}
