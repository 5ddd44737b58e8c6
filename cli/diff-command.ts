// diff: how a change to a policy changes decisions, region by region, with an
// example request for each; `--format markdown` for a pull-request comment.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { diffPolicies, exampleRequest, insideRoot, trimExample, type CheckedPolicy, type DecisionChange, type ExampleRequest, type Outcome } from "../compiler/index.ts";
import { Engine, requestFromChat, requestFromSignals } from "../runtime/engine/index.ts";
import { compilePaths, reportDiagnostics } from "./policy-commands.ts";
import { withParams } from "./run-commands.ts";
import { UsageError } from "./usage.ts";
import { EXIT, type Io } from "./io.ts";

function describe(o: Outcome): string {
  if (o.route === null) return "rejected (no route, no default)";
  const where = o.route === "default" ? "the default" : `route ${o.route}`;
  return `${where} → ${o.models.map((m) => withParams(m, o.params[m])).join(" / ")}${o.plugins.length ? ` [${o.plugins.join(", ")}]` : ""}`;
}

/** A change, with a request to paste into `routeplane explain` when one can be written down and both engines agree. */
export type ShownChange = DecisionChange & { request?: string };

export function renderDiff(changes: ShownChange[], redefined: string[], format: "text" | "markdown"): string {
  const lines: string[] = [];
  if (format === "markdown") {
    lines.push(`### routeplane: ${changes.length === 0 ? "no decision changes" : `${changes.length} decision change${changes.length === 1 ? "" : "s"}`}`, "");
    if (changes.length) {
      lines.push("| before | after | for example, a request with |", "| --- | --- | --- |");
      for (const c of changes) lines.push(`| ${describe(c.before)} | ${describe(c.after)} | ${c.request ? `\`${c.request.replace(/\|/g, "\\|")}\`` : c.example.join("; ") || "no signal matching"} |`);
    }
  } else {
    lines.push(changes.length === 0 ? "no decision changes" : `${changes.length} decision change${changes.length === 1 ? "" : "s"}:`);
    changes.forEach((c, i) => {
      lines.push(`${i + 1}. ${describe(c.before)}`, `   now ${describe(c.after)}`);
      // A request `routeplane explain --request` reads, where the signals allow one; else the signals in words.
      lines.push(c.request ? `   e.g. request: ${c.request}` : `   e.g. signals: ${c.example.join("; ") || "none matching"}`);
    });
  }
  if (redefined.length) lines.push("", `redefined signals (old and new compared as different signals): ${redefined.join(", ")}`);
  return lines.join("\n");
}

/**
 * `a..b [path]`: the policy at `path` in two git revisions, extracted to temp
 * dirs. Each extracted tree is its side's policy root, exactly as the checkout
 * is for `check`: imports and symlinks in a revision cannot reach outside it.
 */
function fromGit(range: string, sub: string): { dirs: string[]; roots: string[]; cleanup: () => void } {
  if (path.isAbsolute(sub) || !insideRoot(".", sub)) throw new UsageError(`the policy path \`${sub}\` must be relative and inside the repository`);
  const [a, b] = range.split("..");
  const dirs = [a, b || "HEAD"].map((rev) => {
    // A revision is never read as an option of git.
    if (rev.startsWith("-")) throw new UsageError(`\`${rev}\` is not a revision`);
    const dir = mkdtempSync(path.join(tmpdir(), "routeplane-diff-"));
    try {
      const tar = execFileSync("git", ["archive", "--format=tar", rev], { maxBuffer: 1 << 28 });
      execFileSync("tar", ["-x", "-C", dir], { input: tar });
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw new UsageError(`cannot read revision \`${rev}\`: ${((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim()}`);
    }
    return dir;
  });
  return { dirs: dirs.map((d) => path.join(d, sub)), roots: dirs, cleanup: () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })) };
}

/** The change's example as a request for `explain` (JSON), when both versions' engines decide it as the change says. */
function pasteable(c: DecisionChange, before: CheckedPolicy, after: CheckedPolicy, e0: Engine, e1: Engine): string | undefined {
  for (const [signals, policy] of [[c.signalsAfter, after], [c.signalsBefore, before]] as const) {
    const ex = exampleRequest({ signals, description: c.example }, policy);
    if (!ex) continue;
    const holds = (e: ExampleRequest) => {
      const req = requestFromChat(e.body, e.headers);
      return e0.decide(req).route === c.before.route && e1.decide(req).route === c.after.route;
    };
    if (holds(ex)) {
      const { body, headers } = trimExample(ex, holds);
      return JSON.stringify({ body, headers });
    }
  }
  return undefined;
}

export async function cmdDiff(io: Io, args: string[], opts: { format?: string; "exit-code"?: boolean }): Promise<number> {
  const format = (opts.format ?? "text") as "text" | "markdown";
  if (format !== "text" && format !== "markdown") throw new UsageError(`--format must be text or markdown, not ${opts.format}`);
  let sides: string[];
  let roots: (string | undefined)[] = [undefined, undefined];
  let cleanup = () => {};
  if (args.length >= 1 && args[0].includes("..") && !existsSync(args[0])) {
    const g = fromGit(args[0], args[1] ?? ".");
    sides = g.dirs;
    roots = g.roots;
    cleanup = g.cleanup;
  } else if (args.length === 2) {
    sides = args;
  } else {
    throw new UsageError("diff needs two policies (files or directories), or a git range such as main..HEAD and a path");
  }
  try {
    // Decisions, not findings: the analysis is lint's (and compile's) business, so diff
    // skips it, and shows a version's errors only (they stop the diff).
    const [before, after] = sides.map((p, i) => compilePaths([p], true, undefined, { root: roots[i], analyze: false }));
    for (const r of [before, after]) reportDiagnostics(io, { ...r, diagnostics: r.diagnostics.filter((d) => d.severity === "error") }, "text");
    if (!before.checked || !after.checked || !before.bundle || !after.bundle) return EXIT.failed;
    const { changes, redefined } = diffPolicies(before.checked, after.checked);
    // Every example is run through both versions' engines: the change must be real.
    const [e0, e1] = await Promise.all([Engine.load(before.bundle), Engine.load(after.bundle)]);
    for (const c of changes) {
      const r0 = e0.decide(requestFromSignals(c.signalsBefore)).route;
      const r1 = e1.decide(requestFromSignals(c.signalsAfter)).route;
      if (r0 !== c.before.route || r1 !== c.after.route) io.err(`routeplane diff: internal error: an example went ${r0} → ${r1}, not ${c.before.route} → ${c.after.route}`);
    }
    const shown: ShownChange[] = changes.map((c) => ({ ...c, request: pasteable(c, before.checked!, after.checked!, e0, e1) }));
    io.out(renderDiff(shown, redefined, format));
    // Like `git diff --exit-code`: a CI step can fail on any change of decisions.
    return opts["exit-code"] && changes.length > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    cleanup();
  }
}
