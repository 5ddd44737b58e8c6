// replay: how another policy or set of learned shares would have done on
// recorded traffic (docs/adaptation.md "Replay"). Reads the sidecars' JSONL
// telemetry (routing and feedback events, in any order, from any number of
// files), compiles the candidate policy, and estimates its quality, cost and
// latency by inverse propensity scoring from each event's pick probability.
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import {
  FEEDBACK_EVENT_SCHEMA_VERSION, ROUTING_EVENT_SCHEMA_VERSION, checkFeedbackEvent, checkRoutingEvent, overlayProblem, overlayShapeProblem, routeShares,
  type Bundle, type RoutingEvent, type SharesOverlay,
} from "../bundle/index.ts";
import { Engine, requestFromSignals } from "../runtime/engine/index.ts";
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
  /** Decisions a `capture` plugin recorded with their signal values: replayed through the target's engine. */
  captured: { requestId: string; route: string | null; model: string | null; blocked: boolean; profile?: string; signals: NonNullable<RoutingEvent["capture"]>["signals"] }[];
}

/** How the target decides the captured requests, against what was recorded. */
export interface CapturedReplay {
  decisions: number;
  changed: number;
  /** Route → route (and model → model), by count, most first. */
  transitions: { from: string; to: string; count: number }[];
  /** Signals the target reads that the captures do not hold: decided as for an empty request. */
  missingSignals: string[];
  /** Recorded decisions a plugin blocked: what blocked them (the request's text) is not captured, so they are not decided again. */
  blocked: number;
  /** Captures holding a withheld value ("(other)"): a target that compares that signal with a new value may be judged wrong on them. */
  withheld: number;
  /** Captures decided in a profile the target does not have (renamed or removed): decided by its own routes instead. */
  profileMissing: number;
}

/** Decides each captured request again under the target bundle, from its recorded signal values. */
export async function replayCaptured(bundle: Bundle, captured: TelemetryRead["captured"]): Promise<CapturedReplay> {
  const engine = await Engine.load(bundle);
  const counts = new Map<string, number>();
  const missing = new Set<string>();
  let changed = 0;
  let blocked = 0;
  let withheld = 0;
  let profileMissing = 0;
  const profiles = new Set((bundle.policy.profiles ?? []).map((p) => p.name));
  // One capture per request: a file read twice, or a forged repeat, counts once (the last wins).
  const unique = [...new Map(captured.map((c) => [c.requestId, c])).values()];
  for (const c of unique) {
    if (c.blocked) {
      blocked++;
      continue;
    }
    if (Object.values(c.signals).some((v) => Object.values(v).includes("(other)"))) withheld++;
    if (c.profile !== undefined && !profiles.has(c.profile)) profileMissing++;
    for (const s of bundle.policy.signals) if (!Object.hasOwn(c.signals, s.name)) missing.add(s.name);
    // In the profile that decided it (a profile the target lacks: its own routes, as the sidecar would not find it either).
    const d = engine.decide({ ...requestFromSignals(c.signals), id: c.requestId, ...(c.profile !== undefined ? { profile: c.profile } : {}) });
    const before = `${c.route ?? "rejected"} → ${c.model ?? "none"}`;
    const after = `${d.route ?? "rejected"} → ${d.blocked ? "blocked" : (d.model ?? "none")}`;
    if (before === after) continue;
    changed++;
    const k = `${before}\u0000${after}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const transitions = [...counts].map(([k, count]) => ({ from: k.split("\u0000")[0], to: k.split("\u0000")[1], count })).sort((a, b) => b.count - a.count);
  return { decisions: unique.length - blocked, changed, transitions, missingSignals: [...missing].sort(), blocked, withheld, profileMissing };
}

const SHOWN_PROBLEMS = 5;

/** Reads JSONL telemetry files line by line (a file may be larger than memory would like as a string). */
export async function readTelemetry(files: string[]): Promise<TelemetryRead> {
  const read: TelemetryRead = { decisions: [], feedback: [], lines: 0, invalid: 0, withoutProbability: 0, otherSchema: 0, problems: [], captured: [] };
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
        else {
          // The decided model is the first one asked (the answer may have come from a fallback, a hedge or a cascade step).
          if (c.event.capture) read.captured.push({ requestId: c.event.requestId, route: c.event.route, model: c.event.attempts[0]?.model ?? c.event.model, blocked: c.event.blocked !== null, ...(c.event.capture.profile !== undefined ? { profile: c.event.capture.profile } : {}), signals: c.event.capture.signals });
          read.decisions.push({ requestId: c.event.requestId, route: c.event.route, model: c.event.model, probability: c.event.selection.probability, ...(c.event.selection.context !== undefined ? { context: c.event.selection.context } : {}), costUsd: c.event.costUsd, latencyMs: c.event.latencyMs.total });
        }
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
  const captured = telemetry.captured.length > 0 ? await replayCaptured(bundle, telemetry.captured) : null;
  if (format === "json") {
    io.out(JSON.stringify({ policy: bundle.manifest.policy, revision: bundle.manifest.revision, weights: overlay?.version ?? null, telemetry: { ...telemetry, decisions: telemetry.decisions.length, feedback: telemetry.feedback.length, captured: telemetry.captured.length }, ...result, captured }, null, 2));
  } else io.out(renderReplay(result, telemetry, `${bundle.manifest.policy} ${bundle.manifest.revision.replace(/^sha256:/, "").slice(0, 12)}${overlay ? ` with shares ${overlay.version}` : ""}`, captured));
  return result.rated === 0 && captured === null ? EXIT.failed : EXIT.ok;
}

const SHOWN_TRANSITIONS = 10;

/** Route and model names from telemetry, shown on a terminal: control characters and line breaks escaped. */
const shown = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);

function renderCaptured(c: CapturedReplay): string[] {
  const lines = ["", `captured decisions, decided again by the target: ${c.changed} of ${c.decisions} change`];
  for (const t of c.transitions.slice(0, SHOWN_TRANSITIONS)) lines.push(`  ${String(t.count).padStart(6)}  ${shown(t.from)}   now ${shown(t.to)}`);
  if (c.transitions.length > SHOWN_TRANSITIONS) lines.push(`  … and ${c.transitions.length - SHOWN_TRANSITIONS} more kinds of change (--format json lists them all)`);
  if (c.profileMissing) lines.push(`  ${c.profileMissing} captures were decided in a profile the target does not have (renamed or removed?): decided by its own routes here`);
  if (c.blocked) lines.push(`  ${c.blocked} captured decisions a plugin blocked were not decided again (what blocked them is the request's text, which is not captured)`);
  if (c.withheld) lines.push(`  ${c.withheld} captures hold a withheld value ("(other)": a header or metadata value the policy neither lists nor compares); a target comparing it with a new value may be judged wrong on them`);
  if (c.missingSignals.length) lines.push(`  signals some captures do not hold (the engine computes only what a decision needs; these are decided as for an empty request): ${c.missingSignals.join(", ")}`);
  return lines;
}

const fmt = (e: Estimate | null, digits: number) => (e ? `${e.value.toFixed(digits)}  [${e.low.toFixed(digits)}, ${e.high.toFixed(digits)}]` : "n/a");

export function renderReplay(r: ReplayResult, t: TelemetryRead, target: string, captured: CapturedReplay | null = null): string {
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
  if (captured) lines.push(...renderCaptured(captured));
  return lines.join("\n");
}
