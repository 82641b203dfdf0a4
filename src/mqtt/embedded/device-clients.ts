/**
 * Which clients each device has connected. A device may hold several connections at once (different
 * client ids); it is connected while any of them is. Pure bookkeeping, no I/O.
 */

/** What removing a client changed. */
export type ClientRemoval = 'untracked' | 'remaining' | 'last';

export interface DeviceClients<C> {
  /** Tracks `client` under `deviceId`; `true` when it is the device's first. */
  add(deviceId: string, client: C): boolean;
  /** Stops tracking `client`: `'last'` when the device has no client left, `'untracked'` when it was not tracked. */
  remove(deviceId: string, client: C): ClientRemoval;
  /** The device's connected clients, a snapshot. */
  of(deviceId: string): C[];
}

export function createDeviceClients<C>(): DeviceClients<C> {
  const byDevice = new Map<string, Set<C>>();
  return {
    add(deviceId, client) {
      let set = byDevice.get(deviceId);
      if (!set) byDevice.set(deviceId, (set = new Set()));
      set.add(client);
      return set.size === 1;
    },
    remove(deviceId, client) {
      const set = byDevice.get(deviceId);
      if (!set?.delete(client)) return 'untracked';
      if (set.size > 0) return 'remaining';
      byDevice.delete(deviceId);
      return 'last';
    },
    of: (deviceId) => [...(byDevice.get(deviceId) ?? [])],
  };
}
