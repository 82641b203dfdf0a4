/**
 * Delivery rounds, one at a time per instance. A round loads the deliverable commands of the devices it
 * was asked about (connected and `online`: subscribed), claims them by storing SENT in one guarded
 * statement, then hands each device's commands to the outbox in creation order. The claim means one
 * command goes out once however many rounds or instances look at it; a failed hand-over releases it.
 */
import { deliveryOrder } from '../../domain/commands/deadlines.ts';
import { commandEvents } from '../../domain/commands/state-machine.ts';
import type { JsonObject } from '../../domain/twin.ts';
import type { Logger } from '../../logger.ts';
import { coalescingWorker } from './coalescing.ts';
import type { CommandRow, CommandStore } from './store.ts';
import type { CommandTransitions } from './transitions.ts';

/** A command on its way to a device: everything the device is told about it. */
export interface OutboundCommand {
  deviceId: string;
  commandId: string;
  name: string;
  params: JsonObject;
  /** Epoch ms after which the device should REJECT the command instead of running it; null: never. */
  expiresAt: number | null;
}

/** The port commands leave through (MQTT in the server: src/mqtt/command-outbox.ts). */
export interface CommandOutbox {
  /**
   * Hands one command to its device, at least once (QoS 1). Resolves once the broker has it; a rejection
   * means it did not go out, and the command is released to be tried again later.
   */
  deliver(command: OutboundCommand): Promise<void>;
}

export interface CommandDelivery {
  /** Delivers what waits for these devices (those connected and subscribed), in a round of its own or the next one. */
  kick(deviceIds: Iterable<string>): void;
  /** A device (re)subscribed: its next round also redelivers SENT commands an earlier broker session may have lost. */
  onConnected(deviceId: string): void;
  /** Resolves once no round runs and none waits. */
  idle(): Promise<void>;
}

export interface DeliveryOptions {
  store: CommandStore;
  transitions: CommandTransitions;
  outbox: CommandOutbox;
  logger: Logger;
  now: () => number;
}

export function createDelivery(options: DeliveryOptions): CommandDelivery {
  const { store, transitions, outbox, logger, now } = options;
  /** Devices (ids) whose next round should also redeliver SENT commands (they reconnected). */
  const redeliverSent = new Set<string>();

  async function round(deviceIds: string[]): Promise<void> {
    // Taken before the read: an `online` that arrives while this round runs must leave its flag for the
    // next round (which it kicked), or a command this round publishes before the device subscribed
    // would never be sent again.
    const redeliver = new Set(deviceIds.filter((id) => redeliverSent.delete(id)));
    const t = now();
    const byDevice = new Map<string, CommandRow[]>();
    for (const r of await store.loadDeliverable(deviceIds)) {
      let list = byDevice.get(r.deviceId);
      if (!list) byDevice.set(r.deviceId, (list = []));
      list.push(r);
    }
    // A redelivery is for SENT commands the broker may have lost with an earlier session: those sent
    // before this session said `online`. One sent after it went to a subscribed session — e.g. by a
    // round that started between the `online` being stored and its redelivery flag being set.
    const lostWithEarlierSession = (c: CommandRow) => c.status !== 'SENT' || (c.stateTimes.SENT ?? 0) < (c.deviceReadyAt ?? 0);
    const ordered = [...byDevice].map(([deviceId, rows]) => deliveryOrder(rows, t, { includeSent: redeliver.has(deviceId) }).filter(lostWithEarlierSession));
    // Claim before publishing: PENDING → SENT is stored first, guarded on PENDING, so of two instances
    // (or a round racing a cancel, an expiry or an early ack) exactly one publishes each command.
    const pending = ordered.flat().filter((c) => c.status === 'PENDING');
    const claimed = new Set((await transitions.apply(pending, () => commandEvents.published(), t)).map((c) => c.id));
    const unpublished: CommandRow[] = [];
    await Promise.all(
      ordered.map(async (commands) => {
        for (const [i, c] of commands.entries()) {
          // A redelivery (SENT, the device reconnected) or our claim; a PENDING command another round claimed is theirs.
          if (c.status === 'PENDING' && !claimed.has(c.id)) continue;
          try {
            await outbox.deliver({ deviceId: c.deviceId, commandId: c.id, name: c.name, params: c.params, expiresAt: c.expiresAt ?? null });
          } catch (error) {
            // Released back to PENDING with the rest of this device's claims: the sweeper tries again,
            // and later commands wait, so order holds.
            logger.warn({ err: error, deviceId: c.deviceId, commandId: c.id }, 'publishing a command failed');
            unpublished.push(...commands.slice(i).filter((r) => claimed.has(r.id)));
            break;
          }
        }
      }),
    );
    if (unpublished.length > 0) await release(unpublished);
  }

  /** Undoes claims whose publish failed and announces the SENT → PENDING steps that were stored. */
  async function release(rows: CommandRow[]): Promise<void> {
    const released = await store.releaseClaims(rows);
    transitions.announce(rows.filter((r) => released.has(r.id)).map((r) => ({ from: 'SENT' as const, to: r })));
  }

  const worker = coalescingWorker<string>('delivery', logger, round);

  return {
    kick: (deviceIds) => worker.kick(deviceIds),
    onConnected(deviceId) {
      redeliverSent.add(deviceId);
      worker.kick([deviceId]);
    },
    idle: () => worker.idle(),
  };
}
