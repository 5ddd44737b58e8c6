// A reference for bench/proxy: the least a Node proxy can do — node:http in,
// the sidecar's own upstream client (runtime Upstreams: undici) out, bytes
// passed through; no decision, no plugins, no telemetry. What it adds over a
// direct connection is the cost of the hop itself.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { ModelSpec } from "../bundle/index.ts";
import { Upstreams } from "../runtime/index.ts";

const model: ModelSpec = { name: "m", provider: "openai_compatible", endpoint: process.argv[2], served_name: "m", cost: null, context_window: null, tags: [], latency_ms: null, quality: null, api_key_env: null };
const upstreams = new Upstreams();
const server = createServer(async (req, res) => {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const up = await upstreams.send({ model, path: "/chat/completions", body: Buffer.concat(chunks).toString("utf8"), headers: {} });
  res.writeHead(up.statusCode, { "content-type": String(up.headers["content-type"] ?? "application/json") });
  res.end(await up.body.text());
});
server.keepAliveTimeout = 65_000;
server.listen(0, "127.0.0.1", () => process.stdout.write(`listening on http://127.0.0.1:${(server.address() as AddressInfo).port}\n`));
