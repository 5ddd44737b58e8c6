// The sidecar's metrics in the Prometheus text format (/metrics): requests by
// route, model and status, decision and upstream latency histograms,
// telemetry sent, dropped and whether it is delivering, bundle rejections and the active revision,
// and (subscribed to a controller) whether it answers and how polls ended.
// Small on purpose: counters and fixed-bucket histograms, label sets kept in
// maps, rendered on scrape.

type Labels = Record<string, string>;

const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
const labelText = (l: Labels) => {
  const keys = Object.keys(l);
  return keys.length ? `{${keys.map((k) => `${k}="${escape(l[k])}"`).join(",")}}` : "";
};

/** A label set's key for lookups: values joined, no escaping (that happens once, at render). */
const keyOf = (l: Labels) => {
  let k = "";
  for (const name in l) k += `${name}\u0000${l[name]}\u0001`;
  return k;
};

class Counter {
  readonly values = new Map<string, { labels: Labels; value: number }>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: Labels = {}, by = 1): void {
    const key = keyOf(labels);
    const v = this.values.get(key);
    if (v) v.value += by;
    else this.values.set(key, { labels, value: by });
  }
  render(): string {
    return family(this.name, "counter", this.help, [...this.values.values()].map((v) => [v.labels, v.value]));
  }
}

class Histogram {
  readonly name: string;
  readonly help: string;
  private readonly buckets: number[];
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(name: string, help: string, buckets: number[]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }
  observe(value: number, labels: Labels = {}): void {
    const key = keyOf(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.counts[i]++;
    s.sum += value;
    s.count++;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join("\n");
  }
}

export class SidecarMetrics {
  readonly requests = new Counter("routeplane_requests_total", "Requests by route, model and HTTP status.");
  readonly decisionSeconds = new Histogram("routeplane_decision_seconds", "Time to decide a request (signals, route, plugins).", [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05]);
  readonly upstreamSeconds = new Histogram("routeplane_upstream_seconds", "Time to the upstream's response headers, by model.", [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30]);
  readonly fallbacks = new Counter("routeplane_fallbacks_total", "Attempts that failed over to the next model, by model and reason.");
  /** Read at scrape time: telemetry sink figures and the active revision. */
  gauges: () => { revision: string | null; rejections?: number; persistFailures?: number; sharesRefused?: number; telemetry: { sent: number; dropped: number; queued: number; failures?: number; problem?: string | null }; semantic?: Record<string, number>; cache?: { outcomes: Record<string, number>; entries: number; bytes: number }; controller?: { connected: boolean; polls: Record<string, number> } } = () => ({ revision: null, telemetry: { sent: 0, dropped: 0, queued: 0 } });

  render(): string {
    const g = this.gauges();
    const parts = [
      this.requests.render(),
      this.decisionSeconds.render(),
      this.upstreamSeconds.render(),
      this.fallbacks.render(),
      // Figures read at scrape time.
      family("routeplane_bundle_rejections_total", "counter", "Bundles that failed verification and were not activated.", [[{}, g.rejections ?? 0]]),
      family("routeplane_shares_refused_total", "counter", "Learned shares of adaptive routes refused: malformed, for another policy revision, or outside a route's bounds (the reason is in /readyz and the log).", [[{}, g.sharesRefused ?? 0]]),
      family("routeplane_bundle_persist_failures_total", "counter", "Activated bundles that could not be kept as the last known good (state directory unusable).", [[{}, g.persistFailures ?? 0]]),
      family("routeplane_telemetry_events_total", "counter", "Telemetry events handed to the sink, by outcome.", [[{ outcome: "sent" }, g.telemetry.sent], [{ outcome: "dropped" }, g.telemetry.dropped]]),
      family("routeplane_telemetry_queued", "gauge", "Telemetry events waiting for the sink.", [[{}, g.telemetry.queued]]),
      family("routeplane_telemetry_delivering", "gauge", "1 while the telemetry sink delivers events, 0 while it cannot (the reason is in /readyz and the log).", [[{}, g.telemetry.problem ? 0 : 1]]),
      family("routeplane_telemetry_failures_total", "counter", "Failed telemetry delivery attempts (writes, batches, connections).", [[{}, g.telemetry.failures ?? 0]]),
      family("routeplane_bundle_info", "gauge", "The active bundle (value 1), by revision.", g.revision ? [[{ revision: g.revision }, 1]] : []),
      ...(g.semantic
        ? [family("routeplane_semantic_calls_total", "counter", "Embedding calls for model-backed signals and the response cache, by outcome (timeout and error fall back to the offline stand-ins).", Object.entries(g.semantic).map(([outcome, n]) => [{ outcome }, n]))]
        : []),
      ...(g.cache
        ? [
            family("routeplane_cache_lookups_total", "counter", "Requests whose route applies a cache plugin, by outcome: exact or similar hit, miss, or skipped (a stream, or personal data in the request).", Object.entries(g.cache.outcomes).map(([outcome, n]) => [{ outcome }, n])),
            family("routeplane_cache_entries", "gauge", "Answers in the response cache.", [[{}, g.cache.entries]]),
            family("routeplane_cache_bytes", "gauge", "Bytes the response cache holds (answers at 2 a UTF-16 unit, vectors at 8 a component).", [[{}, g.cache.bytes]]),
          ]
        : []),
      ...(g.controller
        ? [
          family("routeplane_controller_connected", "gauge", "1 while the controller answers the sidecar's polls, 0 while it cannot be reached or refuses them (the reason is in /readyz and the log).", [[{}, g.controller.connected ? 1 : 0]]),
          family("routeplane_controller_polls_total", "counter", "Polls of the controller, by outcome: accepted (ACK), rejected (NACK), not_modified, error (no usable answer; retried with backoff).", Object.entries(g.controller.polls).map(([outcome, n]) => [{ outcome }, n])),
        ]
        : []),
    ];
    return parts.join("\n") + "\n";
  }
}

/** One metric family in the text format: HELP, TYPE, and a line per label set. */
function family(name: string, type: "counter" | "gauge", help: string, samples: [Labels, number][]): string {
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([labels, value]) => `${name}${labelText(labels)} ${value}`)].join("\n");
}
