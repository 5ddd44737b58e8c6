// diff: how a change to a policy changes decisions, region by region, with an
// example request for each; `--format markdown` for a pull-request comment.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { diffPolicies, insideRoot, type DecisionChange, type Outcome } from "../compiler/index.ts";
import { Engine, requestFromSignals } from "../runtime/engine/index.ts";
import { compilePaths, reportDiagnostics } from "./policy-commands.ts";
import { UsageError } from "./files.ts";
import { EXIT, type Io } from "./io.ts";

function describe(o: Outcome): string {
  if (o.route === null) return "rejected (no route, no default)";
  const where = o.route === "default" ? "the default" : `route ${o.route}`;
  return `${where} → ${o.models.join(" / ")}${o.plugins.length ? ` [${o.plugins.join(", ")}]` : ""}`;
}

export function renderDiff(changes: DecisionChange[], redefined: string[], format: "text" | "markdown"): string {
  const lines: string[] = [];
  if (format === "markdown") {
    lines.push(`### routeplane: ${changes.length === 0 ? "no decision changes" : `${changes.length} decision change${changes.length === 1 ? "" : "s"}`}`, "");
    if (changes.length) {
      lines.push("| before | after | for example, a request with |", "| --- | --- | --- |");
      for (const c of changes) lines.push(`| ${describe(c.before)} | ${describe(c.after)} | ${c.example.join("; ") || "no signal matching"} |`);
    }
  } else {
    lines.push(changes.length === 0 ? "no decision changes" : `${changes.length} decision change${changes.length === 1 ? "" : "s"}:`);
    changes.forEach((c, i) => {
      lines.push(`${i + 1}. ${describe(c.before)}`, `   now ${describe(c.after)}`, `   e.g. ${c.example.join("; ") || "a request with no signal matching"}`);
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

export async function cmdDiff(io: Io, args: string[], opts: { format?: string }): Promise<number> {
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
    const [before, after] = sides.map((p, i) => compilePaths([p], true, undefined, { root: roots[i] }));
    for (const r of [before, after]) reportDiagnostics(io, r, "text");
    if (!before.checked || !after.checked || !before.bundle || !after.bundle) return EXIT.failed;
    const { changes, redefined } = diffPolicies(before.checked, after.checked);
    // Every example is run through both versions' engines: the change must be real.
    const [e0, e1] = await Promise.all([Engine.load(before.bundle), Engine.load(after.bundle)]);
    for (const c of changes) {
      const r0 = e0.decide(requestFromSignals(c.signalsBefore)).route;
      const r1 = e1.decide(requestFromSignals(c.signalsAfter)).route;
      if (r0 !== c.before.route || r1 !== c.after.route) io.err(`routeplane diff: internal error: an example went ${r0} → ${r1}, not ${c.before.route} → ${c.after.route}`);
    }
    io.out(renderDiff(changes, redefined, format));
    return EXIT.ok;
  } finally {
    cleanup();
  }
}
