/**
 * Mirrors one stored change of a device's security state (registered, rotated, revoked, disabled,
 * enabled, deleted) in Mosquitto, healing the two cases a plain command cannot: a rotation for a
 * client that is missing, and a registration whose client name is left over from earlier.
 */
import type { Logger } from 'pino';
import type { DeviceSecurityEvent } from '../../services/devices/index.ts';
import { createDeviceCommands, getClientCommand, resetPasswordCommands, securityEventCommands } from './commands.ts';
import type { DynsecControl } from './control-client.ts';
import { clientOf, isOurs } from './plan.ts';

export interface SecurityEventApplier {
  /** Never throws: a failure is logged and counted, and the next reconcile heals it. */
  apply: (event: DeviceSecurityEvent) => Promise<void>;
}

export interface SecurityEventApplierOptions {
  control: Pick<DynsecControl, 'send'>;
  log: Logger;
  /** Broker users that are not devices (the admin and Doppel's own user): never mirrored. */
  isReserved: (username: string) => boolean;
  /** Told of every changed device before its commands go out (a running reconcile must not undo them). */
  onChange: (deviceId: string) => void;
  countFailure: (command: string) => void;
}

export function createSecurityEventApplier({ control, log, isReserved, onChange, countFailure }: SecurityEventApplierOptions): SecurityEventApplier {
  /** A client of that name is left over (say, from a device deleted while the sync was down): take it over only if it is ours. */
  async function takeOver(deviceId: string, password: string): Promise<void> {
    const [got] = (await control.send([getClientCommand(deviceId)])).responses;
    const found = clientOf(got?.data);
    if (found && isOurs(found, deviceId)) {
      await control.send(resetPasswordCommands(deviceId, password, true));
    } else {
      countFailure('createClient');
      log.error({ deviceId }, 'a Mosquitto client that Doppel did not create has this device id: the device cannot connect until it is removed');
    }
  }

  return {
    async apply(event) {
      const { deviceId } = event;
      onChange(deviceId);
      const commands = securityEventCommands(event);
      if (commands.length === 0) return;
      if (isReserved(deviceId)) {
        log.error({ deviceId }, 'device id is the dynamic-security admin or Doppel server user: not mirrored to Mosquitto');
        return;
      }
      try {
        const { responses } = await control.send(commands);
        // A rotation for a client missing in Mosquitto: create it with the new secret.
        if (event.type === 'rotated' && /not found/i.test(responses[0]?.error ?? '')) {
          await control.send(createDeviceCommands(deviceId, event.password, event.active, false));
        }
        const created = responses.find((r) => r.command === 'createClient');
        if (event.type === 'registered' && /already exists/i.test(created?.error ?? '')) await takeOver(deviceId, event.password);
      } catch (err) {
        countFailure(event.type);
        log.error({ err, deviceId, event: event.type }, 'dynamic-security sync failed; the next reconcile will retry');
      }
    },
  };
}
