// The controller across a kube-apiserver restart (its own cluster, so the
// shared one stays up): the informers come back by themselves, a change made
// after the restart is reconciled, and the resync writes no events or status
// that did not change — no event storm.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { generateKeyPair } from "../bundle/index.ts";
import { startController } from "../controller/index.ts";
import { provisionKube, startKube } from "./infra/kube.ts";
import { eventually } from "./support.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

test("kube-apiserver restarts: informers recover, later edits are reconciled, and nothing is written twice", { timeout: 300_000 }, async () => {
  const cluster = await startKube(await provisionKube());
  const dir = mkdtempSync(path.join(tmpdir(), "routeplane-restart-"));
  const kubectl = (args: string[], input?: string) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(cluster.kubectl, ["--kubeconfig", cluster.kubeconfig, "--cache-dir", path.join(dir, "cache"), ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
  const logs: string[] = [];
  const controller = await startController({ kubeconfig: cluster.kubeconfig, port: 0, leaseNamespace: "default", statusIntervalMs: 200, log: (l) => logs.push(l) });
  const metrics = () => new Promise<string>((resolve, reject) => {
    request(`${controller.url}/metrics`, { ca: controller.caPem }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d));
      res.on("end", () => resolve(body));
    }).on("error", reject).end();
  });
  const metric = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(await metrics())?.[1] ?? NaN);
  try {
    const keys = generateKeyPair();
    writeFileSync(path.join(dir, "team.key"), keys.privateKeyPem, { mode: 0o600 });
    for (const args of [["apply", "-f", path.join(REPO, "crds/routingpolicies.yaml")], ["wait", "--for=condition=Established", "--timeout=60s", "crd/routingpolicies.routeplane.dev"], ["create", "namespace", "r"], ["create", "secret", "generic", "signing", "-n", "r", `--from-file=signing.key=${path.join(dir, "team.key")}`]]) {
      const r = await kubectl(args);
      assert.equal(r.code, 0, r.stderr);
    }
    const main = readFileSync(path.join(REPO, "examples/support/main.route"), "utf8");
    const models = readFileSync(path.join(REPO, "examples/shared/models.route"), "utf8");
    const rp = (text: string) => JSON.stringify({ apiVersion: "routeplane.dev/v1alpha1", kind: "RoutingPolicy", metadata: { name: "support", namespace: "r" }, spec: { signingKey: { secretName: "signing" }, sources: { "support/main.route": text, "shared/models.route": models } } });
    assert.equal((await kubectl(["apply", "-f", "-"], rp(main))).code, 0);
    assert.equal((await kubectl(["wait", "--for=condition=Ready", "--timeout=60s", "-n", "r", "rp/support"])).code, 0, logs.join("\n"));
    await new Promise((r) => setTimeout(r, 1500)); // let the last writes settle
    const events0 = await metric("routeplane_controller_events_total\\{outcome=\"written\"\\}");
    const writes0 = await metric("routeplane_controller_status_writes_total");

    await cluster.restartApiserver();
    // Everything is resynced (every policy reconciled again) — and nothing changed, so nothing is written.
    for (let i = 0; i < 10; i++) controller.queue.addNow("r/support");
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(await metric("routeplane_controller_events_total\\{outcome=\"written\"\\}"), events0, "no event repeated after the restart");
    assert.equal(await metric("routeplane_controller_status_writes_total"), writes0, "no status rewritten after the restart");

    // A change after the restart is seen (the watch works again) and reconciled.
    const edited = main.replace('"right now"]', '"right now", "after restart"]');
    await eventually("the edit to be admitted by the restarted apiserver", async () => ((await kubectl(["apply", "-f", "-"], rp(edited))).code === 0 ? true : undefined), 60_000);
    const status = await eventually("the edit reconciled", async () => {
      const s = JSON.parse((await kubectl(["get", "rp", "support", "-n", "r", "-o", "json"])).stdout);
      return s.status?.observedGeneration === s.metadata.generation && s.status.conditions.find((c: { type: string; status: string }) => c.type === "Ready")?.status === "True" ? s : undefined;
    }, 60_000).catch((err) => assert.fail(`${err.message}\n${logs.join("\n")}`));
    assert.equal(status.metadata.generation, 2);
    // Exactly the edit's events: Compiled (and the rollout's), nothing for the first generation again.
    const events = JSON.parse((await kubectl(["get", "events", "-n", "r", "-o", "json"])).stdout).items as { reason: string; message: string }[];
    assert.equal(events.filter((e) => e.reason === "Compiled" && e.message.startsWith("generation 1:")).length, 1);
    assert.equal(events.filter((e) => e.reason === "Compiled" && e.message.startsWith("generation 2:")).length, 1);
  } finally {
    await controller.stop();
    await cluster.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
