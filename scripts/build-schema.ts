// Writes bundle/bundle.schema.json from bundle/schema.ts.
import { writeFileSync } from "node:fs";
import { BUNDLE_SCHEMA } from "../bundle/index.ts";

writeFileSync(new URL("../bundle/bundle.schema.json", import.meta.url), JSON.stringify(BUNDLE_SCHEMA, null, 2) + "\n");
console.log("wrote bundle/bundle.schema.json");
