// A sidecar serving one policy text, compiled in process (unsigned), on a free
// loopback port; the caller registers `close` with its own cleanups.
import assert from "node:assert/strict";
import { serializeBundle } from "../../bundle/index.ts";
import { compile, memoryHost } from "../../compiler/index.ts";
import { BundleStore, NullSink, createSidecar, type SidecarOptions } from "../../runtime/index.ts";

export async function serveText(text: string, options: Partial<SidecarOptions> = {}) {
  const result = compile(memoryHost({ "p.route": text }), ["p.route"]);
  assert.ok(result.bundle, result.diagnostics.map((d) => `${d.code} ${d.message}`).join("\n"));
  const store = new BundleStore({ trustedKeys: [] });
  assert.equal(await store.offer(serializeBundle(result.bundle), "test", { requireSignature: false }), null);
  const sidecar = createSidecar({ store, telemetry: new NullSink(), ...options });
  const { port } = await sidecar.listen(0);
  return { url: `http://127.0.0.1:${port}`, port, sidecar, store, close: () => sidecar.close() };
}
