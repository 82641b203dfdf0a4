/**
 * Tells the rest of the system what a committed write changed: the live bus (subscriptions, every
 * instance, best effort), the local `twinsStored` hook (processing, exactly once per stored change) and
 * the delta listeners (the bridge republishes a changed delta to the device, retained).
 */
import type { EventBus, TwinChangedEvent } from '../../events/bus.ts';
import type { Logger } from '../../logger.ts';
import { canonicalJson } from '../../domain/twin.ts';
import type { DomainHooks } from '../hooks.ts';
import type { DeltaListener, TwinChange, WorkingTwin } from './types.ts';

export interface TwinAnnouncer {
  /** Adds a listener for changed deltas (called synchronously after each commit; a throw is logged). */
  onDeltaChanged: (listener: DeltaListener) => void;
  /**
   * Announces one committed write: `twins` are the twins it covered, `changes` exactly the changes it
   * stored. Call it once per commit and never for a write that did not happen (a conflicted one).
   */
  announce: (twins: WorkingTwin[], changes: TwinChange[], at: number) => void;
  /** Resolves once every stored batch announced so far reached the hook's listeners. */
  drain: () => Promise<void>;
}

export function createTwinAnnouncer(options: { bus: EventBus; hooks: Pick<DomainHooks, 'twinsStored'>; logger: Logger }): TwinAnnouncer {
  const { bus, hooks, logger } = options;
  const deltaListeners: DeltaListener[] = [];

  function announce(twins: WorkingTwin[], changes: TwinChange[], at: number): void {
    const events = changes.map((c): TwinChangedEvent => ({ ...c, at }));
    for (const event of events) bus.publish('twinChanged', event);
    // A write of metadata alone (a late, superseded patch) changed nothing anyone can see: no hook batch.
    if (events.length > 0) hooks.twinsStored.emit({ at, changes: events });
    for (const twin of twins) {
      if (canonicalJson(twin.delta) === twin.deltaBefore) continue;
      for (const listener of deltaListeners) {
        try {
          listener(twin.deviceId, twin.version, twin.delta);
        } catch (error) {
          logger.error({ err: error, deviceId: twin.deviceId }, 'delta listener failed');
        }
      }
    }
  }

  return {
    onDeltaChanged(listener) {
      deltaListeners.push(listener);
    },
    announce,
    drain: () => hooks.twinsStored.drain(),
  };
}
