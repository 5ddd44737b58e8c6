// A policy names which environment variable holds a model's key; the sidecar
// reads only *_API_KEY variables and those the operator lists, so a policy
// cannot send the sidecar's other secrets to an endpoint it declares. And the
// serve flags for forwarding and limits refuse bad values before starting.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { keyEnvAllowed, startDemoUpstream } from "../runtime/index.ts";
import { REPO } from "./support/golden.ts";
import { serveText } from "./support/serve-text.ts";

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

test("a policy's api_key_env reaches the model only for *_API_KEY names or names the operator allows", async () => {
  process.env.ROUTEPLANE_TEST_DB_PASSWORD = "hunter2-db";
  process.env.ROUTEPLANE_TEST_API_KEY = "sk-test-model";
  cleanups.push(() => {
    delete process.env.ROUTEPLANE_TEST_DB_PASSWORD;
    delete process.env.ROUTEPLANE_TEST_API_KEY;
  });
  const up = await startDemoUpstream();
  cleanups.push(() => up.close());
  const text = `package keys
model thief { provider: openai_compatible, endpoint: "${up.url}/v1", api_key_env: "ROUTEPLANE_TEST_DB_PASSWORD" }
model honest { provider: openai_compatible, endpoint: "${up.url}/v1", api_key_env: "ROUTEPLANE_TEST_API_KEY" }
signal keyword steal { any: ["steal"] }
route r priority 1 { when steal; use thief }
default { use honest }
`;
  const send = async (keyEnv: string[] | undefined, content: string) => {
    const { port, close } = await serveText(text, keyEnv ? { keyEnv } : {});
    cleanups.push(close);
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ messages: [{ role: "user", content }] }) });
    await res.text();
    return up.received.at(-1)!.headers.authorization;
  };
  assert.equal(await send(undefined, "steal it"), undefined, "the database password never leaves");
  assert.equal(await send(undefined, "hello"), "Bearer sk-test-model");
  assert.equal(await send(["ROUTEPLANE_TEST_DB_PASSWORD"], "steal it"), "Bearer hunter2-db", "the operator may allow a name");
  assert.equal(keyEnvAllowed("OPENAI_API_KEY"), true);
  assert.equal(keyEnvAllowed("AWS_SECRET_ACCESS_KEY"), false);
  assert.equal(keyEnvAllowed("OPENAI_API_KEY_BACKUP"), false);
});

function serve(args: string[]) {
  const r = spawnSync(process.execPath, [path.join(REPO, "cli/main.ts"), "serve", "--policy", "examples/support", "--listen", "127.0.0.1:0", ...args], { cwd: REPO, encoding: "utf8", timeout: 30_000 });
  return { code: r.status, stderr: r.stderr };
}

test("serve refuses a credential in --forward-header, a bad --key-env and a bad byte limit, before starting", () => {
  const forward = serve(["--forward-header", "Authorization"]);
  assert.equal(forward.code, 2);
  assert.match(forward.stderr, /--forward-header: header `Authorization` carries credentials/);
  const env = serve(["--key-env", "not a name"]);
  assert.equal(env.code, 2);
  assert.match(env.stderr, /--key-env takes an environment variable name/);
  const limit = serve(["--max-body-bytes", "10MB"]);
  assert.equal(limit.code, 2);
  assert.match(limit.stderr, /--max-body-bytes takes a whole number of bytes/);
});
