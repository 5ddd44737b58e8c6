// adapt: the feedback loop's adapter (docs/adaptation.md "The loop"). A Kafka
// consumer group reads the sidecars' routing and feedback events, the adapter
// (adapter/adapter.ts) joins and learns from them, and every publish interval
// the learned shares go to a compacted topic that sidecars follow
// (`serve --shares-topic`), keyed by the policy's name — or, in observe mode,
// under `<policy>/observe`, which no sidecar applies. The adapter's state goes
// to a compacted state topic before the consumer's offsets are committed, so a
// restarted adapter resumes where its saved state ends and counts nothing twice.
import { createServer, type Server } from "node:http";
import { verifyBundleSignature, type Bundle, type SharesOverlay } from "../bundle/index.ts";
import { Adapter, restoreAdapter } from "../adapter/index.ts";
import { CompactedTopic, TelemetryConsumer, atMost, type ConsumerCheckpoint } from "../runtime/index.ts";
import { compilePaths, reportDiagnostics } from "./policy-commands.ts";
import { loadBundleFile } from "./key-commands.ts";
import { parseListen } from "./serve-command.ts";
import { readTextFile, UsageError } from "./usage.ts";
import { EXIT, exitSoonAfterShutdown, type Io } from "./io.ts";

export interface AdaptFlags {
  "kafka-brokers"?: string;
  "kafka-topic"?: string;
  "shares-topic"?: string;
  "state-topic"?: string;
  group?: string;
  policy?: string;
  bundle?: string;
  "public-key"?: string[];
  mode?: string;
  "publish-interval"?: string;
  "join-window"?: string;
  listen?: string;
}

export const ADAPT_DEFAULTS = { topic: "routeplane.routing", sharesTopic: "routeplane.shares", stateTopic: "routeplane.adapter-state", group: "routeplane-adapter", publishIntervalMs: 1000, listen: "127.0.0.1:9465" };

/** The key under which a policy's shares are published: sidecars apply only `<policy>`. */
export function sharesKey(policy: string, mode: "on" | "observe"): string {
  return mode === "on" ? policy : `${policy}/observe`;
}

function seconds(flag: string, text: string | undefined, fallbackMs: number, max: number): number {
  if (text === undefined) return fallbackMs;
  const n = Number(text.replace(/s$/, ""));
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new UsageError(`--${flag} takes seconds from more than 0 to ${max}, not ${JSON.stringify(text)}`);
  return Math.round(n * 1000);
}

function loadPolicy(io: Io, flags: AdaptFlags): Bundle | null {
  if ((flags.policy === undefined) === (flags.bundle === undefined)) throw new UsageError("adapt needs the policy it learns for: --policy <dir> (compiled here) or --bundle <file> --public-key <k.pub>");
  if (flags.policy !== undefined) {
    const result = compilePaths([flags.policy], true);
    if (!result.bundle) {
      reportDiagnostics(io, result, "text");
      return null;
    }
    return result.bundle;
  }
  const keys = flags["public-key"] ?? [];
  if (keys.length === 0) throw new UsageError("--bundle needs --public-key <k.pub> (repeatable): the adapter learns only for a verified policy");
  const bundle = loadBundleFile(io, flags.bundle!);
  if (!bundle) return null;
  const verified = verifyBundleSignature(bundle, keys.map((k) => readTextFile(k, "public key")));
  if (!verified.ok) {
    io.err(`${flags.bundle}: verification failed: ${verified.detail}`);
    return null;
  }
  return bundle;
}

export interface RunningAdapter {
  url: string;
  stop(): Promise<void>;
}

export async function startAdapt(io: Io, flags: AdaptFlags): Promise<RunningAdapter | number> {
  if (!flags["kafka-brokers"]) throw new UsageError("adapt needs --kafka-brokers host:port[,…]");
  const mode = flags.mode ?? "on";
  if (mode !== "on" && mode !== "observe") throw new UsageError(`--mode takes on or observe (off: do not run the adapter), not ${JSON.stringify(mode)}`);
  const publishIntervalMs = seconds("publish-interval", flags["publish-interval"], ADAPT_DEFAULTS.publishIntervalMs, 3600);
  const joinWindowMs = flags["join-window"] === undefined ? undefined : seconds("join-window", flags["join-window"], 0, 7 * 24 * 3600);
  const { host, port } = parseListen(flags.listen ?? ADAPT_DEFAULTS.listen);
  const bundle = loadPolicy(io, flags);
  if (!bundle) return EXIT.failed;
  const brokers = flags["kafka-brokers"].split(",");
  const policy = bundle.manifest.policy;
  const log = (line: string) => io.err(`routeplane adapt: ${line}`);

  const stateTopic = new CompactedTopic({ brokers, topic: flags["state-topic"] ?? ADAPT_DEFAULTS.stateTopic, clientId: "routeplane-adapter" });
  const sharesTopic = new CompactedTopic({ brokers, topic: flags["shares-topic"] ?? ADAPT_DEFAULTS.sharesTopic, clientId: "routeplane-adapter" });
  // Until this replica is the active one, it knows only the priors; becoming active loads the saved state.
  let adapter = new Adapter(bundle, { joinWindowMs });
  if (!adapter.adaptive) log(`policy ${policy} has no adaptive route: nothing to learn; the adapter counts events only`);
  log(`policy ${policy} revision ${bundle.manifest.revision.slice(0, 19)}, mode ${mode}`);
  /** Loads what the previous active replica saved (retrying while the broker is away): nothing is handled before. */
  const becomeActive = async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        const saved = await stateTopic.readLatest(policy);
        // A state that cannot be used is said and set aside (not retried): the priors are the start then.
        const restored = restoreAdapter(bundle, { joinWindowMs }, saved);
        adapter = restored.adapter;
        log(restored.ignored ? `ignoring ${restored.ignored}; starting from the policy's priors` : saved ? `state restored: ${adapter.counters.joined} ratings learned so far` : "no saved state: starting from the policy's priors");
        return;
      } catch (err) {
        if (attempt === 0) log(`cannot read the saved state from topic ${stateTopic.topic} (${(err as Error).message}); trying again every 2 s before reading any event`);
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  };

  const consumer = new TelemetryConsumer({ brokers, groupId: flags.group ?? ADAPT_DEFAULTS.group, topic: flags["kafka-topic"] ?? ADAPT_DEFAULTS.topic, log, onActive: becomeActive });
  let last: { overlay: SharesOverlay; at: string } | null = null;
  let committed = "";
  let failures = 0;
  let busy: Promise<void> | null = null;

  /** Publishes new shares (if anything was learned), saves the state, then commits the offsets it covers. */
  const tick = async () => {
    // A standby neither publishes nor saves: only the active replica's state is the truth.
    if (!consumer.active) return;
    // Taken together, with no await between: the offsets, the overlay and the state they belong to.
    const checkpoint: ConsumerCheckpoint = consumer.checkpoint();
    const overlay = adapter.adaptive && adapter.pending > 0 ? adapter.overlay() : null;
    const state = adapter.snapshot();
    const offsets = JSON.stringify(checkpoint);
    if (!overlay && offsets === committed) return;
    try {
      if (overlay) {
        await sharesTopic.write(sharesKey(policy, mode), JSON.stringify(overlay));
        last = { overlay, at: new Date().toISOString() };
      }
      await stateTopic.write(policy, JSON.stringify(state));
      await consumer.commit(checkpoint);
      committed = offsets;
    } catch (err) {
      failures++;
      log(`could not publish or save (${(err as Error).message}); trying again in ${publishIntervalMs / 1000} s, requests go on with the last shares`);
    }
  };
  const timer = setInterval(() => void (busy ??= tick().finally(() => (busy = null))), publishIntervalMs);

  const server = createServer((req, res) => {
    const status = () => ({
      policy, revision: bundle.manifest.revision, mode, role: consumer.active ? "active" : "standby", shares: last, counters: adapter.counters, consumer: consumer.stats, publishFailures: failures,
      routes: adapter.estimates(),
    });
    if (req.url === "/healthz") res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    else if (req.url === "/status") res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(status(), null, 2));
    else if (req.url === "/metrics") res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(metrics(adapter, consumer, failures, last));
    else res.writeHead(404, { "content-type": "text/plain" }).end("not found: /healthz, /status, /metrics\n");
  });
  const stop = async () => {
    clearInterval(timer);
    // The last publication and save, within 15 s: a broker that is away must not keep the adapter from exiting
    // (what was not saved is read again from the last committed offsets by the next active replica).
    await atMost(15_000, (async () => {
      await busy;
      await tick();
    })());
    await consumer.stop();
    await Promise.all([stateTopic.close(), sharesTopic.close()]);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  try {
    await consumer.start({ routing: (e) => adapter.routing(e), feedback: (e) => adapter.feedback(e) });
    await listen(server, port, host);
  } catch (err) {
    await stop().catch(() => undefined);
    log(`cannot start: ${(err as Error).message}`);
    return EXIT.failed;
  }
  const address = server.address() as { address: string; port: number };
  const url = `http://${address.address}:${address.port}`;
  log(`consuming ${consumer.topics.join(" and ")} as group ${flags.group ?? ADAPT_DEFAULTS.group}; shares to ${sharesTopic.topic} key ${sharesKey(policy, mode)} every ${publishIntervalMs / 1000} s; status on ${url}/status`);
  return { url, stop };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
}

function metrics(adapter: Adapter, consumer: TelemetryConsumer, failures: number, last: { overlay: SharesOverlay } | null): string {
  const lines: string[] = [];
  const counter = (name: string, help: string, value: number, labels = "") => lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`, `${name}${labels} ${value}`);
  const c = adapter.counters;
  counter("routeplane_adapter_routing_events_total", "Routing events learned from (duplicates excluded).", c.routing);
  counter("routeplane_adapter_feedback_events_total", "Feedback events read.", c.feedback);
  counter("routeplane_adapter_joined_total", "Feedback joined to its routing event and learned from.", c.joined);
  counter("routeplane_adapter_duplicates_total", "Events seen before within the join window, by kind.", c.duplicateRouting, '{kind="routing"}');
  lines.push(`routeplane_adapter_duplicates_total{kind="feedback"} ${c.duplicateFeedback}`);
  counter("routeplane_adapter_late_feedback_total", "Feedback whose routing event did not come within the join window.", c.late);
  counter("routeplane_adapter_unusable_feedback_total", "Feedback without a usable rating or label.", c.unusable);
  counter("routeplane_adapter_failures_learned_total", "Failed answers (5xx after every fallback) learned as quality 0.", c.failures);
  counter("routeplane_adapter_dead_letters_total", "Invalid events sent to the dead-letter topic.", consumer.stats.deadLettered);
  counter("routeplane_adapter_dead_letter_failures_total", "Invalid events that could not be written to the dead-letter topic.", consumer.stats.deadLetterFailures);
  counter("routeplane_adapter_publish_failures_total", "Publish or save attempts that failed.", failures);
  if (last) {
    lines.push("# HELP routeplane_adapter_share The share of each candidate of each adaptive route, as last published.", "# TYPE routeplane_adapter_share gauge");
    for (const [route, shares] of Object.entries(last.overlay.routes)) for (const [model, share] of Object.entries(shares)) lines.push(`routeplane_adapter_share{route=${JSON.stringify(route)},model=${JSON.stringify(model)}} ${share}`);
  }
  return lines.join("\n") + "\n";
}

export async function cmdAdapt(io: Io, flags: AdaptFlags): Promise<number> {
  const running = await startAdapt(io, flags);
  if (typeof running === "number") return running;
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  io.err("routeplane adapt: shutting down (publishing and saving what was learned)");
  await running.stop();
  return exitSoonAfterShutdown(EXIT.ok);
}
