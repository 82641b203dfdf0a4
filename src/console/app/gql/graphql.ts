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