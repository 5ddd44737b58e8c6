// The Node flags of a sidecar (docs/sidecar.md, "Memory and Node flags").
// Under load V8 grows its young generation to two semi-spaces of 32 MB each
// (on a machine with memory to spare; from a container's memory limit it
// may choose far smaller ones, which cost CPU). A proxy's garbage dies
// young: 16 MB semi-spaces cost it no measurable CPU or latency and take
// 30-80 MB off the RSS of every sidecar under load (docs/performance.md,
// "Sidecar footprint"). V8 reads the flag only when the
// process starts, so `routeplane serve` run without it re-executes itself
// with it: the same process (execve keeps the PID, so signals still reach
// it), before anything else is loaded (cli/reexec.ts, imported first by
// main.ts).
//
// Never when the flag is already given (in NODE_OPTIONS or on node's command
// line: that is how to choose another size), where execve does not exist
// (Windows), or when the process was started with an IPC channel.

/** What `routeplane serve` adds to node's command line when it is not there. */
export const SIDECAR_NODE_FLAGS = ["--max-semi-space-size=16"];

/**
 * The command line to re-execute `serve` with, or null to run as it is:
 * `argv` and `execArgv` as in `process`, `nodeOptions` $NODE_OPTIONS.
 */
export function sidecarCommandLine(argv: string[], execArgv: string[], nodeOptions: string | undefined): string[] | null {
  if (argv[2] !== "serve" || argv.includes("--help") || argv.includes("-h")) return null;
  const missing = SIDECAR_NODE_FLAGS.filter((flag) => {
    // V8 takes --max-semi-space-size and --max_semi_space_size alike.
    const names = [flag.split("=")[0], `--${flag.split("=")[0].slice(2).replace(/-/g, "_")}`];
    const given = (a: string) => names.some((name) => a === name || a.startsWith(`${name}=`));
    return !execArgv.some(given) && !(nodeOptions ?? "").split(/\s+/).some(given);
  });
  if (missing.length === 0) return null;
  return [argv[0], ...execArgv, ...missing, ...argv.slice(1)];
}
