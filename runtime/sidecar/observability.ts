// OpenTelemetry for the sidecar: a trace per request with a span per stage,
// and the sidecar's metrics as OpenTelemetry instruments, both exported over
// OTLP/HTTP when an endpoint is configured. (/metrics serves the same figures
// in the Prometheus text format without any collector.)
// Every OpenTelemetry package, the API too, loads only in Observability.create:
// a sidecar without an OTLP endpoint does not pay for them.
import type { Attributes, Context, Span, Tracer } from "@opentelemetry/api";
import type { MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";
import type { BasicTracerProvider, SpanExporter } from "@opentelemetry/sdk-trace-base";

/** Figures read when metrics are exported; `delivering` (the telemetry sink's state) only when the caller gives it. */
export interface ObservedGauges {
  revision: string | null;
  dropped: number;
  delivering?: boolean;
}

export interface ObservabilityOptions {
  /** OTLP/HTTP base URL of a collector, e.g. http://127.0.0.1:4318 (traces to /v1/traces, metrics to /v1/metrics). */
  otlpEndpoint?: string;
  /** How often metrics are exported, in ms. */
  metricIntervalMs?: number;
  /** For tests: where spans go instead of OTLP. */
  spanExporter?: SpanExporter;
  serviceName?: string;
}

/** What the request handler records; a no-op when no exporter is configured. */
export interface RequestTrace {
  stage(name: "decide" | "semantic" | "plugins" | "upstream", attributes?: Attributes): Span;
  end(status: number, attributes: Attributes): void;
}

export interface Instruments {
  request(attributes: { route: string; model: string; status: number }): void;
  decision(seconds: number): void;
  upstream(seconds: number, model: string): void;
  fallback(model: string, reason: string): void;
}

type OtelModules = typeof import("@opentelemetry/exporter-metrics-otlp-http") &
  typeof import("@opentelemetry/exporter-trace-otlp-http") &
  typeof import("@opentelemetry/resources") &
  typeof import("@opentelemetry/sdk-metrics") &
  typeof import("@opentelemetry/sdk-trace-base");

export class Observability {
  private readonly tracerProvider: BasicTracerProvider | null;
  private readonly meterProvider: MeterProvider | null;
  private readonly tracer: Tracer | null;
  private readonly api: typeof import("@opentelemetry/api");
  readonly instruments: Instruments | null;

  /**
   * Loads the OpenTelemetry SDK and exporters (only when the sidecar is
   * configured to use them: they are a good part of a second to load).
   */
  static async create(options: ObservabilityOptions, gauges: () => ObservedGauges): Promise<Observability> {
    const [api, metricsExporter, traceExporter, resources, sdkMetrics, sdkTrace] = await Promise.all([
      import("@opentelemetry/api"),
      import("@opentelemetry/exporter-metrics-otlp-http"),
      import("@opentelemetry/exporter-trace-otlp-http"),
      import("@opentelemetry/resources"),
      import("@opentelemetry/sdk-metrics"),
      import("@opentelemetry/sdk-trace-base"),
    ]);
    return new Observability(options, gauges, api, { ...metricsExporter, ...traceExporter, ...resources, ...sdkMetrics, ...sdkTrace });
  }

  private constructor(options: ObservabilityOptions, gauges: () => ObservedGauges, api: typeof import("@opentelemetry/api"), otel: OtelModules) {
    const { OTLPMetricExporter, OTLPTraceExporter, resourceFromAttributes, MeterProvider, PeriodicExportingMetricReader, BasicTracerProvider, BatchSpanProcessor } = otel;
    this.api = api;
    const resource = resourceFromAttributes({ "service.name": options.serviceName ?? "routeplane-sidecar" });
    const exporter = options.spanExporter ?? (options.otlpEndpoint ? new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, "")}/v1/traces` }) : null);
    this.tracerProvider = exporter ? new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 })] }) : null;
    this.tracer = this.tracerProvider?.getTracer("routeplane") ?? null;
    if (options.otlpEndpoint) {
      const reader: MetricReader = new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({ url: `${options.otlpEndpoint.replace(/\/$/, "")}/v1/metrics` }),
        exportIntervalMillis: options.metricIntervalMs ?? 15_000,
      });
      this.meterProvider = new MeterProvider({ resource, readers: [reader] });
      const meter = this.meterProvider.getMeter("routeplane");
      const requests = meter.createCounter("routeplane.requests", { description: "Requests by route, model and HTTP status." });
      const decision = meter.createHistogram("routeplane.decision.duration", { unit: "s", description: "Time to decide a request." });
      const upstream = meter.createHistogram("routeplane.upstream.duration", { unit: "s", description: "Time to the upstream's response headers." });
      const fallbacks = meter.createCounter("routeplane.fallbacks", { description: "Attempts that failed over to the next model." });
      meter.createObservableCounter("routeplane.telemetry.dropped", { description: "Telemetry events dropped because the sink could not keep up." }).addCallback((r) => r.observe(gauges().dropped));
      meter.createObservableGauge("routeplane.telemetry.delivering", { description: "1 while the telemetry sink delivers events, 0 while it cannot." }).addCallback((r) => {
        const delivering = gauges().delivering;
        if (delivering !== undefined) r.observe(delivering ? 1 : 0);
      });
      meter.createObservableGauge("routeplane.bundle.active", { description: "The active bundle (1), by revision." }).addCallback((r) => {
        const revision = gauges().revision;
        if (revision) r.observe(1, { revision });
      });
      this.instruments = {
        request: (a) => requests.add(1, { route: a.route, model: a.model, status: a.status }),
        decision: (s) => decision.record(s),
        upstream: (s, model) => upstream.record(s, { model }),
        fallback: (model, reason) => fallbacks.add(1, { model, reason }),
      };
    } else {
      this.meterProvider = null;
      this.instruments = null;
    }
  }

  /** Starts a request's trace: a server span, and a child span per stage. */
  startRequest(name: string, attributes: Attributes): RequestTrace | null {
    if (!this.tracer) return null;
    const tracer = this.tracer;
    const { SpanKind, SpanStatusCode, trace, ROOT_CONTEXT } = this.api;
    const root = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes });
    const parent: Context = trace.setSpan(ROOT_CONTEXT, root);
    return {
      stage: (stage, attrs) => tracer.startSpan(`routeplane.${stage}`, { attributes: attrs }, parent),
      end: (status, attrs) => {
        root.setAttributes({ ...attrs, "http.response.status_code": status });
        if (status >= 500) root.setStatus({ code: SpanStatusCode.ERROR });
        root.end();
      },
    };
  }

  /** Exports what is pending (tests, shutdown). */
  async flush(): Promise<void> {
    await Promise.all([this.tracerProvider?.forceFlush(), this.meterProvider?.forceFlush()]);
  }

  async shutdown(): Promise<void> {
    await Promise.all([this.tracerProvider?.shutdown(), this.meterProvider?.shutdown()]);
  }
}
