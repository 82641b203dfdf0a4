/**
 * Keeps Mosquitto 2's dynamic-security plugin in step with Doppel's device registry, so an external
 * Mosquitto authenticates devices and enforces the topic ACL itself (DESIGN §8; issue 5 point 3).
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
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';
import type { DeviceSecurityEvent } from '../services/devices/index.ts';
import { dynsecDeviceAcls, type DynsecAcl } from './acl.ts';

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;
/** Prefix of the per-device roles; anything Doppel created carries it, so a reconcile knows what is its own. */
export const DEVICE_ROLE_PREFIX = 'doppel-device-';
export const SERVICE_ROLE = 'doppel-service';
/** Failed dynsec commands (by command name). */
export const DYNSEC_FAILURE_METRIC = 'doppel_dynsec_command_failures_total';

/** Role name of one device. */
export function deviceRole(deviceId: string): string {
  return `${DEVICE_ROLE_PREFIX}${deviceId}`;
}

/** What the reconcile needs to know about one device. */
export interface DeviceSyncRow {
  deviceId: string;
  /** Not disabled and credentials not revoked. */
  active: boolean;
  /** The sealed secret (Device.brokerSecret), null when revoked or never sealed. */
  brokerSecret: string | null;
}

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
  listDevices(after: string | null, limit: number): Promise<DeviceSyncRow[]>;
  /** Decrypts a sealed secret; undefined when it cannot (wrong key, tampered). */
  openSecret(deviceId: string, sealed: string): string | undefined;
}

/** One dynsec command: `{ command: 'createClient', username, … }`. */
export type DynsecCommand = { command: string } & Record<string, unknown>;
export interface DynsecResponse {
  command: string;
  error?: string;
  data?: unknown;
  correlationData?: string;
}

export interface ReconcileReport {
  devices: number;
  createdClients: number;
  createdRoles: number;
  updatedClients: number;
  deletedClients: number;
  deletedRoles: number;
  failures: number;
}

interface BrokerClient {
  username: string;
  roles: Set<string>;
  disabled: boolean;
}

/**
 * The ACLs of Doppel's own broker user: every device topic, both ways. Mosquitto 2.0 checks a shared
 * subscription's filter with its `$share/<group>/` prefix (measured), hence the second pattern.
 */
const SERVICE_ACLS: DynsecAcl[] = [
  { acltype: 'publishClientSend', topic: 'devices/#', allow: true },
  { acltype: 'publishClientReceive', topic: 'devices/#', allow: true },
  { acltype: 'subscribePattern', topic: 'devices/#', allow: true },
  { acltype: 'subscribePattern', topic: '$share/+/devices/#', allow: true },
  { acltype: 'unsubscribePattern', topic: 'devices/#', allow: true },
  { acltype: 'unsubscribePattern', topic: '$share/+/devices/#', allow: true },
];

/** Errors that mean "already so": creating what exists, removing what is gone. */
const HARMLESS: Record<string, RegExp> = {
  createRole: /already exists/i,
  createClient: /already exists/i,
  deleteClient: /not found/i,
  deleteRole: /not found/i,
  addRoleACL: /already exists/i,
};

export function createDynsecSync(options: DynsecSyncOptions) {
  const log = options.logger;
  const pending = new Map<string, { resolve: (r: DynsecResponse[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  let client: MqttClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  let reconciling: Promise<ReconcileReport> | undefined;
  let seq = 0;
  /**
   * Devices changed while a reconcile runs. Its view of them (read before the change) is stale, and
   * sending it after the change's own commands could undo them (say, re-enable a device just disabled):
   * their reconcile commands are dropped, the change's commands stand.
   */
  let touchedDuringReconcile: Set<string> | undefined;
  options.metrics?.describe(DYNSEC_FAILURE_METRIC, 'Mosquitto dynamic-security commands that failed (healed by the next reconcile).');

  function onMessage(topic: string, payload: Buffer): void {
    if (topic !== DYNSEC_RESPONSE_TOPIC) return;
    let body: { responses?: DynsecResponse[] };
    try {
      body = JSON.parse(payload.toString('utf8')) as { responses?: DynsecResponse[] };
    } catch {
      log.warn('unparseable dynamic-security response');
      return;
    }
    const responses = Array.isArray(body.responses) ? body.responses : [];
    // Our correlationData is "<message id>:<index>"; other admins' responses are not ours.
    const id = responses.find((r) => typeof r.correlationData === 'string')?.correlationData?.split(':')[0];
    const waiter = id === undefined ? undefined : pending.get(id);
    if (!waiter || id === undefined) return;
    pending.delete(id);
    clearTimeout(waiter.timer);
    waiter.resolve(responses);
  }

  async function start(): Promise<void> {
    const c = await mqtt.connectAsync(options.url, {
      username: options.username,
      password: options.password,
      clientId: `doppel-dynsec-${randomBytes(6).toString('hex')}`,
      reconnectPeriod: 1000,
      connectTimeout: options.timeoutMs,
      clean: true,
      // Fail start-up when Mosquitto cannot be reached (no retries here); later drops reconnect.
    }, false);
    client = c;
    c.on('message', onMessage);
    c.on('error', (err) => log.warn({ err: err.message }, 'dynamic-security control connection error'));
    await c.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
    // Subscriptions of a clean session die with a dropped connection: renew them on reconnect.
    c.on('connect', () => void c.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 }).catch(() => undefined));
    await reconcile();
    if (options.reconcileIntervalSeconds > 0) {
      timer = setInterval(() => {
        void reconcile().catch((err: unknown) => log.error({ err }, 'periodic dynamic-security reconcile failed'));
      }, options.reconcileIntervalSeconds * 1000);
      timer.unref();
    }
  }

  /** Broker users that are not devices, whatever the device registry says. */
  function isReserved(username: string): boolean {
    return username === options.username || username === options.serviceUser?.username;
  }

  /** Sends one message of commands; resolves with one response per command, in order. */
  function sendOne(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const c = client;
    if (!c) return Promise.reject(new Error('dynamic-security sync is not started'));
    const id = `${process.pid}.${++seq}.${randomBytes(3).toString('hex')}`;
    const body = { commands: commands.map((cmd, i) => ({ ...cmd, correlationData: `${id}:${i}` })) };
    return new Promise<DynsecResponse[]>((resolve, reject) => {
      const t = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`no dynamic-security response within ${options.timeoutMs} ms`));
      }, options.timeoutMs);
      pending.set(id, { resolve, reject, timer: t });
      c.publish(DYNSEC_TOPIC, JSON.stringify(body), { qos: 1 }, (err) => {
        if (!err) return;
        clearTimeout(t);
        pending.delete(id);
        reject(err);
      });
    }).then((responses) => {
      // The plugin answers every command, in order; index by correlationData anyway.
      const byIndex = new Map(responses.map((r) => [Number(r.correlationData?.split(':')[1]), r]));
      return commands.map((cmd, i) => byIndex.get(i) ?? { command: cmd.command, error: 'no response' });
    });
  }

  /** Sends commands in batches; returns the responses. Real errors are logged and counted, harmless ones dropped. */
  async function send(commands: DynsecCommand[]): Promise<{ responses: DynsecResponse[]; failures: number }> {
    const responses: DynsecResponse[] = [];
    let failures = 0;
    for (let i = 0; i < commands.length; i += options.batchSize) {
      const batch = commands.slice(i, i + options.batchSize);
      const answers = await sendOne(batch);
      answers.forEach((r, j) => {
        const cmd = batch[j]!;
        if (r.error && !HARMLESS[cmd.command]?.test(r.error)) {
          failures++;
          options.metrics?.inc(DYNSEC_FAILURE_METRIC, { command: cmd.command });
          log.error({ command: cmd.command, username: cmd.username, rolename: cmd.rolename, error: r.error }, 'dynamic-security command failed');
        }
      });
      responses.push(...answers);
    }
    return { responses, failures };
  }

  function createDeviceCommands(deviceId: string, password: string | undefined, active: boolean, roleExists: boolean): DynsecCommand[] {
    const role = deviceRole(deviceId);
    return [
      ...(roleExists ? [] : [{ command: 'createRole', rolename: role, textname: `Doppel device ${deviceId}`, acls: dynsecDeviceAcls(deviceId) }]),
      {
        command: 'createClient',
        username: deviceId,
        textname: 'Doppel device',
        // Without a password the client exists but cannot connect (revoked credentials).
        ...(password !== undefined ? { password } : {}),
        roles: [{ rolename: role }],
      },
      ...(active ? [] : [{ command: 'disableClient', username: deviceId }]),
    ];
  }

  /**
   * Mirrors one stored change. Never throws: a failure is logged and counted, and the next reconcile
   * heals it (a failing disable is also an error in the log, for the operator).
   */
  async function apply(event: DeviceSecurityEvent): Promise<void> {
    const { deviceId } = event;
    touchedDuringReconcile?.add(deviceId);
    let commands: DynsecCommand[];
    switch (event.type) {
      case 'registered':
        commands = createDeviceCommands(deviceId, event.password, true, false);
        break;
      case 'rotated':
        commands = [
          { command: 'setClientPassword', username: deviceId, password: event.password },
          { command: event.active ? 'enableClient' : 'disableClient', username: deviceId },
        ];
        break;
      case 'revoked':
      case 'disabled':
        commands = [{ command: 'disableClient', username: deviceId }];
        break;
      case 'enabled':
        commands = event.active ? [{ command: 'enableClient', username: deviceId }] : [];
        break;
      case 'deleted':
        commands = [
          { command: 'deleteClient', username: deviceId },
          { command: 'deleteRole', rolename: deviceRole(deviceId) },
        ];
        break;
    }
    if (commands.length === 0) return;
    if (isReserved(deviceId)) {
      log.error({ deviceId }, 'device id is the dynamic-security admin or Doppel server user: not mirrored to Mosquitto');
      return;
    }
    try {
      const { responses } = await send(commands);
      // A rotation for a client missing in Mosquitto: create it with the new secret.
      if (event.type === 'rotated' && /not found/i.test(responses[0]?.error ?? '')) {
        await send(createDeviceCommands(deviceId, event.password, event.active, false));
      }
      // A client of that name is left over from a device deleted while the sync was down: take it over
      // only if it is one of ours (it holds the device role), never some other broker user.
      const created = responses.find((r) => r.command === 'createClient');
      if (event.type === 'registered' && /already exists/i.test(created?.error ?? '')) {
        const [got] = (await send([{ command: 'getClient', username: deviceId }])).responses;
        const roles = (got?.data as { client?: { roles?: Array<{ rolename: string }> } } | undefined)?.client?.roles ?? [];
        if (roles.some((r) => r.rolename === deviceRole(deviceId))) {
          await send([
            { command: 'setClientPassword', username: deviceId, password: event.password },
            { command: 'enableClient', username: deviceId },
          ]);
        } else {
          options.metrics?.inc(DYNSEC_FAILURE_METRIC, { command: 'createClient' });
          log.error({ deviceId }, 'a Mosquitto client that Doppel did not create has this device id: the device cannot connect until it is removed');
        }
      }
    } catch (err) {
      options.metrics?.inc(DYNSEC_FAILURE_METRIC, { command: event.type });
      log.error({ err, deviceId, event: event.type }, 'dynamic-security sync failed; the next reconcile will retry');
    }
  }

  async function listBrokerClients(): Promise<Map<string, BrokerClient>> {
    const clients = new Map<string, BrokerClient>();
    for (let offset = 0; ; ) {
      const [r] = (await send([{ command: 'listClients', verbose: true, count: options.batchSize, offset }])).responses;
      if (r?.error) throw new Error(`listClients failed: ${r.error}`);
      const data = r?.data as { totalCount?: number; clients?: Array<{ username: string; roles?: Array<{ rolename: string }>; disabled?: boolean }> };
      const page = data?.clients ?? [];
      for (const c of page) clients.set(c.username, { username: c.username, roles: new Set((c.roles ?? []).map((x) => x.rolename)), disabled: c.disabled === true });
      offset += page.length;
      if (page.length === 0 || offset >= (data?.totalCount ?? 0)) return clients;
    }
  }

  async function listBrokerRoles(): Promise<Set<string>> {
    const roles = new Set<string>();
    for (let offset = 0; ; ) {
      const [r] = (await send([{ command: 'listRoles', verbose: false, count: options.batchSize, offset }])).responses;
      if (r?.error) throw new Error(`listRoles failed: ${r.error}`);
      const data = r?.data as { totalCount?: number; roles?: Array<string | { rolename: string }> };
      const page = data?.roles ?? [];
      for (const role of page) roles.add(typeof role === 'string' ? role : role.rolename);
      offset += page.length;
      if (page.length === 0 || offset >= (data?.totalCount ?? 0)) return roles;
    }
  }

  /**
   * Makes Mosquitto match the database: creates missing device clients and roles, restores role
   * membership and the disabled state, deletes device clients and roles of devices that no longer
   * exist, and gives Doppel's own user its role. Devices are read and fixed page by page.
   */
  function reconcile(): Promise<ReconcileReport> {
    reconciling ??= (async () => {
      touchedDuringReconcile = new Set();
      try {
        return await reconcileOnce();
      } finally {
        touchedDuringReconcile = undefined;
        reconciling = undefined;
      }
    })();
    return reconciling;
  }

  async function reconcileOnce(): Promise<ReconcileReport> {
    const report: ReconcileReport = { devices: 0, createdClients: 0, createdRoles: 0, updatedClients: 0, deletedClients: 0, deletedRoles: 0, failures: 0 };
    const [clients, roles] = [await listBrokerClients(), await listBrokerRoles()];
    const commands: DynsecCommand[] = [];
    const touched = touchedDuringReconcile!;
    const flush = async (force: boolean) => {
      if (commands.length === 0 || (!force && commands.length < options.batchSize)) return;
      const fresh = commands.splice(0).filter((c) => {
        const id = typeof c.username === 'string' ? c.username : typeof c.rolename === 'string' ? c.rolename.slice(DEVICE_ROLE_PREFIX.length) : undefined;
        return id === undefined || !touched.has(id);
      });
      report.failures += (await send(fresh)).failures;
    };

    if (options.serviceUser) {
      const { username, password } = options.serviceUser;
      if (!roles.has(SERVICE_ROLE)) commands.push({ command: 'createRole', rolename: SERVICE_ROLE, textname: 'Doppel server', acls: SERVICE_ACLS });
      // An existing role may predate an ACL added in a later Doppel version: adding is idempotent.
      else commands.push(...SERVICE_ACLS.map((acl) => ({ command: 'addRoleACL', rolename: SERVICE_ROLE, ...acl })));
      const existing = clients.get(username);
      if (!existing) commands.push({ command: 'createClient', username, password, textname: 'Doppel server', roles: [{ rolename: SERVICE_ROLE }] });
      else if (!existing.roles.has(SERVICE_ROLE)) commands.push({ command: 'addClientRole', username, rolename: SERVICE_ROLE });
    }

    const seen = new Set<string>();
    for (let after: string | null = null; ; ) {
      const page = await options.listDevices(after, options.batchSize);
      if (page.length === 0) break;
      after = page[page.length - 1]!.deviceId;
      for (const device of page) {
        report.devices++;
        seen.add(device.deviceId);
        if (isReserved(device.deviceId)) continue;
        const role = deviceRole(device.deviceId);
        const broker = clients.get(device.deviceId);
        if (!broker) {
          const password = device.brokerSecret ? options.openSecret(device.deviceId, device.brokerSecret) : undefined;
          if (device.brokerSecret && password === undefined) {
            report.failures++;
            log.error({ deviceId: device.deviceId }, 'cannot decrypt the device secret (MQTT_DYNSEC_SECRET_KEY changed?): recreating its client without a password; rotate its credentials');
          }
          commands.push(...createDeviceCommands(device.deviceId, password, device.active, roles.has(role)));
          report.createdClients++;
          if (!roles.has(role)) report.createdRoles++;
        } else if (!broker.roles.has(role)) {
          // Not ours (Doppel's clients always hold their device role): leave another broker user alone.
          report.failures++;
          log.error({ deviceId: device.deviceId }, 'a Mosquitto client that Doppel did not create has this device id; left alone');
        } else {
          if (!roles.has(role)) {
            commands.push({ command: 'createRole', rolename: role, textname: `Doppel device ${device.deviceId}`, acls: dynsecDeviceAcls(device.deviceId) });
            report.createdRoles++;
          }
          if (broker.disabled === device.active) {
            commands.push({ command: device.active ? 'enableClient' : 'disableClient', username: device.deviceId });
            report.updatedClients++;
          }
        }
      }
      await flush(false);
    }

    // Ours (they hold a device role) but unknown to the database: the device was deleted while we were away.
    for (const c of clients.values()) {
      if (seen.has(c.username) || isReserved(c.username)) continue;
      if ([...c.roles].some((r) => r.startsWith(DEVICE_ROLE_PREFIX))) {
        commands.push({ command: 'deleteClient', username: c.username });
        report.deletedClients++;
      }
    }
    for (const role of roles) {
      if (role.startsWith(DEVICE_ROLE_PREFIX) && !seen.has(role.slice(DEVICE_ROLE_PREFIX.length))) {
        commands.push({ command: 'deleteRole', rolename: role });
        report.deletedRoles++;
      }
    }
    await flush(true);
    log.info(report, 'dynamic-security reconcile done');
    return report;
  }

  async function stop(): Promise<void> {
    if (timer) clearInterval(timer);
    timer = undefined;
    await reconciling?.catch(() => undefined);
    for (const [id, w] of pending) {
      clearTimeout(w.timer);
      w.reject(new Error('dynamic-security sync stopped'));
      pending.delete(id);
    }
    await client?.endAsync(true).catch(() => undefined);
    client = undefined;
  }

  return { start, stop, apply, reconcile, send };
}

export type DynsecSync = ReturnType<typeof createDynsecSync>;
