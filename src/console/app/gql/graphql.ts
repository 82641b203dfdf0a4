/* eslint-disable */
/** Internal type. DO NOT USE DIRECTLY. */
type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
/** Internal type. DO NOT USE DIRECTLY. */
export type Incremental<T> = T | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
import type { DocumentTypeDecoration } from '@graphql-typed-document-node/core';
export type AlarmControlInput = {
  alarmId: string;
  /** Kept in the alarm history (at most 2,000 characters). */
  comment?: string | null | undefined;
};

export type AlarmSeverity =
  | 'CRITICAL'
  | 'INFO'
  | 'MAJOR'
  | 'MINOR'
  | 'WARNING';

/** ACTIVE (raised) → ACKNOWLEDGED (seen) → CLEARED; an ACTIVE alarm whose condition clears is LATCHED until acknowledged (then CLEARED) or raised again (ACTIVE). */
export type AlarmStatus =
  | 'ACKNOWLEDGED'
  | 'ACTIVE'
  | 'CLEARED'
  | 'LATCHED';

/** PENDING → SENT → ACCEPTED → SUCCEEDED | FAILED | REJECTED; or EXPIRED (TTL passed before delivery), CANCELED (before delivery), TIMED_OUT (delivered, no final ack in time). */
export type CommandStatus =
  | 'ACCEPTED'
  | 'CANCELED'
  | 'EXPIRED'
  | 'FAILED'
  | 'PENDING'
  | 'REJECTED'
  | 'SENT'
  | 'SUCCEEDED'
  | 'TIMED_OUT';

export type CommentAlarmInput = {
  alarmId: string;
  /** At most 2,000 characters. */
  text: string;
};

export type ConditionInput = {
  /** How long it must hold, 1 ms – 30 days; NO_DATA: the silence. */
  forMs?: number | null | undefined;
  /** BETWEEN / OUTSIDE. */
  high?: number | null | undefined;
  /** BETWEEN / OUTSIDE. */
  low?: number | null | undefined;
  op: ConditionOperator;
  /** GT … NEQ: the number, boolean or string compared with. */
  value?: unknown;
};

export type ConditionOperator =
  /** low ≤ value ≤ high. */
  | 'BETWEEN'
  /** The value differs from the previous reading (takes no forMs). */
  | 'CHANGED'
  /** Numbers, booleans and strings. */
  | 'EQ'
  | 'GT'
  | 'GTE'
  | 'LT'
  | 'LTE'
  /** Numbers, booleans and strings. */
  | 'NEQ'
  /** Nothing arrived for forMs (required). */
  | 'NO_DATA'
  /** value < low or value > high. */
  | 'OUTSIDE';

export type CreateApiTokenInput = {
  /** When the token stops working; omit for no expiry. */
  expiresAt?: string | null | undefined;
  /** What the token is for (1–100 characters). */
  name: string;
  role: Role;
  /** Must be the caller's own tenant (the default). A new tenant's first admin token comes from the CLI: `npm run token -- create --tenant <t> --role admin --name <n>`. */
  tenantId?: string | null | undefined;
};

export type CreateProvisioningPolicyInput = {
  /** ALLOW_LIST: the ids (serials) devices may claim, once each. */
  allowedDeviceIds?: Array<string> | null | undefined;
  expiresAt?: string | null | undefined;
  maxDevices?: number | null | undefined;
  mode: ProvisioningMode;
  /** Model of the devices it creates (created on first use). */
  model?: string | null | undefined;
  name: string;
  reprovision?: ReprovisionPolicy | null | undefined;
  tags?: Array<string> | null | undefined;
};

/** Every given condition holds (AND), within your tenant. Fleet search: docs/onboarding.md#fleet-search. */
export type DeviceFilter = {
  /** true: the device has an open alarm (ACTIVE, ACKNOWLEDGED or LATCHED, i.e. not CLEARED); false: it has none. */
  alarmActive?: boolean | null | undefined;
  connected?: boolean | null | undefined;
  /** Conditions on the desired state (at most 16). */
  desired?: Array<TwinPathCondition> | null | undefined;
  /** true: the device has not reached its desired state yet (its delta is not empty); false: it has. */
  hasDelta?: boolean | null | undefined;
  /** Last seen strictly after this instant. */
  lastSeenAfter?: string | null | undefined;
  /** Last seen strictly before this instant (a device never seen does not match). */
  lastSeenBefore?: string | null | undefined;
  /** Name of the device model. */
  model?: string | null | undefined;
  /** Conditions on the reported state (at most 16). */
  reported?: Array<TwinPathCondition> | null | undefined;
  /** Devices carrying this tag. */
  tag?: string | null | undefined;
  /** Devices carrying all of these tags. */
  tags?: Array<string> | null | undefined;
};

/** CLAIM_TOKEN: a shared token; GROUP_KEY: per-device keys derived from a group key; ALLOW_LIST: a token for listed ids, each claimed once. */
export type ProvisioningMode =
  | 'ALLOW_LIST'
  | 'CLAIM_TOKEN'
  | 'GROUP_KEY';

export type ProvisioningReason =
  | 'ACCEPTED'
  | 'ALREADY_CLAIMED'
  | 'ALREADY_PROVISIONED'
  | 'BAD_DERIVED_KEY'
  | 'BAD_TOKEN'
  | 'INVALID_DEVICE_ID'
  | 'INVALID_REQUEST'
  | 'NOT_ON_ALLOW_LIST'
  | 'POLICY_DISABLED'
  | 'ROTATED'
  | 'TOKEN_EXHAUSTED'
  | 'TOKEN_EXPIRED'
  | 'TOPIC_DENIED';

/** A device the policy created asks again (factory reset): REFUSE, or ROTATE its credentials (audited). */
export type ReprovisionPolicy =
  | 'REFUSE'
  | 'ROTATE';

/** What a token may do. Each role includes the ones below it. */
export type Role =
  /** Also manage devices, models and API tokens; read the audit log. */
  | 'ADMIN'
  /** Also change desired state and send commands. */
  | 'OPERATOR'
  /** Read devices, twins, telemetry; subscribe. */
  | 'VIEWER';

export type RuleActionInput = {
  command?: string | null | undefined;
  deviceId?: string | null | undefined;
  endpointId?: string | null | undefined;
  /** A string value exactly "{{value}}" or "{{deviceId}}" is replaced when it fires. */
  params?: unknown;
  patch?: unknown;
  type: RuleActionType;
};

export type RuleActionType =
  /** Notify the webhook endpoint `endpointId` of the tenant. */
  | 'NOTIFY_WEBHOOK'
  /** Send `command` with `params` to `deviceId` (absent: the triggering device). */
  | 'SEND_COMMAND'
  /** Merge `patch` into the desired state of `deviceId` (absent: the triggering device). */
  | 'UPDATE_DESIRED';

export type RuleInput = {
  /** Absent: the raise condition negated, at once. */
  clear?: ConditionInput | null | undefined;
  description?: string | null | undefined;
  /** Default true. */
  enabled?: boolean | null | undefined;
  /** 1–100 characters, unique in the tenant. */
  name: string;
  onClear?: Array<RuleActionInput> | null | undefined;
  onRaise?: Array<RuleActionInput> | null | undefined;
  raise: ConditionInput;
  /** {} for every device of the tenant. */
  scope: RuleScopeInput;
  severity: RuleSeverity;
  source: RuleSourceInput;
};

export type RuleScopeInput = {
  deviceIds?: Array<string> | null | undefined;
  model?: string | null | undefined;
  tag?: string | null | undefined;
  tags?: Array<string> | null | undefined;
};

export type RuleSeverity =
  | 'CRITICAL'
  | 'INFO'
  | 'MAJOR'
  | 'MINOR'
  | 'WARNING';

export type RuleSourceInput = {
  /** TELEMETRY: the metric name. */
  metric?: string | null | undefined;
  /** REPORTED / DESIRED: keys from the root, e.g. ["soil","moisture"]. */
  path?: Array<string> | null | undefined;
  type: RuleSourceType;
};

/** What a rule watches on each device in scope. */
export type RuleSourceType =
  /** Whether the device is connected (a boolean). */
  | 'CONNECTION'
  /** A key path in the desired twin section. */
  | 'DESIRED'
  /** A key path in the reported twin section. */
  | 'REPORTED'
  /** A telemetry metric (numbers and booleans). */
  | 'TELEMETRY';

export type SendCommandInput = {
  deviceId: string;
  /** Same key and device → the same command, never a second one. */
  idempotencyKey?: string | null | undefined;
  /** A command declared by the device model. */
  name: string;
  /** Must satisfy the command's params JSON Schema. */
  params?: unknown;
  /** Time to live before delivery (default: the command's ttlMs). */
  ttlMs?: number | null | undefined;
};

/** Bucket size. Calendar buckets (DAY, WEEK, MONTH) follow the time zone, so a day is 23 or 25 hours across a DST change. */
export type SeriesInterval =
  | 'DAY'
  | 'FIFTEEN_MINUTES'
  | 'FIVE_MINUTES'
  | 'HOUR'
  | 'MINUTE'
  | 'MONTH'
  /** ISO weeks, starting on Monday. */
  | 'WEEK';

/** A condition on one leaf of a twin section: exactly one of eq, ne, lt, gt, in, exists. Values are JSON scalars (string, number, boolean; never null: use exists: false). eq/in match the same JSON type only ("1" is not 1); ne also matches devices without the leaf; lt/gt compare numbers numerically and strings by Unicode code point, and never match a leaf of another type. The path never steps into arrays. See docs/onboarding.md#fleet-search. */
export type TwinPathCondition = {
  /** The leaf is this value. */
  eq?: unknown;
  /** The leaf (or object) at the path is present (true) or absent (false). */
  exists?: boolean | null | undefined;
  /** The leaf is a number (string) greater than this number (string). */
  gt?: unknown;
  /** The leaf is one of these values (1–100). */
  in?: Array<unknown> | null | undefined;
  /** The leaf is a number (string) less than this number (string). */
  lt?: unknown;
  /** The leaf is not this value, or is absent. */
  ne?: unknown;
  /** Object keys from the section root, e.g. ["fw", "version"] (1–16 keys). */
  path: Array<string>;
};

export type ConsoleAuditLogQueryVariables = Exact<{
  after?: string | null | undefined;
  action?: string | null | undefined;
  target?: string | null | undefined;
}>;


export type ConsoleAuditLogQuery = { auditLog: { edges: Array<{ node: { id: string, createdAt: string, actor: string, actorName: string | null, action: string, target: string, details: unknown } }>, pageInfo: { hasNextPage: boolean, endCursor: string | null } } };

export type ConsoleProvisioningQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleProvisioningQuery = { provisioningPolicies: Array<{ id: string, name: string, mode: ProvisioningMode, enabled: boolean, reprovision: ReprovisionPolicy, model: string | null, tags: Array<string>, maxDevices: number | null, devicesProvisioned: number, allowedIds: number, claimedIds: number, expiresAt: string | null, createdAt: string }>, provisioningAttempts: { edges: Array<{ node: { id: string, at: string, policyId: string | null, deviceId: string | null, requestId: string | null, reason: ProvisioningReason, accepted: boolean, message: string | null } }> } };

export type ConsoleCreateProvisioningPolicyMutationVariables = Exact<{
  input: CreateProvisioningPolicyInput;
}>;


export type ConsoleCreateProvisioningPolicyMutation = { createProvisioningPolicy:
    | { __typename: 'AlreadyExists', message: string }
    | { __typename: 'CreateProvisioningPolicyPayload', claimToken: string | null, groupKey: string | null, policy: { id: string, mode: ProvisioningMode } }
    | { __typename: 'ValidationError', message: string, fieldErrors: Array<{ path: Array<string>, message: string }> }
   };

export type ConsoleSetProvisioningPolicyEnabledMutationVariables = Exact<{
  id: string | number;
  enabled: boolean;
}>;


export type ConsoleSetProvisioningPolicyEnabledMutation = { updateProvisioningPolicy:
    | { __typename: 'AlreadyExists', message: string }
    | { __typename: 'NotFound', message: string }
    | { __typename: 'ProvisioningPolicy', id: string, enabled: boolean }
    | { __typename: 'ValidationError', message: string }
   };

export type ConsoleDeleteProvisioningPolicyMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleDeleteProvisioningPolicyMutation = { deleteProvisioningPolicy:
    | { __typename: 'DeletedProvisioningPolicy' }
    | { __typename: 'NotFound', message: string }
   };

export type ConsoleApiTokensQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleApiTokensQuery = { apiTokens: Array<{ id: string, name: string, role: Role, createdAt: string, expiresAt: string | null, lastUsedAt: string | null, revokedAt: string | null }> };

export type ConsoleCreateApiTokenMutationVariables = Exact<{
  input: CreateApiTokenInput;
}>;


export type ConsoleCreateApiTokenMutation = { createApiToken:
    | { __typename: 'CreatedApiToken', token: string, apiToken: { id: string } }
    | { __typename: 'ValidationError', message: string }
   };

export type ConsoleRevokeApiTokenMutationVariables = Exact<{
  id: string | number;
}>;


export type ConsoleRevokeApiTokenMutation = { revokeApiToken:
    | { __typename: 'NotFound', message: string }
    | { __typename: 'RevokedApiToken' }
   };

export type ConsoleOpenAlarmListQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type ConsoleOpenAlarmListQuery = { alarms: { pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { alarmId: string, status: AlarmStatus, severity: AlarmSeverity, raisedAt: string, raisedValue: unknown, flapping: boolean, rule: { name: string }, device: { deviceId: string } } }> } };

export type ConsoleAlarmUpdatesSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type ConsoleAlarmUpdatesSubscription = { alarmChanged: { alarmId: string, status: AlarmStatus, alarm: { alarmId: string, status: AlarmStatus, severity: AlarmSeverity, raisedAt: string, raisedValue: unknown, flapping: boolean, rule: { name: string }, device: { deviceId: string } } | null } };

export type ConsoleAcknowledgeAlarmMutationVariables = Exact<{
  input: AlarmControlInput;
}>;


export type ConsoleAcknowledgeAlarmMutation = { acknowledgeAlarm:
    | { __typename: 'Alarm', alarmId: string, status: AlarmStatus }
    | { __typename: 'IllegalAlarmState', message: string }
    | { __typename: 'NotFound', message: string }
    | { __typename: 'ValidationError', message: string }
   };

export type ConsoleClearAlarmMutationVariables = Exact<{
  input: AlarmControlInput;
}>;


export type ConsoleClearAlarmMutation = { clearAlarm:
    | { __typename: 'Alarm', alarmId: string, status: AlarmStatus }
    | { __typename: 'IllegalAlarmState', message: string }
    | { __typename: 'NotFound', message: string }
    | { __typename: 'ValidationError', message: string }
   };

export type ConsoleCommentAlarmMutationVariables = Exact<{
  input: CommentAlarmInput;
}>;


export type ConsoleCommentAlarmMutation = { commentAlarm:
    | { __typename: 'Alarm', alarmId: string, status: AlarmStatus }
    | { __typename: 'NotFound', message: string }
    | { __typename: 'ValidationError', message: string }
   };

export type ConsoleTelemetrySampledSubscriptionVariables = Exact<{
  deviceId: string;
  sampleIntervalMs?: number | null | undefined;
}>;


export type ConsoleTelemetrySampledSubscription = { telemetry: { at: string, points: Array<{ metric: string, ts: string, value: number }> } };

export type ConsoleDeviceMetricsQueryVariables = Exact<{
  deviceId: string;
}>;


export type ConsoleDeviceMetricsQuery = { device: { latest: Array<{ metric: string, ts: string, value: number }> } | null };

export type ConsoleDeviceSeriesQueryVariables = Exact<{
  deviceId: string;
  metrics: Array<string> | string;
  interval: SeriesInterval;
  from: string;
  to: string;
  timeZone?: string | null | undefined;
}>;


export type ConsoleDeviceSeriesQuery = { device: { series: Array<{ metric: string, buckets: Array<{ start: string, end: string, avg: number | null, min: number | null, max: number | null, count: number | null }> }> } | null };

export type ConsoleCommandsQueryVariables = Exact<{
  deviceId: string;
}>;


export type ConsoleCommandsQuery = { device: { model: { name: string, commands: Array<{ name: string, description: string | null, params: unknown }> } | null, commands: { edges: Array<{ node: { commandId: string, name: string, params: unknown, status: CommandStatus, createdAt: string, result: unknown, error: unknown } }> } } | null };

export type ConsoleSendCommandMutationVariables = Exact<{
  input: SendCommandInput;
}>;


export type ConsoleSendCommandMutation = { sendCommand:
    | { __typename: 'Command', commandId: string, name: string, params: unknown, status: CommandStatus, createdAt: string, result: unknown, error: unknown }
    | { __typename: 'NotFound', message: string }
    | { __typename: 'RateLimited', message: string }
    | { __typename: 'ValidationError', message: string, fieldErrors: Array<{ path: Array<string>, message: string }> }
   };

export type ConsoleCommandUpdatesSubscriptionVariables = Exact<{
  deviceId: string;
}>;


export type ConsoleCommandUpdatesSubscription = { commandUpdated: { commandId: string, status: CommandStatus, command: { commandId: string, name: string, params: unknown, status: CommandStatus, createdAt: string, result: unknown, error: unknown } | null } };

export type ConsoleDeviceQueryVariables = Exact<{
  deviceId: string;
}>;


export type ConsoleDeviceQuery = { device: { deviceId: string, name: string | null, connected: boolean, lastSeenAt: string | null, tags: Array<string>, model: { name: string } | null, twin: { version: number, reported: unknown, desired: unknown, delta: unknown } } | null };

export type ConsoleTwinSubscriptionVariables = Exact<{
  deviceId: string;
  sinceVersion?: number | null | undefined;
}>;


export type ConsoleTwinSubscription = { twinChanged: { version: number, twin: { version: number, reported: unknown, desired: unknown, delta: unknown } | null } };

export type ConsoleDeviceConnectionSubscriptionVariables = Exact<{
  deviceId: string;
}>;


export type ConsoleDeviceConnectionSubscription = { deviceConnection: { connected: boolean, at: string } };

export type ConsoleUpdateDesiredMutationVariables = Exact<{
  deviceId: string;
  ifVersion?: number | null | undefined;
  patch: unknown;
}>;


export type ConsoleUpdateDesiredMutation = { updateDesired:
    | { __typename: 'NotFound', message: string }
    | { __typename: 'UpdateDesiredPayload', version: number, twin: { version: number, reported: unknown, desired: unknown, delta: unknown } }
    | { __typename: 'ValidationError', message: string, fieldErrors: Array<{ path: Array<string>, message: string }> }
    | { __typename: 'VersionConflict', message: string, currentVersion: number }
   };

export type ConsoleFleetPageQueryVariables = Exact<{
  filter?: DeviceFilter | null | undefined;
  first: number;
  after?: string | null | undefined;
}>;


export type ConsoleFleetPageQuery = { devices: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { deviceId: string, name: string | null, connected: boolean, lastSeenAt: string | null, tags: Array<string>, model: { name: string } | null, twin: { delta: unknown } } }> } };

export type ConsoleOpenAlarmsQueryVariables = Exact<{
  after?: string | null | undefined;
}>;


export type ConsoleOpenAlarmsQuery = { alarms: { pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { alarmId: string, status: AlarmStatus, device: { deviceId: string } } }> } };

export type ConsoleFleetConnectionSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type ConsoleFleetConnectionSubscription = { deviceConnection: { deviceId: string, connected: boolean, at: string } };

export type ConsoleFleetAlarmsSubscriptionVariables = Exact<{ [key: string]: never; }>;


export type ConsoleFleetAlarmsSubscription = { alarmChanged: { alarmId: string, deviceId: string, status: AlarmStatus } };

export type ConsoleMeQueryVariables = Exact<{ [key: string]: never; }>;


export type ConsoleMeQuery = { me: { role: Role, tenantId: string } };

export type ConsoleRuleListQueryVariables = Exact<{
  first: number;
  after?: string | null | undefined;
}>;


export type ConsoleRuleListQuery = { rules: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { ruleId: string, name: string, enabled: boolean, severity: RuleSeverity, version: number, openAlarmCount: number, source: { type: RuleSourceType, metric: string | null, path: Array<string> | null }, raise: { op: ConditionOperator, value: unknown, low: number | null, high: number | null, forMs: number | null }, scope: { deviceIds: Array<string> | null, tag: string | null, tags: Array<string> | null, model: string | null } } }> } };

export type ConsoleRuleQueryVariables = Exact<{
  ruleId: string;
}>;


export type ConsoleRuleQuery = { rule: { ruleId: string, name: string, description: string | null, enabled: boolean, severity: RuleSeverity, version: number, source: { type: RuleSourceType, metric: string | null, path: Array<string> | null }, raise: { op: ConditionOperator, value: unknown, low: number | null, high: number | null, forMs: number | null }, clear: { op: ConditionOperator, value: unknown, low: number | null, high: number | null, forMs: number | null } | null, scope: { deviceIds: Array<string> | null, tag: string | null, tags: Array<string> | null, model: string | null }, onRaise: Array<{ type: RuleActionType, command: string | null, deviceId: string | null, endpointId: string | null, params: unknown, patch: unknown }>, onClear: Array<{ type: RuleActionType, command: string | null, deviceId: string | null, endpointId: string | null, params: unknown, patch: unknown }> } | null };

export type ConsoleCreateRuleMutationVariables = Exact<{
  input: RuleInput;
}>;


export type ConsoleCreateRuleMutation = { createRule:
    | { __typename: 'AlreadyExists', message: string }
    | { __typename: 'Rule', ruleId: string, version: number }
    | { __typename: 'ValidationError', message: string, fieldErrors: Array<{ path: Array<string>, message: string }> }
   };

export type ConsoleUpdateRuleMutationVariables = Exact<{
  ruleId: string;
  input: RuleInput;
}>;


export type ConsoleUpdateRuleMutation = { updateRule:
    | { __typename: 'AlreadyExists', message: string }
    | { __typename: 'NotFound', message: string }
    | { __typename: 'Rule', ruleId: string, version: number }
    | { __typename: 'ValidationError', message: string, fieldErrors: Array<{ path: Array<string>, message: string }> }
   };

export type ConsoleEnableRuleMutationVariables = Exact<{
  ruleId: string;
}>;


export type ConsoleEnableRuleMutation = { enableRule:
    | { __typename: 'NotFound', message: string }
    | { __typename: 'Rule', ruleId: string, enabled: boolean }
   };

export type ConsoleDisableRuleMutationVariables = Exact<{
  ruleId: string;
}>;


export type ConsoleDisableRuleMutation = { disableRule:
    | { __typename: 'NotFound', message: string }
    | { __typename: 'Rule', ruleId: string, enabled: boolean }
   };

export type ConsoleDeleteRuleMutationVariables = Exact<{
  ruleId: string;
}>;


export type ConsoleDeleteRuleMutation = { deleteRule:
    | { __typename: 'DeletedRule' }
    | { __typename: 'NotFound', message: string }
   };

export type ConsoleTestRuleQueryVariables = Exact<{
  input: RuleInput;
  from: string;
  to: string;
  deviceIds?: Array<string> | string | null | undefined;
}>;


export type ConsoleTestRuleQuery = { testRule:
    | { __typename: 'NotFound', message: string }
    | { __typename: 'RuleBacktest', raised: number, cleared: number, openAtEnd: number, devices: number, readings: number, truncated: boolean, alarms: Array<{ deviceId: string, severity: RuleSeverity, raisedAt: string, raisedValue: unknown, clearedAt: string | null, clearedValue: unknown }> }
    | { __typename: 'ValidationError', message: string, fieldErrors: Array<{ path: Array<string>, message: string }> }
   };

export type ConsoleBacktestSeriesQueryVariables = Exact<{
  deviceId: string;
  metric: string;
  interval: SeriesInterval;
  from: string;
  to: string;
}>;


export type ConsoleBacktestSeriesQuery = { device: { series: Array<{ metric: string, buckets: Array<{ start: string, avg: number | null }> }> } | null };

export class TypedDocumentString<TResult, TVariables>
  extends String
  implements DocumentTypeDecoration<TResult, TVariables>
{
  __apiType?: NonNullable<DocumentTypeDecoration<TResult, TVariables>['__apiType']>;
  private value: string;
  public __meta__?: Record<string, any> | undefined;

  constructor(value: string, __meta__?: Record<string, any> | undefined) {
    super(value);
    this.value = value;
    this.__meta__ = __meta__;
  }

  override toString(): string & DocumentTypeDecoration<TResult, TVariables> {
    return this.value;
  }
}

export const ConsoleAuditLogDocument = new TypedDocumentString(`
    query ConsoleAuditLog($after: String, $action: String, $target: String) {
  auditLog(first: 100, after: $after, action: $action, target: $target) {
    edges {
      node {
        id
        createdAt
        actor
        actorName
        action
        target
        details
      }
    }
    pageInfo {
      hasNextPage
      endCursor
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleAuditLogQuery, ConsoleAuditLogQueryVariables>;
export const ConsoleProvisioningDocument = new TypedDocumentString(`
    query ConsoleProvisioning {
  provisioningPolicies {
    id
    name
    mode
    enabled
    reprovision
    model
    tags
    maxDevices
    devicesProvisioned
    allowedIds
    claimedIds
    expiresAt
    createdAt
  }
  provisioningAttempts(first: 50) {
    edges {
      node {
        id
        at
        policyId
        deviceId
        requestId
        reason
        accepted
        message
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleProvisioningQuery, ConsoleProvisioningQueryVariables>;
export const ConsoleCreateProvisioningPolicyDocument = new TypedDocumentString(`
    mutation ConsoleCreateProvisioningPolicy($input: CreateProvisioningPolicyInput!) {
  createProvisioningPolicy(input: $input) {
    __typename
    ... on CreateProvisioningPolicyPayload {
      claimToken
      groupKey
      policy {
        id
        mode
      }
    }
    ... on ValidationError {
      message
      fieldErrors {
        path
        message
      }
    }
    ... on AlreadyExists {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleCreateProvisioningPolicyMutation, ConsoleCreateProvisioningPolicyMutationVariables>;
export const ConsoleSetProvisioningPolicyEnabledDocument = new TypedDocumentString(`
    mutation ConsoleSetProvisioningPolicyEnabled($id: ID!, $enabled: Boolean!) {
  updateProvisioningPolicy(id: $id, input: {enabled: $enabled}) {
    __typename
    ... on ProvisioningPolicy {
      id
      enabled
    }
    ... on NotFound {
      message
    }
    ... on ValidationError {
      message
    }
    ... on AlreadyExists {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleSetProvisioningPolicyEnabledMutation, ConsoleSetProvisioningPolicyEnabledMutationVariables>;
export const ConsoleDeleteProvisioningPolicyDocument = new TypedDocumentString(`
    mutation ConsoleDeleteProvisioningPolicy($id: ID!) {
  deleteProvisioningPolicy(id: $id) {
    __typename
    ... on NotFound {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleDeleteProvisioningPolicyMutation, ConsoleDeleteProvisioningPolicyMutationVariables>;
export const ConsoleApiTokensDocument = new TypedDocumentString(`
    query ConsoleApiTokens {
  apiTokens(includeRevoked: true) {
    id
    name
    role
    createdAt
    expiresAt
    lastUsedAt
    revokedAt
  }
}
    `) as unknown as TypedDocumentString<ConsoleApiTokensQuery, ConsoleApiTokensQueryVariables>;
export const ConsoleCreateApiTokenDocument = new TypedDocumentString(`
    mutation ConsoleCreateApiToken($input: CreateApiTokenInput!) {
  createApiToken(input: $input) {
    __typename
    ... on CreatedApiToken {
      token
      apiToken {
        id
      }
    }
    ... on ValidationError {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleCreateApiTokenMutation, ConsoleCreateApiTokenMutationVariables>;
export const ConsoleRevokeApiTokenDocument = new TypedDocumentString(`
    mutation ConsoleRevokeApiToken($id: ID!) {
  revokeApiToken(id: $id) {
    __typename
    ... on NotFound {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleRevokeApiTokenMutation, ConsoleRevokeApiTokenMutationVariables>;
export const ConsoleOpenAlarmListDocument = new TypedDocumentString(`
    query ConsoleOpenAlarmList($after: String) {
  alarms(filter: {open: true}, first: 500, after: $after) {
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        alarmId
        status
        severity
        raisedAt
        raisedValue
        flapping
        rule {
          name
        }
        device {
          deviceId
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleOpenAlarmListQuery, ConsoleOpenAlarmListQueryVariables>;
export const ConsoleAlarmUpdatesDocument = new TypedDocumentString(`
    subscription ConsoleAlarmUpdates {
  alarmChanged {
    alarmId
    status
    alarm {
      alarmId
      status
      severity
      raisedAt
      raisedValue
      flapping
      rule {
        name
      }
      device {
        deviceId
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleAlarmUpdatesSubscription, ConsoleAlarmUpdatesSubscriptionVariables>;
export const ConsoleAcknowledgeAlarmDocument = new TypedDocumentString(`
    mutation ConsoleAcknowledgeAlarm($input: AlarmControlInput!) {
  acknowledgeAlarm(input: $input) {
    __typename
    ... on Alarm {
      alarmId
      status
    }
    ... on Error {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleAcknowledgeAlarmMutation, ConsoleAcknowledgeAlarmMutationVariables>;
export const ConsoleClearAlarmDocument = new TypedDocumentString(`
    mutation ConsoleClearAlarm($input: AlarmControlInput!) {
  clearAlarm(input: $input) {
    __typename
    ... on Alarm {
      alarmId
      status
    }
    ... on Error {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleClearAlarmMutation, ConsoleClearAlarmMutationVariables>;
export const ConsoleCommentAlarmDocument = new TypedDocumentString(`
    mutation ConsoleCommentAlarm($input: CommentAlarmInput!) {
  commentAlarm(input: $input) {
    __typename
    ... on Alarm {
      alarmId
      status
    }
    ... on Error {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleCommentAlarmMutation, ConsoleCommentAlarmMutationVariables>;
export const ConsoleTelemetrySampledDocument = new TypedDocumentString(`
    subscription ConsoleTelemetrySampled($deviceId: String!, $sampleIntervalMs: Int) {
  telemetry(deviceId: $deviceId, sampleIntervalMs: $sampleIntervalMs) {
    at
    points {
      metric
      ts
      value
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleTelemetrySampledSubscription, ConsoleTelemetrySampledSubscriptionVariables>;
export const ConsoleDeviceMetricsDocument = new TypedDocumentString(`
    query ConsoleDeviceMetrics($deviceId: String!) {
  device(deviceId: $deviceId) {
    latest {
      metric
      ts
      value
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleDeviceMetricsQuery, ConsoleDeviceMetricsQueryVariables>;
export const ConsoleDeviceSeriesDocument = new TypedDocumentString(`
    query ConsoleDeviceSeries($deviceId: String!, $metrics: [String!]!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!, $timeZone: String) {
  device(deviceId: $deviceId) {
    series(
      metrics: $metrics
      aggregates: [AVG, MIN, MAX, COUNT]
      interval: $interval
      from: $from
      to: $to
      timeZone: $timeZone
    ) {
      metric
      buckets {
        start
        end
        avg
        min
        max
        count
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleDeviceSeriesQuery, ConsoleDeviceSeriesQueryVariables>;
export const ConsoleCommandsDocument = new TypedDocumentString(`
    query ConsoleCommands($deviceId: String!) {
  device(deviceId: $deviceId) {
    model {
      name
      commands {
        name
        description
        params
      }
    }
    commands(last: 20) {
      edges {
        node {
          commandId
          name
          params
          status
          createdAt
          result
          error
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleCommandsQuery, ConsoleCommandsQueryVariables>;
export const ConsoleSendCommandDocument = new TypedDocumentString(`
    mutation ConsoleSendCommand($input: SendCommandInput!) {
  sendCommand(input: $input) {
    __typename
    ... on Command {
      commandId
      name
      params
      status
      createdAt
      result
      error
    }
    ... on ValidationError {
      message
      fieldErrors {
        path
        message
      }
    }
    ... on NotFound {
      message
    }
    ... on RateLimited {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleSendCommandMutation, ConsoleSendCommandMutationVariables>;
export const ConsoleCommandUpdatesDocument = new TypedDocumentString(`
    subscription ConsoleCommandUpdates($deviceId: String!) {
  commandUpdated(deviceId: $deviceId) {
    commandId
    status
    command {
      commandId
      name
      params
      status
      createdAt
      result
      error
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleCommandUpdatesSubscription, ConsoleCommandUpdatesSubscriptionVariables>;
export const ConsoleDeviceDocument = new TypedDocumentString(`
    query ConsoleDevice($deviceId: String!) {
  device(deviceId: $deviceId) {
    deviceId
    name
    connected
    lastSeenAt
    tags
    model {
      name
    }
    twin {
      version
      reported
      desired
      delta
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleDeviceQuery, ConsoleDeviceQueryVariables>;
export const ConsoleTwinDocument = new TypedDocumentString(`
    subscription ConsoleTwin($deviceId: String!, $sinceVersion: Int) {
  twinChanged(deviceId: $deviceId, sinceVersion: $sinceVersion) {
    version
    twin {
      version
      reported
      desired
      delta
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleTwinSubscription, ConsoleTwinSubscriptionVariables>;
export const ConsoleDeviceConnectionDocument = new TypedDocumentString(`
    subscription ConsoleDeviceConnection($deviceId: String!) {
  deviceConnection(deviceId: $deviceId) {
    connected
    at
  }
}
    `) as unknown as TypedDocumentString<ConsoleDeviceConnectionSubscription, ConsoleDeviceConnectionSubscriptionVariables>;
export const ConsoleUpdateDesiredDocument = new TypedDocumentString(`
    mutation ConsoleUpdateDesired($deviceId: String!, $ifVersion: Int, $patch: JSON!) {
  updateDesired(deviceId: $deviceId, ifVersion: $ifVersion, patch: $patch) {
    __typename
    ... on UpdateDesiredPayload {
      version
      twin {
        version
        reported
        desired
        delta
      }
    }
    ... on ValidationError {
      message
      fieldErrors {
        path
        message
      }
    }
    ... on VersionConflict {
      message
      currentVersion
    }
    ... on NotFound {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleUpdateDesiredMutation, ConsoleUpdateDesiredMutationVariables>;
export const ConsoleFleetPageDocument = new TypedDocumentString(`
    query ConsoleFleetPage($filter: DeviceFilter, $first: Int!, $after: String) {
  devices(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        deviceId
        name
        connected
        lastSeenAt
        tags
        model {
          name
        }
        twin {
          delta
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleFleetPageQuery, ConsoleFleetPageQueryVariables>;
export const ConsoleOpenAlarmsDocument = new TypedDocumentString(`
    query ConsoleOpenAlarms($after: String) {
  alarms(filter: {open: true}, first: 500, after: $after) {
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        alarmId
        status
        device {
          deviceId
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleOpenAlarmsQuery, ConsoleOpenAlarmsQueryVariables>;
export const ConsoleFleetConnectionDocument = new TypedDocumentString(`
    subscription ConsoleFleetConnection {
  deviceConnection {
    deviceId
    connected
    at
  }
}
    `) as unknown as TypedDocumentString<ConsoleFleetConnectionSubscription, ConsoleFleetConnectionSubscriptionVariables>;
export const ConsoleFleetAlarmsDocument = new TypedDocumentString(`
    subscription ConsoleFleetAlarms {
  alarmChanged {
    alarmId
    deviceId
    status
  }
}
    `) as unknown as TypedDocumentString<ConsoleFleetAlarmsSubscription, ConsoleFleetAlarmsSubscriptionVariables>;
export const ConsoleMeDocument = new TypedDocumentString(`
    query ConsoleMe {
  me {
    role
    tenantId
  }
}
    `) as unknown as TypedDocumentString<ConsoleMeQuery, ConsoleMeQueryVariables>;
export const ConsoleRuleListDocument = new TypedDocumentString(`
    query ConsoleRuleList($first: Int!, $after: String) {
  rules(first: $first, after: $after) {
    totalCount
    pageInfo {
      hasNextPage
      endCursor
    }
    edges {
      node {
        ruleId
        name
        enabled
        severity
        version
        openAlarmCount
        source {
          type
          metric
          path
        }
        raise {
          op
          value
          low
          high
          forMs
        }
        scope {
          deviceIds
          tag
          tags
          model
        }
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleRuleListQuery, ConsoleRuleListQueryVariables>;
export const ConsoleRuleDocument = new TypedDocumentString(`
    query ConsoleRule($ruleId: String!) {
  rule(ruleId: $ruleId) {
    ruleId
    name
    description
    enabled
    severity
    version
    source {
      type
      metric
      path
    }
    raise {
      op
      value
      low
      high
      forMs
    }
    clear {
      op
      value
      low
      high
      forMs
    }
    scope {
      deviceIds
      tag
      tags
      model
    }
    onRaise {
      type
      command
      deviceId
      endpointId
      params
      patch
    }
    onClear {
      type
      command
      deviceId
      endpointId
      params
      patch
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleRuleQuery, ConsoleRuleQueryVariables>;
export const ConsoleCreateRuleDocument = new TypedDocumentString(`
    mutation ConsoleCreateRule($input: RuleInput!) {
  createRule(input: $input) {
    __typename
    ... on Rule {
      ruleId
      version
    }
    ... on ValidationError {
      message
      fieldErrors {
        path
        message
      }
    }
    ... on AlreadyExists {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleCreateRuleMutation, ConsoleCreateRuleMutationVariables>;
export const ConsoleUpdateRuleDocument = new TypedDocumentString(`
    mutation ConsoleUpdateRule($ruleId: String!, $input: RuleInput!) {
  updateRule(ruleId: $ruleId, input: $input) {
    __typename
    ... on Rule {
      ruleId
      version
    }
    ... on ValidationError {
      message
      fieldErrors {
        path
        message
      }
    }
    ... on AlreadyExists {
      message
    }
    ... on NotFound {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleUpdateRuleMutation, ConsoleUpdateRuleMutationVariables>;
export const ConsoleEnableRuleDocument = new TypedDocumentString(`
    mutation ConsoleEnableRule($ruleId: String!) {
  enableRule(ruleId: $ruleId) {
    __typename
    ... on Rule {
      ruleId
      enabled
    }
    ... on NotFound {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleEnableRuleMutation, ConsoleEnableRuleMutationVariables>;
export const ConsoleDisableRuleDocument = new TypedDocumentString(`
    mutation ConsoleDisableRule($ruleId: String!) {
  disableRule(ruleId: $ruleId) {
    __typename
    ... on Rule {
      ruleId
      enabled
    }
    ... on NotFound {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleDisableRuleMutation, ConsoleDisableRuleMutationVariables>;
export const ConsoleDeleteRuleDocument = new TypedDocumentString(`
    mutation ConsoleDeleteRule($ruleId: String!) {
  deleteRule(ruleId: $ruleId) {
    __typename
    ... on NotFound {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleDeleteRuleMutation, ConsoleDeleteRuleMutationVariables>;
export const ConsoleTestRuleDocument = new TypedDocumentString(`
    query ConsoleTestRule($input: RuleInput!, $from: DateTime!, $to: DateTime!, $deviceIds: [String!]) {
  testRule(input: $input, from: $from, to: $to, deviceIds: $deviceIds) {
    __typename
    ... on RuleBacktest {
      raised
      cleared
      openAtEnd
      devices
      readings
      truncated
      alarms {
        deviceId
        severity
        raisedAt
        raisedValue
        clearedAt
        clearedValue
      }
    }
    ... on ValidationError {
      message
      fieldErrors {
        path
        message
      }
    }
    ... on NotFound {
      message
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleTestRuleQuery, ConsoleTestRuleQueryVariables>;
export const ConsoleBacktestSeriesDocument = new TypedDocumentString(`
    query ConsoleBacktestSeries($deviceId: String!, $metric: String!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!) {
  device(deviceId: $deviceId) {
    series(
      metrics: [$metric]
      aggregates: [AVG]
      interval: $interval
      from: $from
      to: $to
    ) {
      metric
      buckets {
        start
        avg
      }
    }
  }
}
    `) as unknown as TypedDocumentString<ConsoleBacktestSeriesQuery, ConsoleBacktestSeriesQueryVariables>;