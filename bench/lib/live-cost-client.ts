/**
 * bench:live-cost helper: one graphql-ws client on `telemetry` (the same selection as bench:ingest's
 * subscriber), in its own process so its CPU is not charged to the server. Reports how many points it
 * has received whenever asked.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { serveRpc } from './rpc.ts';

let client: Client | undefined;
let events = 0;
let points = 0;
let lastValue = new Map<string, number>();
/** deviceId → newest `b` (the bench sets b = the batch's ts). */
let lastB = new Map<string, number>();
const tsWaiters: Array<{ devices: number; ts: number; resolve: () => void }> = [];
const errors: string[] = [];
const waiters: Array<{ points: number; resolve: () => void }> = [];

serveRpc({
  async subscribe(params: { url: string; token: string; sampleIntervalMs?: number }) {
    client = createClient({
      url: params.url,
      webSocketImpl: WebSocket,
      lazy: false,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${params.token}` },
    });
    // The argument only when asked for, so the same client measures builds that predate it.
    const query =
      params.sampleIntervalMs == null
        ? 'subscription { telemetry { deviceId points { metric ts value } } }'
        : `subscription { telemetry(sampleIntervalMs: ${params.sampleIntervalMs}) { deviceId points { metric ts value } } }`;
    client.subscribe<{ telemetry: { deviceId: string; points: Array<{ metric: string; ts: string; value: number }> } }>(
      { query },
      {
        next: (r) => {
          if (r.errors) errors.push(JSON.stringify(r.errors).slice(0, 300));
          const t = r.data?.telemetry;
          if (!t) return;
          events++;
          points += t.points.length;
          for (const p of t.points) {
            if (p.metric === 'a') lastValue.set(t.deviceId, p.value);
            else if (p.metric === 'b' && p.value > (lastB.get(t.deviceId) ?? -Infinity)) lastB.set(t.deviceId, p.value);
          }
          while (waiters.length > 0 && points >= waiters[0]!.points) waiters.shift()!.resolve();
          for (let i = tsWaiters.length - 1; i >= 0; i--) if (allAt(tsWaiters[i]!.devices, tsWaiters[i]!.ts)) tsWaiters.splice(i, 1)[0]!.resolve();
        },
        error: (e) => errors.push(`subscription: ${JSON.stringify(e).slice(0, 300)}`),
        complete: () => undefined,
      },
    );
    return null;
  },
  /** Resolves once at least `points` points have arrived in total. */
  waitFor(params: { points: number }) {
    if (errors.length > 0) throw new Error(errors.join('; '));
    if (points >= params.points) return { events, points };
    return new Promise((resolve) => waiters.push({ points: params.points, resolve: () => resolve({ events, points }) }));
  },
  /** Resolves once `devices` devices have shown b = ts (a sampled subscriber's trailing edge arrived). */
  waitForLast(params: { devices: number; ts: number }) {
    if (errors.length > 0) throw new Error(errors.join('; '));
    if (allAt(params.devices, params.ts)) return { events, points };
    return new Promise((resolve) => tsWaiters.push({ ...params, resolve: () => resolve({ events, points }) }));
  },
  counts() {
    return { events, points, errors, lastValues: [...lastValue.values()].reduce((a, b) => a + b, 0) };
  },
  reset() {
    events = 0;
    points = 0;
    lastValue = new Map();
    lastB = new Map();
    return null;
  },
  async close() {
    await client?.dispose();
    return null;
  },
});

function allAt(devices: number, ts: number): boolean {
  if (lastB.size < devices) return false;
  let n = 0;
  for (const b of lastB.values()) if (b >= ts) n++;
  return n >= devices;
}
