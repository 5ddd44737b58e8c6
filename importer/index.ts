// Importers of other routers' policies into routeplane (issue 15): vLLM
// Semantic Router's DSL (docs/migrating-from-vllm-sr.md, ADR 22).
export { importVllmSr, packageNameFor } from "./vllm-sr-import.ts";
export type { ImportOptions, ImportResult, ImportNote, ImportedFile, ImportedProfile, PolicyCheck } from "./vllm-sr-import.ts";
export { SIGNAL_TABLE, PLUGIN_TABLE, ALGORITHM_TABLE, CONSTRUCT_TABLE, tokenCount } from "./vllm-sr-tables.ts";
export type { Status, SignalRow, PluginRow, AlgorithmRow, ConstructRow } from "./vllm-sr-tables.ts";
export { readVllmSrConfig, ConfigError, MAX_CONFIG_BYTES } from "./vllm-sr-config.ts";
export type { VllmSrConfig } from "./vllm-sr-config.ts";
export { toName, RESERVED_WORDS } from "./names.ts";
