/** The tracing module alone: off costs a no-op tracer, traceparents round-trip, statements are named without values. */
import { TraceFlags } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { describeStatement, traceStatement } from '../../src/tracing/database.ts';
import { createTracing, formatTraceparent, linkFromTraceparent, parseTraceparent, tracesUrl, withSpan } from '../../src/tracing/index.ts';

describe('tracing', () => {
  it('is off without an endpoint or exporter: the no-op tracer records nothing', async () => {
    const tracing = createTracing({ config: undefined });
    expect(tracing.enabled).toBe(false);
    const span = tracing.tracer.startSpan('x');
    expect(span.isRecording()).toBe(false);
    span.end();
    await tracing.shutdown();
  });

  it('sends to <endpoint>/v1/traces, as the OTLP specification builds it', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl('http://collector:4318/')).toBe('http://collector:4318/v1/traces');
  });

  it('round-trips a traceparent and refuses malformed or all-zero ones', () => {
    const span = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: TraceFlags.SAMPLED };
    const value = formatTraceparent(span);
    expect(value).toBe('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
    expect(parseTraceparent(value)).toEqual({ ...span, isRemote: true });
    for (const bad of [null, '', 'garbage', '01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', `00-${'0'.repeat(32)}-b7ad6b7169203331-01`]) {
      expect(parseTraceparent(bad)).toBeUndefined();
      expect(linkFromTraceparent(bad)).toBeUndefined();
    }
  });

  it('names statements by operation and table, never by their values', () => {
    expect(describeStatement(`SELECT c.id FROM "Command" c WHERE id = $1`)).toEqual({ operation: 'SELECT', table: 'Command' });
    expect(describeStatement(`  -- why\n insert into "TelemetryPoint" (a) VALUES ($1)`)).toEqual({ operation: 'INSERT', table: 'TelemetryPoint' });
    expect(describeStatement(`UPDATE public."Device" SET x = 'secret'`)).toEqual({ operation: 'UPDATE', table: 'public.Device' });
    expect(describeStatement(`WITH a AS (SELECT 1) SELECT * FROM a`)).toEqual({ operation: 'WITH', table: undefined });
  });

  it('records a failed statement and a failed span as errors, and rethrows', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ config: undefined, exporter });
    await expect(
      withSpan(tracing.tracer, 'outer', {}, () =>
        traceStatement(tracing.tracer, 'DELETE FROM "Device"', () => Promise.reject(Object.assign(new Error('boom'), { code: '40P01' }))),
      ),
    ).rejects.toThrow('boom');
    const [statement, outer] = exporter.getFinishedSpans();
    expect(statement!.name).toBe('DELETE Device');
    expect(statement!.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'db.operation.name': 'DELETE', 'error.type': '40P01' });
    expect(statement!.parentSpanContext?.spanId).toBe(outer!.spanContext().spanId);
    expect(outer!.status.code).toBe(2);
    await tracing.shutdown();
  });
});
