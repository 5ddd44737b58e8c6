// Partitions (`signal partition intent { members: [code_help, math_help, chat], default: chat }`,
// docs/language.md "Partitions"): exclusive groups of signals. The members are
// checked once every signal is known (declared, not partitions themselves), and
// the partition gets its outputs: `winner` (a member or "none") and one boolean
// per member.
import type { ObjectValue, Span } from "../grammar/index.ts";
import type { Output } from "../bundle/index.ts";
import type { CheckedSignal } from "./conditions.ts";
import { didYouMeanOr, type DiagnosticBag } from "./diagnostics.ts";

/** Where each member (and the default) of a partition was written. */
export type PartitionSources = Map<string, { members: Map<string, Span>; fallback: Span | null }>;

/** Records where a partition's members and default were written (for diagnostics after every signal is known). */
export function notePartitionSources(body: ObjectValue, name: string, sources: PartitionSources): void {
  const list = body.fields.find((f) => f.key.name === "members")?.value;
  const members = new Map<string, Span>();
  if (list?.kind === "list") for (const item of list.items) if (item.kind === "ident" || item.kind === "string") members.set(item.kind === "ident" ? item.name : item.value, item.span);
  sources.set(name, { members, fallback: body.fields.find((f) => f.key.name === "default")?.value.span ?? null });
}

/**
 * Checks each partition's members and default, and gives it its outputs. A partition that fails is
 * removed from `signals` and named in `quiet`.
 */
export function checkPartitions(signals: Map<string, CheckedSignal>, sources: PartitionSources, quiet: Set<string>, diags: DiagnosticBag): void {
  for (const s of [...signals.values()]) {
    if (s.type !== "partition") continue;
    const members = s.config.members as string[];
    const src = sources.get(s.name);
    let ok = true;
    for (const m of members) {
      const span = src?.members.get(m) ?? s.span;
      const member = signals.get(m);
      if (!member) {
        ok = false;
        if (!quiet.has(m)) diags.add("RP0204", s.file, span, `undefined signal \`${m}\``, didYouMeanOr(m, signals.keys(), span, `declare it: \`signal <type> ${m} { ... }\``));
      } else if (member.type === "partition") {
        ok = false;
        diags.add("RP0309", s.file, span, `\`${m}\` is a partition: a partition's members are other signals`, { help: `list \`${m}\`'s members here instead` });
      }
    }
    const fallback = s.config.default as string | undefined;
    if (fallback !== undefined && !members.includes(fallback)) {
      ok = false;
      diags.add("RP0309", s.file, src?.fallback ?? s.span, `the default \`${fallback}\` is not a member of partition \`${s.name}\``, { help: `the members are ${members.join(", ")}` });
    }
    if (!ok) {
      signals.delete(s.name);
      quiet.add(s.name);
      continue;
    }
    const outputs: Record<string, Output> = { winner: { type: "category", values: fallback === undefined ? [...members, "none"] : [...members] } };
    for (const m of members) outputs[m] = { type: "bool" };
    s.outputs = outputs;
  }
}
