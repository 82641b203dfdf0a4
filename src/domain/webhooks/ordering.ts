/**
 * Which pending events a deliverer may claim now (docs/outbox.md "Claiming"): the pure core of the
 * claim query, so the SQL can be checked against it. No I/O, no clocks.
 *
 * The rules, per endpoint:
 *
 * - Order per (endpoint, device): only the HEAD of a group — its lowest `seq` still PENDING — may be
 *   sent, and only when no event of the group is in flight. A head waiting for its retry time blocks
 *   the events behind it (head-of-line blocking is the price of order; it is per device, so one
 *   device's failing event never holds up another's).
 * - Bounded concurrency: at most `maxInFlight` events of an endpoint are in flight at once (leased,
 *   lease not expired), counting those other deliverers hold.
 * - Fairness: among claimable heads, the oldest (`seq`) go first, so a chatty device cannot starve a
 *   quiet one: each device contributes at most one event per claim.
 * - A lease that has expired (its deliverer died or stalled past `leasedUntil`) is not in flight: the
 *   event is claimable again. That is the at-least-once: the dead deliverer may have sent it.
 * - DELIVERED and FAILED events are not in the input (the query reads PENDING rows only): a FAILED
 *   event no longer blocks its group, so order holds among the events that are delivered.
 * - Events with no device (`webhook.test`) form a group of their own each.
 */

export interface PendingEvent {
  id: string;
  endpointId: string;
  /** The device the event is about; null for events about no device. */
  deviceKey: string | null;
  /** Insertion order (a sequence taken after the change's row lock, so it is commit order per device). */
  seq: number;
  /** Epoch ms before which the event must not be attempted. */
  nextAttemptAt: number;
  /** Epoch ms until which a deliverer holds it; null when not claimed. */
  leasedUntil: number | null;
}

export interface ClaimLimits {
  /** Per endpoint; endpoints not listed get `defaultMaxInFlight`. Disabled endpoints are left out of the input by the query. */
  maxInFlight: ReadonlyMap<string, number>;
  defaultMaxInFlight: number;
  /** The most events one claim takes, all endpoints together (the deliverer's batch). */
  limit: number;
}

export function isInFlight(event: PendingEvent, now: number): boolean {
  return event.leasedUntil !== null && event.leasedUntil > now;
}

function groupKey(event: PendingEvent): string {
  return event.deviceKey === null ? `${event.endpointId}\u0000#${event.id}` : `${event.endpointId}\u0000${event.deviceKey}`;
}

function bySeq(a: PendingEvent, b: PendingEvent): number {
  return a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/**
 * The events to claim at `now`, in claim order (by `seq`). Never more than one per group, never one
 * behind an in-flight or not-yet-due head, never past an endpoint's limit or the claim's.
 */
export function claimable(pending: readonly PendingEvent[], now: number, limits: ClaimLimits): PendingEvent[] {
  const heads = new Map<string, PendingEvent>();
  const blocked = new Set<string>();
  const inFlight = new Map<string, number>();
  for (const event of pending) {
    const key = groupKey(event);
    if (isInFlight(event, now)) {
      blocked.add(key);
      inFlight.set(event.endpointId, (inFlight.get(event.endpointId) ?? 0) + 1);
    }
    const head = heads.get(key);
    if (head === undefined || bySeq(event, head) < 0) heads.set(key, event);
  }
  const candidates = [...heads.entries()]
    .filter(([key, head]) => !blocked.has(key) && head.nextAttemptAt <= now)
    .map(([, head]) => head)
    .sort(bySeq);
  const out: PendingEvent[] = [];
  for (const head of candidates) {
    if (out.length >= limits.limit) break;
    const max = limits.maxInFlight.get(head.endpointId) ?? limits.defaultMaxInFlight;
    const used = inFlight.get(head.endpointId) ?? 0;
    if (used >= max) continue;
    inFlight.set(head.endpointId, used + 1);
    out.push(head);
  }
  return out;
}
