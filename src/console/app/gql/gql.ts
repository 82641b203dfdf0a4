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
    "\n  query ConsoleApiTokens {\n    apiTokens(includeRevoked: true) {\n      id\n      name\n      role\n      createdAt\n      expiresAt\n      lastUsedAt\n      revokedAt\n    }\n  }\n": typeof types.ConsoleApiTokensDocument,
    "\n  mutation ConsoleCreateApiToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken {\n        token\n        apiToken {\n          id\n        }\n      }\n      ... on ValidationError {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleCreateApiTokenDocument,
    "\n  mutation ConsoleRevokeApiToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleRevokeApiTokenDocument,
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
    "\n  query ConsoleMe {\n    me {\n      role\n      tenantId\n    }\n  }\n": typeof types.ConsoleMeDocument,
    "\n  query ConsoleRuleList($first: Int!, $after: String) {\n    rules(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          ruleId\n          name\n          enabled\n          severity\n          version\n          openAlarmCount\n          source {\n            type\n            metric\n            path\n          }\n          raise {\n            op\n            value\n            low\n            high\n            forMs\n          }\n          scope {\n            deviceIds\n            tag\n            tags\n            model\n          }\n        }\n      }\n    }\n  }\n": typeof types.ConsoleRuleListDocument,
    "\n  query ConsoleRule($ruleId: String!) {\n    rule(ruleId: $ruleId) {\n      ruleId\n      name\n      description\n      enabled\n      severity\n      version\n      source {\n        type\n        metric\n        path\n      }\n      raise {\n        op\n        value\n        low\n        high\n        forMs\n      }\n      clear {\n        op\n        value\n        low\n        high\n        forMs\n      }\n      scope {\n        deviceIds\n        tag\n        tags\n        model\n      }\n      onRaise {\n        type\n        command\n        deviceId\n        endpointId\n        params\n        patch\n      }\n      onClear {\n        type\n        command\n        deviceId\n        endpointId\n        params\n        patch\n      }\n    }\n  }\n": typeof types.ConsoleRuleDocument,
    "\n  mutation ConsoleCreateRule($input: RuleInput!) {\n    createRule(input: $input) {\n      __typename\n      ... on Rule {\n        ruleId\n        version\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on AlreadyExists {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleCreateRuleDocument,
    "\n  mutation ConsoleUpdateRule($ruleId: String!, $input: RuleInput!) {\n    updateRule(ruleId: $ruleId, input: $input) {\n      __typename\n      ... on Rule {\n        ruleId\n        version\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on AlreadyExists {\n        message\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleUpdateRuleDocument,
    "\n  mutation ConsoleEnableRule($ruleId: String!) {\n    enableRule(ruleId: $ruleId) {\n      __typename\n      ... on Rule {\n        ruleId\n        enabled\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleEnableRuleDocument,
    "\n  mutation ConsoleDisableRule($ruleId: String!) {\n    disableRule(ruleId: $ruleId) {\n      __typename\n      ... on Rule {\n        ruleId\n        enabled\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleDisableRuleDocument,
    "\n  mutation ConsoleDeleteRule($ruleId: String!) {\n    deleteRule(ruleId: $ruleId) {\n      __typename\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleDeleteRuleDocument,
    "\n  query ConsoleTestRule($input: RuleInput!, $from: DateTime!, $to: DateTime!, $deviceIds: [String!]) {\n    testRule(input: $input, from: $from, to: $to, deviceIds: $deviceIds) {\n      __typename\n      ... on RuleBacktest {\n        raised\n        cleared\n        openAtEnd\n        devices\n        readings\n        truncated\n        alarms {\n          deviceId\n          severity\n          raisedAt\n          raisedValue\n          clearedAt\n          clearedValue\n        }\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": typeof types.ConsoleTestRuleDocument,
    "\n  query ConsoleBacktestSeries($deviceId: String!, $metric: String!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!) {\n    device(deviceId: $deviceId) {\n      series(metrics: [$metric], aggregates: [AVG], interval: $interval, from: $from, to: $to) {\n        metric\n        buckets {\n          start\n          avg\n        }\n      }\n    }\n  }\n": typeof types.ConsoleBacktestSeriesDocument,
};
const documents: Documents = {
    "\n  query ConsoleApiTokens {\n    apiTokens(includeRevoked: true) {\n      id\n      name\n      role\n      createdAt\n      expiresAt\n      lastUsedAt\n      revokedAt\n    }\n  }\n": types.ConsoleApiTokensDocument,
    "\n  mutation ConsoleCreateApiToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken {\n        token\n        apiToken {\n          id\n        }\n      }\n      ... on ValidationError {\n        message\n      }\n    }\n  }\n": types.ConsoleCreateApiTokenDocument,
    "\n  mutation ConsoleRevokeApiToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": types.ConsoleRevokeApiTokenDocument,
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
    "\n  query ConsoleMe {\n    me {\n      role\n      tenantId\n    }\n  }\n": types.ConsoleMeDocument,
    "\n  query ConsoleRuleList($first: Int!, $after: String) {\n    rules(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          ruleId\n          name\n          enabled\n          severity\n          version\n          openAlarmCount\n          source {\n            type\n            metric\n            path\n          }\n          raise {\n            op\n            value\n            low\n            high\n            forMs\n          }\n          scope {\n            deviceIds\n            tag\n            tags\n            model\n          }\n        }\n      }\n    }\n  }\n": types.ConsoleRuleListDocument,
    "\n  query ConsoleRule($ruleId: String!) {\n    rule(ruleId: $ruleId) {\n      ruleId\n      name\n      description\n      enabled\n      severity\n      version\n      source {\n        type\n        metric\n        path\n      }\n      raise {\n        op\n        value\n        low\n        high\n        forMs\n      }\n      clear {\n        op\n        value\n        low\n        high\n        forMs\n      }\n      scope {\n        deviceIds\n        tag\n        tags\n        model\n      }\n      onRaise {\n        type\n        command\n        deviceId\n        endpointId\n        params\n        patch\n      }\n      onClear {\n        type\n        command\n        deviceId\n        endpointId\n        params\n        patch\n      }\n    }\n  }\n": types.ConsoleRuleDocument,
    "\n  mutation ConsoleCreateRule($input: RuleInput!) {\n    createRule(input: $input) {\n      __typename\n      ... on Rule {\n        ruleId\n        version\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on AlreadyExists {\n        message\n      }\n    }\n  }\n": types.ConsoleCreateRuleDocument,
    "\n  mutation ConsoleUpdateRule($ruleId: String!, $input: RuleInput!) {\n    updateRule(ruleId: $ruleId, input: $input) {\n      __typename\n      ... on Rule {\n        ruleId\n        version\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on AlreadyExists {\n        message\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": types.ConsoleUpdateRuleDocument,
    "\n  mutation ConsoleEnableRule($ruleId: String!) {\n    enableRule(ruleId: $ruleId) {\n      __typename\n      ... on Rule {\n        ruleId\n        enabled\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": types.ConsoleEnableRuleDocument,
    "\n  mutation ConsoleDisableRule($ruleId: String!) {\n    disableRule(ruleId: $ruleId) {\n      __typename\n      ... on Rule {\n        ruleId\n        enabled\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": types.ConsoleDisableRuleDocument,
    "\n  mutation ConsoleDeleteRule($ruleId: String!) {\n    deleteRule(ruleId: $ruleId) {\n      __typename\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": types.ConsoleDeleteRuleDocument,
    "\n  query ConsoleTestRule($input: RuleInput!, $from: DateTime!, $to: DateTime!, $deviceIds: [String!]) {\n    testRule(input: $input, from: $from, to: $to, deviceIds: $deviceIds) {\n      __typename\n      ... on RuleBacktest {\n        raised\n        cleared\n        openAtEnd\n        devices\n        readings\n        truncated\n        alarms {\n          deviceId\n          severity\n          raisedAt\n          raisedValue\n          clearedAt\n          clearedValue\n        }\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n": types.ConsoleTestRuleDocument,
    "\n  query ConsoleBacktestSeries($deviceId: String!, $metric: String!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!) {\n    device(deviceId: $deviceId) {\n      series(metrics: [$metric], aggregates: [AVG], interval: $interval, from: $from, to: $to) {\n        metric\n        buckets {\n          start\n          avg\n        }\n      }\n    }\n  }\n": types.ConsoleBacktestSeriesDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleApiTokens {\n    apiTokens(includeRevoked: true) {\n      id\n      name\n      role\n      createdAt\n      expiresAt\n      lastUsedAt\n      revokedAt\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleApiTokensDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleCreateApiToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken {\n        token\n        apiToken {\n          id\n        }\n      }\n      ... on ValidationError {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleCreateApiTokenDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleRevokeApiToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n      ... on NotFound {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleRevokeApiTokenDocument;
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
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleMe {\n    me {\n      role\n      tenantId\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleMeDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleRuleList($first: Int!, $after: String) {\n    rules(first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      edges {\n        node {\n          ruleId\n          name\n          enabled\n          severity\n          version\n          openAlarmCount\n          source {\n            type\n            metric\n            path\n          }\n          raise {\n            op\n            value\n            low\n            high\n            forMs\n          }\n          scope {\n            deviceIds\n            tag\n            tags\n            model\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleRuleListDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleRule($ruleId: String!) {\n    rule(ruleId: $ruleId) {\n      ruleId\n      name\n      description\n      enabled\n      severity\n      version\n      source {\n        type\n        metric\n        path\n      }\n      raise {\n        op\n        value\n        low\n        high\n        forMs\n      }\n      clear {\n        op\n        value\n        low\n        high\n        forMs\n      }\n      scope {\n        deviceIds\n        tag\n        tags\n        model\n      }\n      onRaise {\n        type\n        command\n        deviceId\n        endpointId\n        params\n        patch\n      }\n      onClear {\n        type\n        command\n        deviceId\n        endpointId\n        params\n        patch\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleRuleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleCreateRule($input: RuleInput!) {\n    createRule(input: $input) {\n      __typename\n      ... on Rule {\n        ruleId\n        version\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on AlreadyExists {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleCreateRuleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleUpdateRule($ruleId: String!, $input: RuleInput!) {\n    updateRule(ruleId: $ruleId, input: $input) {\n      __typename\n      ... on Rule {\n        ruleId\n        version\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on AlreadyExists {\n        message\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleUpdateRuleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleEnableRule($ruleId: String!) {\n    enableRule(ruleId: $ruleId) {\n      __typename\n      ... on Rule {\n        ruleId\n        enabled\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleEnableRuleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleDisableRule($ruleId: String!) {\n    disableRule(ruleId: $ruleId) {\n      __typename\n      ... on Rule {\n        ruleId\n        enabled\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleDisableRuleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleDeleteRule($ruleId: String!) {\n    deleteRule(ruleId: $ruleId) {\n      __typename\n      ... on NotFound {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleDeleteRuleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleTestRule($input: RuleInput!, $from: DateTime!, $to: DateTime!, $deviceIds: [String!]) {\n    testRule(input: $input, from: $from, to: $to, deviceIds: $deviceIds) {\n      __typename\n      ... on RuleBacktest {\n        raised\n        cleared\n        openAtEnd\n        devices\n        readings\n        truncated\n        alarms {\n          deviceId\n          severity\n          raisedAt\n          raisedValue\n          clearedAt\n          clearedValue\n        }\n      }\n      ... on ValidationError {\n        message\n        fieldErrors {\n          path\n          message\n        }\n      }\n      ... on NotFound {\n        message\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleTestRuleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleBacktestSeries($deviceId: String!, $metric: String!, $interval: SeriesInterval!, $from: DateTime!, $to: DateTime!) {\n    device(deviceId: $deviceId) {\n      series(metrics: [$metric], aggregates: [AVG], interval: $interval, from: $from, to: $to) {\n        metric\n        buckets {\n          start\n          avg\n        }\n      }\n    }\n  }\n"): typeof import('./graphql.ts').ConsoleBacktestSeriesDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
