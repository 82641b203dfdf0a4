/** The classifier on errors shaped as node-postgres, PGlite, Prisma and its driver adapters make them, and on real ones. */
import { PrismaClientInitializationError, PrismaClientKnownRequestError } from '@prisma/client/runtime/client';
import { DriverAdapterError } from '@prisma/driver-adapter-utils';
import { DatabaseError } from 'pg-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { NotFoundError } from '../../src/domain/errors.ts';
import { classifyFailure, isDiskFull, UnavailableError } from '../../src/domain/faults.ts';
import { modeName, openTestDatabase, uniqueDeviceId } from '../support/harness.ts';

/** A server error as pg-protocol's parser builds it: `new DatabaseError(message, length, 'error')`, then its fields. */
function pgError(code: string, message = 'server error'): DatabaseError {
  const error = new DatabaseError(message, 100, 'error');
  error.code = code;
  error.severity = 'FATAL';
  return error;
}

/** A socket error as Node's net module makes it. */
function socketError(code: string, syscall = 'connect'): NodeJS.ErrnoException {
  return Object.assign(new Error(`${syscall} ${code} 127.0.0.1:5432`), { code, errno: -111, syscall, address: '127.0.0.1', port: 5432 });
}

/** How Prisma's client surfaces a driver-adapter failure. */
function prismaKnown(code: string, adapterError?: DriverAdapterError): PrismaClientKnownRequestError {
  return new PrismaClientKnownRequestError('request failed', {
    code,
    clientVersion: '7.10.0',
    meta: adapterError ? { driverAdapterError: adapterError } : undefined,
  });
}

describe('classifyFailure', () => {
  it('transient: the connection SQLSTATEs, shutdowns, serialization and deadlock, too many connections, lock and statement timeouts', () => {
    for (const code of ['08000', '08003', '08006', '08001', '08P01', '57P01', '57P02', '57P03', '40001', '40P01', '53300', '55P03', '57014'])
      expect(classifyFailure(pgError(code)), code).toBe('transient');
  });

  it('transient and named: a full disk (SQLSTATE 53100 as PostgreSQL and PGlite raise it, Node ENOSPC)', () => {
    const pglite = Object.assign(new Error('could not write to file "pg_wal/xlogtemp.42": No space left on device'), { code: '53100' });
    for (const error of [pgError('53100', 'could not extend file "base/5/16384": No space left on device'), pglite, socketError('ENOSPC', 'write')]) {
      expect(classifyFailure(error)).toBe('transient');
      expect(isDiskFull(error)).toBe(true);
      expect(isDiskFull(new Error('batch failed', { cause: error }))).toBe(true);
    }
    expect(isDiskFull(pgError('57P01'))).toBe(false);
    expect(isDiskFull(socketError('ECONNREFUSED'))).toBe(false);
  });

  it('deterministic: constraint, data and syntax SQLSTATEs', () => {
    for (const code of ['23505', '23503', '22012', '22P02', '42601', '42P01', '42703', '54000', '22003'])
      expect(classifyFailure(pgError(code)), code).toBe('deterministic');
  });

  it('transient: socket errors and the messages node-postgres throws without a code', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND'])
      expect(classifyFailure(socketError(code)), code).toBe('transient');
    expect(classifyFailure(new Error('Connection terminated unexpectedly'))).toBe('transient');
    expect(classifyFailure(new Error('Connection terminated due to connection timeout'))).toBe('transient');
    expect(classifyFailure(new Error('timeout exceeded when trying to connect'))).toBe('transient');
    expect(classifyFailure(new AggregateError([socketError('ECONNREFUSED')], ''))).toBe('transient');
  });

  it('reads driver-adapter errors: transient kinds, and the postgres code a generic kind wraps', () => {
    expect(classifyFailure(new DriverAdapterError({ kind: 'DatabaseNotReachable', host: 'db', port: 5432 }))).toBe('transient');
    expect(classifyFailure(new DriverAdapterError({ kind: 'ConnectionClosed' }))).toBe('transient');
    expect(classifyFailure(new DriverAdapterError({ kind: 'SocketTimeout' }))).toBe('transient');
    expect(classifyFailure(new DriverAdapterError({ kind: 'TransactionWriteConflict', originalCode: '40001' }))).toBe('transient');
    expect(classifyFailure(new DriverAdapterError({ kind: 'TooManyConnections', cause: 'too many', originalCode: '53300' }))).toBe('transient');
    const shutdown = {
      kind: 'postgres',
      code: '57P01',
      severity: 'FATAL',
      message: 'terminating connection due to administrator command',
      detail: undefined,
      column: undefined,
      hint: undefined,
      originalCode: '57P01',
    } as const;
    expect(classifyFailure(new DriverAdapterError(shutdown))).toBe('transient');
    const unique = { kind: 'UniqueConstraintViolation' as const, constraint: { fields: ['id'] }, originalCode: '23505' };
    expect(classifyFailure(new DriverAdapterError(unique))).toBe('deterministic');
    expect(classifyFailure(new DriverAdapterError({ kind: 'ValueOutOfRange', cause: 'x', originalCode: '22003' }))).toBe('deterministic');
  });

  it("reads Prisma's client errors: connection codes, and the adapter error in meta", () => {
    for (const code of ['P1001', 'P1002', 'P1017', 'P2024', 'P2034']) expect(classifyFailure(prismaKnown(code)), code).toBe('transient');
    expect(classifyFailure(prismaKnown('P2002'))).toBe('deterministic');
    expect(classifyFailure(prismaKnown('P2010', new DriverAdapterError({ kind: 'DatabaseNotReachable' })))).toBe('transient');
    expect(classifyFailure(new PrismaClientInitializationError("Can't reach database server", '7.10.0', 'P1001'))).toBe('transient');
  });

  it('walks cause chains, and knows its own UnavailableError', () => {
    const wrapped = new Error('write failed', { cause: new Error('query failed', { cause: pgError('57P01') }) });
    expect(classifyFailure(wrapped)).toBe('transient');
    expect(classifyFailure(new UnavailableError('database unavailable'))).toBe('transient');
    const cyclic: Error & { cause?: unknown } = new Error('cycle');
    cyclic.cause = cyclic;
    expect(classifyFailure(cyclic)).toBe('deterministic');
  });

  it('deterministic: anything else', () => {
    for (const e of [new Error('boom'), new TypeError('x is undefined'), new NotFoundError('device', 'x'), 'string', undefined, null, 42])
      expect(classifyFailure(e)).toBe('deterministic');
  });
});

describe(`classifyFailure on real errors (${modeName})`, () => {
  let db: Database;
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ db, close } = await openTestDatabase());
  });
  afterAll(async () => {
    await close?.();
  });

  it('a division by zero, a syntax error and a unique violation are deterministic', async () => {
    const failure = (p: Promise<unknown>) =>
      p.then(
        () => expect.unreachable('should fail'),
        (e: unknown) => e,
      );
    expect(classifyFailure(await failure(db.sql.query('SELECT 1/0')))).toBe('deterministic');
    expect(classifyFailure(await failure(db.sql.query('SELEC 1')))).toBe('deterministic');
    const deviceId = uniqueDeviceId('faults');
    await db.prisma.device.create({ data: { deviceId, secretHash: 'x' } });
    expect(classifyFailure(await failure(db.prisma.device.create({ data: { deviceId, secretHash: 'x' } })))).toBe('deterministic');
  });
});
