// Imported first by main.ts: `routeplane serve` without the sidecar's Node
// flags re-executes itself with them (cli/sidecar-flags.ts) before the rest
// of the command is loaded.
import { sidecarCommandLine } from "./sidecar-flags.ts";

const commandLine = sidecarCommandLine(process.argv, process.execArgv, process.env.NODE_OPTIONS);
if (commandLine && typeof process.execve === "function" && !process.channel) {
  process.execve(process.execPath, commandLine, process.env);
}
