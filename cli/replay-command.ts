// replay: how another policy or set of learned shares would have done on
// recorded traffic (docs/adaptation.md "Replay"). Reads the sidecars' JSONL
// telemetry (routing and feedback events, in any order, from any number of
// files), compiles the candidate policy, and estimates its quality, cost and
// latency by inverse propensity scoring from each event's pick probability.
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import {
  FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA_VERSION, checkFeedbackEvent, checkRoutingEvent, overlayProblem, overlayShapeProblem, routeShares,
  type Bundle, type SharesOverlay,
} from "../bundle/index.ts";
import { replay, type Estimate, type LoggedDecision, type LoggedFeedback, type ReplayResult } from "../adapter/index.ts";
import { compilePaths, reportDiagnostics } from "./policy-commands.ts";
import { UsageError } from "./files.ts";
import { EXIT, type Io } from "./io.ts";

export interface ReplayFlags {
  policy?: string;
  weights?: string;
  format?: string;
}

/** What reading the telemetry found besides the events. */
export interface TelemetryRead {
  decisions: LoggedDecision[];
  feedback: LoggedFeedback[];
  lines: number;
  /** Lines that are not JSON or fail their event schema. */
  invalid: number;
  /** Routing events of schema v1, which record no pick probability. */
  withoutProbability: number;
  /** Events of another schema (not routing or feedback). */
  otherSchema: number;
  /** The first few invalid lines, as file:line: problem. */
  problems: string[];
}

const SHOWN_PROBLEMS = 5;

/** Reads JSONL telemetry files line by line (a file may be larger than memory would like as a string). */
export async function readTelemetry(files: string[]): Promise<TelemetryRead> {
  const read: TelemetryRead = { decisions: [], feedback: [], lines: 0, invalid: 0, withoutProbability: 0, otherSchema: 0, problems: [] };
  const bad = (where: string, problem: string) => {
    read.invalid++;
    if (read.problems.length < SHOWN_PROBLEMS) read.problems.push(`${where}: ${problem}`);
  };
  for (const file of files) {
    if (!existsSync(file)) throw new UsageError(`${file}: no such file (give the sidecar's --telemetry JSONL files)`);
    let n = 0;
    for await (const line of createInterface({ input: createReadStream(file, "utf8"), crlfDelay: Infinity })) {
      n++;
      if (line.trim() === "") continue;
      read.lines++;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        bad(`${file}:${n}`, "not JSON");
        continue;
      }
      const schema = typeof value === "object" && value !== null ? (value as { schema?: unknown }).schema : undefined;
      if (schema === ROUTING_EVENT_SCHEMA_VERSION) {
        const c = checkRoutingEvent(value);
        if (!c.ok) bad(`${file}:${n}`, c.problem);
        else read.decisions.push({ requestId: c.event.requestId, route: c.event.route, model: c.event.model, probability: c.event.selection.probability, ...(c.event.selection.context !== undefined ? { context: c.event.selection.context } : {}), costUsd: c.event.costUsd, latencyMs: c.event.latencyMs.total });
      } else if (schema === FEEDBACK_EVENT_SCHEMA_VERSION) {
        const c = checkFeedbackEvent(value);
        if (!c.ok) bad(`${file}:${n}`, c.problem);
        else read.feedback.push({ requestId: c.event.requestId, rating: c.event.rating, label: c.event.label });
      } else if (schema === "routeplane.routing/v1") read.withoutProbability++;
      else read.otherSchema++;
    }
  }
  return read;
}

function readOverlay(file: string, bundle: Bundle): SharesOverlay {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new UsageError(`${file}: ${(e as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : "not JSON"} (--weights takes {version, revision?, routes: {route: {model: share}}, cells?: {route: {cell: {model: share}}}})`);
  }
  const shape = overlayShapeProblem(value);
  if (shape) throw new UsageError(`${file}: ${shape}`);
  const overlay = value as SharesOverlay;
  // A weights file made for another revision is still a fair question for this one: replay checks only the bounds.
  const problem = overlayProblem({ ...overlay, revision: undefined }, bundle);
  if (problem) throw new UsageError(`${file}: ${problem} (the sidecar would refuse these shares)`);
  return overlay;
}

export async function cmdReplay(io: Io, files: string[], flags: ReplayFlags): Promise<number> {
  const format = flags.format ?? "text";
  if (format !== "text" && format !== "json") throw new UsageError(`--format must be text or json, not ${JSON.stringify(format)}`);
  if (!flags.policy) throw new UsageError("replay needs --policy <dir>: the policy to estimate (the current one, or a change to it)");
  const compiled = compilePaths([flags.policy], true);
  if (!compiled.bundle) {
    reportDiagnostics(io, compiled, "text");
    io.err(`replay: ${flags.policy} does not compile; nothing to estimate`);
    return EXIT.failed;
  }
  const bundle = compiled.bundle;
  const overlay = flags.weights ? readOverlay(flags.weights, bundle) : undefined;
  const telemetry = await readTelemetry(files);
  const result = replay(telemetry.decisions, telemetry.feedback, (route, cell) => routeShares(bundle, route, (cell !== undefined ? overlay?.cells?.[route]?.[cell] : undefined) ?? overlay?.routes[route]));
  if (format === "json") {
    io.out(JSON.stringify({ policy: bundle.manifest.policy, revision: bundle.manifest.revision, weights: overlay?.version ?? null, telemetry: { ...telemetry, decisions: telemetry.decisions.length, feedback: telemetry.feedback.length }, ...result }, null, 2));
  } else io.out(renderReplay(result, telemetry, `${bundle.manifest.policy} ${bundle.manifest.revision.replace(/^sha256:/, "").slice(0, 12)}${overlay ? ` with shares ${overlay.version}` : ""}`));
  return result.rated === 0 ? EXIT.failed : EXIT.ok;
}

const fmt = (e: Estimate | null, digits: number) => (e ? `${e.value.toFixed(digits)}  [${e.low.toFixed(digits)}, ${e.high.toFixed(digits)}]` : "n/a");

export function renderReplay(r: ReplayResult, t: TelemetryRead, target: string): string {
  const lines = [`replay of ${target} on ${r.decisions} recorded decisions (${r.comparable} comparable, ${r.rated} with feedback)`, ""];
  const row = (what: string, logged: string, estimated: string) => lines.push(`  ${what.padEnd(24)}${logged.padEnd(34)}${estimated}`);
  row("", "recorded", "estimated for the target (95% CI)");
  row("quality (0–1)", fmt(r.logged.quality, 3), `${fmt(r.target.doublyRobust, 3)}  doubly robust`);
  row("", "", `${fmt(r.target.snips, 3)}  self-normalised IPS`);
  row("", "", `${fmt(r.target.ips, 3)}  IPS`);
  row("cost per request (USD)", fmt(r.logged.costUsd, 6), fmt(r.target.costUsd, 6));
  row("latency (ms)", fmt(r.logged.latencyMs, 1), fmt(r.target.latencyMs, 1));
  lines.push("", `  effective sample size ${r.effectiveSampleSize.toFixed(0)} of ${r.rated} rated answers`);
  if (r.unsupported > 0) lines.push(`  ${(r.unsupported * 100).toFixed(1)}% of the target's picks go to models never rated on their route: only the doubly robust estimate speaks for them, from other models' ratings`);
  if (r.rated > 0 && r.effectiveSampleSize < Math.min(100, r.rated / 10)) lines.push("  the target differs so much from what was logged that few answers speak for it: widen exploration, or record longer");
  const skipped = Object.entries(r.skipped).filter(([, n]) => n > 0).map(([k, n]) => `${n} ${k === "noModel" ? "without a model (blocked, rejected)" : k === "routeNotInTarget" ? "on routes the target does not have" : k === "badProbability" ? "with an unusable probability" : "duplicate"}`);
  if (skipped.length) lines.push(`  decisions skipped: ${skipped.join(", ")}`);
  const fb = r.feedback;
  if (fb.duplicates || fb.unmatched || fb.unusable) lines.push(`  feedback: ${fb.events} events; ${fb.duplicates} repeated (the last counts), ${fb.unmatched} for requests not in the telemetry, ${fb.unusable} without a usable rating or label`);
  if (t.withoutProbability) lines.push(`  ${t.withoutProbability} routing events of schema v1 carry no pick probability and were left out`);
  if (t.invalid) lines.push(`  ${t.invalid} invalid lines left out, e.g. ${t.problems.join("; ")}`);
  if (t.otherSchema) lines.push(`  ${t.otherSchema} events of other schemas ignored`);
  if (r.rated === 0) lines.push("", "no decision with feedback on a route the target has: nothing to estimate from (send ratings to /v1/feedback)");
  return lines.join("\n");
}
