/**
 * The reconcile: makes Mosquitto match the database. Creates missing device clients and roles,
 * restores the disabled state, deletes device clients and roles of devices that no longer exist, and
 * gives Doppel's own user its role. Devices are read and fixed page by page; what to change is
 * plan.ts' decision.
 */
import type { Logger } from 'pino';
import { deviceOfCommand, deviceRole, listPageCommand } from './commands.ts';
import type { DynsecControl } from './control-client.ts';
import { clientsPage, isOurs, planDevice, planOrphans, planServiceUser, rolesPage, tally, type BrokerClient, type Page, type ReconcileReport } from './plan.ts';
import type { DynsecCommand } from './protocol.ts';

/** What the reconcile needs to know about one device. */
export interface DeviceSyncRow {
  deviceId: string;
  /** Not disabled and credentials not revoked. */
  active: boolean;
  /** The sealed secret (Device.brokerSecret), null when revoked or never sealed. */
  brokerSecret: string | null;
}

export interface Reconciler {
  /** One reconcile; a call while one runs shares it. Rejects when the broker's clients or roles cannot be listed. */
  reconcile: () => Promise<ReconcileReport>;
  /**
   * A device changed while a reconcile may run. Its view of the device (read before the change) is
   * stale, and sending it after the change's own commands could undo them (say, re-enable a device
   * just disabled): its reconcile commands are dropped, the change's commands stand.
   */
  touch: (deviceId: string) => void;
  /** Settles once the running reconcile, if any, has; never rejects. */
  settled: () => Promise<void>;
}

export interface ReconcilerOptions {
  control: Pick<DynsecControl, 'send'>;
  log: Logger;
  /** Commands per control message; also the page size when reading devices and Mosquitto clients. */
  batchSize: number;
  serviceUser?: { username: string; password: string };
  isReserved: (username: string) => boolean;
  /** Devices ordered by deviceId, after `after` (exclusive), at most `limit`. */
  listDevices: (after: string | null, limit: number) => Promise<DeviceSyncRow[]>;
  /** Decrypts a sealed secret; undefined when it cannot (wrong key, tampered). */
  openSecret: (deviceId: string, sealed: string) => string | undefined;
}

export function createReconciler(options: ReconcilerOptions): Reconciler {
  const { control, log, batchSize, isReserved } = options;
  let reconciling: Promise<ReconcileReport> | undefined;
  let touched: Set<string> | undefined;

  /** Every page of `listClients` or `listRoles`. */
  async function listAll<T>(what: 'listClients' | 'listRoles', read: (data: unknown) => Page<T>): Promise<T[]> {
    const all: T[] = [];
    for (let offset = 0; ;) {
      const [r] = (await control.send([listPageCommand(what, batchSize, offset)])).responses;
      if (r?.error) throw new Error(`${what} failed: ${r.error}`);
      const { items, totalCount } = read(r?.data);
      all.push(...items);
      offset += items.length;
      if (items.length === 0 || offset >= totalCount) return all;
    }
  }

  /** The secret to recreate a device's client with; undefined (counted, logged) when it cannot be recovered. */
  function recoverPassword(device: DeviceSyncRow, report: ReconcileReport): string | undefined {
    const password = device.brokerSecret ? options.openSecret(device.deviceId, device.brokerSecret) : undefined;
    if (device.brokerSecret && password === undefined) {
      report.failures++;
      log.error(
        { deviceId: device.deviceId },
        'cannot decrypt the device secret (MQTT_DYNSEC_SECRET_KEY changed?): recreating its client without a password; rotate its credentials',
      );
    }
    return password;
  }

  async function reconcileOnce(changed: ReadonlySet<string>): Promise<ReconcileReport> {
    const report: ReconcileReport = { devices: 0, createdClients: 0, createdRoles: 0, updatedClients: 0, deletedClients: 0, deletedRoles: 0, failures: 0 };
    const clientList = await listAll('listClients', clientsPage);
    const roles = new Set(await listAll('listRoles', rolesPage));
    const clients = new Map<string, BrokerClient>(clientList.map((c) => [c.username, c]));
    const commands: DynsecCommand[] = [];
    const flush = async (force: boolean) => {
      if (commands.length === 0 || (!force && commands.length < batchSize)) return;
      const fresh = commands.splice(0).filter((c) => {
        const deviceId = deviceOfCommand(c);
        return deviceId === undefined || !changed.has(deviceId);
      });
      report.failures += (await control.send(fresh)).failures;
    };

    if (options.serviceUser) commands.push(...planServiceUser(options.serviceUser, clients, roles));

    const seen = new Set<string>();
    for (let after: string | null = null; ;) {
      const page = await options.listDevices(after, batchSize);
      if (page.length === 0) break;
      after = page[page.length - 1]!.deviceId;
      for (const device of page) {
        report.devices++;
        seen.add(device.deviceId);
        if (isReserved(device.deviceId)) continue;
        const broker = clients.get(device.deviceId);
        if (broker && !isOurs(broker, device.deviceId)) {
          // Not ours (Doppel's clients always hold their device role): leave another broker user alone.
          report.failures++;
          log.error({ deviceId: device.deviceId }, 'a Mosquitto client that Doppel did not create has this device id; left alone');
          continue;
        }
        const plan = planDevice(device, broker, roles.has(deviceRole(device.deviceId)), broker ? undefined : recoverPassword(device, report));
        commands.push(...plan.commands);
        tally(report, plan.counts);
      }
      await flush(false);
    }

    const orphans = planOrphans(clients.values(), roles, seen, isReserved);
    commands.push(...orphans.commands);
    tally(report, orphans.counts);
    await flush(true);
    log.info(report, 'dynamic-security reconcile done');
    return report;
  }

  return {
    reconcile() {
      reconciling ??= (async () => {
        const changed = (touched = new Set());
        try {
          return await reconcileOnce(changed);
        } finally {
          touched = undefined;
          reconciling = undefined;
        }
      })();
      return reconciling;
    },
    touch: (deviceId) => void touched?.add(deviceId),
    settled: async () => void (await reconciling?.catch(() => undefined)),
  };
}
