// The Node flags of the long-running commands, which V8 reads only when the
// process starts: `routeplane serve` and `routeplane controller` run without
// them re-execute themselves with them — the same process (execve keeps the
// PID, so signals still reach it), before anything else is loaded
// (cli/reexec.ts, imported first by main.ts).
//
// - serve (docs/sidecar.md, "Memory and Node flags"): under load V8 grows its
//   young generation to two semi-spaces of 32 MB each. A proxy's garbage dies
//   young: 16 MB semi-spaces cost it no measurable CPU or latency and take
//   30-80 MB off the RSS of every sidecar under load (docs/performance.md,
//   "Sidecar footprint").
// - controller (docs/kubernetes.md, "Memory"): it holds one long poll per
//   sidecar, whose objects live for seconds and so reach the old generation;
//   V8's default heap growth then reserves twice what is live.
//   `--optimize-for-size` keeps the heap close to what is live (with 1,000
//   sidecars: 234 MB RSS instead of 321 MB, bench/propagation) at the price
//   of slower compiles (about 30% more CPU; they run in the compile worker,
//   which shares the process's V8 flags); 2 MB semi-spaces, as the held
//   polls' garbage is not young.
//
// Never when a flag is already given (in NODE_OPTIONS or on node's command
// line, also as --no-<flag>: that is how to choose otherwise), where execve
// does not exist (Windows), or when the process was started with an IPC
// channel.

/** What each command adds to node's command line when it is not there. */
export const NODE_FLAGS: Readonly<Record<"serve" | "controller", readonly string[]>> = {
  serve: ["--max-semi-space-size=16"],
  controller: ["--max-semi-space-size=2", "--optimize-for-size"],
};

export const SIDECAR_NODE_FLAGS = NODE_FLAGS.serve;
export const CONTROLLER_NODE_FLAGS = NODE_FLAGS.controller;

/**
 * The command line to re-execute with, or null to run as it is: `argv` and `execArgv` as in
 * `process`, `nodeOptions` $NODE_OPTIONS.
 */
export function nodeFlagsCommandLine(argv: string[], execArgv: string[], nodeOptions: string | undefined): string[] | null {
  const command = argv[2];
  if ((command !== "serve" && command !== "controller") || argv.includes("--help") || argv.includes("-h")) return null;
  const missing = NODE_FLAGS[command].filter((flag) => {
    // V8 takes --max-semi-space-size and --max_semi_space_size alike, and --no-<flag> for a boolean.
    const name = flag.split("=")[0].slice(2);
    const names = [name, name.replace(/-/g, "_")].flatMap((n) => [`--${n}`, `--no-${n}`, `--no${n.replace(/-/g, "_")}`]);
    const given = (a: string) => names.some((n) => a === n || a.startsWith(`${n}=`));
    return !execArgv.some(given) && !(nodeOptions ?? "").split(/\s+/).some(given);
  });
  if (missing.length === 0) return null;
  return [argv[0], ...execArgv, ...missing, ...argv.slice(1)];
}
