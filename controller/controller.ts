// The routeplane controller: informers over RoutingPolicies and ConfigMaps, a
// work queue reconciling one policy at a time, and one HTTPS server for the
// admission webhook, the sidecars' long polls (ADR 13), health and metrics.
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { reviewPolicy, type AdmissionReview } from "./admission.ts";
import { CompileWorker, type CompileWorkerOptions } from "./compile-worker.ts";
import { tokenReviewAuthenticator } from "./auth.ts";
import { ServingTls, type TlsSource } from "./serving-tls.ts";
import { Distribution, type Authenticate } from "./distribution.ts";
import { EventRecorder } from "./events.ts";
import { injectSidecar, type PodReview } from "./injection.ts";
import { configMapInformer, ensureMutatingWebhook, ensureValidatingWebhook, kubeClients, policyInformer, readSecret, statusCode, writeStatus, type KubeClients } from "./kube.ts";
import { reconcile, type PolicyMemory, type ReconcileDeps } from "./reconcile.ts";
import { keyOf, type RoutingPolicy } from "./resources.ts";
import { LeaderElector } from "./leader.ts";
import { controllerTracing } from "./tracing.ts";
import { FleetReports } from "./fleet-reports.ts";
import { WorkQueue } from "./work-queue.ts";

export interface ControllerOptions {
  /** A kubeconfig file; default: in-cluster, then $KUBECONFIG, then ~/.kube/config. */
  kubeconfig?: string;
  /** Watch one namespace; default every namespace. */
  namespace?: string;
  host?: string;
  port?: number;
  /** Names the serving certificate is for (default localhost and 127.0.0.1). */
  hosts?: string[];
  /**
   * Keep the generated serving certificate in this Secret (namespace/name) and share it between
   * replicas (required with more than one replica and no --tls-cert).
   */
  tlsSecret?: string;
  /** A serving certificate to use instead of a generated one (PEM); `caPem` is what clients trust. */
  tls?: { certPem: string; keyPem: string; caPem: string };
  /** … or files holding it (--tls-cert, --tls-key, --tls-ca), reloaded when they change (cert-manager renewing). */
  tlsFiles?: { cert: string; key: string; ca: string };
  /** How long a certificate the controller makes is valid (default a year); renewed in its last third. */
  certificateValidityMs?: number;
  /** Register the validating webhook at this URL (e.g. https://127.0.0.1:8443/validate) … */
  webhookUrl?: string;
  /** … or at this Service (namespace/name[:port]). Neither: the webhook is not registered. */
  webhookService?: string;
  webhookFailurePolicy?: "Fail" | "Ignore";
  /** Watch only ConfigMaps matching this label selector (e.g. routeplane.dev/sources=true); default every ConfigMap. */
  configMapSelector?: string;
  /** Every policy is reconciled again this often (ms). */
  resyncMs?: number;
  /** Status writes per policy at most this often (ms). */
  statusIntervalMs?: number;
  /** How long a sidecar counts after its last poll ended (ms). */
  presenceMs?: number;
  /**
   * Leader election on a Lease in this namespace (only the leader writes status and events and
   * advances rollouts; every replica serves sidecars). Default $POD_NAMESPACE, else the watched
   * namespace, else "default". `false`: this replica always leads (one replica only).
   */
  leaseNamespace?: string | false;
  /** This replica's name in the Lease (default $POD_NAME, else host-pid-random). */
  identity?: string;
  /** The injected sidecar: its image and the controller URL pods use (default the Service in routeplane-system). */
  sidecarImage?: string;
  sidecarControllerUrl?: string;
  /** OTLP/HTTP endpoint for spans per reconcile (default $OTEL_EXPORTER_OTLP_ENDPOINT; none: no tracing). */
  otlpEndpoint?: string;
  /** The compile worker's limits (time, memory, idle exit); defaults in COMPILE_DEFAULTS. */
  compile?: CompileWorkerOptions;
  /** Authenticates sidecars; default the apiserver's TokenReview API. */
  authenticate?: Authenticate;
  log?: (line: string) => void;
}

export interface RunningController {
  url: string;
  /** Whether this replica leads now. */
  leading(): boolean;
  identity: string;
  /** The CA clients trust (the webhooks' caBundle, the sidecars' --controller-ca). */
  readonly caPem: string;
  /** The serving certificate and its renewal. */
  serving: ServingTls;
  distribution: Distribution;
  queue: WorkQueue;
  /** Resolves when the informers have listed once (and /readyz says so). */
  synced: Promise<void>;
  stop(): Promise<void>;
}

const MAX_ADMISSION_BYTES = 8 << 20;

function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        resolve(null);
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startController(options: ControllerOptions = {}): Promise<RunningController> {
  const log = options.log ?? ((line: string) => process.stderr.write(`routeplane controller: ${line}\n`));
  const clients: KubeClients = kubeClients(options.kubeconfig);
  const namespace = options.namespace;
  const queue = new WorkQueue();
  const compiler = new CompileWorker(options.compile);
  const memory = new Map<string, PolicyMemory>();
  const counters = { reconciles: { ok: 0, error: 0 }, statusWrites: 0, informerRestarts: 0 };

  const onInformerError = (what: string) => (err: unknown, delay: number) => {
    counters.informerRestarts++;
    log(`${what} informer: ${(err as Error)?.message ?? err}; restarting in ${(delay / 1000).toFixed(1)} s`);
  };
  const policies = policyInformer(clients, namespace, onInformerError("RoutingPolicy"));
  const configMaps = configMapInformer(clients, namespace, options.configMapSelector, onInformerError("ConfigMap"));
  const ready = () => policies.hasSynced() && configMaps.hasSynced();

  const authenticate = options.authenticate ?? tokenReviewAuthenticator(clients.auth);
  const distribution = new Distribution({ authenticate, ready, presenceMs: options.presenceMs, onFleetChange: (key) => queue.add(key) });
  const events = new EventRecorder(clients.core, undefined, (err) => log(`writing an event: ${err.message}`));

  // Policies: every change is their key. ConfigMaps: the policies that name them.
  const enqueue = (rp: RoutingPolicy) => queue.add(keyOf(rp));
  policies.informer.on("add", enqueue);
  policies.informer.on("update", enqueue);
  policies.informer.on("delete", enqueue);
  const onConfigMap = (cm: { metadata?: { name?: string; namespace?: string } }) => {
    for (const rp of policies.informer.list(cm.metadata?.namespace)) {
      if ((rp.spec.configMaps ?? []).some((r) => r.name === cm.metadata?.name)) queue.add(keyOf(rp));
    }
  };
  configMaps.informer.on("add", onConfigMap);
  configMaps.informer.on("update", onConfigMap);
  configMaps.informer.on("delete", onConfigMap);

  const leaseNamespace = options.leaseNamespace === false ? null : (options.leaseNamespace ?? process.env.POD_NAMESPACE ?? namespace ?? "default");
  const elector = leaseNamespace === null ? null : new LeaderElector(clients.kc, {
    namespace: leaseNamespace,
    identity: options.identity,
    log,
    // The new leader looks at every policy: status and rollouts may have waited for it.
    onStartedLeading: () => {
      // What this replica decided when it last led is stale: continue from the stored status.
      for (const mem of memory.values()) mem.rollout = undefined;
      for (const rp of policies.informer.list()) queue.add(keyOf(rp));
    },
  });
  // Each replica reports its sidecars; the leader adds the others' reports to its own.
  const reports = leaseNamespace === null || !elector ? null : new FleetReports(clients.kc, leaseNamespace, elector.identity, distribution, () => policies.informer.list().map((rp) => keyOf(rp)));
  const tracing = await controllerTracing({ otlpEndpoint: options.otlpEndpoint ?? process.env.OTEL_EXPORTER_OTLP_ENDPOINT });
  const deps: ReconcileDeps = {
    policies: policies.informer,
    configMaps: configMaps.informer,
    configMapSelector: options.configMapSelector,
    readSecret: (ns, name) => readSecret(clients, ns, name),
    compile: compiler.compile,
    writeStatus: async (rp, status) => {
      counters.statusWrites++;
      await writeStatus(clients, rp, status);
    },
    distribution,
    fleet: async (key) => (reports && elector?.isLeader() ? await reports.total(key) : { fleet: distribution.counts(key), step: distribution.stepCounts(key) }),
    events,
    leading: () => elector?.isLeader() ?? true,
    statusIntervalMs: options.statusIntervalMs ?? 1000,
    tracer: tracing?.tracer ?? null,
  };

  // One worker: one key at a time, failures retried with backoff.
  let stopping = false;
  const worker = (async () => {
    await Promise.all([policies.synced, configMaps.synced]);
    for (;;) {
      const key = await queue.get();
      if (key === null) return;
      try {
        const result = await reconcile(key, deps, memory);
        queue.forget(key);
        counters.reconciles.ok++;
        if (result.requeueAfterMs !== undefined) setTimeout(() => queue.addNow(key), result.requeueAfterMs).unref();
      } catch (err) {
        counters.reconciles.error++;
        const code = statusCode(err);
        // A conflict or a vanished object: the next event brings the new state, so no backoff beyond the first.
        const delay = queue.addRateLimited(key);
        if (!stopping) log(`reconcile ${key}: ${code ? `HTTP ${code}: ` : ""}${(err as Error).message}; retrying in ${(delay / 1000).toFixed(1)} s`);
      } finally {
        queue.done(key);
      }
    }
  })();
  const resync = setInterval(() => {
    for (const rp of policies.informer.list()) queue.addNow(keyOf(rp));
  }, options.resyncMs ?? 5 * 60_000);
  resync.unref();

  // The HTTPS server: admission, distribution, health, metrics.
  const hosts = options.hosts ?? ["localhost", "127.0.0.1"];
  const source: TlsSource = options.tls ? { kind: "given", tls: options.tls }
    : options.tlsFiles ? { kind: "files", ...options.tlsFiles }
    : options.tlsSecret ? secretSource(options.tlsSecret)
    : { kind: "generated" };
  // A start that fails from here on (no certificate, the port taken, webhooks not registrable) releases what
  // already runs — informers, timers, the compile worker — so the process ends instead of hanging.
  const abandon = async (err: unknown, also: () => unknown = () => undefined): Promise<never> => {
    stopping = true;
    await also();
    clearInterval(resync);
    queue.close();
    distribution.close();
    await Promise.all([policies.stop(), configMaps.stop()]).catch(() => undefined);
    await tracing?.shutdown().catch(() => undefined);
    await compiler.close();
    throw err;
  };
  const serving = await ServingTls.start(source, { hosts, clients, log, validityMs: options.certificateValidityMs }).catch((err: unknown) => abandon(err));
  const tls = serving.current;
  const injection = {
    image: options.sidecarImage ?? "ghcr.io/routeplane/routeplane:0.1.0",
    controllerUrl: options.sidecarControllerUrl ?? "https://routeplane-controller.routeplane-system.svc",
  };
  const inputs = { configMap: (ns: string, name: string) => configMaps.informer.get(name, ns), secret: () => undefined, configMapSelector: options.configMapSelector };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "https://controller");
    if (await distribution.handle(req, res, url.pathname)) return;
    const admission = url.pathname === "/validate" ? (r: unknown, gone: AbortSignal) => reviewPolicy(r as AdmissionReview, inputs, (job) => compiler.compile(job, gone))
      : url.pathname === "/inject" ? (r: unknown) => injectSidecar(r as PodReview, policies.informer.list(), injection)
      : null;
    if (admission && req.method === "POST") {
      // The apiserver gives up on a webhook after its timeout and closes the connection: the compile for a request
      // nobody waits for is dropped from the queue (or stopped), so abandoned requests cannot pile up compile work.
      const gone = new AbortController();
      res.on("close", () => {
        if (!res.writableFinished) gone.abort();
      });
      // Both webhooks: a bounded AdmissionReview in, its answer out; anything malformed is a 400 naming why.
      const body = await readBody(req, MAX_ADMISSION_BYTES);
      let answer: unknown;
      try {
        if (body === null) throw new Error(`the AdmissionReview is over ${MAX_ADMISSION_BYTES} bytes`);
        answer = await admission(JSON.parse(body), gone.signal);
      } catch (err) {
        res.writeHead(400, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "bad-request", message: (err as Error).message, retryable: false } }));
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
      return;
    }
    if (url.pathname === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
      return;
    }
    if (url.pathname === "/readyz") {
      res.writeHead(ready() ? 200 : 503, { "content-type": "text/plain" }).end(ready() ? "ok\n" : "informers not synced\n");
      return;
    }
    if (url.pathname === "/metrics") {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metricsText());
      return;
    }
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "not-found", message: `no ${req.method} ${url.pathname}`, retryable: false } }));
  };
  const metricsText = () => {
    const lines: string[] = [];
    const family = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([labels, v]) => `${name}${labels} ${v}`));
    };
    family("routeplane_controller_reconciles_total", "counter", "Reconciles, by result.", [['{result="ok"}', counters.reconciles.ok], ['{result="error"}', counters.reconciles.error]]);
    family("routeplane_controller_queue_depth", "gauge", "Policies waiting to be reconciled.", [["", queue.depth]]);
    family("routeplane_controller_status_writes_total", "counter", "Status writes to the apiserver.", [["", counters.statusWrites]]);
    family("routeplane_controller_events_total", "counter", "Events written (and suppressed as repeats).", [['{outcome="written"}', events.written], ['{outcome="suppressed"}', events.suppressed]]);
    family("routeplane_controller_informer_restarts_total", "counter", "Informers restarted after an error.", [["", counters.informerRestarts]]);
    family("routeplane_controller_polls_total", "counter", "Sidecar polls, by outcome.", [['{outcome="bundle"}', distribution.polls.served], ['{outcome="not_modified"}', distribution.polls.notModified], ['{outcome="refused"}', distribution.polls.refused]]);
    family("routeplane_controller_compiles_total", "counter", "Compiles in the compile worker, by outcome (timed_out and out_of_memory: the policy hit --compile-timeout or --compile-memory).", [
      ['{outcome="ok"}', compiler.counts.ok], ['{outcome="timed_out"}', compiler.counts.timedOut], ['{outcome="out_of_memory"}', compiler.counts.outOfMemory], ['{outcome="failed"}', compiler.counts.failed]]);
    family("routeplane_controller_admission_compiles_abandoned_total", "counter", "Admission compiles whose request went away first (the apiserver's webhook timeout, a closed connection): dropped from the queue, or stopped while running.", [
      ['{when="queued"}', compiler.counts.abandonedQueued], ['{when="running"}', compiler.counts.abandonedRunning]]);
    family("routeplane_controller_compile_worker_starts_total", "counter", "Compile worker threads started (one exits after a quiet spell).", [["", compiler.counts.starts]]);
    family("routeplane_controller_compile_worker_alive", "gauge", "1 while a compile worker thread is alive.", [["", compiler.alive ? 1 : 0]]);
    const sidecars: [string, number][] = [];
    for (const rp of policies.informer.list()) {
      const c = distribution.counts(keyOf(rp));
      sidecars.push([`{policy="${keyOf(rp)}",state="on_revision"}`, c.onRevision], [`{policy="${keyOf(rp)}",state="total"}`, c.total]);
    }
    family("routeplane_controller_sidecars", "gauge", "Sidecars subscribed to each policy, and those on its served revision.", sidecars);
    family("routeplane_controller_ready", "gauge", "1 when the informers are synced.", [["", ready() ? 1 : 0]]);
    family("routeplane_controller_leader", "gauge", "1 while this replica leads.", [["", (elector?.isLeader() ?? true) ? 1 : 0]]);
    const mem = process.memoryUsage();
    family("routeplane_controller_serving_certificate_expiry_timestamp_seconds", "gauge", "When the serving certificate expires (renewed in its last third).", [["", Math.floor(serving.notAfter.getTime() / 1000)]]);
    family("routeplane_controller_serving_certificate_changes_total", "counter", "Serving certificate changes: renewed here, or reloaded (from the shared Secret or the files).", [['{how="renewed"}', serving.counts.renewed], ['{how="reloaded"}', serving.counts.reloaded]]);
    family("process_resident_memory_bytes", "gauge", "Resident memory.", [["", mem.rss]]);
    family("nodejs_heap_used_bytes", "gauge", "V8 heap in use.", [["", mem.heapUsed]]);
    family("nodejs_heap_total_bytes", "gauge", "V8 heap reserved.", [["", mem.heapTotal]]);
    family("nodejs_external_memory_bytes", "gauge", "Memory outside the V8 heap held by JavaScript objects (buffers, TLS).", [["", mem.external]]);
    return lines.join("\n") + "\n";
  };
  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    handle(req, res).catch((err: Error) => {
      log(`${req.method} ${req.url}: ${err.message}`);
      if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "internal", message: "internal error", retryable: true } }));
    });
  });
  // Long polls are held for up to a minute: keep the server's own timeouts above that.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8443, options.host ?? "127.0.0.1", () => resolve());
  }).catch((err: unknown) => abandon(err, () => serving.stop()));
  const address = server.address() as AddressInfo;
  const url = `https://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;

  // The webhooks trust the CA: registered now, and again if a reloaded certificate comes from another CA.
  const registerWebhooks = async (caPem: string) => {
    if (!options.webhookUrl && !options.webhookService) return;
    const caBundle = Buffer.from(caPem).toString("base64");
    // Validation at /validate, injection at /inject, on the same server.
    const at = (path: string) => {
      if (options.webhookUrl) return { url: options.webhookUrl.replace(/\/validate$/, "") + path, caBundle };
      const m = /^([^/]+)\/([^:]+)(?::(\d+))?$/.exec(options.webhookService!);
      if (!m) throw new Error(`--webhook-service takes namespace/name[:port], not ${options.webhookService}`);
      return { service: { namespace: m[1], name: m[2], port: m[3] ? Number(m[3]) : 443, path }, caBundle };
    };
    await ensureValidatingWebhook(clients, at("/validate"), options.webhookFailurePolicy ?? "Fail");
    await ensureMutatingWebhook(clients, at("/inject"));
  };
  await registerWebhooks(tls.caPem).catch((err: unknown) => abandon(err, () => {
    serving.stop();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  }));
  serving.onChange((next, previous) => {
    // New connections get the new certificate; open ones keep theirs.
    server.setSecureContext({ cert: next.certPem, key: next.keyPem });
    if (next.caPem !== previous.caPem) registerWebhooks(next.caPem).catch((err: Error) => log(`updating the webhooks' caBundle: ${err.message}`));
  });
  serving.startChecking();
  elector?.start();
  reports?.start((err) => log(`fleet report: ${err.message}`), { leading: () => elector?.isLeader() ?? false, onRemoteChange: (key) => queue.add(key) });
  log(`serving on ${url} (admission /validate, sidecars /v1/policies/<namespace>/<name>/bundle, /healthz, /readyz, /metrics); watching ${namespace ? `namespace ${namespace}` : "every namespace"}`);

  return {
    url,
    leading: () => elector?.isLeader() ?? true,
    identity: elector?.identity ?? "single",
    get caPem() {
      return serving.current.caPem;
    },
    serving,
    distribution,
    queue,
    synced: Promise.all([policies.synced, configMaps.synced]).then(() => undefined),
    stop: async () => {
      stopping = true;
      serving.stop();
      // Release the lease first, so another replica leads at once.
      await elector?.stop();
      await reports?.stop();
      clearInterval(resync);
      queue.close();
      // Answer the held polls before the connections close (graceful: sidecars re-poll elsewhere at once).
      distribution.drain();
      await new Promise((r) => setTimeout(r, 50));
      distribution.close();
      await Promise.all([policies.stop(), configMaps.stop()]);
      await tracing?.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker.catch(() => undefined);
      await compiler.close();
    },
  };
}

function secretSource(tlsSecret: string): TlsSource {
  const [namespace, name] = tlsSecret.split("/");
  if (!namespace || !name) throw new Error(`--tls-secret takes namespace/name, not ${tlsSecret}`);
  return { kind: "secret", namespace, name };
}
