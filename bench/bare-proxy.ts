// References for bench/proxy: the least a Node proxy can do — bytes passed
// through, no decision, no plugins, no telemetry. What each adds over a
// direct connection is the cost of the hop itself.
//   node    — node:http in, undici out: the usual Node stack (ADR 9's baseline);
//   sidecar — the sidecar's own HTTP layers (runtime createHttpServer and
//             OriginPool), so routeplane minus this line is what routing costs.
// Usage: node bench/bare-proxy.ts <node|sidecar> <upstream base URL>
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Pool } from "undici";
import { OriginPool, createHttpServer } from "../runtime/sidecar/index.ts";

const [stack, upstream] = process.argv.slice(2);
const url = new URL(upstream);
const path = `${url.pathname.replace(/\/$/, "")}/chat/completions`;
const timeouts = { headersTimeoutMs: 30_000, bodyTimeoutMs: 30_000 };
const ready = (port: number) => process.stdout.write(`listening on http://127.0.0.1:${port}\n`);

if (stack === "node") {
  const pool = new Pool(url.origin, { connections: 64 });
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const up = await pool.request({ method: "POST", path, headers: { "content-type": "application/json" }, body: Buffer.concat(chunks) });
    res.writeHead(up.statusCode, { "content-type": String(up.headers["content-type"] ?? "application/json") });
    res.end(Buffer.from(await up.body.arrayBuffer()));
  });
  server.keepAliveTimeout = 65_000;
  server.listen(0, "127.0.0.1", () => ready((server.address() as AddressInfo).port));
} else if (stack === "sidecar") {
  const pool = new OriginPool(url.origin, { connections: 64, keepAliveMs: 30_000 });
  const server = createHttpServer(
    async (req, res) => {
      const up = await pool.request({ method: "POST", path, headers: { "content-type": "application/json" }, body: await req.body(1 << 24), ...timeouts });
      res.send(up.statusCode, { "content-type": up.headers["content-type"] ?? "application/json" }, await up.body.text());
    },
    { maxBodyBytes: 1 << 24, keepAliveMs: 65_000, requestTimeoutMs: 300_000 },
  );
  ready((await server.listen(0, "127.0.0.1")).port);
} else {
  process.stderr.write("usage: node bench/bare-proxy.ts <node|sidecar> <upstream base URL>\n");
  process.exit(2);
}
