import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { coalesceFrames, HIGH_WATER_BYTES } from '../../src/http/ws-frames.ts';

let cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup) c();
  cleanup = [];
});

/** A real ws server and client on port 0; the server side goes through coalesceFrames. */
async function pair(): Promise<{ server: WebSocket; tcp: Socket; client: WebSocket; clientTcp: Socket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  const accepted = new Promise<{ server: WebSocket; tcp: Socket }>((resolve) =>
    wss.on('connection', (server, request) => {
      coalesceFrames(server, request.socket);
      resolve({ server, tcp: request.socket });
    }),
  );
  await new Promise((r) => wss.on('listening', r));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  await new Promise((r) => client.on('open', r));
  const { server, tcp } = await accepted;
  cleanup.push(() => {
    client.terminate();
    wss.close();
  });
  return { server, tcp, client, clientTcp: (client as unknown as { _socket: Socket })._socket };
}

describe('coalesceFrames', () => {
  it('writes the frames of one turn with one syscall, all of them, in order, and calls every callback', async () => {
    const { server, tcp, client } = await pair();
    let writes = 0;
    for (const name of ['_write', '_writev'] as const) {
      const original = (tcp as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!.bind(tcp);
      (tcp as unknown as Record<string, unknown>)[name] = (...a: unknown[]) => {
        writes++;
        return original(...a);
      };
    }
    const received: string[] = [];
    const all = new Promise<void>((resolve) =>
      client.on('message', (m) => {
        received.push((m as Buffer).toString()); // binaryType 'nodebuffer' (ws's default)
        if (received.length === 1000) resolve();
      }),
    );
    // Like graphql-ws: the next frame once the previous one's callback came.
    for (let i = 0; i < 1000; i++) await new Promise<void>((resolve, reject) => server.send(`{"n":${i}}`, (err) => (err ? reject(err) : resolve())));
    await all;
    expect(received).toEqual(Array.from({ length: 1000 }, (_, i) => `{"n":${i}}`));
    expect(writes).toBeLessThanOrEqual(2);
  });

  it('keeps backpressure: past the high-water mark a frame is done only once written', async () => {
    const { server, tcp, clientTcp } = await pair();
    clientTcp.pause(); // the client stops reading
    const chunk = 'x'.repeat(64 * 1024);
    // Fill the kernel buffers and then the socket's own, without waiting.
    for (let i = 0; i < 10_000 && tcp.writableLength < HIGH_WATER_BYTES; i++) {
      server.send(chunk);
      await new Promise((r) => setImmediate(r));
    }
    expect(tcp.writableLength).toBeGreaterThanOrEqual(HIGH_WATER_BYTES);
    let done = false;
    server.send(chunk, () => (done = true));
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    clientTcp.resume();
    await expect.poll(() => done, { timeout: 10_000 }).toBe(true);
  });
});
