import { describe, expect, it } from 'vitest';
import { endOnRevocation } from '../../src/http/graphql.ts';
import { createEventBus } from '../../src/events/bus.ts';
import { valueOf } from '../support/iterators.ts';

/** A live event source like a subscription's: the bus, whose iterator waits for events. */
function source() {
  const bus = createEventBus();
  const events = bus.subscribe('tokenRevoked');
  const mapped = {
    next: async () => {
      const r = await events.next();
      return r.done ? r : { value: { data: { n: r.value.at } }, done: false as const };
    },
    return: async () => {
      await events.return!();
      return { value: undefined, done: true as const };
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return { bus, mapped, subscribers: () => bus.subscriberCount('tokenRevoked') };
}

function revocable() {
  let revoke!: () => void;
  let watching = 0;
  const watch = (onRevoked: () => void) => {
    watching++;
    revoke = onRevoked;
    return () => void watching--;
  };
  return { watch, revoke: () => revoke(), watching: () => watching };
}

const emit = (bus: ReturnType<typeof createEventBus>, at: number) => bus.publish('tokenRevoked', { tokenId: 'x', tenantId: 't', at });

describe('endOnRevocation', () => {
  it('passes events through until the token is revoked, then yields one UNAUTHENTICATED result and ends', async () => {
    const s = source();
    const r = revocable();
    const it = endOnRevocation(s.mapped as never, r.watch);
    emit(s.bus, 1);
    expect(await it.next()).toEqual({ value: { data: { n: 1 } }, done: false });
    const waiting = it.next(); // a for-await loop waiting for the next event
    r.revoke();
    const last = await waiting;
    expect(last.done).toBe(false);
    expect(valueOf(last)?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await it.next()).toEqual({ value: undefined, done: true });
    expect(s.subscribers()).toBe(0); // the source was returned: unsubscribed from the bus
    expect(r.watching()).toBe(0);
  });

  it('return() while a next() waits ends that next() too and unwatches', async () => {
    const s = source();
    const r = revocable();
    const it = endOnRevocation(s.mapped as never, r.watch);
    const waiting = it.next();
    await it.return!();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(s.subscribers()).toBe(0);
    expect(r.watching()).toBe(0);
    r.revoke(); // too late to matter
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('a revocation between events ends the stream at the next pull', async () => {
    const s = source();
    const r = revocable();
    const it = endOnRevocation(s.mapped as never, r.watch);
    r.revoke();
    emit(s.bus, 2);
    expect(valueOf(await it.next())?.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await it.next()).done).toBe(true);
  });
});
