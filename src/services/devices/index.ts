/**
 * The device registry: registration and deletion (registry.ts), credentials and the enabled state
 * (credentials.ts), and what the broker asks of it (broker.ts). It never speaks MQTT: open sessions
 * are reached through the {@link DeviceSessions} port, which the app wires to the transport.
 */
import type { Actor } from '../../domain/principal.ts';
import type { Device } from '../../generated/prisma/client.ts';
import { createDeviceBrokerView } from './broker.ts';
import { createBulkRegistration, type BulkRegisterOptions, type BulkRegisterResult } from './bulk.ts';
import { createDeviceCredentialsManager } from './credentials.ts';
import { createDeviceRegistry } from './registry.ts';
import { createDeviceUpdater, type DeviceUpdateInput } from './update.ts';
import type { AuthDecision, BrokerSyncRow, ConnectionState, DeviceServiceOptions, DeviceWithCredentials, RegisterDeviceInput } from './types.ts';

export { MAX_BULK_DEVICES, type BulkRegisterOptions, type BulkRegisterResult, type BulkRowError, type BulkRowResult } from './bulk.ts';
export { MAX_GRACE_PERIOD_SECONDS } from './credentials.ts';
export type { DeviceUpdateInput } from './update.ts';
export { validateRegistration } from './registry.ts';
export type {
  AuthDecision,
  BrokerSyncRow,
  ConnectionState,
  DeviceCredentials,
  DeviceSecurityEvent,
  DeviceServiceOptions,
  DeviceWithCredentials,
  RegisterDeviceInput,
} from './types.ts';
export type { DeviceSessions } from '../ports.ts';

/**
 * Mutations take the acting {@link Actor}: they touch only devices of its tenant and record themselves
 * in the audit log. Refusals are thrown as DoppelErrors (ValidationError, AlreadyExistsError,
 * NotFoundError) for the GraphQL errors plugin to map.
 */
export interface DeviceService {
  /** Registers a device (and its model, on first use) and returns its MQTT credentials, shown once. Audited as `device.register`. */
  register(actor: Actor, input: RegisterDeviceInput): Promise<DeviceWithCredentials>;
  /**
   * Registers up to MAX_BULK_DEVICES devices in one transaction, each row answered (created with its
   * password, or its typed errors), per row or all-or-nothing, or only checked (`dryRun`). Audited as
   * one `device.register` per device. See ./bulk.ts.
   */
  registerMany(actor: Actor, inputs: RegisterDeviceInput[], options?: BulkRegisterOptions): Promise<BulkRegisterResult>;
  /**
   * Renames, retags or moves a device of the actor's tenant to another model (created on first use);
   * fields left undefined keep their value. Audited as `device.update`.
   */
  update(actor: Actor, deviceId: string, input: DeviceUpdateInput): Promise<Device>;
  /**
   * Issues a new secret and clears a revocation. With `gracePeriodSeconds` 0 (the default) the old secret
   * stops working now and open sessions are closed; otherwise it works until the grace period ends, when
   * sessions opened with it are closed. Audited as `device.rotateCredentials`.
   */
  rotateCredentials(actor: Actor, deviceId: string, gracePeriodSeconds?: number): Promise<DeviceWithCredentials>;
  /** No secret works until the next rotation; open sessions are closed at once. Audited as `device.revokeCredentials`. */
  revokeCredentials(actor: Actor, deviceId: string): Promise<Device>;
  /** Refuses the device whatever its secret and closes its sessions, until `enable`. Audited as `device.disable`. */
  disable(actor: Actor, deviceId: string): Promise<Device>;
  /** Lets a disabled device connect again (a revocation still holds). Audited as `device.enable`. */
  enable(actor: Actor, deviceId: string): Promise<Device>;
  /**
   * Deletes a device with its twin, telemetry and commands, closes its sessions and clears what the
   * server retained for it; returns its UUID. Audited as `device.delete`.
   */
  remove(actor: Actor, deviceId: string): Promise<string>;
  /**
   * Broker authentication: the current secret, or the previous one inside its grace period (accepted
   * until `expiresAt`). Disabled devices and revoked credentials are refused whatever the password.
   * A CONNECT its client has `abandoned` by the time of the lookup is left out of it and rejected.
   */
  authenticate(deviceId: string, password: Buffer | undefined, connect?: { abandoned(): boolean }): Promise<AuthDecision>;
  /** Records a connection change (stale events are ignored) and publishes it live. */
  setConnection(deviceId: string, state: ConnectionState, at: number): Promise<void>;
  /** A page of devices by device id, after `after` (exclusive), for an external broker's reconcile. */
  listForBrokerSync(after: string | null, limit: number): Promise<BrokerSyncRow[]>;
}

export function createDeviceService(options: DeviceServiceOptions): DeviceService {
  return {
    ...createDeviceRegistry(options),
    ...createBulkRegistration(options),
    ...createDeviceUpdater(options),
    ...createDeviceCredentialsManager(options),
    ...createDeviceBrokerView(options),
  };
}
