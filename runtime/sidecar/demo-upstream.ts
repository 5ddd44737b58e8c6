// A built-in model server speaking the OpenAI API, for `routeplane serve
// --demo` and the tests: it answers every request with which model it is and
// what it was sent, so routing, plugins and fallbacks are visible without a
// real model. Behaviours for tests: fail with a status, answer slowly, stream.
import { createHttpServer, type SidecarRequest } from "./http-server.ts";

export interface DemoUpstreamOptions {
  /** Answer every request with this status (a failing upstream). */
  failWith?: number;
  /** Wait this long before answering (a slow upstream). */
  delayMs?: number;
  /** Chunks per streamed answer. */
  streamChunks?: number;
  /** Answer with this text instead of echoing the prompt. */
  reply?: string;
  /** Pause between streamed chunks, in ms (a slow stream). */
  chunkDelayMs?: number;
  /** Keep what was received in `received` (default true; off for benchmarks, where it would only grow). */
  record?: boolean;
}

export interface DemoUpstream {
  url: string;
  /** Requests received, newest last: what the sidecar forwarded. */
  received: { path: string; headers: SidecarRequest["headers"]; body: Record<string, unknown> }[];
  /** Streams whose reader went away before the end. */
  abandoned: number;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024 * 1024;

export async function startDemoUpstream(options: DemoUpstreamOptions = {}, port = 0): Promise<DemoUpstream> {
  const received: DemoUpstream["received"] = [];
  const upstream: DemoUpstream = {
    url: "",
    received,
    abandoned: 0,
    close: () => server.close(),
  };
  // On the sidecar's own HTTP server: cheap enough that bench/proxy measures the proxies, not the model server.
  const server = createHttpServer(
    (req, res) => {
      req.body(MAX_BODY).then((raw) => {
        let body: Record<string, unknown> = {};
        try {
          body = JSON.parse(raw.toString("utf8") || "{}");
        } catch {
          // keep {}
        }
        if (options.record !== false) received.push({ path: req.path, headers: req.headers, body });
        if (req.path.endsWith("/embeddings")) {
          // Deterministic vectors: words hashed into 64 dimensions, so texts sharing words are similar.
          const inputs = Array.isArray(body.input) ? (body.input as string[]) : [String(body.input ?? "")];
          const data = inputs.map((text, index) => ({ object: "embedding", index, embedding: bagOfWords(text) }));
          const send = () => res.send(options.failWith ?? 200, { "content-type": "application/json" }, JSON.stringify({ object: "list", data, model: body.model }));
          if (options.delayMs) setTimeout(send, options.delayMs);
          else send();
          return;
        }
        const answer = () => {
          if (options.failWith) {
            res.send(options.failWith, { "content-type": "application/json" }, JSON.stringify({ error: { message: `demo upstream failing with ${options.failWith}`, type: "server_error" } }));
            return;
          }
          const model = String(body.model ?? "demo");
          const messages = (body.messages as { role: string; content: unknown }[] | undefined) ?? [];
          const last = messages.filter((m) => m.role === "user").at(-1);
          const prompt = typeof body.prompt === "string" ? body.prompt : typeof last?.content === "string" ? last.content : "";
          const text = options.reply ?? `[${model}] you said: ${prompt.slice(0, 200)}`;
          const isChat = req.path.endsWith("/chat/completions");
          if (body.stream === true) {
            res.start(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
            const n = Math.max(1, options.streamChunks ?? 3);
            const size = Math.ceil(text.length / n);
            let i = 0;
            res.onClose(() => upstream.abandoned++);
            const next = () => {
              if (res.closed) return;
              if (i === n) {
                res.write("data: [DONE]\n\n");
                res.end();
                return;
              }
              const piece = text.slice(i * size, (i + 1) * size);
              i++;
              const delta = isChat ? { choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] } : { choices: [{ index: 0, text: piece, finish_reason: null }] };
              res.write(`data: ${JSON.stringify({ id: "demo", object: isChat ? "chat.completion.chunk" : "text_completion", model, ...delta })}\n\n`);
              if (options.chunkDelayMs) setTimeout(next, options.chunkDelayMs);
              else next();
            };
            next();
            return;
          }
          const usage = { prompt_tokens: Math.ceil(prompt.length / 4), completion_tokens: Math.ceil(text.length / 4), total_tokens: Math.ceil((prompt.length + text.length) / 4) };
          const choice = isChat ? { index: 0, message: { role: "assistant", content: text }, finish_reason: "stop" } : { index: 0, text, finish_reason: "stop" };
          // With its length, as model servers send JSON answers (not chunked).
          res.send(200, { "content-type": "application/json" }, JSON.stringify({ id: "demo", object: isChat ? "chat.completion" : "text_completion", created: 0, model, choices: [choice], usage }));
        };
        if (options.delayMs) setTimeout(answer, options.delayMs);
        else answer();
      }, () => res.send(413, { "content-type": "application/json" }, JSON.stringify({ error: { message: "request too large", type: "invalid_request_error" } })));
    },
    { maxBodyBytes: MAX_BODY, keepAliveMs: 5_000, requestTimeoutMs: 60_000 },
  );
  const { port: actual } = await server.listen(port, "127.0.0.1");
  upstream.url = `http://127.0.0.1:${actual}/v1`;
  return upstream;
}

function bagOfWords(text: string): number[] {
  const v = new Array<number>(64).fill(0);
  for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
    let h = 2166136261;
    for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 16777619);
    v[(h >>> 0) % 64] += 1;
  }
  return v;
}
