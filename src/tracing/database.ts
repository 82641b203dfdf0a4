/**
 * Database statements as spans: one per statement, named by its operation and table, with
 * `db.system.name` and `db.operation.name` — never the statement's parameters, and not its text either
 * (some statements inline values, e.g. generated IN lists). Wired once, around the raw `sql` helper and
 * Prisma's driver adapter, in src/db/client.ts.
 */
import { SpanKind, type Tracer } from '@opentelemetry/api';
import { ATTR_DB_COLLECTION_NAME, ATTR_DB_OPERATION_NAME, ATTR_DB_SYSTEM_NAME, DB_SYSTEM_NAME_VALUE_POSTGRESQL } from '@opentelemetry/semantic-conventions';
import { recordError } from './spans.ts';

/** What a statement does and to which table, read from its first words; the table is undefined when not plain. */
export function describeStatement(sql: string): { operation: string; table: string | undefined } {
  const text = sql.replace(/^(\s|--[^\n]*\n|\/\*[\s\S]*?\*\/)+/, '');
  const operation = (/^[A-Za-z]+/.exec(text)?.[0] ?? 'UNKNOWN').toUpperCase();
  const table = /^(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|SELECT\b[\s\S]*?\bFROM)\s+((?:"[^"]+"|\w+)(?:\.(?:"[^"]+"|\w+))?)/i.exec(text)?.[1];
  return { operation, table: table?.replaceAll('"', '') };
}

/** Runs one statement in a client span that ends when it settles; a failure is recorded and rethrown. */
export async function traceStatement<T>(tracer: Tracer, sql: string, run: () => Promise<T>): Promise<T> {
  const { operation, table } = describeStatement(sql);
  const span = tracer.startSpan(table ? `${operation} ${table}` : operation, {
    kind: SpanKind.CLIENT,
    attributes: {
      [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
      [ATTR_DB_OPERATION_NAME]: operation,
      ...(table ? { [ATTR_DB_COLLECTION_NAME]: table } : {}),
    },
  });
  try {
    return await run();
  } catch (error) {
    recordError(span, error);
    throw error;
  } finally {
    span.end();
  }
}
