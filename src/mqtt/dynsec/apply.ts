/**
 * Mirrors one stored change of a device's security state (registered, rotated, revoked, disabled,
 * enabled, deleted) in Mosquitto, healing the two cases a plain command cannot: a rotation for a
 * client that is missing, and a registration whose client name is left over from earlier.
 */
import type { Logger } from 'pino';
import type { DeviceSecurityEvent } from '../../services/devices/index.ts';
import { createDeviceCommands, getClientCommand, resetPasswordCommands, securityEventCommands } from './commands.ts';
import type { DynsecControl } from './control-client.ts';
import type { DynsecCommand, DynsecResponse } from './protocol.ts';
import { clientOf, isOurs } from './plan.ts';

export interface SecurityEventApplier {
  /** Never throws: a failure is logged and counted, and the next reconcile heals it. */
  apply: (event: DeviceSecurityEvent) => Promise<void>;
  /** Many changes (a bulk registration): their commands travel together, `batchSize` per message. Never throws. */
  applyMany: (events: DeviceSecurityEvent[]) => Promise<void>;
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

  /** After the commands of `event` were answered with `responses`: heal what a plain command cannot. */
  async function heal(event: DeviceSecurityEvent, responses: DynsecResponse[]): Promise<void> {
    const { deviceId } = event;
    // A rotation for a client missing in Mosquitto: create it with the new secret.
    if (event.type === 'rotated' && /not found/i.test(responses[0]?.error ?? '')) {
      await control.send(createDeviceCommands(deviceId, event.password, event.active, false));
    }
    const created = responses.find((r) => r.command === 'createClient');
    if (event.type === 'registered' && /already exists/i.test(created?.error ?? '')) await takeOver(deviceId, event.password);
  }

  /** The events that have commands to send (reserved names are refused and logged here). */
  function planned(events: DeviceSecurityEvent[]): Array<{ event: DeviceSecurityEvent; commands: DynsecCommand[] }> {
    const out: Array<{ event: DeviceSecurityEvent; commands: DynsecCommand[] }> = [];
    for (const event of events) {
      onChange(event.deviceId);
      const commands = securityEventCommands(event);
      if (commands.length === 0) continue;
      if (isReserved(event.deviceId)) {
        log.error({ deviceId: event.deviceId }, 'device id is the dynamic-security admin or Doppel server user: not mirrored to Mosquitto');
        continue;
      }
      out.push({ event, commands });
    }
    return out;
  }

  return {
    async apply(event) {
      const [plan] = planned([event]);
      if (!plan) return;
      try {
        const { responses } = await control.send(plan.commands);
        await heal(event, responses);
      } catch (err) {
        countFailure(event.type);
        log.error({ err, deviceId: event.deviceId, event: event.type }, 'dynamic-security sync failed; the next reconcile will retry');
      }
    },
    async applyMany(events) {
      const plans = planned(events);
      if (plans.length === 0) return;
      try {
        const { responses } = await control.send(plans.flatMap((p) => p.commands));
        let at = 0;
        for (const plan of plans) {
          await heal(plan.event, responses.slice(at, at + plan.commands.length));
          at += plan.commands.length;
        }
      } catch (err) {
        for (const plan of plans) countFailure(plan.event.type);
        log.error({ err, devices: plans.length }, 'dynamic-security sync of a batch failed; the next reconcile will retry');
      }
    },
  };
}
