import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_HEALTH_POLICY,
  DEFAULT_RETRY_POLICY,
  HEALTHY,
  afterAttempt,
  allowedInFlight,
  classifyAttempt,
  nominalDelayMs,
  parseRetryAfter,
  policyIssues,
  retryDelayMs,
  updateHealth,
  type AttemptResult,
  type EndpointHealth,
  type RetryPolicy,
} from '../../../src/domain/webhooks/schedule.ts';

const numRuns = Number(process.env.PROP_RUNS ?? 200);
const P = DEFAULT_RETRY_POLICY;
const H = DEFAULT_HEALTH_POLICY;
const T0 = 1_800_000_000_000;
const fail500: AttemptResult = { kind: 'response', status: 500 };
const ok200: AttemptResult = { kind: 'response', status: 200 };
const top = () => 0.999999;
const bottom = () => 0;

describe('retry delays', () => {
  it('grows exponentially from 5 s by 4× and caps at 10 h', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 30].map((n) => nominalDelayMs(n, P))).toEqual([
      5_000, 20_000, 80_000, 320_000, 1_280_000, 5_120_000, 20_480_000, 36_000_000, 36_000_000,
    ]);
    expect(nominalDelayMs(10_000, P)).toBe(P.maxDelayMs);
  });

  it('full jitter: uniform between the minimum and the nominal delay', () => {
    expect(retryDelayMs(3, P, bottom)).toBe(P.minDelayMs);
    expect(retryDelayMs(3, P, () => 0.5)).toBe(40_000);
    expect(retryDelayMs(3, P, top)).toBeLessThanOrEqual(80_000);
    // A random source out of range is clamped, never a negative or oversized delay.
    expect(retryDelayMs(3, P, () => -1)).toBe(P.minDelayMs);
    expect(retryDelayMs(3, P, () => 7)).toBe(80_000);
  });

  it('property: every delay is within [minDelay, nominal] and nominal never decreases', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const d = retryDelayMs(attempt, P, () => r);
        expect(d).toBeGreaterThanOrEqual(P.minDelayMs);
        expect(d).toBeLessThanOrEqual(nominalDelayMs(attempt, P));
        expect(nominalDelayMs(attempt + 1, P)).toBeGreaterThanOrEqual(nominalDelayMs(attempt, P));
      }),
      { numRuns },
    );
  });

  it('checks a policy once, at start-up', () => {
    expect(policyIssues(P)).toEqual([]);
    const bad: RetryPolicy = { ...P, baseDelayMs: 0, factor: 0.5, maxAttempts: 0, minDelayMs: -1, maxAgeMs: Number.NaN };
    expect(policyIssues(bad)).toHaveLength(5);
    expect(policyIssues({ ...P, minDelayMs: 10_000 })).toEqual(['minDelayMs must not exceed baseDelayMs']);
    expect(policyIssues({ ...P, maxDelayMs: 1_000 })).toContain('baseDelayMs must not exceed maxDelayMs');
  });
});

describe('classifying an attempt', () => {
  it.each([
    [200, 'DELIVERED'],
    [204, 'DELIVERED'],
    [299, 'DELIVERED'],
    [301, 'RETRY'],
    [308, 'RETRY'],
    [400, 'RETRY'],
    [404, 'RETRY'],
    [410, 'GONE'],
    [429, 'THROTTLED'],
    [500, 'RETRY'],
    [502, 'THROTTLED'],
    [503, 'THROTTLED'],
    [504, 'THROTTLED'],
    [100, 'RETRY'],
  ] as const)('%i is %s', (status, expected) => {
    expect(classifyAttempt({ kind: 'response', status })).toBe(expected);
  });

  it('a network error or timeout is a retry', () => {
    expect(classifyAttempt({ kind: 'error', error: 'ETIMEDOUT' })).toBe('RETRY');
  });
});

describe('the event after an attempt', () => {
  it('2xx delivers', () => {
    expect(afterAttempt({ attempts: 0, createdAt: T0 }, ok200, T0, P, top)).toEqual({ status: 'DELIVERED', attempts: 1 });
  });

  it('a failure schedules the next attempt with the jittered delay', () => {
    expect(afterAttempt({ attempts: 2, createdAt: T0 }, fail500, T0 + 1000, P, () => 0.5)).toEqual({
      status: 'PENDING',
      attempts: 3,
      nextAttemptAt: T0 + 1000 + 40_000,
      disableEndpoint: false,
    });
  });

  it('gives up after maxAttempts, as FAILED', () => {
    expect(afterAttempt({ attempts: P.maxAttempts - 1, createdAt: T0 }, fail500, T0, P, top)).toEqual({
      status: 'FAILED',
      attempts: P.maxAttempts,
      reason: 'MAX_ATTEMPTS',
    });
  });

  it('gives up once past the max age, and pulls the last retry in to the max-age instant', () => {
    const deadline = T0 + P.maxAgeMs;
    expect(afterAttempt({ attempts: 3, createdAt: T0 }, fail500, deadline, P, top)).toMatchObject({ status: 'FAILED', reason: 'MAX_AGE' });
    const justBefore = afterAttempt({ attempts: 3, createdAt: T0 }, fail500, deadline - 1000, P, top);
    expect(justBefore).toMatchObject({ status: 'PENDING', nextAttemptAt: deadline });
  });

  it('honours Retry-After as a lower bound, capped', () => {
    const slow = afterAttempt({ attempts: 0, createdAt: T0 }, { kind: 'response', status: 429, retryAfterMs: 600_000 }, T0, P, bottom);
    expect(slow).toMatchObject({ status: 'PENDING', nextAttemptAt: T0 + 600_000 });
    const huge = afterAttempt({ attempts: 0, createdAt: T0 }, { kind: 'response', status: 503, retryAfterMs: 365 * 86_400_000 }, T0, P, bottom);
    expect(huge).toMatchObject({ status: 'PENDING', nextAttemptAt: T0 + P.maxRetryAfterMs });
    const small = afterAttempt({ attempts: 2, createdAt: T0 }, { kind: 'response', status: 429, retryAfterMs: 1 }, T0, P, () => 0.5);
    expect(small).toMatchObject({ nextAttemptAt: T0 + 40_000 });
  });

  it('410 keeps the event PENDING and asks for the endpoint to be disabled, even at the last attempt', () => {
    expect(afterAttempt({ attempts: P.maxAttempts - 1, createdAt: T0 }, { kind: 'response', status: 410 }, T0 + P.maxAgeMs + 1, P, bottom)).toMatchObject({
      status: 'PENDING',
      disableEndpoint: true,
    });
  });

  it('property: a failing event ends FAILED within maxAttempts, never earlier than the schedule allows, never scheduled past its max age', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 50 }), (draws) => {
        let i = 0;
        const random = () => draws[i++ % draws.length]!;
        let state = { attempts: 0, createdAt: T0 };
        let now = T0;
        for (;;) {
          const next = afterAttempt(state, fail500, now, P, random);
          if (next.status === 'FAILED') {
            expect(next.attempts).toBeLessThanOrEqual(P.maxAttempts);
            if (next.reason === 'MAX_AGE') expect(now).toBeGreaterThanOrEqual(T0 + P.maxAgeMs);
            return;
          }
          expect(next.status).toBe('PENDING');
          if (next.status !== 'PENDING') return;
          expect(next.nextAttemptAt).toBeGreaterThan(now);
          expect(next.nextAttemptAt).toBeLessThanOrEqual(T0 + P.maxAgeMs);
          state = { attempts: next.attempts, createdAt: T0 };
          now = next.nextAttemptAt;
        }
      }),
      { numRuns },
    );
  });
});

describe('Retry-After', () => {
  const now = Date.UTC(2026, 11, 2, 3, 0, 0);
  it.each([
    ['120', 120_000],
    [' 5 ', 5_000],
    ['0', 0],
    ['Wed, 02 Dec 2026 03:01:00 GMT', 60_000],
    ['Wed, 02 Dec 2026 02:00:00 GMT', 0],
    ['-5', undefined],
    ['1.5', undefined],
    ['soon', undefined],
    ['2026-12-02T03:01:00Z', undefined],
    ['', undefined],
    [undefined, undefined],
  ])('%j → %j ms', (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe('endpoint health', () => {
  it('counts consecutive failures from the first one and resets on success', () => {
    let h: EndpointHealth = HEALTHY;
    h = updateHealth(h, fail500, T0, H).health;
    h = updateHealth(h, { kind: 'error', error: 'ECONNREFUSED' }, T0 + 5, H).health;
    expect(h).toEqual({ consecutiveFailures: 2, failingSince: T0 });
    expect(updateHealth(h, ok200, T0 + 10, H)).toEqual({ health: HEALTHY, disable: null });
  });

  it('opens the circuit (one probe at a time) after the threshold, closes on success', () => {
    const open: EndpointHealth = { consecutiveFailures: H.openAfterFailures, failingSince: T0 };
    expect(allowedInFlight(HEALTHY, 8, H)).toBe(8);
    expect(allowedInFlight({ consecutiveFailures: H.openAfterFailures - 1, failingSince: T0 }, 8, H)).toBe(8);
    expect(allowedInFlight(open, 8, H)).toBe(1);
    expect(allowedInFlight(open, 0, H)).toBe(0);
  });

  it('disables an endpoint failing for disableAfterMs without a success, or on 410', () => {
    const failing: EndpointHealth = { consecutiveFailures: 3, failingSince: T0 };
    expect(updateHealth(failing, fail500, T0 + H.disableAfterMs - 1, H).disable).toBeNull();
    expect(updateHealth(failing, fail500, T0 + H.disableAfterMs, H).disable).toBe('FAILING_TOO_LONG');
    expect(updateHealth(HEALTHY, { kind: 'response', status: 410 }, T0, H).disable).toBe('GONE');
  });
});
