// A fake OpenAI-compatible model server in its own process, for bench/proxy:
// prints its base URL on stdout, serves until killed.
import { startDemoUpstream } from "../runtime/sidecar/index.ts";

const upstream = await startDemoUpstream({ record: false }, Number(process.argv[2] ?? 0));
process.stdout.write(`${upstream.url}\n`);
