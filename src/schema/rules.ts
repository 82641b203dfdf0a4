/**
 * Rules (docs/rules.md): typed inputs converted to the rule definition `checkRule` accepts, with the
 * same field names, so every refusal's path points into the GraphQL input (`["input","raise","forMs"]`).
 * Viewers read; operators and admins write. The service (src/services/rules/) checks, versions and
 * audits; resolvers only convert and read.
 */
import { builder } from '../builder.ts';
import { AlreadyExistsError, NotFoundError, ValidationError } from '../domain/errors.ts';
import { actorOf } from '../domain/principal.ts';
import type { Condition, RuleAction, RuleDefinition, RuleScope, RuleSource } from '../domain/rules/rule.ts';
import type { JsonValue } from '../domain/twin.ts';
import type { BacktestAlarm, BacktestResult } from '../services/rules/backtest.ts';
import type { RuleInput as ServiceRuleInput } from '../services/rules/index.ts';
import { requireRole } from './auth.ts';

// ---------------------------------------------------------------------------------------------
// Enums: GraphQL names, domain values
// ---------------------------------------------------------------------------------------------

const RuleSourceTypeEnum = builder.enumType('RuleSourceType', {
  description: 'What a rule watches on each device in scope.',
  values: {
    TELEMETRY: { value: 'telemetry', description: 'A telemetry metric (numbers and booleans).' },
    REPORTED: { value: 'reported', description: 'A key path in the reported twin section.' },
    DESIRED: { value: 'desired', description: 'A key path in the desired twin section.' },
    CONNECTION: { value: 'connection', description: 'Whether the device is connected (a boolean).' },
  } as const,
});

const ConditionOperatorEnum = builder.enumType('ConditionOperator', {
  values: {
    GT: { value: '>' },
    GTE: { value: '>=' },
    LT: { value: '<' },
    LTE: { value: '<=' },
    EQ: { value: '==', description: 'Numbers, booleans and strings.' },
    NEQ: { value: '!=', description: 'Numbers, booleans and strings.' },
    BETWEEN: { value: 'between', description: 'low ≤ value ≤ high.' },
    OUTSIDE: { value: 'outside', description: 'value < low or value > high.' },
    CHANGED: { value: 'changed', description: 'The value differs from the previous reading (takes no forMs).' },
    NO_DATA: { value: 'noData', description: 'Nothing arrived for forMs (required).' },
  } as const,
});

const RuleSeverityEnum = builder.enumType('RuleSeverity', {
  values: ['CRITICAL', 'MAJOR', 'MINOR', 'WARNING', 'INFO'] as const,
});

const RuleActionTypeEnum = builder.enumType('RuleActionType', {
  values: {
    SEND_COMMAND: { value: 'sendCommand', description: 'Send `command` with `params` to `deviceId` (absent: the triggering device).' },
    UPDATE_DESIRED: { value: 'updateDesired', description: 'Merge `patch` into the desired state of `deviceId` (absent: the triggering device).' },
    NOTIFY_WEBHOOK: { value: 'notifyWebhook', description: 'Notify the webhook endpoint `endpointId` of the tenant.' },
  } as const,
});

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

const RuleScopeRef = builder.objectRef<RuleScope>('RuleScope').implement({
  description: 'Which devices a rule watches: every field given must match; none means every device of the tenant.',
  fields: (t) => ({
    deviceIds: t.stringList({ nullable: true, resolve: (s) => s.deviceIds ?? null }),
    tag: t.string({ nullable: true, resolve: (s) => s.tag ?? null }),
    tags: t.stringList({ nullable: true, resolve: (s) => s.tags ?? null }),
    model: t.string({ nullable: true, resolve: (s) => s.model ?? null }),
  }),
});

const RuleSourceRef = builder.objectRef<RuleSource>('RuleSource').implement({
  fields: (t) => ({
    type: t.field({ type: RuleSourceTypeEnum, resolve: (s) => s.type }),
    metric: t.string({ nullable: true, resolve: (s) => (s.type === 'telemetry' ? s.metric : null) }),
    path: t.stringList({ nullable: true, resolve: (s) => (s.type === 'reported' || s.type === 'desired' ? s.path : null) }),
  }),
});

const ConditionRef = builder.objectRef<Condition>('RuleCondition').implement({
  fields: (t) => ({
    op: t.field({ type: ConditionOperatorEnum, resolve: (c) => c.op }),
    value: t.field({ type: 'JSON', nullable: true, resolve: (c) => ('value' in c ? c.value : null) }),
    low: t.float({ nullable: true, resolve: (c) => ('low' in c ? c.low : null) }),
    high: t.float({ nullable: true, resolve: (c) => ('high' in c ? c.high : null) }),
    forMs: t.float({ nullable: true, description: 'How long it must hold, in ms.', resolve: (c) => ('forMs' in c ? (c.forMs ?? null) : null) }),
  }),
});

const RuleActionRef = builder.objectRef<RuleAction>('RuleAction').implement({
  fields: (t) => ({
    type: t.field({ type: RuleActionTypeEnum, resolve: (a) => a.type }),
    deviceId: t.string({ nullable: true, resolve: (a) => (a.type === 'notifyWebhook' ? null : (a.deviceId ?? null)) }),
    command: t.string({ nullable: true, resolve: (a) => (a.type === 'sendCommand' ? a.command : null) }),
    params: t.field({ type: 'JSON', nullable: true, resolve: (a) => (a.type === 'sendCommand' ? a.params : null) }),
    patch: t.field({ type: 'JSON', nullable: true, resolve: (a) => (a.type === 'updateDesired' ? a.patch : null) }),
    endpointId: t.string({ nullable: true, resolve: (a) => (a.type === 'notifyWebhook' ? a.endpointId : null) }),
  }),
});

const definitionOf = (r: { definition: unknown }) => r.definition as RuleDefinition;

builder.prismaObject('RuleVersion', {
  description: 'One saved version of a rule (immutable).',
  fields: (t) => ({
    version: t.exposeInt('version'),
    enabled: t.exposeBoolean('enabled', { description: 'Whether the rule was enabled when this version was saved.' }),
    definition: t.expose('definition', { type: 'JSON', description: 'The checked rule definition of this version.' }),
    createdBy: t.exposeString('createdBy', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

builder.prismaNode('Rule', {
  id: { field: 'id' },
  findUnique: (id, ctx) => ({ id, tenantId: ctx.principal.tenantId }),
  description: 'A rule of the tenant at its current version.',
  fields: (t) => ({
    ruleId: t.exposeString('id', { description: 'The id the rule mutations take.' }),
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    enabled: t.exposeBoolean('enabled'),
    version: t.exposeInt('version'),
    scope: t.field({ type: RuleScopeRef, select: { definition: true }, resolve: (r) => definitionOf(r).scope }),
    source: t.field({ type: RuleSourceRef, select: { definition: true }, resolve: (r) => definitionOf(r).source }),
    raise: t.field({ type: ConditionRef, select: { definition: true }, resolve: (r) => definitionOf(r).raise }),
    clear: t.field({
      type: ConditionRef,
      nullable: true,
      description: 'Absent: the raise condition negated, at once.',
      select: { definition: true },
      resolve: (r) => definitionOf(r).clear ?? null,
    }),
    severity: t.field({ type: RuleSeverityEnum, select: { definition: true }, resolve: (r) => definitionOf(r).severity }),
    onRaise: t.field({ type: [RuleActionRef], select: { definition: true }, resolve: (r) => definitionOf(r).onRaise ?? [] }),
    onClear: t.field({ type: [RuleActionRef], select: { definition: true }, resolve: (r) => definitionOf(r).onClear ?? [] }),
    definition: t.expose('definition', { type: 'JSON', description: 'The whole definition, as checkRule returned it.' }),
    createdBy: t.exposeString('createdBy', { nullable: true }),
    updatedBy: t.exposeString('updatedBy', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    openAlarmCount: t.relationCount('alarms', {
      where: { status: { not: 'CLEARED' } },
      description: 'Its alarms that are not CLEARED. Counted in the same statement that reads the rules, so a page of rules is one query.',
    }),
    versions: t.relation('versions', { description: 'Every saved version, newest first.', query: { orderBy: { version: 'desc' } } }),
  }),
});

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

const RuleScopeInput = builder.inputType('RuleScopeInput', {
  fields: (t) => ({
    deviceIds: t.stringList({ required: false }),
    tag: t.string({ required: false }),
    tags: t.stringList({ required: false }),
    model: t.string({ required: false }),
  }),
});

const RuleSourceInput = builder.inputType('RuleSourceInput', {
  fields: (t) => ({
    type: t.field({ type: RuleSourceTypeEnum, required: true }),
    metric: t.string({ required: false, description: 'TELEMETRY: the metric name.' }),
    path: t.stringList({ required: false, description: 'REPORTED / DESIRED: keys from the root, e.g. ["soil","moisture"].' }),
  }),
});

const ConditionInput = builder.inputType('ConditionInput', {
  fields: (t) => ({
    op: t.field({ type: ConditionOperatorEnum, required: true }),
    value: t.field({ type: 'JSON', required: false, description: 'GT … NEQ: the number, boolean or string compared with.' }),
    low: t.float({ required: false, description: 'BETWEEN / OUTSIDE.' }),
    high: t.float({ required: false, description: 'BETWEEN / OUTSIDE.' }),
    forMs: t.float({ required: false, description: 'How long it must hold, 1 ms – 30 days; NO_DATA: the silence.' }),
  }),
});

const RuleActionInput = builder.inputType('RuleActionInput', {
  fields: (t) => ({
    type: t.field({ type: RuleActionTypeEnum, required: true }),
    deviceId: t.string({ required: false }),
    command: t.string({ required: false }),
    params: t.field({ type: 'JSON', required: false, description: 'A string value exactly "{{value}}" or "{{deviceId}}" is replaced when it fires.' }),
    patch: t.field({ type: 'JSON', required: false }),
    endpointId: t.string({ required: false }),
  }),
});

const RuleInput = builder.inputType('RuleInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: '1–100 characters, unique in the tenant.' }),
    description: t.string({ required: false }),
    enabled: t.boolean({ required: false, description: 'Default true.' }),
    scope: t.field({ type: RuleScopeInput, required: true, description: '{} for every device of the tenant.' }),
    source: t.field({ type: RuleSourceInput, required: true }),
    raise: t.field({ type: ConditionInput, required: true }),
    clear: t.field({ type: ConditionInput, required: false, description: 'Absent: the raise condition negated, at once.' }),
    severity: t.field({ type: RuleSeverityEnum, required: true }),
    onRaise: t.field({ type: [RuleActionInput], required: false }),
    onClear: t.field({ type: [RuleActionInput], required: false }),
  }),
});

type RuleArgs = typeof RuleInput.$inferInput;

/** Drops null and undefined fields: the domain's optional fields are absent, not null. */
function compact(value: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null && v !== undefined));
}

/** The GraphQL input as the domain's rule definition, field for field (so issue paths match the input). */
export function definitionFromInput(input: Omit<RuleArgs, 'name' | 'description' | 'enabled'>): Record<string, unknown> {
  const condition = (c: NonNullable<RuleArgs['clear']>) => compact({ op: c.op, value: c.value, low: c.low, high: c.high, forMs: c.forMs });
  const action = (a: NonNullable<RuleArgs['onRaise']>[number]) =>
    compact({ type: a.type, deviceId: a.deviceId, command: a.command, params: a.params, patch: a.patch, endpointId: a.endpointId });
  return compact({
    scope: compact({ deviceIds: input.scope.deviceIds, tag: input.scope.tag, tags: input.scope.tags, model: input.scope.model }),
    source: compact({ type: input.source.type, metric: input.source.metric, path: input.source.path }),
    raise: condition(input.raise),
    clear: input.clear ? condition(input.clear) : undefined,
    severity: input.severity,
    onRaise: input.onRaise?.map(action),
    onClear: input.onClear?.map(action),
  });
}

function toServiceInput(input: RuleArgs): ServiceRuleInput {
  return { name: input.name, description: input.description ?? null, enabled: input.enabled ?? true, definition: definitionFromInput(input) };
}

const DeletedRuleRef = builder.objectRef<{ ruleId: string }>('DeletedRule').implement({
  fields: (t) => ({ ruleId: t.exposeString('ruleId') }),
});

// ---------------------------------------------------------------------------------------------
// Backtest
// ---------------------------------------------------------------------------------------------

const BacktestAlarmRef = builder.objectRef<BacktestAlarm>('BacktestAlarm').implement({
  description: 'An alarm the rule would have raised: one raise-to-clear episode.',
  fields: (t) => ({
    deviceId: t.exposeString('deviceId'),
    severity: t.field({ type: RuleSeverityEnum, resolve: (a) => a.severity }),
    raisedAt: t.field({ type: 'DateTime', resolve: (a) => new Date(a.raisedAt) }),
    raisedValue: t.field({ type: 'JSON', nullable: true, resolve: (a) => a.raisedValue as JsonValue | null }),
    clearedAt: t.field({ type: 'DateTime', nullable: true, resolve: (a) => (a.clearedAt === null ? null : new Date(a.clearedAt)) }),
    clearedValue: t.field({ type: 'JSON', nullable: true, resolve: (a) => a.clearedValue as JsonValue | null }),
  }),
});

const BacktestResultRef = builder.objectRef<BacktestResult>('RuleBacktest').implement({
  description: 'What a rule would have done over stored data (at most 100 devices and 10,000 readings per device).',
  fields: (t) => ({
    alarms: t.field({ type: [BacktestAlarmRef], resolve: (r) => r.alarms }),
    devices: t.exposeInt('devices', { description: 'Devices evaluated.' }),
    readings: t.exposeInt('readings', { description: 'Readings replayed.' }),
    raised: t.exposeInt('raised'),
    cleared: t.exposeInt('cleared'),
    openAtEnd: t.exposeInt('openAtEnd', { description: 'Alarms still raised at `to`.' }),
    truncated: t.exposeBoolean('truncated', { description: 'A bound (devices, readings per device) cut the run short.' }),
  }),
});

const RuleFilter = builder.inputType('RuleFilter', {
  fields: (t) => ({
    enabled: t.boolean({ required: false }),
    sourceType: t.field({ type: RuleSourceTypeEnum, required: false }),
  }),
});

function ruleWhere(tenantId: string, filter: { enabled?: boolean | null; sourceType?: string | null } | null | undefined) {
  return {
    tenantId,
    ...(filter?.enabled != null ? { enabled: filter.enabled } : {}),
    ...(filter?.sourceType ? { sourceType: filter.sourceType } : {}),
  };
}

builder.queryFields((t) => ({
  rules: t.prismaConnection(
    {
      ...requireRole('viewer'),
      type: 'Rule',
      cursor: 'id',
      description: 'Rules of the tenant, by name.',
      args: { filter: t.arg({ type: RuleFilter, required: false }) },
      defaultSize: 50,
      maxSize: 500,
      totalCount: (_parent, args, ctx) => ctx.prisma.rule.count({ where: ruleWhere(ctx.principal.tenantId, args.filter) }),
      resolve: (query, _root, args, ctx) =>
        ctx.prisma.rule.findMany({ ...query, where: ruleWhere(ctx.principal.tenantId, args.filter), orderBy: [{ name: 'asc' }, { id: 'asc' }] }),
    },
    { name: 'RuleConnection' },
    { name: 'RuleEdge' },
  ),
  rule: t.prismaField({
    ...requireRole('viewer'),
    type: 'Rule',
    nullable: true,
    args: { ruleId: t.arg.string({ required: true }) },
    resolve: async (query, _root, { ruleId }, ctx) => {
      const found = await ctx.rules.rule(ctx.principal.tenantId, ruleId);
      return found ? ctx.prisma.rule.findUnique({ ...query, where: { id: found.id } }) : null;
    },
  }),
  testRule: t.field({
    ...requireRole('viewer'),
    type: BacktestResultRef,
    description:
      'What a rule (the input, or the saved rule ruleId) would have done on the stored data between from and to: checked as when saved, then replayed through the same state machine as live evaluation. Writes nothing.',
    errors: { types: [ValidationError, NotFoundError] },
    args: {
      input: t.arg({ type: RuleInput, required: false }),
      ruleId: t.arg.string({ required: false }),
      from: t.arg({ type: 'DateTime', required: true }),
      to: t.arg({ type: 'DateTime', required: true }),
      deviceIds: t.arg.stringList({ required: false }),
    },
    resolve: (_root, args, ctx) =>
      ctx.ruleBacktest.testRule({
        tenantId: ctx.principal.tenantId,
        ...(args.input ? { definition: definitionFromInput(args.input) } : {}),
        ruleId: args.ruleId ?? null,
        from: new Date(args.from).getTime(),
        to: new Date(args.to).getTime(),
        deviceIds: args.deviceIds ?? null,
      }),
  }),
}));

builder.mutationFields((t) => ({
  createRule: t.prismaField({
    ...requireRole('operator'),
    type: 'Rule',
    description: 'Checks and saves a rule at version 1. A refused rule is a ValidationError listing every problem; nothing is saved.',
    errors: { types: [ValidationError, AlreadyExistsError] },
    args: { input: t.arg({ type: RuleInput, required: true }) },
    resolve: async (query, _root, { input }, ctx) => {
      const saved = await ctx.rules.createRule(actorOf(ctx.principal), toServiceInput(input));
      return ctx.prisma.rule.findUniqueOrThrow({ ...query, where: { id: saved.id } });
    },
  }),
  updateRule: t.prismaField({
    ...requireRole('operator'),
    type: 'Rule',
    description: 'Checks and saves a new version of a rule (the whole rule, as in createRule). Running windows are re-judged under it.',
    errors: { types: [ValidationError, AlreadyExistsError, NotFoundError] },
    args: { ruleId: t.arg.string({ required: true }), input: t.arg({ type: RuleInput, required: true }) },
    resolve: async (query, _root, { ruleId, input }, ctx) => {
      const saved = await ctx.rules.updateRule(actorOf(ctx.principal), ruleId, toServiceInput(input));
      return ctx.prisma.rule.findUniqueOrThrow({ ...query, where: { id: saved.id } });
    },
  }),
  enableRule: t.prismaField({
    ...requireRole('operator'),
    type: 'Rule',
    errors: { types: [NotFoundError] },
    args: { ruleId: t.arg.string({ required: true }) },
    resolve: async (query, _root, { ruleId }, ctx) => {
      const saved = await ctx.rules.enableRule(actorOf(ctx.principal), ruleId);
      return ctx.prisma.rule.findUniqueOrThrow({ ...query, where: { id: saved.id } });
    },
  }),
  disableRule: t.prismaField({
    ...requireRole('operator'),
    type: 'Rule',
    errors: { types: [NotFoundError] },
    args: { ruleId: t.arg.string({ required: true }) },
    resolve: async (query, _root, { ruleId }, ctx) => {
      const saved = await ctx.rules.disableRule(actorOf(ctx.principal), ruleId);
      return ctx.prisma.rule.findUniqueOrThrow({ ...query, where: { id: saved.id } });
    },
  }),
  deleteRule: t.field({
    ...requireRole('operator'),
    type: DeletedRuleRef,
    description: 'Deletes a rule with its versions, window states and alarms.',
    errors: { types: [NotFoundError] },
    args: { ruleId: t.arg.string({ required: true }) },
    resolve: async (_root, { ruleId }, ctx) => ({ ruleId: await ctx.rules.deleteRule(actorOf(ctx.principal), ruleId) }),
  }),
}));
