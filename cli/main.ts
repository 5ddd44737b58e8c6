#!/usr/bin/env node
// Entry point of the `routeplane` command.
// First: `serve` re-executes itself with the sidecar's Node flags when they are not given.
import "./reexec.ts";
import { run, processIo } from "./index.ts";

// A reader that stops early (`routeplane lint … | head -1`) closes the pipe: end quietly, like any Unix tool.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw err;
  });
}

// `npm run routeplane -- …` runs in the package root; paths are the user's, relative to where they typed.
if (process.env.INIT_CWD && process.env.npm_lifecycle_event === "routeplane") process.chdir(process.env.INIT_CWD);

try {
  process.exitCode = await run(process.argv.slice(2), processIo);
} catch (err) {
  // Bugs and operational failures: one clear line, the stack only on request.
  const e = err as NodeJS.ErrnoException;
  process.stderr.write(`routeplane: ${e.code ? `${e.code}: ` : ""}${e.message}\n`);
  if (process.env.ROUTEPLANE_DEBUG) process.stderr.write(`${e.stack}\n`);
  else process.stderr.write("(set ROUTEPLANE_DEBUG=1 for details)\n");
  process.exitCode = 1;
}
