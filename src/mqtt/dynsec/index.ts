/**
 * Keeps Mosquitto 2's dynamic-security plugin in step with Doppel's device registry, so an external
 * Mosquitto authenticates devices and enforces the topic ACL itself (docs/security.md).
 *
 * Commands go as JSON to `$CONTROL/dynamic-security/v1` over an MQTT connection of a dynsec admin
 * client; the plugin answers on `$CONTROL/dynamic-security/v1/response`, one response per command,
 * matched here by `correlationData`. Several commands travel in one message (`batchSize`).
 *
 * Model in Mosquitto, per device: a client whose username is the device id and whose password is the
 * device secret, holding one role `doppel-device-<id>` whose ACLs come from acl.ts (dynsecDeviceAcls).
 * A client without that role is not Doppel's and is never touched (nor are the admin and server users).
 * A disabled device, or one whose credentials are revoked, is a disabled client (disableClient also
 * kicks it off at once). Doppel's own broker user (MQTT_USERNAME) gets the role `doppel-service`.
 *
 * What Mosquitto 2.0.11 does, measured (test/e2e/dynsec.test.ts): `setClientPassword`, `disableClient`
 * and `deleteClient` disconnect the client's open session; a client with no password cannot connect;
 * `addClientRole` for a role the client already has answers "Internal error".
 *
 * Passwords: the plugin only accepts plaintext and keeps one password per client. So:
 * - registration and rotation send the new secret as they return it;
 * - a reconcile can only recreate a client deleted behind our back if it can recover the secret, which
 *   is why, with this sync on, Doppel stores the current secret encrypted with MQTT_DYNSEC_SECRET_KEY
 *   (`Device.brokerSecret`; the key never enters the database);
 * - a rotation grace period cannot be honoured by Mosquitto (one password per client, and the username
 *   must stay the device id, so a second client is no way out): the new secret replaces the old one in
 *   Mosquitto at once and the open session is closed. The grace period holds on the embedded broker and
 *   through the HTTP auth endpoints. Documented in docs/brokers.md.
 * - reconcile does not re-set the password of a client that exists, because that disconnects it: a
 *   restart of Doppel would otherwise drop every device. It restores missing clients and roles and
 *   the enabled/disabled state, and removes devices Doppel no longer knows.
 *
 * Parts: protocol.ts (wire format), commands.ts (command builders), plan.ts (what a reconcile
 * changes), control-client.ts (the admin connection), apply.ts (one change), reconcile.ts (the whole).
 */
import type { Logger } from 'pino';
import type { Metrics } from '../../metrics.ts';
import { periodic } from '../../periodic.ts';
import type { DeviceSecurityEvent } from '../../services/devices/index.ts';
import { createSecurityEventApplier } from './apply.ts';
import { createDynsecControl, type SendResult } from './control-client.ts';
import type { ReconcileReport } from './plan.ts';
import type { DynsecCommand } from './protocol.ts';
import { createReconciler, type DeviceSyncRow } from './reconcile.ts';

export { DEVICE_ROLE_PREFIX, deviceRole, SERVICE_ROLE } from './commands.ts';
export type { SendResult } from './control-client.ts';
export type { ReconcileReport } from './plan.ts';
export { DYNSEC_RESPONSE_TOPIC, DYNSEC_TOPIC, type DynsecCommand, type DynsecResponse } from './protocol.ts';
export type { DeviceSyncRow } from './reconcile.ts';

/** Failed dynsec commands (by command name). */
export const DYNSEC_FAILURE_METRIC = 'doppel_dynsec_command_failures_total';

export interface DynsecSyncOptions {
  url: string;
  username: string;
  password: string;
  logger: Logger;
  metrics?: Metrics;
  /** Commands per control message; also the page size when reading devices and Mosquitto clients. */
  batchSize: number;
  /** How long to wait for the plugin's answer to one control message. */
  timeoutMs: number;
  /** Reconcile every this many seconds after start (0 = only at start). */
  reconcileIntervalSeconds: number;
  /** Doppel's own broker user (MQTT_USERNAME / MQTT_PASSWORD): created if missing and given {@link SERVICE_ROLE}. */
  serviceUser?: { username: string; password: string };
  /** Devices ordered by deviceId, after `after` (exclusive), at most `limit`. */
  listDevices: (after: string | null, limit: number) => Promise<DeviceSyncRow[]>;
  /** Decrypts a sealed secret; undefined when it cannot (wrong key, tampered). */
  openSecret: (deviceId: string, sealed: string) => string | undefined;
}

export interface DynsecSync {
  /**
   * Connects as the dynsec admin, reconciles once, then every `reconcileIntervalSeconds`. Rejects when
   * Mosquitto cannot be reached, refuses the login, or the first reconcile cannot list its clients.
   */
  start(): Promise<void>;
  /** Stops the periodic reconcile, waits for a running one, rejects requests still waiting and disconnects. */
  stop(): Promise<void>;
  /**
   * Mirrors one stored change of a device (the devices service's `onSecurityEvent`). Never throws: a
   * failure is logged and counted, and the next reconcile heals it.
   */
  apply(event: DeviceSecurityEvent): Promise<void>;
  /** Mirrors many stored changes at once (a bulk registration), batched like a reconcile. Never throws. */
  applyMany(events: DeviceSecurityEvent[]): Promise<void>;
  /** Makes Mosquitto match the database now; a call while one runs shares it. */
  reconcile(): Promise<ReconcileReport>;
  /** Sends raw commands in batches, counting and logging real failures (control-client.ts): for tools and tests. */
  send(commands: DynsecCommand[]): Promise<SendResult>;
}

export function createDynsecSync(options: DynsecSyncOptions): DynsecSync {
  const log = options.logger;
  const { metrics } = options;
  metrics?.describe(DYNSEC_FAILURE_METRIC, 'Mosquitto dynamic-security commands that failed (healed by the next reconcile).');
  const countFailure = (command: string) => metrics?.inc(DYNSEC_FAILURE_METRIC, { command });
  /** Broker users that are not devices, whatever the device registry says. */
  const isReserved = (username: string) => username === options.username || username === options.serviceUser?.username;

  const control = createDynsecControl({
    url: options.url,
    username: options.username,
    password: options.password,
    log,
    batchSize: options.batchSize,
    timeoutMs: options.timeoutMs,
    countFailure,
  });
  const reconciler = createReconciler({
    control,
    log,
    batchSize: options.batchSize,
    ...(options.serviceUser ? { serviceUser: options.serviceUser } : {}),
    isReserved,
    listDevices: options.listDevices,
    openSecret: options.openSecret,
  });
  const applier = createSecurityEventApplier({ control, log, isReserved, onChange: reconciler.touch, countFailure });
  /** The periodic reconcile of the current start(), when configured. */
  let job: ReturnType<typeof periodic> | undefined;
  return {
    async start() {
      await control.connect();
      await reconciler.reconcile();
      if (options.reconcileIntervalSeconds > 0) {
        job = periodic({
          intervalMs: options.reconcileIntervalSeconds * 1000,
          run: () => reconciler.reconcile(),
          onError: (err) => log.error({ err }, 'periodic dynamic-security reconcile failed'),
        });
        job.start();
      }
    },
    async stop() {
      await job?.stop();
      job = undefined;
      await reconciler.settled();
      await control.close();
    },
    apply: applier.apply,
    applyMany: applier.applyMany,
    reconcile: reconciler.reconcile,
    send: control.send,
  };
}
