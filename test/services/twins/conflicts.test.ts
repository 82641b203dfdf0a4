/**
 * A twin write that keeps losing the revision race (another instance writes the same twin every time)
 * is a lost race, not a poison op: it fails transiently, so the bridge leaves the message
 * unacknowledged for the broker to deliver again, and it is never dead-lettered.
 */
import { describe, expect, it } from 'vitest';
import { classifyFailure } from '../../../src/domain/faults.ts';
import { emptySection, type TwinLimits } from '../../../src/domain/twin.ts';
import { createLogger } from '../../../src/logger.ts';
import { Metrics } from '../../../src/metrics.ts';
import { createStoreRetry } from '../../../src/services/store-retry.ts';
import { createTwinBatchProcessor, MAX_CONFLICT_RETRIES } from '../../../src/services/twins/batch.ts';
import type { WorkingTwin } from '../../../src/services/twins/types.ts';
import { loadConfig } from '../../../src/config.ts';

const limits: TwinLimits = loadConfig({}).twinLimits;

function loadedTwin(deviceId: string): WorkingTwin {
  return {
    deviceUuid: `uuid-${deviceId}`,
    deviceId,
    tenantId: 'tenant',
    revision: '1',
    version: 1,
    reported: emptySection(),
    desired: emptySection(),
    delta: {},
    deltaBefore: '{}',
    updatedAt: new Date(0),
    dirty: false,
    modelId: null,
    modelVersion: null,
  };
}

describe('twin batch conflicts', () => {
  it('a twin that conflicts on every attempt fails transiently, after the bounded retries', async () => {
    const logger = createLogger('silent');
    let loads = 0;
    const processor = createTwinBatchProcessor({
      loader: {
        load: (ids) => {
          loads++;
          return Promise.resolve(new Map(ids.map((id) => [id, loadedTwin(id)])));
        },
        readDelta: () => Promise.resolve(null),
      } as Parameters<typeof createTwinBatchProcessor>[0]['loader'],
      // "contended" never gets written (another writer moved its revision each time); "calm" does.
      writer: { write: (dirty) => Promise.resolve(new Set(dirty.filter((t) => t.deviceId !== 'contended').map((t) => t.deviceUuid))) },
      announcer: { onDeltaChanged: () => undefined, announce: () => undefined, drain: () => Promise.resolve() },
      limits,
      logger,
      retry: createStoreRetry({ kind: 'twins', logger, metrics: new Metrics() }),
      now: () => 1_700_000_000_000,
    });
    const patch = (deviceId: string) => ({
      kind: 'patch' as const,
      receivedAt: 1,
      request: { deviceId, section: 'reported' as const, patch: { a: 1 }, source: 'device' as const },
    });

    const error = await processor.process([patch('calm'), patch('contended')]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/kept conflicting for contended/);
    expect(classifyFailure(error)).toBe('transient');
    expect(loads).toBeGreaterThan(MAX_CONFLICT_RETRIES);
  });
});
