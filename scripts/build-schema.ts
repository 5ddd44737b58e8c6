// Writes bundle/bundle.schema.json and its precompiled validator
// bundle/validate.generated.js (ajv standalone code: no schema compilation at
// start-up in the sidecar or the CLI). test/bundle.test.ts fails when stale.
import { writeFileSync } from "node:fs";
import { BUNDLE_SCHEMA } from "../bundle/index.ts";
import { generateValidatorSource } from "./validator-source.ts";

writeFileSync(new URL("../bundle/bundle.schema.json", import.meta.url), JSON.stringify(BUNDLE_SCHEMA, null, 2) + "\n");
writeFileSync(new URL("../bundle/validate.generated.js", import.meta.url), generateValidatorSource());
console.log("wrote bundle/bundle.schema.json and bundle/validate.generated.js");
