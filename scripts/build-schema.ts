// Writes bundle/bundle.schema.json, its precompiled validator and the compiler's field validators
// bundle/validate.generated.js (ajv standalone code: no schema compilation at
// start-up in the sidecar or the CLI). test/bundle.test.ts fails when stale.
import { writeFileSync } from "node:fs";
import { BUNDLE_SCHEMA } from "../bundle/index.ts";
import { generateEventValidatorsSource, generateFieldValidatorsSource, generateValidatorSource } from "./validator-source.ts";
import { FIELD_SCHEMAS } from "../compiler/schemas.ts";
import { exportName } from "../compiler/fields.ts";

writeFileSync(new URL("../bundle/bundle.schema.json", import.meta.url), JSON.stringify(BUNDLE_SCHEMA, null, 2) + "\n");
writeFileSync(new URL("../bundle/validate.generated.js", import.meta.url), generateValidatorSource());
writeFileSync(new URL("../compiler/fields.generated.js", import.meta.url), generateFieldValidatorsSource(FIELD_SCHEMAS, exportName));
writeFileSync(new URL("../bundle/events.generated.js", import.meta.url), generateEventValidatorsSource());
console.log("wrote bundle/bundle.schema.json, bundle/validate.generated.js, bundle/events.generated.js and compiler/fields.generated.js");
