// The `routeplane` command: argument parsing and dispatch to the parts.
export { run, USAGE } from "./run.ts";
export { bufferIo, processIo, EXIT } from "./io.ts";
export type { Io } from "./io.ts";
export { SIDECAR_NODE_FLAGS, sidecarCommandLine } from "./sidecar-flags.ts";
