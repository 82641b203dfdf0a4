/**
 * OpenTelemetry tracing (docs/operations.md, "Tracing"). Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set:
 * then every span goes through a BatchSpanProcessor to an OTLP/HTTP exporter, and `service.name` is
 * OTEL_SERVICE_NAME. Off means no tracer provider at all: `tracer` is the API's no-op tracer, and the
 * database is not wrapped (src/db/client.ts), so a server without tracing pays nothing for it.
 *
 * The provider is this server's own, never registered as the global one: two servers in one process
 * (tests) each keep their spans. What is global is the context manager (src/tracing/context.ts), so a
 * span started inside another's callback is its child across awaits.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { enableAsyncContext } from './context.ts';

export { formatTraceparent, linkFromTraceparent, parseTraceparent, traceparentOfActiveSpan } from './traceparent.ts';
export { BATCH_DEVICES_ATTRIBUTE, BATCH_ITEMS_ATTRIBUTE, recordError, withSpan } from './spans.ts';

/** The instrumentation scope every Doppel span carries. */
export const TRACER_NAME = 'doppel';

export interface TracingOptions {
  /** The OTLP/HTTP collector and service name (Config['tracing']); undefined leaves tracing off. */
  config: { endpoint: string; serviceName: string } | undefined;
  /**
   * An exporter to use instead of OTLP (tests pass an InMemorySpanExporter). It turns tracing on even
   * without a config, and spans are exported one by one as they end, so a test reads them at once.
   */
  exporter?: SpanExporter;
}

export interface Tracing {
  /** True when spans are recorded; false: `tracer` is the no-op tracer. */
  enabled: boolean;
  tracer: Tracer;
  /** Exports what is buffered and stops the exporter; the last thing a server does when it stops. */
  shutdown(): Promise<void>;
}

export function createTracing(options: TracingOptions): Tracing {
  const { config, exporter } = options;
  if (!config && !exporter) return { enabled: false, tracer: trace.getTracer(TRACER_NAME), shutdown: async () => {} };
  enableAsyncContext();
  const processor = exporter
    ? new SimpleSpanProcessor(exporter)
    : // The spec's generic endpoint gets the signal path appended; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
      // headers, timeout and compression the exporter reads from the environment itself.
      new BatchSpanProcessor(new OTLPTraceExporter(process.env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? {} : { url: tracesUrl(config!.endpoint) }));
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: config?.serviceName ?? TRACER_NAME }),
    spanProcessors: [processor],
  });
  return {
    enabled: true,
    tracer: provider.getTracer(TRACER_NAME),
    shutdown: () => provider.shutdown(),
  };
}

/** `<endpoint>/v1/traces`, as the OTLP exporter specification builds it from the generic endpoint. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}
