import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claimable, isInFlight, type ClaimLimits, type PendingEvent } from '../../../src/domain/webhooks/ordering.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);
const NOW = 1_000_000;

function ev(id: string, endpointId: string, deviceKey: string | null, seq: number, extra: Partial<PendingEvent> = {}): PendingEvent {
  return { id, endpointId, deviceKey, seq, nextAttemptAt: 0, leasedUntil: null, ...extra };
}

function limits(defaultMaxInFlight: number, limit = 1000, per: Record<string, number> = {}): ClaimLimits {
  return { maxInFlight: new Map(Object.entries(per)), defaultMaxInFlight, limit };
}

const ids = (events: PendingEvent[]) => events.map((e) => e.id);

describe('claimable', () => {
  it('takes only the head of each (endpoint, device), oldest first', () => {
    const pending = [ev('a2', 'E', 'a', 3), ev('a1', 'E', 'a', 1), ev('b1', 'E', 'b', 2), ev('a3', 'E', 'a', 4)];
    expect(ids(claimable(pending, NOW, limits(10)))).toEqual(['a1', 'b1']);
  });

  it('the same device on two endpoints is two groups', () => {
    expect(ids(claimable([ev('x', 'E1', 'a', 1), ev('y', 'E2', 'a', 2)], NOW, limits(10)))).toEqual(['x', 'y']);
  });

  it('an in-flight event blocks its group; an expired lease does not', () => {
    const pending = [
      ev('a1', 'E', 'a', 1, { leasedUntil: NOW + 1 }),
      ev('a2', 'E', 'a', 2),
      ev('b1', 'E', 'b', 3, { leasedUntil: NOW }),
      ev('b2', 'E', 'b', 4),
    ];
    expect(ids(claimable(pending, NOW, limits(10)))).toEqual(['b1']);
    expect(isInFlight(pending[2]!, NOW)).toBe(false);
  });

  it('a head not yet due blocks the events behind it (order over latency)', () => {
    const pending = [ev('a1', 'E', 'a', 1, { nextAttemptAt: NOW + 5000 }), ev('a2', 'E', 'a', 2), ev('b1', 'E', 'b', 3)];
    expect(ids(claimable(pending, NOW, limits(10)))).toEqual(['b1']);
    expect(ids(claimable(pending, NOW + 5000, limits(10)))).toEqual(['a1', 'b1']);
  });

  it('counts other deliverers’ in-flight events against the endpoint limit', () => {
    const pending = [ev('a1', 'E', 'a', 1, { leasedUntil: NOW + 10 }), ev('b1', 'E', 'b', 2), ev('c1', 'E', 'c', 3), ev('d1', 'F', 'd', 4)];
    expect(ids(claimable(pending, NOW, limits(2)))).toEqual(['b1', 'd1']);
    expect(ids(claimable(pending, NOW, limits(2, 1000, { E: 1 })))).toEqual(['d1']);
    expect(ids(claimable(pending, NOW, limits(2, 1000, { F: 0 })))).toEqual(['b1']);
  });

  it('stops at the claim limit', () => {
    const pending = [ev('a', 'E', 'a', 1), ev('b', 'E', 'b', 2), ev('c', 'E', 'c', 3)];
    expect(ids(claimable(pending, NOW, limits(10, 2)))).toEqual(['a', 'b']);
    expect(claimable(pending, NOW, limits(10, 0))).toEqual([]);
  });

  it('events about no device are each their own group', () => {
    expect(ids(claimable([ev('t1', 'E', null, 1), ev('t2', 'E', null, 2)], NOW, limits(10)))).toEqual(['t1', 't2']);
  });

  it('nothing pending, nothing claimed', () => {
    expect(claimable([], NOW, limits(4))).toEqual([]);
  });
});

// ------------------------------------------------------------------------------------------- properties

const pendingSet = fc
  .array(
    fc.record({
      endpoint: fc.constantFrom('E1', 'E2', 'E3'),
      device: fc.option(fc.constantFrom('d1', 'd2', 'd3', 'd4'), { nil: null, freq: 8 }),
      due: fc.integer({ min: NOW - 100, max: NOW + 100 }),
      lease: fc.option(fc.integer({ min: NOW - 100, max: NOW + 100 }), { nil: null }),
    }),
    { maxLength: 40 },
  )
  .map((rows) => rows.map((r, i) => ev(`e${i}`, r.endpoint, r.device, i + 1, { nextAttemptAt: r.due, leasedUntil: r.lease })));

const limitsArb = fc.record({
  defaultMaxInFlight: fc.integer({ min: 0, max: 4 }),
  limit: fc.integer({ min: 0, max: 50 }),
  e1: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
});

function groupOf(e: PendingEvent): string {
  return e.deviceKey === null ? `${e.endpointId}/#${e.id}` : `${e.endpointId}/${e.deviceKey}`;
}

describe('claimable (properties)', () => {
  it('every pick is its group’s head, due, unblocked; one per group; endpoint and claim limits hold; and it is maximal', () => {
    fc.assert(
      fc.property(pendingSet, limitsArb, (pending, l) => {
        const lim = limits(l.defaultMaxInFlight, l.limit, l.e1 === undefined ? {} : { E1: l.e1 });
        const picks = claimable(pending, NOW, lim);
        const maxOf = (endpoint: string) => lim.maxInFlight.get(endpoint) ?? lim.defaultMaxInFlight;
        const pickedGroups = new Set<string>();
        for (const p of picks) {
          const group = pending.filter((e) => groupOf(e) === groupOf(p));
          expect(Math.min(...group.map((e) => e.seq))).toBe(p.seq);
          expect(group.some((e) => isInFlight(e, NOW))).toBe(false);
          expect(p.nextAttemptAt).toBeLessThanOrEqual(NOW);
          expect(pickedGroups.has(groupOf(p))).toBe(false);
          pickedGroups.add(groupOf(p));
        }
        expect(picks.length).toBeLessThanOrEqual(lim.limit);
        const endpoints = new Set(pending.map((e) => e.endpointId));
        const load = (endpoint: string) =>
          pending.filter((e) => e.endpointId === endpoint && isInFlight(e, NOW)).length + picks.filter((p) => p.endpointId === endpoint).length;
        for (const endpoint of endpoints) {
          const already = pending.filter((e) => e.endpointId === endpoint && isInFlight(e, NOW)).length;
          expect(load(endpoint)).toBeLessThanOrEqual(Math.max(maxOf(endpoint), already));
        }
        // Maximal: an eligible head left out means its endpoint is full or the claim is full.
        for (const e of pending) {
          const group = pending.filter((x) => groupOf(x) === groupOf(e));
          const eligible = Math.min(...group.map((x) => x.seq)) === e.seq && !group.some((x) => isInFlight(x, NOW)) && e.nextAttemptAt <= NOW;
          if (eligible && !picks.includes(e)) expect(picks.length === lim.limit || load(e.endpointId) >= maxOf(e.endpointId)).toBe(true);
        }
        // Claim order is seq order.
        expect(picks.map((p) => p.seq)).toEqual([...picks.map((p) => p.seq)].sort((a, b) => a - b));
      }),
      { numRuns },
    );
  });

  it('simulation: deliverers claiming, failing, dying and retrying deliver every event once-or-more, in order per group, within the limits', () => {
    const step = fc.record({
      /** Which in-flight event finishes, as an index into the in-flight list. */
      pick: fc.nat(),
      outcome: fc.constantFrom('delivered', 'delivered', 'failed', 'died'),
      advance: fc.integer({ min: 0, max: 50 }),
    });
    fc.assert(
      fc.property(pendingSet, fc.integer({ min: 1, max: 3 }), fc.array(step, { minLength: 1, maxLength: 400 }), (initial, maxInFlight, steps) => {
        const lease = 30;
        let now = NOW;
        const rows = initial.map((e) => ({ ...e, leasedUntil: null as number | null, nextAttemptAt: Math.min(e.nextAttemptAt, NOW) }));
        const delivered = new Map<string, number[]>();
        const sent: string[] = [];
        const claimedBy = new Map<string, number>(); // id → lease expiry it was claimed with
        const lim = limits(maxInFlight);
        for (const s of [...steps, ...Array.from({ length: 4 * initial.length + 10 }, () => ({ pick: 0, outcome: 'delivered' as const, advance: 31 }))]) {
          for (const c of claimable(rows, now, lim)) {
            const row = rows.find((r) => r.id === c.id)!;
            // The endpoint limit counts live leases only: what the SQL sees.
            const live = rows.filter((r) => r.endpointId === row.endpointId && isInFlight(r, now)).length;
            expect(live).toBeLessThan(maxInFlight);
            row.leasedUntil = now + lease;
            claimedBy.set(row.id, row.leasedUntil);
            sent.push(row.id);
          }
          const flying = rows.filter((r) => isInFlight(r, now));
          if (flying.length > 0) {
            const row = flying[s.pick % flying.length]!;
            if (s.outcome === 'delivered') {
              const group = groupOf(row);
              delivered.set(group, [...(delivered.get(group) ?? []), row.seq]);
              rows.splice(rows.indexOf(row), 1);
            } else if (s.outcome === 'failed') {
              row.leasedUntil = null;
              row.nextAttemptAt = now + 1 + (s.advance % 7);
            }
            // 'died': the lease simply runs out; the event is claimable again after it.
          }
          now += s.advance;
          if (rows.length === 0) break;
        }
        expect(rows).toEqual([]);
        for (const [group, seqs] of delivered) {
          expect(seqs, group).toEqual([...seqs].sort((a, b) => a - b));
          expect(seqs.length, group).toBe(initial.filter((e) => groupOf(e) === group).length);
        }
        expect(new Set(sent).size).toBe(initial.length);
      }),
      { numRuns: Math.max(20, Math.floor(numRuns / 4)) },
    );
  });
});
