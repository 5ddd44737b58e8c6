// IMPORT.md: what `routeplane import vllm-sr` did not translate exactly, each
// with the source line it comes from, and what the compiler and the analysis
// said of the result. Deterministic (notes in source order), so that the
// golden tests can compare it byte for byte.
import type { Diagnostic } from "../compiler/index.ts";
import type { ImportNote, ImportedFile, ImportedProfile, PolicyCheck } from "./vllm-sr-import.ts";

export interface ReportInput {
  sourceName: string;
  configName: string | null;
  notes: ImportNote[];
  checks: PolicyCheck[];
  files: ImportedFile[];
  /** vLLM-SR's recipes, as the package's profiles. */
  profiles: ImportedProfile[];
}

/** Markdown table cell text: pipes and line breaks would break the row. */
function cell(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n|\r/g, " ");
}

function where(n: ImportNote): string {
  return n.where ? `\`${cell(n.where)}\`` : "—";
}

function diagLine(d: Diagnostic): string {
  return `- ${d.severity}[${d.code}] \`${d.file}:${d.span.start.line}:${d.span.start.col}\`: ${d.message}`;
}

export function renderImportReport(r: ReportInput): string {
  const out: string[] = [];
  const sorted = [...r.notes].map((n, i) => ({ n, i })).sort((a, b) => a.n.line - b.n.line || a.i - b.i).map((x) => x.n);
  const by = (s: ImportNote["status"]) => sorted.filter((n) => n.status === s);
  out.push("# Imported from vLLM Semantic Router", "");
  out.push(`Source: \`${r.sourceName}\`${r.configName ? `, with \`${r.configName}\`` : ""}. Written by \`routeplane import vllm-sr\`.`);
  out.push("Everything below was not translated exactly: review it before the policy serves traffic.");
  out.push("What each construct becomes is in docs/migrating-from-vllm-sr.md.", "");

  out.push("## Policies", "");
  out.push("| directory | package | files | routes | check |", "| --- | --- | --- | --- | --- |");
  for (const c of r.checks) {
    const dir = c.dir || ".";
    const files = r.files.filter((f) => f.path.endsWith(".route") && (c.dir ? f.path.startsWith(`${c.dir}/`) : true)).map((f) => `\`${f.path}\``);
    const check = c.errors.length ? `**${c.errors.length} error${c.errors.length === 1 ? "" : "s"}**, ${c.warnings.length} warning${c.warnings.length === 1 ? "" : "s"}` : `compiles; ${c.warnings.length} warning${c.warnings.length === 1 ? "" : "s"}`;
    out.push(`| \`${dir}\` | \`${c.package}\` | ${files.join(", ")} | ${c.routes} | ${check} |`);
  }
  out.push("");
  if (r.profiles.length) {
    out.push("## Profiles", "");
    out.push("Each RECIPE is a profile of the one package: a request whose path starts with a profile's `path_prefix`, or that names one of its `models`, gets the profile's routes; any other request gets the policy's own routes (the top-level program, `main.route`). Check the whole directory: `routeplane lint <dir>`.", "");
    out.push("| profile | recipe | models | path_prefix | file | routes |", "| --- | --- | --- | --- | --- | --- |");
    for (const p of r.profiles) {
      const models = p.models.length ? p.models.map((m) => `\`${cell(m)}\``).join(", ") : "—";
      const path = p.pathPrefix === null ? "—" : `\`${p.pathPrefix}\`${p.derivedPath ? " (no ENTRYPOINT selects it)" : ""}`;
      out.push(`| \`${p.name}\` | \`${cell(p.recipe)}\` | ${models} | ${path} | \`${p.file}\` | ${p.routes} |`);
    }
    out.push("");
  }

  const section = (title: string, status: ImportNote["status"], header: string) => {
    const notes = by(status);
    out.push(`## ${title}`, "");
    if (notes.length === 0) {
      out.push("Nothing.", "");
      return;
    }
    out.push(`| where | ${header} | |`, "| --- | --- | --- |");
    for (const n of notes) out.push(`| ${where(n)} | ${cell(n.construct)} | ${cell(n.text)} |`);
    out.push("");
  };
  section("Derived", "derived", "what");
  section("Approximated", "approximate", "construct");
  section("Dropped", "dropped", "construct");
  section("Renamed", "renamed", "vLLM-SR name");

  out.push("## Check", "");
  out.push("The compiler and the analysis (`routeplane lint`) on the result:", "");
  for (const c of r.checks) {
    const diags = [...c.errors, ...c.warnings];
    out.push(`- \`${c.dir || "."}\`: ${c.errors.length} error${c.errors.length === 1 ? "" : "s"}, ${c.warnings.length} warning${c.warnings.length === 1 ? "" : "s"}`);
    for (const d of diags) out.push(`  ${diagLine(d)}`);
  }
  out.push("");
  return out.join("\n");
}
