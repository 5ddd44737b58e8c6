// test and explain: run requests through the decision engine and show why it
// decided what it did.
import { existsSync, statSync } from "node:fs";
import { readBundle, describeBundleReadError, profileDefaultRoute, ambiguousPath, type Bundle, type JsonObject, type ModelParams } from "../bundle/index.ts";
import { Engine, requestFromChat, type Decision, type Request } from "../runtime/engine/index.ts";
import type { CheckedTest, CompileResult } from "../compiler/index.ts";
import { compilePaths, reportDiagnostics, checkFormat } from "./policy-commands.ts";
import { readJsonFile, readTextFile, UsageError } from "./usage.ts";
import { EXIT, type Io } from "./io.ts";

/** A model with the route's parameters for it, as written in source: `qwen { max_tokens: 512 }`. */
export function withParams(model: string, params: ModelParams | undefined): string {
  return params ? `${model} { ${Object.entries(params).map(([k, v]) => `${k}: ${v}`).join(", ")} }` : model;
}

export function renderDecision(d: Decision, priorities: Map<string, number>): string {
  const lines: string[] = [];
  const head = d.blocked ? `blocked (${d.blocked.status}) by ${d.blocked.plugin || "policy"}: ${d.blocked.message}` : `model ${d.model}`;
  lines.push(`${d.profile !== undefined ? `profile ${d.profile}, ` : ""}route ${d.route ?? "(none)"}${d.route && priorities.has(d.route) ? ` (priority ${priorities.get(d.route)})` : ""} → ${head}`);
  if (d.fallbacks.length) lines.push(`  fallbacks: ${d.fallbacks.join(" → ")}`);
  const t = d.trace;
  if (!t) return lines.join("\n");
  if (t.selection.algorithm === "cascade" || t.selection.algorithm === "hedge") lines.push(`  ${t.selection.algorithm}: the sidecar asks ${t.selection.candidates.join(" → ")} ${t.selection.algorithm === "cascade" ? "by confidence (the first whose answer is confident enough answers)" : "by time (the first answer wins)"}`);
  if (t.selection.params) lines.push(`  parameters: ${Object.entries(t.selection.params).map(([m, p]) => withParams(m, p)).join(", ")}`);
  if (t.selection.shares) lines.push(`  ${t.selection.algorithm} shares: ${Object.entries(t.selection.shares).map(([m, s]) => `${m} ${(s * 100).toFixed(1)}%`).join(", ")}`);
  if (t.plugins.length) lines.push(`  plugins: ${t.plugins.map((p) => `${p.plugin} (${p.effect}${p.detail ? `: ${p.detail}` : ""})`).join(", ")}`);
  lines.push(`  why: ${t.reason}`);
  if (t.routes.length) {
    lines.push("  routes, in evaluation order:");
    const width = Math.max(...t.routes.map((r) => r.route.length));
    for (const r of t.routes) {
      const mark = r.matched === null ? "·" : r.matched ? "✓" : "✗";
      lines.push(`    ${mark} ${r.route.padEnd(width)}  ${r.matched === null ? "not evaluated" : r.matched ? "matched" : "no match"}`);
    }
  }
  const sigs = Object.entries(t.signals);
  if (sigs.length) {
    lines.push("  signals evaluated:");
    const width = Math.max(...sigs.map(([n]) => n.length));
    for (const [name, v] of sigs) {
      const outs = Object.entries(v.outputs).map(([k, x]) => `${k}=${typeof x === "string" ? JSON.stringify(x) : x}`).join(" ");
      lines.push(`    ${name.padEnd(width)}  ${String(v.matched).padEnd(5)}  ${outs}${v.source === "computed" ? "" : `  (${v.source})`}`);
    }
  }
  return lines.join("\n");
}

function priorityMap(bundle: Bundle): Map<string, number> {
  return new Map(bundle.policy.routes.map((r) => [r.name, r.priority]));
}

function testRequest(t: CheckedTest, engine: Engine): Request {
  return { messages: t.request.messages, headers: t.request.headers, metadata: t.request.metadata, signals: t.request.signals, id: t.name, profile: engine.profileFor(t.request.model, t.request.path) };
}

/** What failed in a test, or an empty list. `expect route default` is the default of the request's profile. */
export function testFailures(t: CheckedTest, d: Decision, profile = ""): string[] {
  const e = t.expect;
  const out: string[] = [];
  const expected = e.route === "default" && profile !== "" ? profileDefaultRoute(profile) : e.route;
  if (expected !== undefined && d.route !== expected) out.push(`expected route ${expected}, got ${d.route ?? "(none)"}`);
  if (e.model !== undefined && d.model !== e.model) out.push(`expected model ${e.model}, got ${d.model ?? "(none)"}`);
  if (e.plugins !== undefined && d.plugins.join(",") !== e.plugins.join(",")) out.push(`expected plugins [${e.plugins.join(", ")}], got [${d.plugins.join(", ")}]`);
  if (e.blocked !== undefined && (d.blocked !== null) !== e.blocked) out.push(e.blocked ? "expected the request to be blocked, it was allowed" : `expected the request to be allowed, it was blocked: ${d.blocked?.message}`);
  return out;
}

export interface TestRun {
  name: string;
  file: string;
  line: number;
  failures: string[];
  decision: Decision;
}

export async function runPolicyTests(result: CompileResult): Promise<TestRun[]> {
  const engine = await Engine.load(result.bundle!);
  return result.checked!.tests.map((t) => {
    const request = testRequest(t, engine);
    const decision = engine.decide(request, { trace: true });
    return { name: t.name, file: t.file, line: t.span.start.line, failures: testFailures(t, decision, request.profile), decision };
  });
}

export async function cmdTest(io: Io, paths: string[], opts: { format?: string; notes?: boolean }): Promise<number> {
  const format = checkFormat(opts.format);
  const result = compilePaths(paths, true);
  reportDiagnostics(io, result, "text", { notes: opts.notes === true });
  if (!result.bundle) return EXIT.failed;
  const runs = await runPolicyTests(result);
  const failed = runs.filter((r) => r.failures.length > 0);
  if (format === "json") {
    io.out(JSON.stringify({ passed: runs.length - failed.length, failed: failed.length, tests: runs.map((r) => ({ name: r.name, file: r.file, line: r.line, ok: r.failures.length === 0, failures: r.failures, decision: r.decision })) }, null, 2));
  } else {
    const priorities = priorityMap(result.bundle);
    for (const r of runs) {
      if (r.failures.length === 0) {
        io.out(`ok    ${r.name}`);
        continue;
      }
      io.out(`FAIL  ${r.name}  (${r.file}:${r.line})`);
      for (const f of r.failures) io.out(`      ${f}`);
      io.out(renderDecision(r.decision, priorities).split("\n").map((l) => "      " + l).join("\n"));
    }
    if (runs.length === 0) io.out("no test blocks found");
    io.out(`${runs.length - failed.length} passed, ${failed.length} failed`);
  }
  return failed.length > 0 ? EXIT.failed : EXIT.ok;
}

/** Loads a bundle file, or compiles sources, into an engine. */
async function loadEngine(io: Io, paths: string[]): Promise<Engine | null> {
  if (paths.length === 1 && paths[0].endsWith(".json") && existsSync(paths[0]) && statSync(paths[0]).isFile()) {
    const read = readBundle(readTextFile(paths[0], "bundle"));
    if (!read.ok) {
      io.err(`${paths[0]}: ${describeBundleReadError(read.error)}`);
      return null;
    }
    return Engine.load(read.bundle);
  }
  const result = compilePaths(paths, true);
  reportDiagnostics(io, result, "text");
  return result.bundle ? Engine.load(result.bundle) : null;
}

/** A request file: an OpenAI chat body, optionally wrapped as `{ body, headers, signals }`. */
export function parseRequestFile(value: unknown, file: string): Request {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new UsageError(`${file}: a request is a JSON object`);
  const v = value as { body?: unknown; headers?: Record<string, string>; signals?: JsonObject; messages?: unknown; id?: string; path?: unknown };
  const body = (v.body ?? v) as { messages?: unknown; prompt?: unknown };
  if (!Array.isArray(body.messages) && typeof body.prompt !== "string") {
    throw new UsageError(`${file}: the request has no \`messages\` list (OpenAI chat format) or \`prompt\``);
  }
  const req = requestFromChat(body as never, v.headers ?? {});
  req.signals = v.signals ?? {};
  if (typeof v.id === "string") req.id = v.id;
  if (v.path !== undefined && (typeof v.path !== "string" || !v.path.startsWith("/"))) throw new UsageError(`${file}: \`path\` is the request's path (its profile's prefix), a string starting with /, e.g. "/coding"`);
  if (typeof v.path === "string") requestPaths.set(req, v.path);
  return req;
}

/** The path a request file gave (`"path": "/coding"`): which profile decides, as the sidecar's URL would. */
const requestPaths = new WeakMap<Request, string>();

export async function cmdExplain(io: Io, paths: string[], opts: { request?: string; format?: string }): Promise<number> {
  const format = checkFormat(opts.format);
  if (!opts.request) throw new UsageError("explain needs --request <req.json>");
  const request = parseRequestFile(readJsonFile(opts.request, "request"), opts.request);
  const engine = await loadEngine(io, paths);
  if (!engine) return EXIT.failed;
  const path = requestPaths.get(request);
  if (path !== undefined) {
    if (ambiguousPath(path)) throw new UsageError(`${opts.request}: the path ${path} has a dot segment, an encoded dot or slash, an empty segment or a backslash (the sidecar answers 400)`);
    const profile = engine.profileFor(undefined, path);
    if (profile === "") throw new UsageError(`${opts.request}: no profile of the policy serves the path ${path} (the sidecar answers 404)`);
    request.profile = profile;
  }
  const decision = engine.decide(request, { trace: true });
  if (format === "json") io.out(JSON.stringify(decision, null, 2));
  else io.out(renderDecision(decision, priorityMap(engine.bundle)));
  return EXIT.ok;
}
