/**
 * Transient or deterministic: whether a failure of the store says "try again later" (the database is
 * unreachable, restarting, overloaded, or lost a race) or "this will fail again" (the data or the
 * statement is wrong). Callers hold and retry what failed transiently, and refuse only what failed
 * deterministically: a database blip must never turn into an acknowledged, lost message.
 *
 * Pure: it reads the shapes node-postgres, PGlite, Prisma and its driver adapters give their errors,
 * walking `cause` chains (and Prisma's `meta.driverAdapterError`), and does no I/O.
 */
import { DoppelError } from './errors.ts';

export type FailureKind = 'transient' | 'deterministic';

/** The store is unavailable for now (a transient failure outlived the caller's patience, e.g. at shutdown). */
export class UnavailableError extends DoppelError {
  declare readonly code: 'UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super('UNAVAILABLE', message);
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** SQLSTATE disk_full (class 53, insufficient resources). */
export const DISK_FULL_SQLSTATE = '53100';

/**
 * SQLSTATEs that say nothing about the statement: admin/crash shutdown, cannot connect now,
 * serialization failure, deadlock, too many connections, lock not available, statement timeout or
 * cancel, and a full disk (53100: the same statement succeeds once space is freed). Class 08
 * (connection exceptions) is matched by prefix.
 */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '40001', '40P01', '53300', '55P03', '57014', DISK_FULL_SQLSTATE]);

/** Node errors: the database is not reachable, the connection broke, or its disk is full. */
const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOSPC']);

/**
 * Prisma client codes: P1001 cannot reach the server, P1002 timed out, P1017 server closed the
 * connection, P2024 timed out fetching a connection from the pool, P2034 write conflict/deadlock.
 */
const TRANSIENT_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1017', 'P2024', 'P2034']);

/** Driver-adapter error kinds (@prisma/driver-adapter-utils MappedError) that mean "not now". */
const TRANSIENT_ADAPTER_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TransactionWriteConflict', 'TooManyConnections']);

/** Messages node-postgres (and its pool) throw without a code. */
const TRANSIENT_MESSAGES = [
  /connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /connection (?:is )?closed/i,
  /client has encountered a connection error/i,
  /cannot use a pool after calling end/i,
];

/** How deep to follow `cause` links: enough for any wrapping we have seen, finite for cycles. */
const MAX_DEPTH = 8;

function isTransientCode(code: unknown): boolean {
  if (typeof code !== 'string') return false;
  if (/^[0-9A-Z]{5}$/.test(code) && (code.startsWith('08') || TRANSIENT_SQLSTATES.has(code))) return true;
  return TRANSIENT_NODE_CODES.has(code) || TRANSIENT_PRISMA_CODES.has(code);
}

function isTransientOne(error: Record<string, unknown>): boolean {
  if (error instanceof UnavailableError) return true;
  if (isTransientCode(error.code) || isTransientCode(error.originalCode) || isTransientCode(error.errorCode)) return true;
  if (typeof error.kind === 'string' && TRANSIENT_ADAPTER_KINDS.has(error.kind)) return true;
  const message = typeof error.message === 'string' ? error.message : '';
  return TRANSIENT_MESSAGES.some((re) => re.test(message));
}

/** What a failure error carries further down: its cause, Prisma's wrapped adapter error, an AggregateError's errors. */
function inner(error: Record<string, unknown>): unknown[] {
  const next: unknown[] = [error.cause];
  const meta = error.meta;
  if (meta && typeof meta === 'object') next.push((meta as Record<string, unknown>).driverAdapterError);
  if (Array.isArray(error.errors)) next.push(...(error.errors as unknown[]));
  return next;
}

/** Whether `error` (or anything in its cause chain) says the store failed for now rather than for good. */
export function classifyFailure(error: unknown): FailureKind {
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): boolean => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > MAX_DEPTH) return false;
    seen.add(e);
    const record = e as Record<string, unknown>;
    return isTransientOne(record) || inner(record).some((next) => visit(next, depth + 1));
  };
  return visit(error, 0) ? 'transient' : 'deterministic';
}

/**
 * Whether `error` (or its cause chain) says the database's disk is full: PostgreSQL's and PGlite's
 * SQLSTATE 53100 ("could not write …: No space left on device"), or a Node ENOSPC. Transient (it
 * heals once space is freed), but worth naming in logs and API answers: an operator must act.
 */
export function isDiskFull(error: unknown): boolean {
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): boolean => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > MAX_DEPTH) return false;
    seen.add(e);
    const record = e as Record<string, unknown>;
    const codes = [record.code, record.originalCode, record.errorCode];
    if (codes.includes(DISK_FULL_SQLSTATE) || codes.includes('ENOSPC')) return true;
    if (typeof record.message === 'string' && /no space left on device/i.test(record.message)) return true;
    return inner(record).some((next) => visit(next, depth + 1));
  };
  return visit(error, 0);
}

/** Shorthand for `classifyFailure(error) === 'transient'`. */
export function isTransientFailure(error: unknown): boolean {
  return classifyFailure(error) === 'transient';
}
