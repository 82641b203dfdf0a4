/**
 * Aedes (mqtt-packet) buffers a whole packet before anyone sees it, whatever length the fixed header
 * declares (up to 256 MB). The guard watches the declared lengths as bytes arrive and cuts off a
 * connection whose next packet could not hold an acceptable payload. The exact limit is enforced when
 * a PUBLISH is authorized (delivery.ts); this is the coarse memory bound.
 */
import type { Client } from 'aedes';
import type { Logger } from 'pino';
import type { BrokerCounters } from './counters.ts';
import type { ClientStream } from './listener.ts';
import type { ClientIdentity } from './sessions.ts';

/** Headroom over the payload limit: topic, ids and CONNECT strings get 64 KiB each, plus the header. */
export const FRAME_OVERHEAD_BYTES = 4 * 65_537 + 16;

export interface FrameGuardOptions {
  maxPayloadBytes: number;
  log: Logger;
  counters: BrokerCounters;
  identity: ClientIdentity;
}

/** Installs the guard on a client's parser, in front of Aedes' own parsing of `socket`. */
export function guardFrameSize(client: Client, socket: ClientStream, { maxPayloadBytes, log, counters, identity }: FrameGuardOptions): void {
  const parser = (client as unknown as { _parser?: { parse?: (buf: Buffer) => unknown } })._parser;
  if (!parser || typeof parser.parse !== 'function') {
    log.warn('Aedes internals changed: MQTT frame size guard not installed');
    return;
  }
  const scanner = new FrameScanner(maxPayloadBytes + FRAME_OVERHEAD_BYTES);
  const parse = parser.parse.bind(parser);
  parser.parse = (buf: Buffer) => {
    if (scanner.feed(buf)) return parse(buf);
    const deviceId = identity.deviceOf(client);
    counters.refuse(
      'oversize',
      `size:${deviceId ?? socket.remoteAddress}`,
      { deviceId, remote: socket.remoteAddress },
      'MQTT packet too large; connection cut off',
    );
    socket.destroy();
    return 0;
  };
}

/**
 * Follows MQTT framing (one type byte, a 1–4 byte "remaining length", then the body) across chunks,
 * without copying, and reports when a declared length exceeds the limit or is malformed.
 */
export class FrameScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;
  private failed = false;

  constructor(private readonly maxRemainingLength: number) {}

  /** `false` once the stream declares a packet over the limit (or a malformed length). */
  feed(buf: Buffer): boolean {
    if (this.failed) return false;
    let i = 0;
    while (i < buf.length) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, buf.length - i);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = 'type';
      } else if (this.state === 'type') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else {
        const byte = buf[i++];
        this.length += (byte & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (this.length > this.maxRemainingLength || (byte & 0x80 && this.lengthBytes >= 4)) {
          this.failed = true;
          return false;
        }
        if ((byte & 0x80) === 0) {
          this.remaining = this.length;
          this.state = this.remaining > 0 ? 'body' : 'type';
        }
      }
    }
    return true;
  }
}
