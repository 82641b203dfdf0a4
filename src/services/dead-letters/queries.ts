/** Reading dead letters: a tenant's pages, newest first, and one row by id. */
import { isUuid } from '../../domain/ids.ts';
import { COLUMNS, toDeadLetter, type Row } from './rows.ts';
import type { DeadLetter, DeadLetterQuery, DeadLetterServiceOptions } from './types.ts';

export function createDeadLetterQueries(options: Pick<DeadLetterServiceOptions, 'sql'>) {
  const { sql } = options;

  async function list(query: DeadLetterQuery): Promise<DeadLetter[]> {
    const params: unknown[] = [query.tenantId, query.limit];
    const where = [`"tenantId" = $1`];
    if (query.after) {
      params.push(query.after.receivedAt.toISOString(), query.after.id);
      where.push(`("receivedAt", id) < ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    if (query.deviceId != null) {
      params.push(query.deviceId);
      where.push(`"deviceId" = $${params.length}`);
    }
    if (query.kind != null) {
      params.push(query.kind);
      where.push(`kind = $${params.length}`);
    }
    if (query.unresolvedOnly) where.push(`"resolvedAt" IS NULL`);
    const rows = await sql.query<Row>(
      `SELECT ${COLUMNS} FROM "DeadLetter" WHERE ${where.join(' AND ')} ORDER BY "receivedAt" DESC, id DESC LIMIT $2::int`,
      params,
    );
    return rows.map(toDeadLetter);
  }

  async function load(tenantId: string, id: string): Promise<DeadLetter | undefined> {
    if (!isUuid(id)) return undefined;
    const rows = await sql.query<Row>(`SELECT ${COLUMNS} FROM "DeadLetter" WHERE id = $1::uuid AND "tenantId" = $2`, [id, tenantId]);
    return rows[0] ? toDeadLetter(rows[0]) : undefined;
  }

  return { list, load };
}
