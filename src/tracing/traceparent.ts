/**
 * W3C Trace Context `traceparent` values (https://www.w3.org/TR/trace-context/#traceparent-header):
 * how a command remembers the span that sent it, so its ack — on any instance, after any restart —
 * links back to it. Version 00 only; anything else reads as no context.
 */
import { context, isSpanContextValid, trace, TraceFlags, type Link, type SpanContext } from '@opentelemetry/api';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function formatTraceparent(span: SpanContext): string {
  return `00-${span.traceId}-${span.spanId}-${(span.traceFlags & TraceFlags.SAMPLED).toString(16).padStart(2, '0')}`;
}

/** The span context a traceparent names, marked remote; undefined for a malformed or all-zero one. */
export function parseTraceparent(value: string | null | undefined): SpanContext | undefined {
  const match = value ? TRACEPARENT.exec(value) : null;
  if (!match) return undefined;
  const span: SpanContext = { traceId: match[1]!, spanId: match[2]!, traceFlags: Number.parseInt(match[3]!, 16), isRemote: true };
  return isSpanContextValid(span) ? span : undefined;
}

/** The traceparent of the span active now, or null when there is none (tracing off, or no span). */
export function traceparentOfActiveSpan(): string | null {
  const span = trace.getSpanContext(context.active());
  return span && isSpanContextValid(span) ? formatTraceparent(span) : null;
}

/** A span link to the span a stored traceparent names, with attributes saying why; undefined without one. */
export function linkFromTraceparent(value: string | null | undefined, attributes?: Link['attributes']): Link | undefined {
  const span = parseTraceparent(value);
  return span ? { context: span, ...(attributes ? { attributes } : {}) } : undefined;
}
