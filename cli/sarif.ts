// SARIF 2.1.0 for `routeplane lint --format sarif`: what code-scanning tools
// (GitHub code scanning, IDE viewers) read. One run, one rule per catalog
// code, one result per diagnostic; fixes carry their replacement text.
// test/cli.test.ts validates the output against the published schema.
import { CATALOG, COMPILER_VERSION, type Diagnostic } from "../compiler/index.ts";
import type { Span } from "../grammar/index.ts";

const LEVEL = { error: "error", warning: "warning", info: "note" } as const;

/** A relative path as a URI reference (forward slashes, percent-encoded). */
function uriOf(file: string): string {
  return file.split(/[\\/]/).map(encodeURIComponent).join("/");
}

function location(file: string, span: Span, message?: string, id?: number) {
  return {
    ...(id === undefined ? {} : { id }),
    physicalLocation: {
      artifactLocation: { uri: uriOf(file), uriBaseId: "%SRCROOT%" },
      region: { startLine: span.start.line, startColumn: span.start.col, endLine: span.end.line, endColumn: span.end.col },
    },
    ...(message === undefined ? {} : { message: { text: message } }),
  };
}

export function toSarif(diagnostics: readonly Diagnostic[]): object {
  const codes = Object.keys(CATALOG) as (keyof typeof CATALOG)[];
  const rules = codes.map((code) => ({
    id: code,
    shortDescription: { text: CATALOG[code].title },
    defaultConfiguration: { level: LEVEL[CATALOG[code].severity] },
    help: { text: `Examples and the exact output: docs/diagnostics.md, section ${code}.` },
  }));
  const results = diagnostics.map((d) => ({
    ruleId: d.code,
    ruleIndex: codes.indexOf(d.code as keyof typeof CATALOG),
    level: LEVEL[d.severity],
    message: { text: d.help ? `${d.message}\n\nhelp: ${d.help}` : d.message },
    locations: [location(d.file, d.span)],
    ...(d.example ? { properties: { exampleRequest: d.example } } : {}),
    ...(d.related?.length ? { relatedLocations: d.related.map((r, i) => location(r.file, r.span, r.message, i + 1)) } : {}),
    ...(d.fix?.replacement !== undefined
      ? {
          fixes: [
            {
              description: { text: d.fix.message },
              artifactChanges: [
                {
                  artifactLocation: { uri: uriOf(d.file), uriBaseId: "%SRCROOT%" },
                  replacements: [{ deletedRegion: location(d.file, d.fix.span ?? d.span).physicalLocation.region, insertedContent: { text: d.fix.replacement } }],
                },
              ],
            },
          ],
        }
      : {}),
  }));
  return {
    $schema: "https://json.schemastore.org/sarif-2.1.0.json",
    version: "2.1.0",
    runs: [
      {
        tool: { driver: { name: "routeplane", semanticVersion: COMPILER_VERSION, rules } },
        columnKind: "utf16CodeUnits",
        results,
      },
    ],
  };
}
