/**
 * The store retry's recovery prober against a fake store: held writes wake when the database answers,
 * not at the end of their back-off; a database that does not answer keeps them backing off; one
 * prober serves every retry of a process and stops when nothing waits; the API's fail-fast store.
 * The back-off here is an hour, so a test that passes did not wait it out.
 */
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/domain/faults.ts';
import { createLogger } from '../../src/logger.ts';
import { Metrics } from '../../src/metrics.ts';
import { createFailFastStore, createStoreRecovery, createStoreRetry, STORE_RETRIES_METRIC } from '../../src/services/store-retry.ts';

const HOUR_MS = 3_600_000;
const logger = createLogger('silent');
const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A database that is down until `up()`, and a probe that answers only while it is up. */
function fakeDatabase() {
  let down = true;
  let probes = 0;
  let attempts = 0;
  let probing = 0;
  let maxConcurrentProbes = 0;
  return {
    up: () => void (down = false),
    probe: async () => {
      probes++;
      maxConcurrentProbes = Math.max(maxConcurrentProbes, ++probing);
      await sleep(1);
      probing--;
      return !down;
    },
    get maxConcurrentProbes() {
      return maxConcurrentProbes;
    },
    write: <T>(value: T) => {
      attempts++;
      return down ? Promise.reject(refused()) : Promise.resolve(value);
    },
    get probes() {
      return probes;
    },
    get attempts() {
      return attempts;
    },
  };
}

async function until(predicate: () => boolean): Promise<void> {
  while (!predicate()) await sleep(5);
}

describe('store retry recovery', () => {
  it('wakes a held write as soon as the probe sees the database answer, not after its back-off', async () => {
    const db = fakeDatabase();
    const recovery = createStoreRecovery({ probe: db.probe, probeIntervalMs: 5 });
    const metrics = new Metrics();
    const retry = createStoreRetry({ kind: 'test', logger, metrics, backoff: { initialMs: HOUR_MS, maxMs: HOUR_MS }, recovery });
    const result = retry.run(() => db.write('stored'));
    // The database does not answer: probes go on, the write is not retried (its back-off is an hour).
    await until(() => db.probes >= 3);
    expect(db.attempts).toBe(1);
    expect(retry.holding).toBe(true);
    expect(recovery.holding).toBe(true);
    db.up();
    await expect(result).resolves.toBe('stored');
    expect(db.attempts).toBe(2);
    expect(metrics.get(STORE_RETRIES_METRIC, { kind: 'test' })).toBe(1);
    expect(recovery.holding).toBe(false);
    recovery.stop();
  });

  it('shares one prober between the retries of a process and stops probing once nothing waits', async () => {
    const db = fakeDatabase();
    const changes: boolean[] = [];
    const recovery = createStoreRecovery({ probe: db.probe, probeIntervalMs: 5, onHoldingChanged: (holding) => changes.push(holding) });
    const metrics = new Metrics();
    const backoff = { initialMs: HOUR_MS, maxMs: HOUR_MS };
    const twins = createStoreRetry({ kind: 'twins', logger, metrics, backoff, recovery });
    const telemetry = createStoreRetry({ kind: 'telemetry', logger, metrics, backoff, recovery });
    const held = [twins.run(() => db.write(1)), telemetry.run(() => db.write(2)), telemetry.run(() => db.write(3))];
    await until(() => db.attempts === 3 && db.probes >= 4);
    // One prober for three held writes: probes never overlap (not one loop per writer).
    expect(db.maxConcurrentProbes).toBe(1);
    expect(db.attempts).toBe(3);
    db.up();
    await expect(Promise.all(held)).resolves.toEqual([1, 2, 3]);
    expect(changes).toEqual([true, false]);
    const probesAfter = db.probes;
    await sleep(50);
    expect(db.probes).toBe(probesAfter);
    recovery.stop();
  });

  it('without a prober, a held write waits out its back-off (the old behaviour, kept for a down database)', async () => {
    const db = fakeDatabase();
    const retry = createStoreRetry({ kind: 'test', logger, metrics: new Metrics(), backoff: { initialMs: 20, maxMs: 20 } });
    const result = retry.run(() => db.write('ok'));
    await until(() => db.attempts >= 3);
    db.up();
    await expect(result).resolves.toBe('ok');
  });

  it('at shutdown a held write fails as UNAVAILABLE even though the shared recovery goes on', async () => {
    const db = fakeDatabase();
    const recovery = createStoreRecovery({ probe: db.probe, probeIntervalMs: 5 });
    const retry = createStoreRetry({ kind: 'test', logger, metrics: new Metrics(), backoff: { initialMs: HOUR_MS, maxMs: HOUR_MS }, recovery });
    const result = retry.run(() => db.write('never'));
    await until(() => db.attempts === 1 && retry.holding);
    retry.stop();
    await expect(result).rejects.toBeInstanceOf(UnavailableError);
    expect(recovery.holding).toBe(false);
    recovery.stop();
  });
});

describe('the API fail-fast store', () => {
  it('turns a transient failure into UnavailableError at once, without retrying', async () => {
    const db = fakeDatabase();
    const store = createFailFastStore('twin update');
    await expect(store.run(() => db.write('x'))).rejects.toBeInstanceOf(UnavailableError);
    expect(db.attempts).toBe(1);
  });

  it('does not even try while the process holds writes through an outage, and says when the disk is full', async () => {
    const db = fakeDatabase();
    const recovery = createStoreRecovery();
    const store = createFailFastStore('twin update', recovery);
    recovery.enter(refused());
    await expect(store.run(() => db.write('x'))).rejects.toThrow(/database is unavailable \(twin update not stored/);
    recovery.leave();
    recovery.enter(Object.assign(new Error('could not extend file "base/5/16478": No space left on device'), { code: '53100' }));
    await expect(store.run(() => db.write('x'))).rejects.toThrow(/disk is full \(twin update not stored/);
    expect(db.attempts).toBe(0);
    recovery.leave();
    expect(recovery.holding).toBe(false);
  });

  it('passes a deterministic failure through as it came, and a success as it is', async () => {
    const store = createFailFastStore('twin update', createStoreRecovery());
    const deterministic = Object.assign(new Error('value too long'), { code: '22001' });
    await expect(store.run(() => Promise.reject(deterministic))).rejects.toBe(deterministic);
    await expect(store.run(() => Promise.resolve(7))).resolves.toBe(7);
  });
});
