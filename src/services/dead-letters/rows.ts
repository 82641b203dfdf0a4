/** How a "DeadLetter" row is read: the columns selected and their conversion to a DeadLetter. */
import type { DeadLetter, DeadLetterKind } from './types.ts';

export interface Row {
  id: string;
  tenantId: string | null;
  deviceId: string;
  topic: string;
  kind: string;
  payload: Uint8Array;
  errorCode: string;
  error: string;
  receivedAt: Date | string;
  createdAt: Date | string;
  replayCount: number;
  lastReplayedAt: Date | string | null;
  lastReplayResult: string | null;
  resolvedAt: Date | string | null;
}

export const COLUMNS = `id::text AS id, "tenantId", "deviceId", topic, kind, payload, "errorCode", error, "receivedAt", "createdAt",
  "replayCount", "lastReplayedAt", "lastReplayResult", "resolvedAt"`;

const date = (value: Date | string): Date => (value instanceof Date ? value : new Date(value));
const dateOrNull = (value: Date | string | null): Date | null => (value === null ? null : date(value));

export function toDeadLetter(row: Row): DeadLetter {
  return {
    id: row.id,
    tenantId: row.tenantId,
    deviceId: row.deviceId,
    topic: row.topic,
    kind: row.kind as DeadLetterKind,
    payload: row.payload,
    receivedAt: date(row.receivedAt).getTime(),
    errorCode: row.errorCode,
    error: row.error,
    createdAt: date(row.createdAt),
    replayCount: Number(row.replayCount),
    lastReplayedAt: dateOrNull(row.lastReplayedAt),
    lastReplayResult: row.lastReplayResult,
    resolvedAt: dateOrNull(row.resolvedAt),
  };
}
