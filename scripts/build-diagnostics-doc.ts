// Writes docs/diagnostics.md from the diagnostic catalog and the golden cases
// in test/diagnostics/cases: every code, with an input that triggers it and
// the exact output. test/docs.test.ts fails when the page is stale.
import { writeFileSync } from "node:fs";
import { renderDiagnosticsDoc } from "./diagnostics-doc.ts";

writeFileSync(new URL("../docs/diagnostics.md", import.meta.url), renderDiagnosticsDoc());
console.log("wrote docs/diagnostics.md");
