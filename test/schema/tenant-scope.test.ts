/**
 * Defense in depth: even if an event or a resolver named a device of another tenant (a bug upstream),
 * the Device object itself refuses to resolve for a caller of another tenant. Executed on the real
 * schema and a real database; the bus event is forged on purpose to play the bug.
 */
import { createRequire } from 'node:module';
import type * as GraphQL from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GraphQLContext } from '../../src/context.ts';
import type { Database } from '../../src/db/client.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { buildSchema } from '../../src/schema/index.ts';
import { openTestDatabase, uniqueDeviceId } from '../support/harness.ts';

// The schema is built with the CommonJS graphql instance (as Yoga runs it); execute with the same one.
const { parse, subscribe } = createRequire(import.meta.url)('graphql') as typeof GraphQL;

let db: Database;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ db, close } = await openTestDatabase());
});
afterAll(async () => {
  await close?.();
});

describe('tenant scope on Device', () => {
  it('a device of another tenant reached through an unfiltered path resolves to FORBIDDEN, not data', async () => {
    const device = await db.prisma.device.create({
      data: { deviceId: uniqueDeviceId('ts'), tenantId: 'tenant-a', secretHash: 'sha256:x', twin: { create: {} } },
    });
    const bus = createEventBus();
    const contextValue = {
      principal: { tokenId: '00000000-0000-4000-8000-000000000001', tenantId: 'tenant-b', role: 'admin', name: 'b', expiresAt: null },
      prisma: db.prisma,
      bus,
    } as unknown as GraphQLContext;
    const stream = await subscribe({
      schema: buildSchema(),
      document: parse('subscription { deviceConnection { deviceId device { deviceId name twin { reported } } } }'),
      contextValue,
    });
    if (!(Symbol.asyncIterator in stream)) throw new Error(`subscribe failed: ${JSON.stringify(stream)}`);
    // The bug being played: an event attributed to tenant-b that points at tenant-a's device.
    bus.publish('deviceConnection', { deviceUuid: device.id, deviceId: device.deviceId, tenantId: 'tenant-b', connected: true, at: Date.now() });
    const value = (await stream.next()).value as GraphQL.ExecutionResult;
    expect(value.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(value.data).toEqual({ deviceConnection: { deviceId: device.deviceId, device: null } });
    await stream.return?.();
  });
});
