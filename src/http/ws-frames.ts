/**
 * Fewer syscalls for subscription frames. graphql-ws sends one frame per event and waits for that
 * frame's write callback before it takes the next event, and ws writes every frame with its own
 * `writev`: with a telemetry batch making one event per device, a third of the server's delivery CPU
 * went to those syscalls (bench/live-cost.ts, docs/benchmarks.md).
 *
 * Here a socket is corked at the first frame of a turn of the event loop and uncorked on the next tick
 * (or once `MAX_CORKED_BYTES` are waiting), and a frame's callback is called as soon as the frame is
 * handed to the socket while the socket's buffer is below `HIGH_WATER_BYTES`, so the events of one
 * batch go out in one `writev`. The bytes and their order are unchanged, nothing waits beyond the
 * current turn, and backpressure holds: past the high-water mark the callback waits for the write, as
 * before, so a client that stops reading still fills its bus queue and is ended as a SLOW_CONSUMER
 * instead of growing the socket buffer. A write error still closes the socket (ws emits it), which
 * ends the client's operations.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** Bytes written to the socket but not yet sent, below which a frame counts as sent once queued. */
export const HIGH_WATER_BYTES = 1024 * 1024;
/** Corked bytes that make us write right away instead of at the end of the turn (latency, chunk size). */
export const MAX_CORKED_BYTES = 256 * 1024;

type SendCallback = (err?: Error) => void;

export function coalesceFrames(ws: WebSocket, tcp: Socket): void {
  const send = ws.send.bind(ws) as (data: unknown, options: object, cb?: SendCallback) => void;
  let corked = false;
  const uncork = () => {
    if (!corked) return;
    corked = false;
    tcp.uncork();
  };
  ws.send = ((data: unknown, optionsOrCb?: object | SendCallback, maybeCb?: SendCallback) => {
    const options = typeof optionsOrCb === 'function' ? {} : (optionsOrCb ?? {});
    const cb = typeof optionsOrCb === 'function' ? (optionsOrCb as SendCallback) : maybeCb;
    if (tcp.destroyed) return send(data, options, cb);
    if (!corked) {
      corked = true;
      tcp.cork();
      process.nextTick(uncork);
    }
    if (!cb || tcp.writableLength >= HIGH_WATER_BYTES) {
      send(data, options, cb);
    } else {
      // Errors also surface as the socket's 'error'/'close', which is what ends the operations.
      send(data, options, () => undefined);
      queueMicrotask(() => cb());
    }
    if (tcp.writableLength >= MAX_CORKED_BYTES) {
      uncork();
    }
  }) as typeof ws.send;
}
