/** Running work inside a span: active for what the work calls (database statements become its children), ended either way. */
import { SpanStatusCode, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE } from '@opentelemetry/semantic-conventions';

/**
 * Runs `fn` in a new active span named `name`; a throw is recorded on the span (exception event,
 * error status, `error.type`) and rethrown. With the no-op tracer this is one extra closure call.
 */
export function withSpan<T>(tracer: Tracer, name: string, options: SpanOptions, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      recordError(span, error);
      throw error;
    } finally {
      span.end();
    }
  });
}

/** Marks a span failed by `error`: an exception event, error status and `error.type` (its class name or code). */
export function recordError(span: Span, error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
  const code = (err as { code?: unknown }).code;
  span.setAttribute(ATTR_ERROR_TYPE, typeof code === 'string' ? code : err.name);
}

/**
 * Attributes of a span for one batch of device messages: how many devices and items (points, ops,
 * acks) it carries. One span per batch, never one per message: a batch holds up to thousands.
 */
export const BATCH_DEVICES_ATTRIBUTE = 'doppel.batch.devices';
export const BATCH_ITEMS_ATTRIBUTE = 'doppel.batch.items';
