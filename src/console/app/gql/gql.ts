/* eslint-disable */
import * as types from './graphql.ts';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query ConsoleOpenAlarmList($after: String) {\n    alarms(filter: { open: true }, first: 500, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          alarmId\n          status\n          severity\n          raisedAt\n          raisedValue\n          flapping\n          rule {\n            name\n          }\n          device {\n            deviceId\n          }\n        }\n      }\n    }\n  }\n": typeof types.ConsoleOpenAlarmListDocument,
    "\n  subscription ConsoleAlarmUpdates {\n    alarmChanged {\n      alarmId\n      status\n      alarm {\n        alarmId\n        status\n        severity\n        raisedAt\n        raisedValue\n        flapping\n        rule {\n          name\n        }\n        device {\n          deviceId\n        }\n      }\n    }\n  }\n": typeof types.ConsoleAlarmUpdatesDocument,
    "\n  mutation ConsoleAcknowledgeAlarm($input: AlarmControlInput!) {\n    acknowledgeAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleAcknowledgeAlarmDocument,
    "\n  mutation ConsoleClearAlarm($input: AlarmControlInput!) {\n    clearAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleClearAlarmDocument,
    "\n  mutation ConsoleCommentAlarm($input: CommentAlarmInput!) {\n    commentAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleCommentAlarmDocument,
    "\n  subscription ConsoleTelemetrySampled($deviceId: String!, $sampleIntervalMs: Int) {\n    telemetry(deviceId: $deviceId, sampleIntervalMs: $sampleIntervalMs) {\n      at\n      points {\n        metric\n        ts\n        value\n      }\n    }\n  }\n": typeof types.ConsoleTelemetrySampledDocument,
    "\n  query ConsoleDeviceMetrics($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      latest {\n        metric\n        ts\n        value\n      }\n    }\n  }\n": typeof types.ConsoleDeviceMetricsDocument,
    "\n  query ConsoleDeviceSeries($deviceId: String!, $metrics: [String!]!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!, $timeZone: String) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, aggregates: [AVG, MIN, MAX, COUNT], interval: $interval, from: $from, to: $to, timeZone: $timeZone) {\n        metric\n        buckets {\n          start\n          end\n          avg\n          min\n          max\n          count\n        }\n      }\n    }\n  }\n": typeof types.ConsoleDeviceSeriesDocument,
    "\n  query ConsoleCommands($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      model {\n        name\n        commands {\n          name\n          description\n          params\n        }\n      }\n      commands(last: 20) {\n        edges {\n          node {\n            commandId\n            name\n            params\n            status\n            createdAt\n            result\n            error\n          }\n        }\n      }\n    }\n  }\n": typeof types.ConsoleCommandsDocument,
    "\n  mutation ConsoleSendCommand($input: SendCommandInput!) {\n    sendCommand(input: $input) {\n      __typename\n      ... on Command {\n        commandId\n        name\n        params\n        status\n        createdAt\n        result\n        error\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on NotFound {\n        message\n      }\n      ... on RateLimited {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleSendCommandDocument,
    "\n  subscription ConsoleCommandUpdates($deviceId: String!) {\n    commandUpdated(deviceId: $deviceId) {\n      commandId\n      status\n      command {\n        commandId\n        name\n        params\n        status\n        createdAt\n        result\n        error\n      }\n    }\n  }\n": typeof types.ConsoleCommandUpdatesDocument,
    "\n  query ConsoleDevice($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      deviceId\n      name\n      connected\n      lastSeenAt\n      tags\n      model {\n        name\n      }\n      twin {\n        version\n        reported\n        desired\n        delta\n      }\n    }\n  }\n": typeof types.ConsoleDeviceDocument,
    "\n  subscription ConsoleTwin($deviceId: String!, $sinceVersion: Int) {\n    twinChanged(deviceId: $deviceId, sinceVersion: $sinceVersion) {\n      version\n      twin {\n        version\n        reported\n        desired\n        delta\n      }\n    }\n  }\n": typeof types.ConsoleTwinDocument,
    "\n  subscription ConsoleDeviceConnection($deviceId: String!) {\n    deviceConnection(deviceId: $deviceId) {\n      connected\n      at\n    }\n  }\n": typeof types.ConsoleDeviceConnectionDocument,
    "\n  mutation ConsoleUpdateDesired($deviceId: String!, $ifVersion: Int, $patch: JSON!) {\n    updateDesired(deviceId: $deviceId, ifVersion: $ifVersion, patch: $patch) {\n      __typename\n      ... on UpdateDesiredPayload {\n        version\n        twin {\n          version\n          reported\n          desired\n          delta\n        }\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on VersionConflict {\n        message\n        currentVersion\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleUpdateDesiredDocument,
    "\n  query ConsoleFleetPage($filter: DeviceFilter, $first: Int!, $after: String) {\n    devices(filter: $filter, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          deviceId\n          name\n          connected\n          lastSeenAt\n          tags\n          model {\n            name\n          }\n          twin {\n            delta\n          }\n        }\n      }\n    }\n  }\n": typeof types.ConsoleFleetPageDocument,
    "\n  query ConsoleOpenAlarms($after: String) {\n    alarms(filter: { open: true }, first: 500, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          alarmId\n          status\n          device {\n            deviceId\n          }\n        }\n      }\n    }\n  }\n": typeof types.ConsoleOpenAlarmsDocument,
    "\n  subscription ConsoleFleetConnection {\n    deviceConnection {\n      deviceId\n      connected\n      at\n    }\n  }\n": typeof types.ConsoleFleetConnectionDocument,
    "\n  subscription ConsoleFleetAlarms {\n    alarmChanged {\n      alarmId\n      deviceId\n      status\n    }\n  }\n": typeof types.ConsoleFleetAlarmsDocument,
};
const documents: Documents = {
    "\n  query ConsoleOpenAlarmList($after: String) {\n    alarms(filter: { open: true }, first: 500, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          alarmId\n          status\n          severity\n          raisedAt\n          raisedValue\n          flapping\n          rule {\n            name\n          }\n          device {\n            deviceId\n          }\n        }\n      }\n    }\n  }\n": types.ConsoleOpenAlarmListDocument,
    "\n  subscription ConsoleAlarmUpdates {\n    alarmChanged {\n      alarmId\n      status\n      alarm {\n        alarmId\n        status\n        severity\n        raisedAt\n        raisedValue\n        flapping\n        rule {\n          name\n        }\n        device {\n          deviceId\n        }\n      }\n    }\n  }\n": types.ConsoleAlarmUpdatesDocument,
    "\n  mutation ConsoleAcknowledgeAlarm($input: AlarmControlInput!) {\n    acknowledgeAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n": types.ConsoleAcknowledgeAlarmDocument,
    "\n  mutation ConsoleClearAlarm($input: AlarmControlInput!) {\n    clearAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n": types.ConsoleClearAlarmDocument,
    "\n  mutation ConsoleCommentAlarm($input: CommentAlarmInput!) {\n    commentAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n": types.ConsoleCommentAlarmDocument,
    "\n  subscription ConsoleTelemetrySampled($deviceId: String!, $sampleIntervalMs: Int) {\n    telemetry(deviceId: $deviceId, sampleIntervalMs: $sampleIntervalMs) {\n      at\n      points {\n        metric\n        ts\n        value\n      }\n    }\n  }\n": types.ConsoleTelemetrySampledDocument,
    "\n  query ConsoleDeviceMetrics($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      latest {\n        metric\n        ts\n        value\n      }\n    }\n  }\n": types.ConsoleDeviceMetricsDocument,
    "\n  query ConsoleDeviceSeries($deviceId: String!, $metrics: [String!]!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!, $timeZone: String) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, aggregates: [AVG, MIN, MAX, COUNT], interval: $interval, from: $from, to: $to, timeZone: $timeZone) {\n        metric\n        buckets {\n          start\n          end\n          avg\n          min\n          max\n          count\n        }\n      }\n    }\n  }\n": types.ConsoleDeviceSeriesDocument,
    "\n  query ConsoleCommands($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      model {\n        name\n        commands {\n          name\n          description\n          params\n        }\n      }\n      commands(last: 20) {\n        edges {\n          node {\n            commandId\n            name\n            params\n            status\n            createdAt\n            result\n            error\n          }\n        }\n      }\n    }\n  }\n": types.ConsoleCommandsDocument,
    "\n  mutation ConsoleSendCommand($input: SendCommandInput!) {\n    sendCommand(input: $input) {\n      __typename\n      ... on Command {\n        commandId\n        name\n        params\n        status\n        createdAt\n        result\n        error\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on NotFound {\n        message\n      }\n      ... on RateLimited {\n        message\n      }\n    }\n  }\n": types.ConsoleSendCommandDocument,
    "\n  subscription ConsoleCommandUpdates($deviceId: String!) {\n    commandUpdated(deviceId: $deviceId) {\n      commandId\n      status\n      command {\n        commandId\n        name\n        params\n        status\n        createdAt\n        result\n        error\n      }\n    }\n  }\n": types.ConsoleCommandUpdatesDocument,
    "\n  query ConsoleDevice($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      deviceId\n      name\n      connected\n      lastSeenAt\n      tags\n      model {\n        name\n      }\n      twin {\n        version\n        reported\n        desired\n        delta\n      }\n    }\n  }\n": types.ConsoleDeviceDocument,
    "\n  subscription ConsoleTwin($deviceId: String!, $sinceVersion: Int) {\n    twinChanged(deviceId: $deviceId, sinceVersion: $sinceVersion) {\n      version\n      twin {\n        version\n        reported\n        desired\n        delta\n      }\n    }\n  }\n": types.ConsoleTwinDocument,
    "\n  subscription ConsoleDeviceConnection($deviceId: String!) {\n    deviceConnection(deviceId: $deviceId) {\n      connected\n      at\n    }\n  }\n": types.ConsoleDeviceConnectionDocument,
    "\n  mutation ConsoleUpdateDesired($deviceId: String!, $ifVersion: Int, $patch: JSON!) {\n    updateDesired(deviceId: $deviceId, ifVersion: $ifVersion, patch: $patch) {\n      __typename\n      ... on UpdateDesiredPayload {\n        version\n        twin {\n          version\n          reported\n          desired\n          delta\n        }\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on VersionConflict {\n        message\n        currentVersion\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": types.ConsoleUpdateDesiredDocument,
    "\n  query ConsoleFleetPage($filter: DeviceFilter, $first: Int!, $after: String) {\n    devices(filter: $filter, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          deviceId\n          name\n          connected\n          lastSeenAt\n          tags\n          model {\n            name\n          }\n          twin {\n            delta\n          }\n        }\n      }\n    }\n  }\n": types.ConsoleFleetPageDocument,
    "\n  query ConsoleOpenAlarms($after: String) {\n    alarms(filter: { open: true }, first: 500, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          alarmId\n          status\n          device {\n            deviceId\n          }\n        }\n      }\n    }\n  }\n": types.ConsoleOpenAlarmsDocument,
    "\n  subscription ConsoleFleetConnection {\n    deviceConnection {\n      deviceId\n      connected\n      at\n    }\n  }\n": types.ConsoleFleetConnectionDocument,
    "\n  subscription ConsoleFleetAlarms {\n    alarmChanged {\n      alarmId\n      deviceId\n      status\n    }\n  }\n": types.ConsoleFleetAlarmsDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleOpenAlarmList($after: String) {\n    alarms(filter: { open: true }, first: 500, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          alarmId\n          status\n          severity\n          raisedAt\n          raisedValue\n          flapping\n          rule {\n            name\n          }\n          device {\n            deviceId\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleOpenAlarmListDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleAlarmUpdates {\n    alarmChanged {\n      alarmId\n      status\n      alarm {\n        alarmId\n        status\n        severity\n        raisedAt\n        raisedValue\n        flapping\n        rule {\n          name\n        }\n        device {\n          deviceId\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleAlarmUpdatesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleAcknowledgeAlarm($input: AlarmControlInput!) {\n    acknowledgeAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleAcknowledgeAlarmDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleClearAlarm($input: AlarmControlInput!) {\n    clearAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleClearAlarmDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleCommentAlarm($input: CommentAlarmInput!) {\n    commentAlarm(input: $input) {\n      __typename\n      ... on Alarm {\n        alarmId\n        status\n      }\n      ... on Error {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleCommentAlarmDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleTelemetrySampled($deviceId: String!, $sampleIntervalMs: Int) {\n    telemetry(deviceId: $deviceId, sampleIntervalMs: $sampleIntervalMs) {\n      at\n      points {\n        metric\n        ts\n        value\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleTelemetrySampledDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleDeviceMetrics($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      latest {\n        metric\n        ts\n        value\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleDeviceMetricsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleDeviceSeries($deviceId: String!, $metrics: [String!]!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!, $timeZone: String) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, aggregates: [AVG, MIN, MAX, COUNT], interval: $interval, from: $from, to: $to, timeZone: $timeZone) {\n        metric\n        buckets {\n          start\n          end\n          avg\n          min\n          max\n          count\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleDeviceSeriesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleCommands($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      model {\n        name\n        commands {\n          name\n          description\n          params\n        }\n      }\n      commands(last: 20) {\n        edges {\n          node {\n            commandId\n            name\n            params\n            status\n            createdAt\n            result\n            error\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleCommandsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleSendCommand($input: SendCommandInput!) {\n    sendCommand(input: $input) {\n      __typename\n      ... on Command {\n        commandId\n        name\n        params\n        status\n        createdAt\n        result\n        error\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on NotFound {\n        message\n      }\n      ... on RateLimited {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleSendCommandDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleCommandUpdates($deviceId: String!) {\n    commandUpdated(deviceId: $deviceId) {\n      commandId\n      status\n      command {\n        commandId\n        name\n        params\n        status\n        createdAt\n        result\n        error\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleCommandUpdatesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleDevice($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      deviceId\n      name\n      connected\n      lastSeenAt\n      tags\n      model {\n        name\n      }\n      twin {\n        version\n        reported\n        desired\n        delta\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleDeviceDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleTwin($deviceId: String!, $sinceVersion: Int) {\n    twinChanged(deviceId: $deviceId, sinceVersion: $sinceVersion) {\n      version\n      twin {\n        version\n        reported\n        desired\n        delta\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleTwinDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleDeviceConnection($deviceId: String!) {\n    deviceConnection(deviceId: $deviceId) {\n      connected\n      at\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleDeviceConnectionDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleUpdateDesired($deviceId: String!, $ifVersion: Int, $patch: JSON!) {\n    updateDesired(deviceId: $deviceId, ifVersion: $ifVersion, patch: $patch) {\n      __typename\n      ... on UpdateDesiredPayload {\n        version\n        twin {\n          version\n          reported\n          desired\n          delta\n        }\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on VersionConflict {\n        message\n        currentVersion\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleUpdateDesiredDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleFleetPage($filter: DeviceFilter, $first: Int!, $after: String) {\n    devices(filter: $filter, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          deviceId\n          name\n          connected\n          lastSeenAt\n          tags\n          model {\n            name\n          }\n          twin {\n            delta\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleFleetPageDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleOpenAlarms($after: String) {\n    alarms(filter: { open: true }, first: 500, after: $after) {\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          alarmId\n          status\n          device {\n            deviceId\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleOpenAlarmsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleFleetConnection {\n    deviceConnection {\n      deviceId\n      connected\n      at\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleFleetConnectionDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ConsoleFleetAlarms {\n    alarmChanged {\n      alarmId\n      deviceId\n      status\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleFleetAlarmsDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
