/**
 * What a receipt-using device keeps of its telemetry (device contract v1.1, docs/device-contract.md
 * "Telemetry seq and receipts"), pure: no timers, no I/O. Each message gets the next `seq` and is
 * kept until a receipt (`devices/{id}/telemetry/accepted`, `{"seq": n}`: every seq up to n is stored)
 * confirms it; a message not confirmed within `resendAfterMs` of its last send is due again. A broker's
 * PUBACK is not a confirmation: with an external broker it comes before the server stored anything.
 *
 * Bounded: at most `maxUnconfirmed` messages are kept. When it is full a new reading is not sent at all
 * (`offer` answers undefined and counts it in `dropped`): the kept ones go on being resent until they
 * are confirmed, and sending past them would only grow the gap the server waits on.
 *
 * A message can block the cursor for good: the server refused it (it is never stored), or a very late
 * broker replay of an old seq 1 reset the server's cursor (docs/telemetry.md "Receipts"). So when the
 * oldest kept message has been sent `maxSends` times and is still not confirmed, it is given up on
 * (`abandoned`) and the device starts a new sequence: the kept messages are numbered again from 1 and
 * are all due at once. Their points may be stored already (under the old seq): replays are harmless.
 */

export interface TelemetryOutboxOptions {
  /** Messages kept unconfirmed at most. */
  maxUnconfirmed: number;
  /** A message unconfirmed this long after its last send is sent again, ms. */
  resendAfterMs: number;
  /** Sends of the oldest kept message without a confirmation before it is given up on and a new sequence starts. */
  maxSends: number;
}

/** One message as it goes on the wire: `{"ts", "seq", "values"}`. */
export interface OutboxMessage {
  seq: number;
  ts: number;
  values: Record<string, number | boolean>;
}

export interface TelemetryOutboxCounts {
  /** Messages offered and kept (first sends). */
  sent: number;
  /** Sends of a message that was sent before. */
  resent: number;
  /** Messages a receipt confirmed. */
  confirmed: number;
  /** Readings not sent: the outbox was full. */
  dropped: number;
  /** Messages given up on after `maxSends` unconfirmed sends (a new sequence started). */
  abandoned: number;
  /** Messages kept now, waiting for a receipt. */
  unconfirmed: number;
}

interface Kept {
  message: OutboxMessage;
  sentAt: number;
  sends: number;
}

export class TelemetryOutbox {
  private readonly options: TelemetryOutboxOptions;
  /** Kept messages in seq order (consecutive seqs). */
  private kept: Kept[] = [];
  private nextSeq = 1;
  private readonly counts = { sent: 0, resent: 0, confirmed: 0, dropped: 0, abandoned: 0 };

  constructor(options: TelemetryOutboxOptions) {
    for (const key of ['maxUnconfirmed', 'resendAfterMs', 'maxSends'] as const) {
      if (!Number.isSafeInteger(options[key]) || options[key] < 1)
        throw new RangeError(`TelemetryOutbox: ${key} must be a positive integer (got ${options[key]})`);
    }
    this.options = { ...options };
  }

  /** Numbers a reading and keeps it; the message to send now. Undefined when the outbox is full (the reading is dropped, counted). */
  offer(values: Record<string, number | boolean>, ts: number, now: number): OutboxMessage | undefined {
    if (this.kept.length >= this.options.maxUnconfirmed) {
      this.counts.dropped++;
      return undefined;
    }
    const message: OutboxMessage = { seq: this.nextSeq++, ts, values };
    this.kept.push({ message, sentAt: now, sends: 1 });
    this.counts.sent++;
    return message;
  }

  /**
   * A receipt: every kept message with a seq up to `seq` is confirmed and forgotten. A receipt below
   * what was confirmed before changes nothing (receipts from two server instances can cross).
   */
  confirm(seq: number): void {
    let n = 0;
    while (n < this.kept.length && this.kept[n]!.message.seq <= seq) n++;
    if (n === 0) return;
    this.kept = this.kept.slice(n);
    this.counts.confirmed += n;
  }

  /**
   * The messages to send again now (unconfirmed `resendAfterMs` after their last send), marked as sent
   * at `now`. Starts a new sequence first when the oldest kept message used up its sends.
   */
  due(now: number): OutboxMessage[] {
    const head = this.kept[0];
    if (head && head.sends >= this.options.maxSends && now - head.sentAt >= this.options.resendAfterMs) {
      this.kept.shift();
      this.counts.abandoned++;
      this.nextSeq = 1;
      for (const k of this.kept) {
        k.message = { ...k.message, seq: this.nextSeq++ };
        k.sentAt = -Infinity; // due now, under its new seq, with its sends counted afresh
        k.sends = 0;
      }
    }
    const out: OutboxMessage[] = [];
    for (const k of this.kept) {
      if (now - k.sentAt < this.options.resendAfterMs) continue;
      this.counts.resent++;
      k.sentAt = now;
      k.sends++;
      out.push(k.message);
    }
    return out;
  }

  get stats(): TelemetryOutboxCounts {
    return { ...this.counts, unconfirmed: this.kept.length };
  }
}
