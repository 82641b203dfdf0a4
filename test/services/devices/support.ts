/** A device service on a test database, with a fake of the broker sessions that records what it was asked. */
import type { Database } from '../../../src/db/client.ts';
import { systemActor, type Actor } from '../../../src/domain/principal.ts';
import { createEventBus, type EventBus } from '../../../src/events/bus.ts';
import { createLogger } from '../../../src/logger.ts';
import { createAuditLog } from '../../../src/services/audit.ts';
import { createDeviceService, type DeviceSecurityEvent, type DeviceService, type DeviceServiceOptions } from '../../../src/services/devices/index.ts';
import type { DeviceSessions } from '../../../src/services/ports.ts';

export type SessionCall =
  { call: 'disconnect'; deviceId: string } | { call: 'retireSessions'; deviceId: string; at: number } | { call: 'clearRetained'; deviceId: string };

/** Broker sessions that only remember the calls, in order. */
export function recordingSessions(): DeviceSessions & { calls: SessionCall[] } {
  const calls: SessionCall[] = [];
  return {
    calls,
    async disconnect(deviceId) {
      calls.push({ call: 'disconnect', deviceId });
      return true;
    },
    retireSessions(deviceId, at) {
      calls.push({ call: 'retireSessions', deviceId, at });
    },
    async clearRetained(deviceId) {
      calls.push({ call: 'clearRetained', deviceId });
    },
  };
}

/** An actor of the given tenant, as the console would act. */
export function testActor(tenantId = 'default'): Actor {
  return systemActor(tenantId, 'test');
}

export interface TestDevices {
  devices: DeviceService;
  sessions: ReturnType<typeof recordingSessions>;
  bus: EventBus;
  /** Security events handed to the broker mirror, in order. */
  securityEvents: DeviceSecurityEvent[];
}

export function testDeviceService(db: Database, options: Partial<Pick<DeviceServiceOptions, 'sealSecret'>> = {}): TestDevices {
  const logger = createLogger('silent');
  const sessions = recordingSessions();
  const bus = createEventBus();
  const securityEvents: DeviceSecurityEvent[] = [];
  const devices = createDeviceService({
    db,
    bus,
    logger,
    sessions,
    audit: createAuditLog({ prisma: db.prisma, logger }),
    onSecurityEvent: async (event) => {
      securityEvents.push(event);
    },
    ...options,
  });
  return { devices, sessions, bus, securityEvents };
}
