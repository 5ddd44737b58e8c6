// The fallback chain as the sidecar walks it: a model server that answers 429
// (rate limited) or 5xx is retried on the next model, a 4xx that no other
// model would fix is not, and no request makes more than `maxAttempts` tries.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { startDemoUpstream, type DemoUpstream } from "../runtime/index.ts";
import { serveText } from "./support/serve-text.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function upstream(failWith?: number): Promise<DemoUpstream> {
  const u = await startDemoUpstream(failWith ? { failWith } : {});
  cleanups.push(() => u.close());
  return u;
}

async function sidecarFor(models: Record<string, DemoUpstream>, chain: string[], maxAttempts?: number) {
  const text = `package fb
${Object.entries(models).map(([n, u]) => `model ${n} { provider: vllm, endpoint: "${u.url}" }`).join("\n")}
route r priority 1 { when true; use ${chain[0]} ${chain.slice(1).map((m) => `fallback ${m}`).join(" ")} }
`;
  const { port, close } = await serveText(text, maxAttempts ? { maxAttempts } : {});
  cleanups.push(close);
  return async () => {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: "x", messages: [{ role: "user", content: "hi" }] }),
    });
    return { status: res.status, model: res.headers.get("x-routeplane-model"), body: await res.text() };
  };
}

test("429 from a model server is retried on the next model of the chain", async () => {
  const [limited, ok] = [await upstream(429), await upstream()];
  const send = await sidecarFor({ limited, ok }, ["limited", "ok"]);
  const res = await send();
  assert.equal(res.status, 200, res.body);
  assert.equal(res.model, "ok");
  assert.equal(limited.received.length, 1);
  assert.equal(ok.received.length, 1);
});

test("a 400 that no other model would fix is not retried", async () => {
  const [refusing, ok] = [await upstream(400), await upstream()];
  const send = await sidecarFor({ refusing, ok }, ["refusing", "ok"]);
  const res = await send();
  assert.equal(res.status, 400);
  assert.equal(ok.received.length, 0);
});

test("maxAttempts bounds the tries of one request, however long the chain", async () => {
  const ups = { a: await upstream(503), b: await upstream(503), c: await upstream(503), d: await upstream() };
  const send = await sidecarFor(ups, ["a", "b", "c", "d"], 2);
  const res = await send();
  assert.equal(res.status, 502, res.body);
  assert.deepEqual([ups.a, ups.b, ups.c, ups.d].map((u) => u.received.length), [1, 1, 0, 0]);
  // The default (3) reaches the third model and no further.
  const fresh = { a: await upstream(503), b: await upstream(503), c: await upstream(503), d: await upstream() };
  const send3 = await sidecarFor(fresh, ["a", "b", "c", "d"]);
  assert.equal((await send3()).status, 502);
  assert.deepEqual([fresh.a, fresh.b, fresh.c, fresh.d].map((u) => u.received.length), [1, 1, 1, 0]);
});

test("/v1/completions decides on `prompt`, what the model server reads: a decoy or malformed `messages` is a 400, never a 500 (attacks 5, 9)", async () => {
  const ok = await upstream();
  const text = `package comp
model m { provider: vllm, endpoint: "${ok.url}" }
route r priority 1 { when true; use m }
`;
  const { port, close } = await serveText(text);
  cleanups.push(close);
  const errors: string[] = [];
  const log = console.error;
  console.error = (...a: unknown[]) => void errors.push(a.join(" "));
  try {
    for (const messages of [[{ role: "user", content: "hi" }], {}, "abc", [null]]) {
      const res = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "CONFIDENTIAL: plans", messages }) });
      const body = await res.text();
      assert.equal(res.status, 400, body);
      assert.match(body, /`messages` belongs to \/v1\/chat\/completions/);
    }
    const plain = await fetch(`http://127.0.0.1:${port}/v1/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ prompt: "hello" }) });
    assert.equal(plain.status, 200, await plain.text());
  } finally {
    console.error = log;
  }
  assert.deepEqual(errors, [], "nothing logged");
});
