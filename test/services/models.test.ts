import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/client.ts';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { createLogger } from '../../src/logger.ts';
import { createAuditLog } from '../../src/services/audit.ts';
import { createModelService } from '../../src/services/models.ts';
import { modeName, openTestDatabase } from '../support/harness.ts';

let db: Database;
let closeDatabase: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ db, close: closeDatabase } = await openTestDatabase());
});
afterAll(async () => {
  await closeDatabase?.();
});

describe(`the model service on a database (${modeName})`, () => {
  it('creates and versions models of the actor tenant, records who saved each version, and audits both', async () => {
    const logger = createLogger('silent');
    const models = createModelService({ db, logger, audit: createAuditLog({ prisma: db.prisma, logger }) });
    const admin = { tenantId: 'acme', actor: 'token:00000000-0000-4000-8000-000000000002', actorName: 'modeller' };

    const id = await models.create(admin, { name: 'thermostat', desiredSchema: { type: 'object' } });
    await expect(models.create(admin, { name: 'thermostat' })).rejects.toBeInstanceOf(AlreadyExistsError);
    await expect(models.create(admin, { name: 'bad/name' })).rejects.toBeInstanceOf(ValidationError);
    expect(await models.update(admin, { name: 'thermostat', description: 'v2' })).toBe(id);
    await expect(models.update({ ...admin, tenantId: 'other' }, { name: 'thermostat' })).rejects.toBeInstanceOf(NotFoundError);

    const model = await db.prisma.deviceModel.findUniqueOrThrow({ where: { id }, include: { versions: { orderBy: { version: 'asc' } } } });
    expect(model).toMatchObject({ tenantId: 'acme', version: 2, description: 'v2', desiredSchema: { type: 'object' } });
    expect(model.versions.map((v) => [v.version, v.createdBy])).toEqual([
      [1, 'modeller'],
      [2, 'modeller'],
    ]);
    const audit = await db.prisma.auditEvent.findMany({ where: { target: 'model:thermostat' }, orderBy: { id: 'asc' } });
    expect(audit.map((a) => [a.tenantId, a.actor, a.actorName, a.action, a.details])).toEqual([
      ['acme', admin.actor, 'modeller', 'model.create', {}],
      ['acme', admin.actor, 'modeller', 'model.update', {}],
    ]);
    const compiled = await models.compiledOne(id, 2);
    expect(compiled?.validateDesired({ a: 1 })).toEqual([]);
  });
});
