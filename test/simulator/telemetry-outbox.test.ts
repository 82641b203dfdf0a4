import { describe, expect, it } from 'vitest';
import { TelemetryOutbox } from '../../src/simulator/telemetry-outbox.ts';

const outbox = (maxUnconfirmed = 4, maxSends = 3) => new TelemetryOutbox({ maxUnconfirmed, resendAfterMs: 100, maxSends });

describe('TelemetryOutbox', () => {
  it('numbers messages from 1 and forgets what a receipt confirms', () => {
    const o = outbox();
    expect([1, 2, 3].map((i) => o.offer({ t: i }, 1000 + i, 0)!.seq)).toEqual([1, 2, 3]);
    o.confirm(2);
    expect(o.stats).toMatchObject({ sent: 3, confirmed: 2, unconfirmed: 1 });
    // A receipt that crossed a newer one changes nothing.
    o.confirm(1);
    o.confirm(0);
    expect(o.stats).toMatchObject({ confirmed: 2, unconfirmed: 1 });
    o.confirm(3);
    expect(o.stats).toMatchObject({ confirmed: 3, unconfirmed: 0 });
    expect(o.offer({ t: 4 }, 1004, 0)!.seq).toBe(4);
  });

  it('resends what is unconfirmed resendAfterMs after its last send, with the same seq, ts and values', () => {
    const o = outbox();
    const first = o.offer({ t: 1 }, 1001, 0)!;
    o.offer({ t: 2 }, 1002, 50);
    expect(o.due(99)).toEqual([]);
    expect(o.due(100)).toEqual([first]);
    expect(o.due(150).map((m) => m.seq)).toEqual([2]);
    expect(o.due(199)).toEqual([]);
    o.confirm(1);
    expect(o.due(250).map((m) => m.seq)).toEqual([2]);
    expect(o.stats).toMatchObject({ sent: 2, resent: 3, unconfirmed: 1 });
  });

  it('when full, sends no new reading (counted) and keeps resending the kept ones', () => {
    const o = outbox(2);
    o.offer({ t: 1 }, 1, 0);
    o.offer({ t: 2 }, 2, 0);
    expect(o.offer({ t: 3 }, 3, 0)).toBeUndefined();
    expect(o.stats).toMatchObject({ sent: 2, dropped: 1, unconfirmed: 2 });
    expect(o.due(100).map((m) => m.seq)).toEqual([1, 2]);
    o.confirm(1);
    expect(o.offer({ t: 4 }, 4, 100)!.seq).toBe(3);
  });

  it('gives up on a message that blocks the cursor after maxSends and starts a new sequence with the rest', () => {
    const o = outbox(4, 2);
    o.offer({ t: 1 }, 1, 0);
    o.offer({ t: 2 }, 2, 0);
    o.confirm(1);
    o.offer({ t: 3 }, 3, 0); // seq 3
    // Seq 2 never gets confirmed (refused by the server, or its cursor was reset).
    expect(o.due(100).map((m) => m.seq)).toEqual([2, 3]);
    const renumbered = o.due(200);
    expect(renumbered).toEqual([{ seq: 1, ts: 3, values: { t: 3 } }]);
    expect(o.stats).toMatchObject({ abandoned: 1, unconfirmed: 1 });
    expect(o.offer({ t: 4 }, 4, 200)!.seq).toBe(2);
    o.confirm(2);
    expect(o.stats).toMatchObject({ unconfirmed: 0 });
  });

  it('refuses nonsense options', () => {
    expect(() => new TelemetryOutbox({ maxUnconfirmed: 0, resendAfterMs: 1, maxSends: 1 })).toThrow(RangeError);
    expect(() => new TelemetryOutbox({ maxUnconfirmed: 1, resendAfterMs: 1.5, maxSends: 1 })).toThrow(RangeError);
  });
});
