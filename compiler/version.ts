// The compiler's version, recorded in every bundle's manifest.
import { createRequire } from "node:module";

const pkg = createRequire(import.meta.url)("../package.json") as { version: string };
export const COMPILER_VERSION: string = pkg.version;
