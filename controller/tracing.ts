// OpenTelemetry for the controller: a span per reconcile with a child span
// per stage (read, build, rollout, …), exported over OTLP/HTTP when an
// endpoint is configured. The SDK loads only then.
import type { Tracer } from "@opentelemetry/api";
import type { BasicTracerProvider, SpanExporter } from "@opentelemetry/sdk-trace-base";

export interface ControllerTracing {
  tracer: Tracer;
  shutdown(): Promise<void>;
}

/** A tracer exporting to `otlpEndpoint` (…/v1/traces), or to `exporter` (tests); null when neither is given. */
export async function controllerTracing(options: { otlpEndpoint?: string; exporter?: SpanExporter }): Promise<ControllerTracing | null> {
  if (!options.otlpEndpoint && !options.exporter) return null;
  const [{ BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor }, { resourceFromAttributes }] = await Promise.all([import("@opentelemetry/sdk-trace-base"), import("@opentelemetry/resources")]);
  const exporter = options.exporter ?? new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter({ url: `${options.otlpEndpoint!.replace(/\/$/, "")}/v1/traces` });
  const processor = options.exporter ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 });
  const provider: BasicTracerProvider = new BasicTracerProvider({ resource: resourceFromAttributes({ "service.name": "routeplane-controller" }), spanProcessors: [processor] });
  return { tracer: provider.getTracer("routeplane-controller"), shutdown: () => provider.shutdown() };
}
