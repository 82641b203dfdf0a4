/**
 * The sender (src/services/outbox/sender.ts) against receivers that close kept-alive sockets at awkward
 * moments, over real TCP on 127.0.0.1. The receivers are raw `net` servers speaking just enough HTTP/1.1
 * to choose, byte by byte, what the sender sees: a full 2xx and then a close or a reset, a status line and
 * then a reset in the body, an idle close racing the next request. What must hold, per event: the sender
 * reports delivered exactly when the receiver wrote a 2xx status line for it (never a failure for an
 * answered 2xx, which would send it again; never a success for one it did not answer), and a request
 * lost on a reused socket the receiver closed is sent again under the same webhook-id, at once.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCidr } from '../../../src/domain/webhooks/destination.ts';
import { createConnectionPool, type ConnectionPool } from '../../../src/services/outbox/connection-pool.ts';
import { createSender, type SendOutcome } from '../../../src/services/outbox/sender.ts';

const policy = { allowHttp: true, allowedNetworks: [parseCidr('127.0.0.1/32')!] };
const ENDPOINT_ID = '00000000-0000-4000-8000-0000000000aa';

/** What the raw receiver does with each request once it has read it whole. */
type Script =
  /** A full 200 with a keep-alive hint, then FIN at once. */
  | 'answer-then-close'
  /** A full 200, then a reset (RST) at once. */
  | 'answer-then-reset'
  /** A 200 status line and part of the body, then a reset. */
  | 'status-then-reset'
  /** A 200 status line and part of the body, then FIN (the body ends early). */
  | 'status-then-close'
  /** A full 200 without a hint, then the socket is closed after `idleMs` unless another request came. */
  | 'idle-close';

interface RawReceiver {
  port: number;
  /** webhook-ids whose 2xx status line was written, one entry per write. */
  answered2xx: string[];
  /** webhook-ids read whole, one entry per request. */
  arrived: string[];
  /** TCP connections accepted. */
  connections: () => number;
  close(): Promise<void>;
}

const receivers: RawReceiver[] = [];
const pools: ConnectionPool[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) pool.close();
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

async function rawReceiver(script: Script, idleMs = () => 0): Promise<RawReceiver> {
  const answered2xx: string[] = [];
  const arrived: string[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = Buffer.alloc(0);
    let closing = false;
    let idleTimer: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => {
      if (closing) return; // decided to close: what arrives now is never read, as on a real server
      clearTimeout(idleTimer);
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const headEnd = buffered.indexOf('\r\n\r\n');
        if (headEnd < 0) return;
        const head = buffered.subarray(0, headEnd).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buffered.length < headEnd + 4 + length) return;
        const webhookId = /\r\nwebhook-id: *([^\r]+)/i.exec(head)?.[1] ?? '';
        buffered = buffered.subarray(headEnd + 4 + length);
        arrived.push(webhookId);
        answered2xx.push(webhookId);
        switch (script) {
          case 'answer-then-close':
            closing = true;
            socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nok');
            return;
          case 'answer-then-reset':
            closing = true;
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok', () => socket.resetAndDestroy());
            return;
          case 'status-then-reset':
            closing = true;
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart', () => setTimeout(() => socket.resetAndDestroy(), 20));
            return;
          case 'status-then-close':
            closing = true;
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart', () => setTimeout(() => socket.end(), 20));
            return;
          case 'idle-close':
            socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
            idleTimer = setTimeout(() => {
              closing = true;
              socket.end();
            }, idleMs());
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: RawReceiver = {
    port: (server.address() as net.AddressInfo).port,
    answered2xx,
    arrived,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
  receivers.push(receiver);
  return receiver;
}

/** Sends `count` events one after another (each waits `gapMs()` after the previous answer) through one pool. */
async function sendSequence(port: number, count: number, gapMs: () => number) {
  const pool = createConnectionPool({ maxSockets: 4, idleMs: 4_000 });
  pools.push(pool);
  let resends = 0;
  const send = createSender({ policy, timeoutMs: 5_000, pool, onResend: () => resends++ });
  const outcomes = new Map<string, SendOutcome>();
  for (let n = 0; n < count; n++) {
    const eventId = `0000000${n % 10}-0000-4000-8000-${String(n).padStart(12, '0')}`;
    const outcome = await send({
      endpointId: ENDPOINT_ID,
      event: { eventId, type: 'twin.changed', occurredAt: Date.now(), tenantId: 'default', data: { n } },
      url: `http://127.0.0.1:${port}/hook`,
      secrets: ['whsec_' + Buffer.alloc(24, 7).toString('base64')],
    });
    outcomes.set(`evt_${eventId.replaceAll('-', '')}`, outcome);
    const gap = gapMs();
    if (gap > 0) await new Promise((resolve) => setTimeout(resolve, gap));
  }
  return Object.assign(outcomes, { resends: () => resends });
}

/** Delivered exactly when the receiver wrote a 2xx for it: no failure for an answered 2xx, no success for an unanswered one. */
function expectJudgedByStatusLine(outcomes: Map<string, SendOutcome>, receiver: RawReceiver) {
  const answered = new Set(receiver.answered2xx);
  const misjudged = [...outcomes]
    .filter(([webhookId, outcome]) => (outcome.outcome === 'delivered') !== answered.has(webhookId))
    .map(([webhookId, outcome]) => ({ webhookId, result: outcome.result, answered2xx: answered.has(webhookId) }));
  expect(misjudged).toEqual([]);
}

describe('webhook sender on kept-alive sockets closed at awkward moments', () => {
  it('a full 2xx followed at once by FIN: every event delivered once, none reported failed', async () => {
    const r = await rawReceiver('answer-then-close');
    // No gap: the next request goes out while the FIN is on its way, on the socket the agent just freed.
    const outcomes = await sendSequence(r.port, 40, () => 0);
    expectJudgedByStatusLine(outcomes, r);
    expect([...outcomes.values()].every((o) => o.outcome === 'delivered')).toBe(true);
    // Each event answered 2xx once: a request lost on the closing socket was never read, and was sent again.
    expect(r.answered2xx).toHaveLength(40);
    expect(new Set(r.answered2xx).size).toBe(40);
    // Each connection carried one answered request; a request lost on one being closed was resent (and
    // counted) on a connection of its own, so the receiver read every event exactly once.
    expect(r.arrived).toHaveLength(40);
    expect(r.connections()).toBe(40);
    console.info(`answer-then-close: ${outcomes.resends()} of 40 events resent after a reset on a reused socket`);
  });

  it('a full 2xx followed at once by a reset: delivered, and the next event still goes through', async () => {
    const r = await rawReceiver('answer-then-reset');
    const outcomes = await sendSequence(r.port, 30, () => 0);
    expectJudgedByStatusLine(outcomes, r);
    expect([...outcomes.values()].every((o) => o.outcome === 'delivered')).toBe(true);
    expect(new Set(r.answered2xx).size).toBe(30);
    expect(r.answered2xx).toHaveLength(30);
  });

  it('a 2xx status line whose body is cut by a reset or a close is delivered, not failed', async () => {
    for (const script of ['status-then-reset', 'status-then-close'] as const) {
      const r = await rawReceiver(script);
      const outcomes = await sendSequence(r.port, 10, () => 0);
      expectJudgedByStatusLine(outcomes, r);
      expect([...outcomes.values()].map((o) => o.result)).toEqual(Array.from({ length: 10 }, () => ({ kind: 'response', status: 200 })));
      expect(r.answered2xx).toHaveLength(10);
    }
  });

  it('an idle close racing the next request: never a failure for an answered 2xx, nor a success for an unanswered one', async () => {
    // The receiver closes 0–3 ms after answering; the sender writes the next request 0–3 ms after its
    // answer: some requests land on a socket being closed, some on a live one, some on a new one.
    const r = await rawReceiver('idle-close', () => Math.floor(Math.random() * 4));
    const outcomes = await sendSequence(r.port, 200, () => Math.floor(Math.random() * 4));
    expectJudgedByStatusLine(outcomes, r);
    // A request lost on a closing socket was sent again at once on a connection of its own.
    expect([...outcomes.values()].filter((o) => o.outcome !== 'delivered')).toEqual([]);
    expect(new Set(r.answered2xx).size).toBe(200);
    expect(r.connections()).toBeGreaterThan(1);
  });
});
