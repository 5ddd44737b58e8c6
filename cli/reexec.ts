// Imported first by main.ts: `routeplane serve` and `routeplane controller`
// without their Node flags re-execute themselves with them (cli/node-flags.ts)
// before the rest of the command is loaded.
import { nodeFlagsCommandLine } from "./node-flags.ts";

const commandLine = nodeFlagsCommandLine(process.argv, process.execArgv, process.env.NODE_OPTIONS);
if (commandLine && typeof process.execve === "function" && !process.channel) {
  process.execve(process.execPath, commandLine, process.env);
}
