/**
 * What a person does to an alarm (docs/rules.md "Windows and alarms"): acknowledge and clear go
 * through the rule's state machine and the engine's writer, like any reading (a manual clear resets
 * the window, and neither runs the rule's actions); a comment is a history row only. Each is audited
 * (`alarm.acknowledge`, `alarm.clear`, `alarm.comment`) after it committed.
 */
import { DoppelError, NotFoundError, ValidationError, failed, type Failed } from '../../../domain/errors.ts';
import type { Actor } from '../../../domain/principal.ts';
import type { PrismaClient } from '../../../db/client.ts';
import type { EventBus } from '../../../events/bus.ts';
import type { AuditLog } from '../../audit.ts';
import type { RulesEngine } from './index.ts';

/** The alarm is not in a state that allows the operation (already acknowledged, already cleared). */
export class AlarmStateError extends DoppelError {
  constructor(
    readonly alarmId: string,
    readonly status: string,
    message: string,
  ) {
    super('ILLEGAL_ALARM_STATE', message);
  }
}

export const MAX_COMMENT_LENGTH = 2000;

export type AlarmControlResult = { ok: true; alarmId: string } | Failed<NotFoundError | AlarmStateError | ValidationError>;

export interface AlarmControl {
  /** ACTIVE → ACKNOWLEDGED, LATCHED → CLEARED. */
  acknowledge(actor: Actor, alarmId: string, comment?: string | null): Promise<AlarmControlResult>;
  /** Any open alarm → CLEARED; the rule's window starts again from the next reading. */
  clear(actor: Actor, alarmId: string, comment?: string | null): Promise<AlarmControlResult>;
  /** Appends a comment to the alarm's history (any status). */
  comment(actor: Actor, alarmId: string, text: string): Promise<AlarmControlResult>;
}

export interface AlarmControlOptions {
  prisma: PrismaClient;
  engine: Pick<RulesEngine, 'applyToPair'>;
  bus: EventBus;
  audit: AuditLog;
  now?: () => number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function createAlarmControl(options: AlarmControlOptions): AlarmControl {
  const { prisma, engine, audit, bus } = options;
  const now = options.now ?? Date.now;

  async function find(actor: Actor, alarmId: string) {
    if (!UUID.test(alarmId)) return null;
    return prisma.alarm.findFirst({
      where: { id: alarmId, tenantId: actor.tenantId },
      select: { id: true, ruleId: true, deviceId: true, status: true, severity: true, device: { select: { deviceId: true } } },
    });
  }

  function checkComment(comment: string | null | undefined, field: string): ValidationError | undefined {
    if (comment == null || comment.length <= MAX_COMMENT_LENGTH) return undefined;
    return new ValidationError('invalid comment', [{ path: ['input', field], code: 'TOO_LONG', message: `at most ${MAX_COMMENT_LENGTH} characters` }]);
  }

  async function transitionByHand(kind: 'acknowledge' | 'clear', actor: Actor, alarmId: string, comment?: string | null): Promise<AlarmControlResult> {
    const invalid = checkComment(comment, 'comment');
    if (invalid) return failed(invalid);
    const alarm = await find(actor, alarmId);
    if (!alarm) return failed(new NotFoundError('alarm', alarmId));
    if (alarm.status === 'CLEARED') return failed(new AlarmStateError(alarmId, alarm.status, 'the alarm is already cleared'));
    const outcome = await engine.applyToPair(
      alarm.ruleId,
      alarm.deviceId,
      {
        type: kind,
        now: now(),
        actor: actor.actor,
        ...(comment != null ? { comment } : {}),
      },
      alarmId,
    );
    if (outcome === null) return failed(new AlarmStateError(alarmId, alarm.status, 'the rule of this alarm is disabled or gone'));
    if (!outcome.ok) {
      const message = outcome.reason === 'DUPLICATE' ? 'the alarm is already acknowledged' : outcome.message;
      return failed(new AlarmStateError(alarmId, alarm.status, message));
    }
    await audit.record({
      ...actor,
      action: kind === 'acknowledge' ? 'alarm.acknowledge' : 'alarm.clear',
      target: `alarm:${alarmId}`,
      details: comment != null ? { comment } : {},
    });
    return { ok: true, alarmId };
  }

  async function comment(actor: Actor, alarmId: string, text: string): Promise<AlarmControlResult> {
    if (text.trim().length === 0)
      return failed(new ValidationError('invalid comment', [{ path: ['input', 'text'], code: 'REQUIRED', message: 'the comment is empty' }]));
    const invalid = checkComment(text, 'text');
    if (invalid) return failed(invalid);
    const alarm = await find(actor, alarmId);
    if (!alarm) return failed(new NotFoundError('alarm', alarmId));
    const at = now();
    await prisma.alarmEvent.create({
      data: { alarmId, fromStatus: alarm.status, toStatus: alarm.status, cause: 'comment', actor: actor.actor, comment: text, at: new Date(at) },
      select: { id: true },
    });
    bus.publish('alarmChanged', {
      tenantId: actor.tenantId,
      alarmId,
      ruleId: alarm.ruleId,
      deviceUuid: alarm.deviceId,
      deviceId: alarm.device.deviceId,
      status: alarm.status,
      from: alarm.status,
      severity: alarm.severity,
      cause: 'comment',
      at,
    });
    await audit.record({ ...actor, action: 'alarm.comment', target: `alarm:${alarmId}`, details: { comment: text } });
    return { ok: true, alarmId };
  }

  return {
    acknowledge: (actor, alarmId, text) => transitionByHand('acknowledge', actor, alarmId, text),
    clear: (actor, alarmId, text) => transitionByHand('clear', actor, alarmId, text),
    comment,
  };
}
