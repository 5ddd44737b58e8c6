// A real kube-apiserver backed by a real etcd, both built from source with the
// Go toolchain through the Go module proxy (no downloads from websites), and
// started on 127.0.0.1 with generated certificates, service-account keys, a
// static admin token and RBAC authorization; and a kubectl of the same
// release, built the same way, for tests that drive the cluster as a user would.
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { cacheDir, log, run, startProcess, step, stopProcess, waitFor, type Started } from "./steps.ts";
import { freePort } from "./ports.ts";

export const KUBERNETES_VERSION = "v1.35.4";

const goEnv = { ...process.env, CGO_ENABLED: "0", GOTOOLCHAIN: "local", GOFLAGS: "-buildvcs=false -mod=mod" };

/** Upstream's go.mod for a Kubernetes release and the time of its commit, through the module proxy. */
function upstreamModule(version: string, workDir: string): { goMod: string; time: string } {
  const json = run("go", ["mod", "download", "-json", `k8s.io/kubernetes@${version}`], { what: "downloading k8s.io/kubernetes go.mod", cwd: workDir, env: goEnv });
  const info = JSON.parse(json) as { GoMod?: string; Info?: string; Error?: string };
  if (!info.GoMod || !info.Info) throw new Error(`go mod download k8s.io/kubernetes@${version}: ${info.Error ?? "no go.mod"}`);
  const { Time } = JSON.parse(readFileSync(info.Info, "utf8")) as { Time?: string };
  if (!Time) throw new Error(`go mod download k8s.io/kubernetes@${version}: no commit time in ${info.Info}`);
  return { goMod: readFileSync(info.GoMod, "utf8"), time: Time };
}

/**
 * The throwaway module's go.mod: require k8s.io/kubernetes, and replace each
 * staging module (`k8s.io/x => ./staging/src/k8s.io/x` upstream) with its
 * published v0.<minor>.<patch> version. Generated from upstream's go.mod, so
 * a new release needs no hand edits.
 */
export function kubeBuildGoMod(version: string, upstream: string): string {
  const staging = [...upstream.matchAll(/^\s*(k8s\.io\/[A-Za-z0-9._-]+)\s+=>\s+\.\/staging\/src\/\S+/gm)].map((m) => m[1]);
  if (staging.length === 0) throw new Error(`k8s.io/kubernetes@${version}: no staging replacements found in its go.mod`);
  const [major, minor, patch] = version.replace(/^v/, "").split(".");
  if (major !== "1") throw new Error(`unexpected Kubernetes version ${version}`);
  const stagingVersion = `v0.${minor}.${patch}`;
  return [
    "module routeplane.dev/e2e/kubebuild",
    "",
    "go 1.25",
    "",
    `require k8s.io/kubernetes ${version}`,
    "",
    "replace (",
    ...staging.map((m) => `\t${m} => ${m} ${stagingVersion}`),
    ")",
    "",
  ].join("\n");
}

/** The etcd version kube-apiserver's etcd client uses. */
export function etcdVersionOf(upstream: string): string {
  const m = upstream.match(/^\s*go\.etcd\.io\/etcd\/client\/v3\s+(v\S+)/m);
  if (!m) throw new Error("cannot find go.etcd.io/etcd/client/v3 in k8s.io/kubernetes go.mod");
  return m[1];
}

/**
 * The `-X` flags upstream's release builds link with (hack/lib/version.sh,
 * `kube::version::ldflags`): gitVersion, gitMajor, gitMinor and buildDate, each
 * into both k8s.io/client-go/pkg/version and k8s.io/component-base/version, so
 * that `kubectl version` and the apiserver's /version say the release instead
 * of `v0.0.0-master`. buildDate is the release commit's time (what upstream
 * writes when SOURCE_DATE_EPOCH is set), which keeps the build reproducible.
 * gitCommit and gitTreeState are left alone, as upstream does when it does not
 * know the commit: the module proxy does not say it.
 */
export function kubeVersionLdflags(version: string, commitTime: string): string {
  const m = version.match(/^v(\d+)\.(\d+)\.\d+$/);
  if (!m) throw new Error(`unexpected Kubernetes version ${version}`);
  const buildDate = new Date(commitTime).toISOString().replace(/\.\d{3}Z$/, "Z");
  const vars: [string, string][] = [["gitVersion", version], ["gitMajor", m[1]], ["gitMinor", m[2]], ["buildDate", buildDate]];
  return vars.flatMap(([key, value]) => ["k8s.io/client-go/pkg/version", "k8s.io/component-base/version"].map((pkg) => `-X ${pkg}.${key}=${value}`)).join(" ");
}

/** Whether `file` runs and prints `expected` (a binary from an older cache may be unstamped). */
function prints(file: string, args: string[], expected: string): boolean {
  if (!existsSync(file)) return false;
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 30_000 });
  return r.status === 0 && r.stdout.includes(expected);
}

export interface KubeBinaries {
  kubeApiserver: string;
  etcd: string;
  kubectl: string;
  version: string;
  etcdVersion: string;
}

/**
 * Builds kube-apiserver, kubectl and etcd into the cache (the first build takes
 * many minutes); idempotent, and builds only what is missing: a cache from
 * before kubectl was added gets kubectl alone, and a kube-apiserver built
 * without the version stamp is linked again (from Go's build cache when it is
 * still there).
 */
export async function provisionKube(version = KUBERNETES_VERSION): Promise<KubeBinaries> {
  const dir = cacheDir("kubernetes", version);
  const bin = path.join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const kubeApiserver = path.join(bin, "kube-apiserver");
  const kubectl = path.join(bin, "kubectl");
  const etcd = path.join(bin, "etcd");
  const versionsFile = path.join(dir, "versions.json");
  const apiserverReady = prints(kubeApiserver, ["--version"], `Kubernetes ${version}`);
  const kubectlReady = prints(kubectl, ["version", "--client"], `Client Version: ${version}`);
  if (apiserverReady && kubectlReady && existsSync(etcd) && existsSync(versionsFile)) {
    return { kubeApiserver, kubectl, etcd, ...JSON.parse(readFileSync(versionsFile, "utf8")) };
  }
  const build = path.join(dir, "build");
  mkdirSync(build, { recursive: true });
  const upstream = await step(`kubernetes ${version}: reading upstream go.mod`, () => upstreamModule(version, build));
  const etcdVersion = etcdVersionOf(upstream.goMod);
  if (!apiserverReady || !kubectlReady) {
    // One module for both commands: the same dependency versions, so kubectl
    // reuses most of the packages kube-apiserver compiled into Go's build cache.
    writeFileSync(path.join(build, "go.mod"), kubeBuildGoMod(version, upstream.goMod));
    writeFileSync(path.join(build, "tools.go"), '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kubectl"\n)\n');
    await step(`kubernetes ${version}: resolving modules (go mod tidy)`, () => run("go", ["mod", "tidy"], { what: "go mod tidy for kube-apiserver and kubectl", cwd: build, env: goEnv }));
    const ldflags = `-ldflags=-s -w ${kubeVersionLdflags(version, upstream.time)}`;
    const goBuild = (out: string, pkg: string, what: string) => {
      // Into a temporary name first: a failed build leaves no binary behind, and
      // a running kube-apiserver keeps its (replaced) file.
      const tmp = `${out}.tmp`;
      run("go", ["build", "-trimpath", ldflags, "-o", tmp, pkg], { what, cwd: build, env: goEnv });
      renameSync(tmp, out);
    };
    if (!apiserverReady) {
      const what = existsSync(kubeApiserver)
        ? `kubernetes ${version}: linking kube-apiserver again with its version stamp (quick from Go's build cache, a full build without it)`
        : `kubernetes ${version}: building kube-apiserver (the first build takes several minutes)`;
      await step(what, () => goBuild(kubeApiserver, "k8s.io/kubernetes/cmd/kube-apiserver", "building kube-apiserver"));
    }
    if (!kubectlReady) {
      await step(`kubernetes ${version}: building kubectl`, () =>
        goBuild(kubectl, "k8s.io/kubernetes/cmd/kubectl", "building kubectl"));
    }
  }
  if (!existsSync(etcd)) {
    const etcdBuild = path.join(dir, "etcd-build");
    mkdirSync(etcdBuild, { recursive: true });
    writeFileSync(path.join(etcdBuild, "go.mod"), `module routeplane.dev/e2e/etcdbuild\n\ngo 1.25\n\nrequire go.etcd.io/etcd/server/v3 ${etcdVersion}\n`);
    writeFileSync(path.join(etcdBuild, "tools.go"), '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n');
    await step(`etcd ${etcdVersion}: resolving modules`, () => run("go", ["mod", "tidy"], { what: "go mod tidy for etcd", cwd: etcdBuild, env: goEnv }));
    await step(`etcd ${etcdVersion}: building etcd`, () =>
      run("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", etcd, "go.etcd.io/etcd/server/v3"], { what: "building etcd", cwd: etcdBuild, env: goEnv }));
  }
  writeFileSync(versionsFile, JSON.stringify({ version, etcdVersion }));
  return { kubeApiserver, kubectl, etcd, version, etcdVersion };
}

export interface KubeCluster {
  server: string;
  kubeconfig: string;
  /** The kubectl of the same release (`kubectl --kubeconfig <kubeconfig> …`). */
  kubectl: string;
  token: string;
  caFile: string;
  workDir: string;
  processes: Started[];
  /** Stops kube-apiserver and starts it again on the same port, etcd untouched (as an upgrade or a crash would). */
  restartApiserver(): Promise<void>;
  stop(): Promise<void>;
}

function openssl(args: string[], cwd: string): void {
  run("openssl", args, { what: `openssl ${args[0]}`, cwd });
}

/** A CA, a serving certificate for 127.0.0.1, service-account keys and an admin token. */
function writeSecrets(dir: string): { token: string } {
  openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "3", "-subj", "/CN=routeplane-e2e-ca"], dir);
  writeFileSync(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
  openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=kube-apiserver"], dir);
  openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "3", "-extfile", "server.ext"], dir);
  const sa = generateKeyPairSync("rsa", { modulusLength: 2048 });
  writeFileSync(path.join(dir, "sa.key"), sa.privateKey.export({ type: "pkcs8", format: "pem" }));
  writeFileSync(path.join(dir, "sa.pub"), sa.publicKey.export({ type: "spki", format: "pem" }));
  const token = randomBytes(24).toString("hex");
  writeFileSync(path.join(dir, "tokens.csv"), `${token},routeplane-admin,routeplane-admin,"system:masters"\n`);
  return { token };
}

function get(url: string, options: { ca?: Buffer; token?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const fn = url.startsWith("https:") ? request : httpRequest;
    const req = fn(url, { method: "GET", ca: options.ca, headers: options.token ? { authorization: `Bearer ${options.token}` } : {}, timeout: 2000 }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.end();
  });
}

export async function startKube(bins: KubeBinaries, options: { startTimeoutMs?: number } = {}): Promise<KubeCluster> {
  const workDir = mkdtempSync(path.join(tmpdir(), "routeplane-kube-"));
  const processes: Started[] = [];
  const stop = async () => {
    for (const p of [...processes].reverse()) await stopProcess(p.pid);
    rmSync(workDir, { recursive: true, force: true });
  };
  try {
    const { token } = await step("kubernetes: generating certificates, service-account keys and an admin token", () => writeSecrets(workDir));
    const etcdPort = await freePort();
    const peerPort = await freePort();
    const etcd = startProcess("etcd", bins.etcd, [
      "--name", "e2e", "--data-dir", path.join(workDir, "etcd"),
      "--listen-client-urls", `http://127.0.0.1:${etcdPort}`, "--advertise-client-urls", `http://127.0.0.1:${etcdPort}`,
      "--listen-peer-urls", `http://127.0.0.1:${peerPort}`, "--initial-advertise-peer-urls", `http://127.0.0.1:${peerPort}`,
      "--initial-cluster", `e2e=http://127.0.0.1:${peerPort}`, "--log-level", "warn", "--unsafe-no-fsync",
    ], path.join(workDir, "etcd.log"));
    processes.push(etcd);
    await step(`etcd: starting on 127.0.0.1:${etcdPort} (pid ${etcd.pid})`, () =>
      waitFor(etcd, async () => (await get(`http://127.0.0.1:${etcdPort}/health`)).body.includes('"true"'), options.startTimeoutMs ?? 60_000));

    const port = await freePort();
    const apiserverArgs = [
      "--advertise-address=127.0.0.1", "--bind-address=127.0.0.1", `--secure-port=${port}`,
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--tls-cert-file=${path.join(workDir, "server.crt")}`, `--tls-private-key-file=${path.join(workDir, "server.key")}`,
      `--client-ca-file=${path.join(workDir, "ca.crt")}`,
      `--token-auth-file=${path.join(workDir, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      `--service-account-key-file=${path.join(workDir, "sa.pub")}`, `--service-account-signing-key-file=${path.join(workDir, "sa.key")}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      "--service-cluster-ip-range=10.96.0.0/24",
      "--disable-admission-plugins=ServiceAccount",
      "--profiling=false",
    ];
    const ca = readFileSync(path.join(workDir, "ca.crt"));
    const server = `https://127.0.0.1:${port}`;
    const startApiserver = async () => {
      const apiserver = startProcess("kube-apiserver", bins.kubeApiserver, apiserverArgs, path.join(workDir, "kube-apiserver.log"));
      processes.push(apiserver);
      await step(`kube-apiserver: starting on ${server} (pid ${apiserver.pid})`, () =>
        waitFor(apiserver, async () => (await get(`${server}/readyz`, { ca, token })).status === 200, options.startTimeoutMs ?? 120_000));
      return apiserver;
    };
    let apiserver = await startApiserver();
    const restartApiserver = async () => {
      await stopProcess(apiserver.pid);
      processes.splice(processes.indexOf(apiserver), 1);
      apiserver = await startApiserver();
    };

    const kubeconfig = path.join(workDir, "kubeconfig");
    writeFileSync(kubeconfig, [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: e2e",
      "  cluster:",
      `    server: ${server}`,
      `    certificate-authority: ${path.join(workDir, "ca.crt")}`,
      "users:",
      "- name: routeplane-admin",
      "  user:",
      `    token: ${token}`,
      "contexts:",
      "- name: e2e",
      "  context:",
      "    cluster: e2e",
      "    user: routeplane-admin",
      "current-context: e2e",
      "",
    ].join("\n"));
    log(`kubeconfig: ${kubeconfig}`);
    return { server, kubeconfig, kubectl: bins.kubectl, token, caFile: path.join(workDir, "ca.crt"), workDir, processes, restartApiserver, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
