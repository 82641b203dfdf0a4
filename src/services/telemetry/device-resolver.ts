/**
 * Device id → store key (the device's uuid) and tenant, cached: every batch needs them, and devices
 * rarely change. Devices can be deleted (and registered again under a new uuid), so the cache can go
 * stale; the writer notices (its statement joins "Device" on the uuid and reports the uuids it did not
 * find), and the batch store then `refresh`es those ids.
 */
import type { SqlExecutor } from '../../db/client.ts';

/** Where a device's rows go, and whose they are. */
export interface DeviceRef {
  uuid: string;
  tenantId: string;
}

export interface DeviceResolver {
  /** The cached reference, if the device was resolved and not forgotten since. */
  lookup(deviceId: string): DeviceRef | undefined;
  /** Resolves the ids not cached yet, in one query. Ids of devices that do not exist stay unknown. */
  resolve(deviceIds: readonly string[]): Promise<void>;
  /**
   * Forgets these ids and resolves them again; answers the ids that now resolve to a different uuid
   * (deleted and registered again), whose points are worth writing once more.
   */
  refresh(deviceIds: readonly string[]): Promise<Set<string>>;
  /** Drops these ids from the cache (after a failed write, or when the device is gone). */
  forget(deviceIds: Iterable<string>): void;
}

/** Enough for every device of a large fleet; beyond it the oldest entries make room. */
const MAX_CACHED_DEVICES = 100_000;

export function createDeviceResolver(sql: SqlExecutor): DeviceResolver {
  const devices = new Map<string, DeviceRef>();

  const resolver: DeviceResolver = {
    lookup(deviceId) {
      return devices.get(deviceId);
    },

    async resolve(deviceIds) {
      const unknown = deviceIds.filter((id) => !devices.has(id));
      if (unknown.length === 0) return;
      const rows = await sql.query<{ id: string; deviceId: string; tenantId: string }>(
        `SELECT id::text AS id, "deviceId", "tenantId" FROM "Device" WHERE "deviceId" = ANY($1::text[])`,
        [unknown],
      );
      for (const row of rows) {
        if (devices.size >= MAX_CACHED_DEVICES) devices.delete(devices.keys().next().value as string);
        devices.set(row.deviceId, { uuid: row.id, tenantId: row.tenantId });
      }
    },

    async refresh(deviceIds) {
      const before = new Map(deviceIds.map((id) => [id, devices.get(id)?.uuid]));
      resolver.forget(deviceIds);
      await resolver.resolve(deviceIds);
      return new Set(deviceIds.filter((id) => devices.has(id) && devices.get(id)!.uuid !== before.get(id)));
    },

    forget(deviceIds) {
      for (const id of deviceIds) devices.delete(id);
    },
  };
  return resolver;
}
