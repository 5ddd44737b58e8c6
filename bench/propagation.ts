// bench/propagation: how fast a policy change reaches the fleet, on a real
// kube-apiserver + etcd (started here, as the e2e tests do), with the real
// kubectl and the controller as its own process:
//   1. N real `routeplane serve` sidecar processes: from `kubectl apply` of a
//      changed policy to every sidecar having activated the new revision
//      (p50/p90 over the changes);
//   2. M simulated sidecars in one process (the sidecar's own subscription
//      client, with a store that verifies signatures but builds no engine):
//      the same figure, the controller's RSS and its status writes per second;
//   3. P RoutingPolicies applied at once: time until all are Ready.
// Usage: npm run bench:propagation [-- --sidecars 20 --changes 20 --simulated 1000 --policies 100]
// (--sidecars 0 or --policies 0 skips that part).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { generateKeyPair, readBundle, verifyBundleSignature, type Bundle } from "../bundle/index.ts";
import { makeServingCertificate } from "../controller/index.ts";
import { ControllerSubscription, type SubscriptionStore } from "../runtime/sidecar/index.ts";
import { freePort, provisionKube, startKube, type KubeCluster } from "../e2e/index.ts";

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// What users run: the package's compiled JavaScript (built below), not the .ts sources.
const MAIN = path.join(REPO, "dist/cli/main.js");
/**
 * How deploy/ runs the controller: two malloc arenas (docs/kubernetes.md); the command adds its own
 * Node flags (cli/node-flags.ts). ROUTEPLANE_BENCH_CONTROLLER_FLAGS: node flags to compare with
 * (e.g. --no-optimize-for-size).
 */
const CONTROLLER_ENV = { ...process.env, NODE_OPTIONS: "", MALLOC_ARENA_MAX: "2" };
const { values: args } = parseArgs({
  options: { sidecars: { type: "string", default: "20" }, changes: { type: "string", default: "20" }, simulated: { type: "string", default: "1000" }, policies: { type: "string", default: "100" } },
});
const N = Number(args.sidecars);
const CHANGES = Number(args.changes);
const M = Number(args.simulated);
const P = Number(args.policies);

const dir = mkdtempSync(path.join(tmpdir(), "routeplane-bench-propagation-"));
const children: ChildProcess[] = [];
let cluster: KubeCluster | null = null;

function run(cmd: string, argv: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

async function kubectl(argv: string[], input?: string): Promise<string> {
  const r = await run(cluster!.kubectl, ["--kubeconfig", cluster!.kubeconfig, "--cache-dir", path.join(dir, "kcache"), ...argv], input);
  if (r.code !== 0) throw new Error(`kubectl ${argv.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const SUPPORT = {
  "support/main.route": readFileSync(path.join(REPO, "examples/support/main.route"), "utf8"),
  "shared/models.route": readFileSync(path.join(REPO, "examples/shared/models.route"), "utf8"),
};

/** The support policy with one extra keyword: every change is a new revision. */
function policyJson(ns: string, name: string, version: number): Record<string, unknown> {
  const main = SUPPORT["support/main.route"].replace('"right now"]', `"right now", "change${version}"]`);
  return { apiVersion: "routeplane.dev/v1alpha1", kind: "RoutingPolicy", metadata: { name, namespace: ns }, spec: { signingKey: { secretName: "signing" }, sources: { ...SUPPORT, "support/main.route": main } } };
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};

async function waitFor<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function controllerMetric(url: string, name: string): Promise<number> {
  const r = await run("curl", ["-s", "--cacert", path.join(dir, "ca.crt"), `${url}/metrics`]);
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(r.stdout);
  return m ? Number(m[1]) : NaN;
}

async function main(): Promise<void> {
  console.log(`bench/propagation: kubectl apply → every sidecar on the new revision (real kube-apiserver + etcd, controller in its own process)`);
  const build = await run("npm", ["run", "build", "--silent"]);
  if (build.code !== 0) throw new Error(`npm run build: ${build.stderr}`);
  const flags = process.env.ROUTEPLANE_BENCH_CONTROLLER_FLAGS;
  console.log(`(the compiled package in dist/; the controller with MALLOC_ARENA_MAX=${CONTROLLER_ENV.MALLOC_ARENA_MAX} as deploy/ runs it, ${flags ? `node flags ${flags}` : "and its own node flags"})`);
  cluster = await startKube(await provisionKube());
  const ns = "bench";
  const keys = generateKeyPair();
  const cert = makeServingCertificate(["127.0.0.1"]);
  writeFileSync(path.join(dir, "tls.crt"), cert.certPem);
  writeFileSync(path.join(dir, "tls.key"), cert.keyPem);
  writeFileSync(path.join(dir, "ca.crt"), cert.caPem);
  writeFileSync(path.join(dir, "team.key"), keys.privateKeyPem, { mode: 0o600 });
  writeFileSync(path.join(dir, "team.pub"), keys.publicKeyPem);
  await kubectl(["apply", "-f", path.join(REPO, "crds/routingpolicies.yaml")]);
  await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/routingpolicies.routeplane.dev"]);
  await kubectl(["create", "namespace", ns]);
  await kubectl(["create", "serviceaccount", "sidecar", "-n", ns]);
  await kubectl(["create", "secret", "generic", "signing", "-n", ns, `--from-file=signing.key=${path.join(dir, "team.key")}`]);
  writeFileSync(path.join(dir, "token"), (await kubectl(["create", "token", "sidecar", "-n", ns, "--audience", "routeplane", "--duration", "2h"])).trim());

  const port = await freePort();
  const url = `https://127.0.0.1:${port}`;
  const controller = spawn(process.execPath, [...(process.env.ROUTEPLANE_BENCH_CONTROLLER_FLAGS?.split(" ").filter(Boolean) ?? []), MAIN, "controller", "--kubeconfig", cluster.kubeconfig, "--listen", `127.0.0.1:${port}`, "--no-leader-election",
    "--tls-cert", path.join(dir, "tls.crt"), "--tls-key", path.join(dir, "tls.key"), "--tls-ca", path.join(dir, "ca.crt"), "--webhook-url", `${url}/validate`], { stdio: ["ignore", "ignore", "pipe"], env: CONTROLLER_ENV });
  children.push(controller);
  let controllerLog = "";
  controller.stderr!.on("data", (d: Buffer) => (controllerLog += d));
  await waitFor("the controller", () => {
    if (controller.exitCode !== null) throw new Error(`the controller exited (${controller.exitCode}):\n${controllerLog}`);
    return controllerLog.includes("serving on") ? true : undefined;
  }, 60_000);

  // ---------------------------------------------------------------- 1. real sidecars
  // --sidecars 0 skips this part.
  if (N > 0) {
    let version = 0;
    await kubectl(["apply", "-f", "-"], JSON.stringify(policyJson(ns, "support", version)));
    const activations = new Map<string, Map<string, number>>(); // sidecar → revision prefix → time
    let firstSidecarLog = "";
    for (let i = 0; i < N; i++) {
      const sport = await freePort();
      const id = `sidecar-${i}`;
      mkdirSync(path.join(dir, id));
      const child = spawn(process.execPath, [MAIN, "serve", "--controller", url, "--policy-ref", `${ns}/support`, "--controller-ca", path.join(dir, "ca.crt"), "--token-file", path.join(dir, "token"),
        "--sidecar-id", id, "--public-key", path.join(dir, "team.pub"), "--state-dir", path.join(dir, id), "--listen", `127.0.0.1:${sport}`, "--demo", "--telemetry", path.join(dir, `${id}.jsonl`)], { stdio: ["ignore", "ignore", "pipe"] });
      children.push(child);
      const seen = new Map<string, number>();
      activations.set(id, seen);
      let buf = "";
      child.stderr!.on("data", (d: Buffer) => {
        const now = performance.now();
        if (i === 0) firstSidecarLog += d;
        buf += d;
        for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const m = /active bundle (sha256:[0-9a-f]+)/.exec(line);
          if (m && !seen.has(m[1])) seen.set(m[1], now);
        }
      });
    }
    const revisionNow = async () => JSON.parse(await kubectl(["get", "rp", "support", "-n", ns, "-o", "json"])).status?.revision as string | undefined;
    const allOn = (prefix: string) => [...activations.values()].every((s) => [...s.keys()].some((k) => prefix.startsWith(k) || k.startsWith(prefix.slice(0, 19))));
    const first = await waitFor("the first revision", revisionNow, 60_000);
    await waitFor(`${N} sidecars on the first revision`, () => (allOn(first) ? true : undefined), 120_000).catch((err: Error) => {
      throw new Error(`${err.message}; sidecar-0 said:\n${firstSidecarLog.slice(-3000)}`);
    });
    const times: number[] = [];
    for (let c = 1; c <= CHANGES; c++) {
      version++;
      const t0 = performance.now();
      await kubectl(["apply", "-f", "-"], JSON.stringify(policyJson(ns, "support", version)));
      // The new revision: the sidecars log its first 19 characters; learn it from the first that activates anything new.
      const latest = await waitFor(`change ${c} to reach every sidecar`, () => {
        const per = [...activations.values()].map((s) => [...s.entries()].filter(([, t]) => t >= t0));
        if (per.some((e) => e.length === 0)) return undefined;
        return Math.max(...per.map((e) => Math.min(...e.map(([, t]) => t))));
      }, 60_000);
      times.push(latest - t0);
    }
    const realRss = children.slice(1).map((c) => rssMb(c.pid!));
    console.log(`\n1. ${N} sidecar processes, ${CHANGES} changes (kubectl apply → the last sidecar activated it):`);
    console.log(`   p50 ${pct(times, 50).toFixed(0)} ms, p90 ${pct(times, 90).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms   (target p90 < 1000 ms)`);
    console.log(`   sidecar RSS ${Math.min(...realRss).toFixed(0)}–${Math.max(...realRss).toFixed(0)} MB; controller RSS ${rssMb(controller.pid!).toFixed(0)} MB`);
    for (const c of children.splice(1)) c.kill("SIGTERM");
  }

  // ---------------------------------------------------------------- 2. simulated sidecars
  const ns2 = "bench-sim";
  await kubectl(["create", "namespace", ns2]);
  await kubectl(["create", "serviceaccount", "sidecar", "-n", ns2]);
  await kubectl(["create", "secret", "generic", "signing", "-n", ns2, `--from-file=signing.key=${path.join(dir, "team.key")}`]);
  writeFileSync(path.join(dir, "token2"), (await kubectl(["create", "token", "sidecar", "-n", ns2, "--audience", "routeplane", "--duration", "2h"])).trim());
  await kubectl(["apply", "-f", "-"], JSON.stringify(policyJson(ns2, "support", 0)));
  const memoryOf = async () => {
    const m = (name: string) => controllerMetric(url, name).then((v) => (v / 2 ** 20).toFixed(0));
    return `${rssMb(controller.pid!).toFixed(0)} MB (V8 heap ${await m("nodejs_heap_used_bytes")}/${await m("nodejs_heap_total_bytes")} MB used/reserved, external ${await m("nodejs_external_memory_bytes")} MB)`;
  };
  const rssBefore = await memoryOf();
  const stores: { current: { bundle: Bundle; signed: boolean } | null; at: Map<string, number> }[] = [];
  const subs: ControllerSubscription[] = [];
  for (let i = 0; i < M; i++) {
    const store: SubscriptionStore & { current: { bundle: Bundle; signed: boolean } | null; at: Map<string, number> } = {
      current: null,
      at: new Map(),
      async offer(text: string) {
        const read = readBundle(text);
        if (!read.ok) return "unreadable";
        if (!verifyBundleSignature(read.bundle, [keys.publicKeyPem]).ok) return "signature";
        this.current = { bundle: read.bundle, signed: true };
        this.at.set(read.bundle.manifest.revision, performance.now());
        return null;
      },
    };
    stores.push(store);
    const sub = new ControllerSubscription({ url, namespace: ns2, name: "support", store, tokenFile: path.join(dir, "token2"), sidecarId: `sim-${i}`, ca: cert.caPem, log: () => {} });
    subs.push(sub);
    sub.start();
  }
  const simRevision = async () => JSON.parse(await kubectl(["get", "rp", "support", "-n", ns2, "-o", "json"])).status?.revision as string | undefined;
  const r0 = await waitFor("the simulated policy", simRevision, 60_000);
  await waitFor(`${M} simulated sidecars on the first revision`, () => (stores.every((s) => s.at.has(r0)) ? true : undefined), 180_000);
  const writes0 = await controllerMetric(url, "routeplane_controller_status_writes_total");
  const churnStart = performance.now();
  const simTimes: number[] = [];
  const simChanges = Math.max(5, Math.min(CHANGES, 10));
  for (let c = 1; c <= simChanges; c++) {
    const t0 = performance.now();
    await kubectl(["apply", "-f", "-"], JSON.stringify(policyJson(ns2, "support", c)));
    const done = await waitFor(`simulated change ${c}`, () => {
      const last = stores.map((s) => Math.max(...[...s.at.values()].filter((t) => t >= t0), -1));
      return last.every((t) => t >= 0) ? Math.max(...last) : undefined;
    }, 120_000);
    simTimes.push(done - t0);
  }
  const churnSeconds = (performance.now() - churnStart) / 1000;
  const writes = (await controllerMetric(url, "routeplane_controller_status_writes_total")) - writes0;
  const rssChurn = await memoryOf();
  // The compile worker exits after 15 s without a compile: what the controller holds between changes.
  await waitFor("the compile worker to exit", async () => ((await controllerMetric(url, "routeplane_controller_compile_worker_alive")) === 0 ? true : undefined), 60_000);
  await new Promise((r) => setTimeout(r, 2000));
  const rssIdle = await memoryOf();
  console.log(`\n2. ${M} simulated sidecars (one process, the sidecar's subscription client), ${simChanges} changes:`);
  console.log(`   p50 ${pct(simTimes, 50).toFixed(0)} ms, p90 ${pct(simTimes, 90).toFixed(0)} ms   (target p90 < 3000 ms)`);
  console.log(`   controller RSS (target < 300 MB with the sidecars):\n     before the sidecars subscribed   ${rssBefore}\n     at the end of the changes        ${rssChurn} (compile worker alive)\n     once the compile worker exited   ${rssIdle}`);
  console.log(`   status writes ${(writes / churnSeconds).toFixed(2)}/s over ${churnSeconds.toFixed(1)} s of churn on one policy (target ≤ 1 per policy per second)`);
  for (const s of subs) s.close();

  // ---------------------------------------------------------------- 3. many policies at once
  if (P === 0) return;
  const ns3 = "bench-many";
  await kubectl(["create", "namespace", ns3]);
  await kubectl(["create", "secret", "generic", "signing", "-n", ns3, `--from-file=signing.key=${path.join(dir, "team.key")}`]);
  const list = { apiVersion: "v1", kind: "List", items: Array.from({ length: P }, (_, i) => policyJson(ns3, `p${i}`, i)) };
  const t0 = performance.now();
  await kubectl(["apply", "-f", "-"], JSON.stringify(list));
  const applied = performance.now() - t0;
  await waitFor(`${P} policies Ready`, async () => {
    const items = JSON.parse(await kubectl(["get", "rp", "-n", ns3, "-o", "json"])).items as { status?: { conditions?: { type: string; status: string }[] } }[];
    return items.length === P && items.every((it) => it.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True")) ? true : undefined;
  }, 300_000);
  const ready = performance.now() - t0;
  console.log(`\n3. ${P} RoutingPolicies in one kubectl apply (each admitted by the webhook, compiled, analysed and signed):`);
  console.log(`   applied in ${(applied / 1000).toFixed(1)} s, all Ready after ${(ready / 1000).toFixed(1)} s (target < 30 s); controller RSS ${rssMb(controller.pid!).toFixed(0)} MB`);
}

try {
  await main();
} finally {
  for (const c of children) c.kill("SIGTERM");
  await (cluster as KubeCluster | null)?.stop();
  rmSync(dir, { recursive: true, force: true });
}
