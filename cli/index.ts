// The `routeplane` command: argument parsing and dispatch to the parts.
export { run, USAGE } from "./run.ts";
export { bufferIo, processIo, EXIT } from "./io.ts";
export type { Io } from "./io.ts";
export { CONTROLLER_NODE_FLAGS, NODE_FLAGS, SIDECAR_NODE_FLAGS, nodeFlagsCommandLine } from "./node-flags.ts";
