// A sidecar in a child process for test/http-hostile.test.ts's memory soak:
// one model at the upstream URL given as the first argument, limits as JSON
// in the second. Prints {"port": n} once it listens; exits on SIGTERM.
import { serializeBundle } from "../../bundle/index.ts";
import { compile, memoryHost } from "../../compiler/index.ts";
import { BundleStore, createSidecar, type TelemetrySink } from "../../runtime/index.ts";

const [upstream, limitsJson] = process.argv.slice(2);
const text = `package soak
model m { provider: vllm, endpoint: "${upstream}" }
default { use m }
`;
const result = compile(memoryHost({ "p.route": text }), ["p.route"]);
if (!result.bundle) throw new Error(result.diagnostics.map((d) => d.message).join("\n"));
const store = new BundleStore({ trustedKeys: [] });
await store.offer(serializeBundle(result.bundle), "soak", { requireSignature: false });
const telemetry: TelemetrySink = { emit() {}, stats: () => ({ sent: 0, dropped: 0, queued: 0, failures: 0 }), close: async () => {} };
const sidecar = createSidecar({ store, telemetry, ...(JSON.parse(limitsJson ?? "{}") as object) });
const { port } = await sidecar.listen(0);
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.once("SIGTERM", () => void sidecar.close().then(() => process.exit(0)));
