/**
 * Alarms (docs/rules.md "Windows and alarms"): what the rules engine raised, their append-only history
 * and the rule actions they queued in the outbox; acknowledge, clear and comment
 * (src/services/rules/engine/control.ts); and the live alarmChanged subscription.
 */
import { builder } from '../builder.ts';
import { ALARM_STATUSES, type AlarmStatus } from '../domain/rules/alarm-state.ts';
import { SEVERITIES, type Severity } from '../domain/rules/rule.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { isUuid } from '../domain/ids.ts';
import { actorOf } from '../domain/principal.ts';
import type { AlarmChangedEvent } from '../events/bus.ts';
import type { Prisma } from '../generated/prisma/client.ts';
import { AlarmStateError } from '../services/rules/engine/control.ts';
import { requireRole } from './auth.ts';
import { ErrorInterface } from './errors.ts';

export const AlarmStatusEnum = builder.enumType('AlarmStatus', {
  description:
    'ACTIVE (raised) → ACKNOWLEDGED (seen) → CLEARED; an ACTIVE alarm whose condition clears is LATCHED until acknowledged (then CLEARED) or raised again (ACTIVE).',
  values: ALARM_STATUSES,
});

export const AlarmSeverityEnum = builder.enumType('AlarmSeverity', { values: SEVERITIES });

builder.objectType(AlarmStateError, {
  name: 'IllegalAlarmState',
  description: 'The alarm is in a state that does not allow the operation (acknowledging an acknowledged alarm, clearing a cleared one).',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    alarmId: t.exposeString('alarmId'),
    status: t.field({ type: AlarmStatusEnum, resolve: (e) => e.status as AlarmStatus }),
  }),
});

const AlarmRuleRef = builder.objectRef<{ id: string; name: string }>('AlarmRule').implement({
  description: 'The rule that raised an alarm.',
  fields: (t) => ({ id: t.exposeID('id'), name: t.exposeString('name') }),
});

builder.prismaObject('AlarmEvent', {
  description: 'One row of an alarm history: a transition, a flapping change or a comment. Never changed afterwards.',
  fields: (t) => ({
    from: t.field({ type: AlarmStatusEnum, nullable: true, select: { fromStatus: true }, resolve: (e) => e.fromStatus as AlarmStatus | null }),
    to: t.field({ type: AlarmStatusEnum, select: { toStatus: true }, resolve: (e) => e.toStatus as AlarmStatus }),
    cause: t.exposeString('cause', {
      description: 'conditionRaised, conditionCleared, acknowledge, clear, comment, or flapping (value: true when it started, false when it ended).',
    }),
    value: t.expose('value', { type: 'JSON', nullable: true, description: 'The reading behind the transition, if any.' }),
    actor: t.exposeString('actor', { nullable: true }),
    comment: t.exposeString('comment', { nullable: true }),
    at: t.expose('at', { type: 'DateTime' }),
  }),
});

builder.prismaObject('OutboxAttempt', {
  name: 'AlarmActionAttempt',
  description: 'One execution of a rule action.',
  fields: (t) => ({
    attempt: t.exposeInt('attempt'),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    statusCode: t.exposeInt('statusCode', { nullable: true }),
    latencyMs: t.exposeInt('latencyMs', { nullable: true }),
    error: t.exposeString('error', { nullable: true }),
  }),
});

builder.prismaObject('Outbox', {
  name: 'AlarmAction',
  description: 'A rule action an alarm transition queued (an ACTION row of the outbox, docs/outbox.md).',
  fields: (t) => ({
    id: t.exposeID('id'),
    actionKey: t.exposeString('actionKey', { nullable: true, description: '<ruleId>:<ruleVersion>:<raise|clear>:<index>' }),
    data: t.expose('data', { type: 'JSON', description: 'The action with its templates expanded, and what triggered it.' }),
    status: t.exposeString('status', { description: 'PENDING, DELIVERED or FAILED.' }),
    attempts: t.exposeInt('attempts'),
    lastError: t.exposeString('lastError', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    attemptLog: t.relation('attemptLog', { query: { orderBy: { attempt: 'asc' } } }),
  }),
});

export const AlarmRef = builder.prismaNode('Alarm', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, tenantId: ctx.principal.tenantId }),
  description: 'An alarm a rule raised on a device, and its lifecycle.',
  fields: (t) => ({
    alarmId: t.exposeString('id'),
    rule: t.field({ type: AlarmRuleRef, select: { rule: { select: { id: true, name: true } } }, resolve: (a) => a.rule }),
    ruleVersion: t.exposeInt('ruleVersion', { description: 'The rule version that raised it (the last time).' }),
    device: t.relation('device'),
    status: t.field({ type: AlarmStatusEnum, select: { status: true }, resolve: (a) => a.status as AlarmStatus }),
    severity: t.field({ type: AlarmSeverityEnum, select: { severity: true }, resolve: (a) => a.severity as Severity }),
    raisedAt: t.expose('raisedAt', { type: 'DateTime' }),
    raisedValue: t.expose('raisedValue', { type: 'JSON', nullable: true }),
    clearedAt: t.expose('clearedAt', { type: 'DateTime', nullable: true }),
    clearedValue: t.expose('clearedValue', { type: 'JSON', nullable: true }),
    acknowledgedAt: t.expose('acknowledgedAt', { type: 'DateTime', nullable: true }),
    acknowledgedBy: t.exposeString('acknowledgedBy', { nullable: true }),
    flapping: t.exposeBoolean('flapping', {
      description: 'Raised and cleared more often than RULES_FLAP_MAX_EDGES in RULES_FLAP_WINDOW_MS: its actions are held back.',
    }),
    history: t.relation('events', { description: 'Every transition and comment, oldest first.', query: { orderBy: { id: 'asc' } } }),
    actions: t.prismaField({
      type: ['Outbox'],
      description: 'The rule actions its transitions queued, oldest first, with their attempts.',
      select: { id: true },
      resolve: (query, alarm, _args, ctx) => ctx.prisma.outbox.findMany({ ...query, where: { alarmId: alarm.id, kind: 'ACTION' }, orderBy: { seq: 'asc' } }),
    }),
  }),
});

const AlarmFilter = builder.inputType('AlarmFilter', {
  fields: (t) => ({
    status: t.field({ type: [AlarmStatusEnum], required: false, description: 'Any of these statuses.' }),
    open: t.boolean({ required: false, description: 'true: not CLEARED; false: CLEARED.' }),
    severity: t.field({ type: [AlarmSeverityEnum], required: false }),
    deviceId: t.string({ required: false }),
    ruleId: t.id({ required: false }),
  }),
});

function alarmWhere(tenantId: string, filter: typeof AlarmFilter.$inferInput | null | undefined): Prisma.AlarmWhereInput {
  const where: Prisma.AlarmWhereInput = { tenantId };
  if (!filter) return where;
  const status: Prisma.StringFilter = {};
  if (filter.status != null) status.in = [...filter.status];
  if (filter.open === true) status.not = 'CLEARED';
  if (filter.open === false) status.equals = 'CLEARED';
  if (Object.keys(status).length > 0) where.status = status;
  if (filter.severity != null) where.severity = { in: [...filter.severity] };
  if (filter.deviceId != null) where.device = { deviceId: filter.deviceId };
  if (filter.ruleId != null) where.ruleId = isUuid(String(filter.ruleId)) ? String(filter.ruleId) : '00000000-0000-0000-0000-000000000000';
  return where;
}

builder.queryFields((t) => ({
  alarms: t.prismaConnection(
    {
      ...requireRole('viewer'),
      type: 'Alarm',
      cursor: 'id',
      description: 'Alarms of your tenant, newest first.',
      args: { filter: t.arg({ type: AlarmFilter, required: false }) },
      defaultSize: 50,
      maxSize: 500,
      totalCount: (_parent, args, ctx) => ctx.prisma.alarm.count({ where: alarmWhere(ctx.principal.tenantId, args.filter) }),
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.alarm.findMany({ ...query, where: alarmWhere(ctx.principal.tenantId, args.filter), orderBy: { seq: 'desc' } }),
    },
    { name: 'AlarmConnection' },
    { name: 'AlarmEdge' },
  ),
  alarm: t.prismaField({
    ...requireRole('viewer'),
    type: 'Alarm',
    nullable: true,
    args: { alarmId: t.arg.string({ required: true }) },
    resolve: (query, _root, { alarmId }, ctx) =>
      isUuid(alarmId) ? ctx.prisma.alarm.findFirst({ ...query, where: { id: alarmId, tenantId: ctx.principal.tenantId } }) : null,
  }),
}));

builder.prismaObjectFields('Device', (t) => ({
  alarms: t.relatedConnection('alarms', {
    cursor: 'id',
    description: 'Alarms of this device, newest first.',
    args: { open: t.arg.boolean({ required: false, description: 'true: not CLEARED; false: CLEARED.' }) },
    query: (args) => ({
      where: args.open === true ? { status: { not: 'CLEARED' } } : args.open === false ? { status: 'CLEARED' } : {},
      orderBy: { seq: 'desc' },
    }),
    totalCount: true,
  }),
}));

const AlarmInput = builder.inputType('AlarmControlInput', {
  fields: (t) => ({
    alarmId: t.string({ required: true }),
    comment: t.string({ required: false, description: 'Kept in the alarm history (at most 2,000 characters).' }),
  }),
});

const CommentAlarmInput = builder.inputType('CommentAlarmInput', {
  fields: (t) => ({
    alarmId: t.string({ required: true }),
    text: t.string({ required: true, description: 'At most 2,000 characters.' }),
  }),
});

builder.mutationFields((t) => ({
  acknowledgeAlarm: t.prismaField({
    ...requireRole('operator'),
    type: 'Alarm',
    description: 'ACTIVE → ACKNOWLEDGED; LATCHED → CLEARED. Runs no rule action. Audited as alarm.acknowledge.',
    errors: { types: [NotFoundError, AlarmStateError, ValidationError] },
    args: { input: t.arg({ type: AlarmInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const outcome = await ctx.alarms.acknowledge(actorOf(ctx.principal), input.alarmId, input.comment ?? null);
      if (!outcome.ok) throw outcome.error;
      return ctx.prisma.alarm.findUniqueOrThrow({ ...query, where: { id: outcome.alarmId } });
    },
  }),
  clearAlarm: t.prismaField({
    ...requireRole('operator'),
    type: 'Alarm',
    description: 'Closes an open alarm (→ CLEARED); the rule watches again from the next reading. Runs no rule action. Audited as alarm.clear.',
    errors: { types: [NotFoundError, AlarmStateError, ValidationError] },
    args: { input: t.arg({ type: AlarmInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const outcome = await ctx.alarms.clear(actorOf(ctx.principal), input.alarmId, input.comment ?? null);
      if (!outcome.ok) throw outcome.error;
      return ctx.prisma.alarm.findUniqueOrThrow({ ...query, where: { id: outcome.alarmId } });
    },
  }),
  commentAlarm: t.prismaField({
    ...requireRole('operator'),
    type: 'Alarm',
    description: 'Appends a comment to the alarm history. Audited as alarm.comment.',
    errors: { types: [NotFoundError, ValidationError] },
    args: { input: t.arg({ type: CommentAlarmInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const outcome = await ctx.alarms.comment(actorOf(ctx.principal), input.alarmId, input.text);
      if (!outcome.ok) throw outcome.error;
      return ctx.prisma.alarm.findUniqueOrThrow({ ...query, where: { id: outcome.alarmId } });
    },
  }),
}));

const AlarmChangeRef = builder.objectRef<AlarmChangedEvent>('AlarmChange').implement({
  description: 'An alarm changed: a transition, its flapping flag, or a comment.',
  fields: (t) => ({
    alarmId: t.exposeString('alarmId'),
    ruleId: t.exposeString('ruleId'),
    deviceId: t.exposeString('deviceId'),
    from: t.field({ type: AlarmStatusEnum, nullable: true, resolve: (e) => e.from as AlarmStatus | null }),
    status: t.field({ type: AlarmStatusEnum, resolve: (e) => e.status as AlarmStatus }),
    severity: t.field({ type: AlarmSeverityEnum, resolve: (e) => e.severity as Severity }),
    cause: t.exposeString('cause'),
    at: t.field({ type: 'DateTime', resolve: (e) => new Date(e.at) }),
    alarm: t.prismaField({
      type: 'Alarm',
      nullable: true,
      description: 'The alarm as it is when this event is delivered (may be newer than `status`).',
      resolve: (query, e, _args, ctx) => ctx.prisma.alarm.findUnique({ ...query, where: { id: e.alarmId } }),
    }),
  }),
});

const AlarmChangedFilter = builder.inputType('AlarmChangedFilter', {
  fields: (t) => ({
    deviceId: t.string({ required: false }),
    ruleId: t.id({ required: false }),
    severity: t.field({ type: [AlarmSeverityEnum], required: false }),
  }),
});

builder.subscriptionFields((t) => ({
  alarmChanged: t.field({
    ...requireRole('viewer'),
    type: AlarmChangeRef,
    description: 'Every committed alarm change of your tenant, optionally narrowed.',
    args: { filter: t.arg({ type: AlarmChangedFilter, required: false }) },
    // Filtered before queueing: a subscriber only ever buffers events it will receive.
    subscribe: (_root, { filter }, ctx) =>
      ctx.bus.subscribe(
        'alarmChanged',
        (e) =>
          e.tenantId === ctx.principal.tenantId &&
          (filter?.deviceId == null || e.deviceId === filter.deviceId) &&
          (filter?.ruleId == null || e.ruleId === String(filter.ruleId)) &&
          (filter?.severity == null || filter.severity.includes(e.severity as Severity)),
      ),
    resolve: (event) => event,
  }),
}));
