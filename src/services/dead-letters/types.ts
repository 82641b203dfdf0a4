/** The shapes of dead letters (./index.ts), shared by its parts. */
import type { DeadLettersConfig } from '../../config.ts';
import type { SqlExecutor } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { AuditLog } from '../audit.ts';

export const DEAD_LETTERS_METRIC = 'doppel_dead_letters_total';
export const DEAD_LETTER_REPLAYS_METRIC = 'doppel_dead_letter_replays_total';

/** The inbound topic kinds a dead letter can come from (src/mqtt/topics.ts, InboundKind). */
export const DEAD_LETTER_KINDS = ['telemetry', 'twinReported', 'twinGet', 'status', 'commandAck'] as const;
export type DeadLetterKind = (typeof DEAD_LETTER_KINDS)[number];

/** Longest error text kept: a stack-sized message says nothing more than its first lines. */
export const MAX_ERROR_LENGTH = 2000;

/** A device message as it arrived. */
export interface DeadMessage {
  /** The device id as in the topic. */
  deviceId: string;
  topic: string;
  kind: DeadLetterKind;
  /** The exact bytes received. */
  payload: Uint8Array;
  /** When it was received, epoch ms. */
  receivedAt: number;
}

/** Why it failed: a stable code (STORE_REFUSED, INTERNAL, …) and the error's message. */
export interface DeadLetterFailure {
  code: string;
  message: string;
  /** The error itself, for the one log line (its stack); not stored. */
  cause?: unknown;
}

export interface DeadLetter extends DeadMessage {
  id: string;
  /** Null when no device had this id when the message failed (kept for operators, listed to no tenant). */
  tenantId: string | null;
  errorCode: string;
  error: string;
  createdAt: Date;
  replayCount: number;
  lastReplayedAt: Date | null;
  /** "resolved", or "<code>: <message>" of the last replay that failed again. */
  lastReplayResult: string | null;
  resolvedAt: Date | null;
}

/** How running a message again through the bridge ended. A refusal (validation, unknown device) is a failure too. */
export type ReplayResult = { ok: true } | { ok: false; code: string; message: string };

/** Runs a message through the path the bridge uses for live messages; throws only on a transient failure. */
export type MessageReplayer = (message: DeadMessage) => Promise<ReplayResult>;

export interface ReplayOutcome {
  ok: true;
  /** The row after the replay. */
  deadLetter: DeadLetter;
  /** Whether the message is stored now (this replay, or an earlier one, succeeded). */
  resolved: boolean;
  /** The new failure when it failed again. */
  failure: { code: string; message: string } | null;
}

export interface DeadLetterQuery {
  tenantId: string;
  /** Newest first; at most this many. */
  limit: number;
  /** Only rows older than this one (the cursor of the previous page). */
  after?: { receivedAt: Date; id: string } | null;
  deviceId?: string | null;
  kind?: DeadLetterKind | null;
  /** Only rows no replay has resolved. */
  unresolvedOnly?: boolean;
}

export interface DeadLetterServiceOptions {
  sql: SqlExecutor;
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog;
  config: DeadLettersConfig;
  /** The bridge's path, bound late: the bridge itself records dead letters through this service. */
  replayer: MessageReplayer;
  now?: () => number;
}
