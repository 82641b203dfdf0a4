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

export type CreateApiTokenInput = {
  /** When the token stops working; omit for no expiry. */
  expiresAt?: string | null | undefined;
  /** What the token is for (1–100 characters). */
  name: string;
  role: Role;
  /** Must be the caller's own tenant (the default). A new tenant's first admin token comes from the CLI: `npm run token -- create --tenant <t> --role admin --name <n>`. */
  tenantId?: string | null | undefined;
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

/** What a token may do. Each role includes the ones below it. */
export type Role =
  /** Also manage devices, models and API tokens; read the audit log. */
  | 'ADMIN'
  /** Also change desired state and send commands. */
  | 'OPERATOR'
  /** Read devices, twins, telemetry; subscribe. */
  | 'VIEWER';

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