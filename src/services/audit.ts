import type { Actor } from '../domain/principal.ts';
import type { JsonObject } from '../domain/twin.ts';
import type { PrismaClient } from '../db/client.ts';
import type { AuditEvent, Prisma } from '../generated/prisma/client.ts';
import type { Logger } from '../logger.ts';

/**
 * Audited actions. One list, so names stay consistent across the code and queries can filter on them.
 * Some are reserved for features not built yet (`model.delete`): add a name here and call
 * `audit.record()` from the service that performs the action, never from a resolver.
 */
export const AUDIT_ACTIONS = [
  'apiToken.create',
  'apiToken.revoke',
  'device.register',
  'device.update',
  'device.delete',
  'device.rotateCredentials',
  'device.disable',
  'device.enable',
  'device.revokeCredentials',
  'twin.updateDesired',
  'command.send',
  'command.cancel',
  'model.create',
  'model.update',
  'model.delete',
  'deadLetter.replay',
  'deadLetter.discard',
  'rule.create',
  'rule.update',
  'rule.enable',
  'rule.disable',
  'rule.delete',
  'webhook.create',
  'webhook.update',
  'webhook.enable',
  'webhook.disable',
  'webhook.delete',
  'webhook.rotateSecret',
  'webhook.redeliver',
  'webhook.redeliverFailed',
  'webhook.test',
  'endpoint.disabled',
  'alarm.acknowledge',
  'alarm.clear',
  'alarm.comment',
  'provisioning.createPolicy',
  'provisioning.updatePolicy',
  'provisioning.enablePolicy',
  'provisioning.disablePolicy',
  'provisioning.deletePolicy',
  'provisioning.rotate',
  'deviceCertificate.register',
  'deviceCertificate.remove',
  'deviceCertificate.revoke',
  'certificateAuthority.upload',
  'certificateAuthority.remove',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry extends Actor {
  action: AuditAction;
  /** What was acted on: "device:<deviceId>", "apiToken:<uuid>", "command:<uuid>", … */
  target: string;
  /** Anything that explains the action (the patch, the role granted, …). Never secrets. */
  details?: JsonObject;
}

/** Prisma create data for an entry: lets a caller write the audit event in the same transaction as the change. */
export function auditEventData(entry: AuditEntry): Prisma.AuditEventCreateInput {
  return {
    tenantId: entry.tenantId,
    actor: entry.actor,
    actorName: entry.actorName,
    action: entry.action,
    target: entry.target,
    details: (entry.details ?? {}) as Prisma.InputJsonValue,
  };
}

export interface AuditQuery {
  tenantId: string;
  /** Newest first; at most this many. */
  limit: number;
  /** Only events older than this id (the cursor of the previous page). */
  beforeId?: bigint | null;
  action?: string | null;
  target?: string | null;
}

/**
 * The audit log. Only API- and CLI-initiated actions are recorded (one row each, after the change),
 * never the MQTT hot paths, so device traffic never waits for it. The services that perform an action
 * record it; resolvers only read the log.
 */
export interface AuditLog {
  /**
   * Records one event. The change it describes has already happened, so a failed audit write does not
   * fail the caller's request: it is logged at error level with the whole entry instead (the log is the
   * fallback record). Changes that must be audited atomically use `auditEventData` in their transaction.
   */
  record(entry: AuditEntry): Promise<void>;
  /** A page of a tenant's events, newest first. */
  list(query: AuditQuery): Promise<AuditEvent[]>;
}

export function createAuditLog(options: { prisma: PrismaClient; logger: Logger }): AuditLog {
  const { prisma, logger } = options;

  async function record(entry: AuditEntry): Promise<void> {
    try {
      await prisma.auditEvent.create({ data: auditEventData(entry), select: { id: true } });
    } catch (error) {
      logger.error({ err: error, audit: entry }, 'could not write an audit event');
    }
  }

  function list(query: AuditQuery): Promise<AuditEvent[]> {
    return prisma.auditEvent.findMany({
      where: {
        tenantId: query.tenantId,
        ...(query.beforeId != null ? { id: { lt: query.beforeId } } : {}),
        ...(query.action ? { action: query.action } : {}),
        ...(query.target ? { target: query.target } : {}),
      },
      orderBy: { id: 'desc' },
      take: query.limit,
    });
  }

  return { record, list };
}
