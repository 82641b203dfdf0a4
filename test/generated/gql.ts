/* eslint-disable */
import * as types from './graphql.ts';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

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
    "\n  mutation ConsoleTestCreateToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken {\n        token\n        apiToken {\n          id\n        }\n      }\n    }\n  }\n": typeof types.ConsoleTestCreateTokenDocument,
    "\n  mutation ConsoleTestRevokeToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n    }\n  }\n": typeof types.ConsoleTestRevokeTokenDocument,
    "\n  mutation ConsoleTestSetDesired($deviceId: String!, $patch: JSON!) {\n    updateDesired(deviceId: $deviceId, patch: $patch) {\n      __typename\n    }\n  }\n": typeof types.ConsoleTestSetDesiredDocument,
    "\n  mutation CreateToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken { token apiToken { id name role tenantId createdBy expiresAt revokedAt } }\n      ... on ValidationError { code fieldErrors { path code message } }\n    }\n  }\n": typeof types.CreateTokenDocument,
    "\n  mutation RevokeToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n      ... on RevokedApiToken { apiToken { id revokedAt } }\n      ... on NotFound { code resource key }\n    }\n  }\n": typeof types.RevokeTokenDocument,
    "\n  query ListTokens($includeRevoked: Boolean) {\n    apiTokens(includeRevoked: $includeRevoked) { id name role tenantId createdAt createdBy expiresAt revokedAt lastUsedAt }\n  }\n": typeof types.ListTokensDocument,
    "\n  query AuditLog($first: Int, $after: String, $action: String, $target: String) {\n    auditLog(first: $first, after: $after, action: $action, target: $target) {\n      pageInfo { hasNextPage endCursor }\n      edges { cursor node { id actor actorName action target details createdAt } }\n    }\n  }\n": typeof types.AuditLogDocument,
    "mutation C($input: RuleInput!) { createRule(input: $input) { __typename ... on Rule { ruleId } ... on ValidationError { fieldErrors { path code message } } } }": typeof types.CDocument,
    "query A($r: ID!, $d: String!) { alarms(filter: { ruleId: $r, deviceId: $d }, first: 10) { edges { node { history { cause at value from to } } } } }": typeof types.ADocument,
    "\n  mutation Fleet($input: SendFleetCommandInput!) {\n    sendFleetCommand(input: $input) {\n      __typename\n      ... on FleetCommand { fleetCommandId name params requestedBy progress { total done finished counts { status count } } }\n      ... on ValidationError { fieldErrors { path code message } }\n    }\n  }\n": typeof types.FleetDocument,
    "\n  query Commands($deviceId: String!, $status: CommandStatus, $first: Int, $after: String) {\n    device(deviceId: $deviceId) {\n      commands(status: $status, first: $first, after: $after) {\n        totalCount\n        pageInfo { hasNextPage endCursor }\n        edges { node { commandId name status } }\n      }\n    }\n  }\n": typeof types.CommandsDocument,
    "\n  mutation RegisterDevice($input: RegisterDeviceInput!) {\n    registerDevice(input: $input) {\n      __typename\n      ... on DeviceWithCredentials { device { id deviceId tags model { name } } credentials { username password } }\n      ... on Error { code message }\n      ... on ValidationError { fieldErrors { path code message } }\n      ... on AlreadyExists { resource key }\n    }\n  }\n": typeof types.RegisterDeviceDocument,
    "\n  query DevicesPage($first: Int, $after: String, $filter: DeviceFilter) {\n    devices(first: $first, after: $after, filter: $filter) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      edges { cursor node { id deviceId tags connected model { id name } twin { version reported desired delta metadata } } }\n    }\n  }\n": typeof types.DevicesPageDocument,
    "\n  query NodeLookup($id: ID!) {\n    node(id: $id) { __typename id ... on Device { deviceId } }\n  }\n": typeof types.NodeLookupDocument,
    "\n  mutation DeleteDevice($deviceId: String!) {\n    deleteDevice(deviceId: $deviceId) { __typename ... on DeleteDevicePayload { deviceId id } ... on NotFound { code resource key } }\n  }\n": typeof types.DeleteDeviceDocument,
    "\n  mutation Rotate($deviceId: String!) {\n    rotateDeviceCredentials(deviceId: $deviceId) {\n      __typename\n      ... on DeviceWithCredentials { credentials { username password } }\n      ... on NotFound { code }\n    }\n  }\n": typeof types.RotateDocument,
    "\n  subscription FanOutLive($deviceId: String) { telemetry(deviceId: $deviceId) { deviceId points { metric ts value } } }\n": typeof types.FanOutLiveDocument,
    "\n  query RollupSeries($deviceId: String!, $metrics: [String!]!, $from: DateTime!, $to: DateTime!, $interval: SeriesInterval!, $timeZone: String, $fill: FillMode) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: [AVG, MIN, MAX, SUM, COUNT, FIRST, LAST], timeZone: $timeZone, fill: $fill) {\n        metric\n        buckets { start end filled avg min max sum count first last }\n      }\n    }\n  }\n": typeof types.RollupSeriesDocument,
    "\n  query Series(\n    $deviceId: String!\n    $metrics: [String!]!\n    $from: DateTime!\n    $to: DateTime!\n    $interval: SeriesInterval!\n    $aggregates: [Aggregate!]!\n    $timeZone: String\n    $fill: FillMode\n  ) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: $aggregates, timeZone: $timeZone, fill: $fill) {\n        metric\n        buckets { start end filled avg min max sum count first last }\n      }\n    }\n  }\n": typeof types.SeriesDocument,
    "\n  query FleetSeries($first: Int, $filter: DeviceFilter, $from: DateTime!, $to: DateTime!) {\n    devices(first: $first, filter: $filter) {\n      edges {\n        node {\n          deviceId\n          daily: series(metrics: [\"temp\"], from: $from, to: $to, interval: DAY, aggregates: [AVG, COUNT, LAST], timeZone: \"Europe/Berlin\") {\n            metric\n            buckets { start end filled avg min max sum count first last }\n          }\n          hourly: series(metrics: [\"temp\"], from: $from, to: $to, interval: HOUR, aggregates: [SUM], timeZone: \"America/New_York\", fill: NULL) {\n            metric\n            buckets { start end filled avg min max sum count first last }\n          }\n        }\n      }\n    }\n  }\n": typeof types.FleetSeriesDocument,
    "\n  subscription Live($deviceId: String, $metrics: [String!], $sampleIntervalMs: Int) {\n    telemetry(deviceId: $deviceId, metrics: $metrics, sampleIntervalMs: $sampleIntervalMs) { deviceId at points { metric ts value } }\n  }\n": typeof types.LiveDocument,
    "\n  query TelemetryLatest($deviceId: String!, $metrics: [String!]) {\n    device(deviceId: $deviceId) { latest(metrics: $metrics) { metric ts value boolValue } }\n  }\n": typeof types.TelemetryLatestDocument,
    "\n  query TelemetryRaw($deviceId: String!, $metric: String!, $from: DateTime, $to: DateTime, $first: Int, $after: String, $last: Int, $before: String) {\n    device(deviceId: $deviceId) {\n      telemetry(metric: $metric, from: $from, to: $to, first: $first, after: $after, last: $last, before: $before) {\n        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n        edges { cursor node { metric ts value boolValue } }\n      }\n    }\n  }\n": typeof types.TelemetryRawDocument,
    "\n  query DevicesLatest($first: Int, $filter: DeviceFilter) {\n    devices(first: $first, filter: $filter) { edges { node { deviceId latest { metric value } } } }\n  }\n": typeof types.DevicesLatestDocument,
    "\n  query DevicesRaw($first: Int, $filter: DeviceFilter) {\n    devices(first: $first, filter: $filter) { edges { node { deviceId telemetry(metric: \"temp\", first: 2) { edges { node { ts value } } } } } }\n  }\n": typeof types.DevicesRawDocument,
    "\n  subscription Telemetry($deviceId: String, $metrics: [String!]) {\n    telemetry(deviceId: $deviceId, metrics: $metrics) { deviceId at points { metric ts value boolValue } }\n  }\n": typeof types.TelemetryDocument,
    "\n  mutation UpdateDesired($deviceId: String!, $patch: JSON!, $ifVersion: Int) {\n    updateDesired(deviceId: $deviceId, patch: $patch, ifVersion: $ifVersion) {\n      __typename\n      ... on UpdateDesiredPayload { changed version twin { version desired delta } }\n      ... on VersionConflict { code expectedVersion currentVersion }\n      ... on ValidationError { code fieldErrors { path code message } }\n      ... on NotFound { code }\n    }\n  }\n": typeof types.UpdateDesiredDocument,
    "\n  subscription TwinChanged($deviceId: String) {\n    twinChanged(deviceId: $deviceId) { deviceId version section patch source twin { version reported } }\n  }\n": typeof types.TwinChangedDocument,
    "\n  mutation Register($input: RegisterDeviceInput!) {\n    registerDevice(input: $input) {\n      __typename\n      ... on DeviceWithCredentials {\n        device { id deviceId name tags model { name } twin { version } }\n        credentials { username password }\n      }\n      ... on Error { code message }\n      ... on ValidationError { fieldErrors { path code message } }\n    }\n  }\n": typeof types.RegisterDocument,
    "\n  query Twin($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      deviceId\n      connected\n      lastSeenAt\n      twin { version reported desired delta metadata updatedAt }\n    }\n  }\n": typeof types.TwinDocument,
};
const documents: Documents = {
    "\n  mutation ConsoleTestCreateToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken {\n        token\n        apiToken {\n          id\n        }\n      }\n    }\n  }\n": types.ConsoleTestCreateTokenDocument,
    "\n  mutation ConsoleTestRevokeToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n    }\n  }\n": types.ConsoleTestRevokeTokenDocument,
    "\n  mutation ConsoleTestSetDesired($deviceId: String!, $patch: JSON!) {\n    updateDesired(deviceId: $deviceId, patch: $patch) {\n      __typename\n    }\n  }\n": types.ConsoleTestSetDesiredDocument,
    "\n  mutation CreateToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken { token apiToken { id name role tenantId createdBy expiresAt revokedAt } }\n      ... on ValidationError { code fieldErrors { path code message } }\n    }\n  }\n": types.CreateTokenDocument,
    "\n  mutation RevokeToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n      ... on RevokedApiToken { apiToken { id revokedAt } }\n      ... on NotFound { code resource key }\n    }\n  }\n": types.RevokeTokenDocument,
    "\n  query ListTokens($includeRevoked: Boolean) {\n    apiTokens(includeRevoked: $includeRevoked) { id name role tenantId createdAt createdBy expiresAt revokedAt lastUsedAt }\n  }\n": types.ListTokensDocument,
    "\n  query AuditLog($first: Int, $after: String, $action: String, $target: String) {\n    auditLog(first: $first, after: $after, action: $action, target: $target) {\n      pageInfo { hasNextPage endCursor }\n      edges { cursor node { id actor actorName action target details createdAt } }\n    }\n  }\n": types.AuditLogDocument,
    "mutation C($input: RuleInput!) { createRule(input: $input) { __typename ... on Rule { ruleId } ... on ValidationError { fieldErrors { path code message } } } }": types.CDocument,
    "query A($r: ID!, $d: String!) { alarms(filter: { ruleId: $r, deviceId: $d }, first: 10) { edges { node { history { cause at value from to } } } } }": types.ADocument,
    "\n  mutation Fleet($input: SendFleetCommandInput!) {\n    sendFleetCommand(input: $input) {\n      __typename\n      ... on FleetCommand { fleetCommandId name params requestedBy progress { total done finished counts { status count } } }\n      ... on ValidationError { fieldErrors { path code message } }\n    }\n  }\n": types.FleetDocument,
    "\n  query Commands($deviceId: String!, $status: CommandStatus, $first: Int, $after: String) {\n    device(deviceId: $deviceId) {\n      commands(status: $status, first: $first, after: $after) {\n        totalCount\n        pageInfo { hasNextPage endCursor }\n        edges { node { commandId name status } }\n      }\n    }\n  }\n": types.CommandsDocument,
    "\n  mutation RegisterDevice($input: RegisterDeviceInput!) {\n    registerDevice(input: $input) {\n      __typename\n      ... on DeviceWithCredentials { device { id deviceId tags model { name } } credentials { username password } }\n      ... on Error { code message }\n      ... on ValidationError { fieldErrors { path code message } }\n      ... on AlreadyExists { resource key }\n    }\n  }\n": types.RegisterDeviceDocument,
    "\n  query DevicesPage($first: Int, $after: String, $filter: DeviceFilter) {\n    devices(first: $first, after: $after, filter: $filter) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      edges { cursor node { id deviceId tags connected model { id name } twin { version reported desired delta metadata } } }\n    }\n  }\n": types.DevicesPageDocument,
    "\n  query NodeLookup($id: ID!) {\n    node(id: $id) { __typename id ... on Device { deviceId } }\n  }\n": types.NodeLookupDocument,
    "\n  mutation DeleteDevice($deviceId: String!) {\n    deleteDevice(deviceId: $deviceId) { __typename ... on DeleteDevicePayload { deviceId id } ... on NotFound { code resource key } }\n  }\n": types.DeleteDeviceDocument,
    "\n  mutation Rotate($deviceId: String!) {\n    rotateDeviceCredentials(deviceId: $deviceId) {\n      __typename\n      ... on DeviceWithCredentials { credentials { username password } }\n      ... on NotFound { code }\n    }\n  }\n": types.RotateDocument,
    "\n  subscription FanOutLive($deviceId: String) { telemetry(deviceId: $deviceId) { deviceId points { metric ts value } } }\n": types.FanOutLiveDocument,
    "\n  query RollupSeries($deviceId: String!, $metrics: [String!]!, $from: DateTime!, $to: DateTime!, $interval: SeriesInterval!, $timeZone: String, $fill: FillMode) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: [AVG, MIN, MAX, SUM, COUNT, FIRST, LAST], timeZone: $timeZone, fill: $fill) {\n        metric\n        buckets { start end filled avg min max sum count first last }\n      }\n    }\n  }\n": types.RollupSeriesDocument,
    "\n  query Series(\n    $deviceId: String!\n    $metrics: [String!]!\n    $from: DateTime!\n    $to: DateTime!\n    $interval: SeriesInterval!\n    $aggregates: [Aggregate!]!\n    $timeZone: String\n    $fill: FillMode\n  ) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: $aggregates, timeZone: $timeZone, fill: $fill) {\n        metric\n        buckets { start end filled avg min max sum count first last }\n      }\n    }\n  }\n": types.SeriesDocument,
    "\n  query FleetSeries($first: Int, $filter: DeviceFilter, $from: DateTime!, $to: DateTime!) {\n    devices(first: $first, filter: $filter) {\n      edges {\n        node {\n          deviceId\n          daily: series(metrics: [\"temp\"], from: $from, to: $to, interval: DAY, aggregates: [AVG, COUNT, LAST], timeZone: \"Europe/Berlin\") {\n            metric\n            buckets { start end filled avg min max sum count first last }\n          }\n          hourly: series(metrics: [\"temp\"], from: $from, to: $to, interval: HOUR, aggregates: [SUM], timeZone: \"America/New_York\", fill: NULL) {\n            metric\n            buckets { start end filled avg min max sum count first last }\n          }\n        }\n      }\n    }\n  }\n": types.FleetSeriesDocument,
    "\n  subscription Live($deviceId: String, $metrics: [String!], $sampleIntervalMs: Int) {\n    telemetry(deviceId: $deviceId, metrics: $metrics, sampleIntervalMs: $sampleIntervalMs) { deviceId at points { metric ts value } }\n  }\n": types.LiveDocument,
    "\n  query TelemetryLatest($deviceId: String!, $metrics: [String!]) {\n    device(deviceId: $deviceId) { latest(metrics: $metrics) { metric ts value boolValue } }\n  }\n": types.TelemetryLatestDocument,
    "\n  query TelemetryRaw($deviceId: String!, $metric: String!, $from: DateTime, $to: DateTime, $first: Int, $after: String, $last: Int, $before: String) {\n    device(deviceId: $deviceId) {\n      telemetry(metric: $metric, from: $from, to: $to, first: $first, after: $after, last: $last, before: $before) {\n        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n        edges { cursor node { metric ts value boolValue } }\n      }\n    }\n  }\n": types.TelemetryRawDocument,
    "\n  query DevicesLatest($first: Int, $filter: DeviceFilter) {\n    devices(first: $first, filter: $filter) { edges { node { deviceId latest { metric value } } } }\n  }\n": types.DevicesLatestDocument,
    "\n  query DevicesRaw($first: Int, $filter: DeviceFilter) {\n    devices(first: $first, filter: $filter) { edges { node { deviceId telemetry(metric: \"temp\", first: 2) { edges { node { ts value } } } } } }\n  }\n": types.DevicesRawDocument,
    "\n  subscription Telemetry($deviceId: String, $metrics: [String!]) {\n    telemetry(deviceId: $deviceId, metrics: $metrics) { deviceId at points { metric ts value boolValue } }\n  }\n": types.TelemetryDocument,
    "\n  mutation UpdateDesired($deviceId: String!, $patch: JSON!, $ifVersion: Int) {\n    updateDesired(deviceId: $deviceId, patch: $patch, ifVersion: $ifVersion) {\n      __typename\n      ... on UpdateDesiredPayload { changed version twin { version desired delta } }\n      ... on VersionConflict { code expectedVersion currentVersion }\n      ... on ValidationError { code fieldErrors { path code message } }\n      ... on NotFound { code }\n    }\n  }\n": types.UpdateDesiredDocument,
    "\n  subscription TwinChanged($deviceId: String) {\n    twinChanged(deviceId: $deviceId) { deviceId version section patch source twin { version reported } }\n  }\n": types.TwinChangedDocument,
    "\n  mutation Register($input: RegisterDeviceInput!) {\n    registerDevice(input: $input) {\n      __typename\n      ... on DeviceWithCredentials {\n        device { id deviceId name tags model { name } twin { version } }\n        credentials { username password }\n      }\n      ... on Error { code message }\n      ... on ValidationError { fieldErrors { path code message } }\n    }\n  }\n": types.RegisterDocument,
    "\n  query Twin($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      deviceId\n      connected\n      lastSeenAt\n      twin { version reported desired delta metadata updatedAt }\n    }\n  }\n": types.TwinDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleTestCreateToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken {\n        token\n        apiToken {\n          id\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleTestCreateToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken {\n        token\n        apiToken {\n          id\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleTestRevokeToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleTestRevokeToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConsoleTestSetDesired($deviceId: String!, $patch: JSON!) {\n    updateDesired(deviceId: $deviceId, patch: $patch) {\n      __typename\n    }\n  }\n"): (typeof documents)["\n  mutation ConsoleTestSetDesired($deviceId: String!, $patch: JSON!) {\n    updateDesired(deviceId: $deviceId, patch: $patch) {\n      __typename\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken { token apiToken { id name role tenantId createdBy expiresAt revokedAt } }\n      ... on ValidationError { code fieldErrors { path code message } }\n    }\n  }\n"): (typeof documents)["\n  mutation CreateToken($input: CreateApiTokenInput!) {\n    createApiToken(input: $input) {\n      __typename\n      ... on CreatedApiToken { token apiToken { id name role tenantId createdBy expiresAt revokedAt } }\n      ... on ValidationError { code fieldErrors { path code message } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RevokeToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n      ... on RevokedApiToken { apiToken { id revokedAt } }\n      ... on NotFound { code resource key }\n    }\n  }\n"): (typeof documents)["\n  mutation RevokeToken($id: ID!) {\n    revokeApiToken(id: $id) {\n      __typename\n      ... on RevokedApiToken { apiToken { id revokedAt } }\n      ... on NotFound { code resource key }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ListTokens($includeRevoked: Boolean) {\n    apiTokens(includeRevoked: $includeRevoked) { id name role tenantId createdAt createdBy expiresAt revokedAt lastUsedAt }\n  }\n"): (typeof documents)["\n  query ListTokens($includeRevoked: Boolean) {\n    apiTokens(includeRevoked: $includeRevoked) { id name role tenantId createdAt createdBy expiresAt revokedAt lastUsedAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AuditLog($first: Int, $after: String, $action: String, $target: String) {\n    auditLog(first: $first, after: $after, action: $action, target: $target) {\n      pageInfo { hasNextPage endCursor }\n      edges { cursor node { id actor actorName action target details createdAt } }\n    }\n  }\n"): (typeof documents)["\n  query AuditLog($first: Int, $after: String, $action: String, $target: String) {\n    auditLog(first: $first, after: $after, action: $action, target: $target) {\n      pageInfo { hasNextPage endCursor }\n      edges { cursor node { id actor actorName action target details createdAt } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "mutation C($input: RuleInput!) { createRule(input: $input) { __typename ... on Rule { ruleId } ... on ValidationError { fieldErrors { path code message } } } }"): (typeof documents)["mutation C($input: RuleInput!) { createRule(input: $input) { __typename ... on Rule { ruleId } ... on ValidationError { fieldErrors { path code message } } } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "query A($r: ID!, $d: String!) { alarms(filter: { ruleId: $r, deviceId: $d }, first: 10) { edges { node { history { cause at value from to } } } } }"): (typeof documents)["query A($r: ID!, $d: String!) { alarms(filter: { ruleId: $r, deviceId: $d }, first: 10) { edges { node { history { cause at value from to } } } } }"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Fleet($input: SendFleetCommandInput!) {\n    sendFleetCommand(input: $input) {\n      __typename\n      ... on FleetCommand { fleetCommandId name params requestedBy progress { total done finished counts { status count } } }\n      ... on ValidationError { fieldErrors { path code message } }\n    }\n  }\n"): (typeof documents)["\n  mutation Fleet($input: SendFleetCommandInput!) {\n    sendFleetCommand(input: $input) {\n      __typename\n      ... on FleetCommand { fleetCommandId name params requestedBy progress { total done finished counts { status count } } }\n      ... on ValidationError { fieldErrors { path code message } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Commands($deviceId: String!, $status: CommandStatus, $first: Int, $after: String) {\n    device(deviceId: $deviceId) {\n      commands(status: $status, first: $first, after: $after) {\n        totalCount\n        pageInfo { hasNextPage endCursor }\n        edges { node { commandId name status } }\n      }\n    }\n  }\n"): (typeof documents)["\n  query Commands($deviceId: String!, $status: CommandStatus, $first: Int, $after: String) {\n    device(deviceId: $deviceId) {\n      commands(status: $status, first: $first, after: $after) {\n        totalCount\n        pageInfo { hasNextPage endCursor }\n        edges { node { commandId name status } }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RegisterDevice($input: RegisterDeviceInput!) {\n    registerDevice(input: $input) {\n      __typename\n      ... on DeviceWithCredentials { device { id deviceId tags model { name } } credentials { username password } }\n      ... on Error { code message }\n      ... on ValidationError { fieldErrors { path code message } }\n      ... on AlreadyExists { resource key }\n    }\n  }\n"): (typeof documents)["\n  mutation RegisterDevice($input: RegisterDeviceInput!) {\n    registerDevice(input: $input) {\n      __typename\n      ... on DeviceWithCredentials { device { id deviceId tags model { name } } credentials { username password } }\n      ... on Error { code message }\n      ... on ValidationError { fieldErrors { path code message } }\n      ... on AlreadyExists { resource key }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DevicesPage($first: Int, $after: String, $filter: DeviceFilter) {\n    devices(first: $first, after: $after, filter: $filter) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      edges { cursor node { id deviceId tags connected model { id name } twin { version reported desired delta metadata } } }\n    }\n  }\n"): (typeof documents)["\n  query DevicesPage($first: Int, $after: String, $filter: DeviceFilter) {\n    devices(first: $first, after: $after, filter: $filter) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      edges { cursor node { id deviceId tags connected model { id name } twin { version reported desired delta metadata } } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query NodeLookup($id: ID!) {\n    node(id: $id) { __typename id ... on Device { deviceId } }\n  }\n"): (typeof documents)["\n  query NodeLookup($id: ID!) {\n    node(id: $id) { __typename id ... on Device { deviceId } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteDevice($deviceId: String!) {\n    deleteDevice(deviceId: $deviceId) { __typename ... on DeleteDevicePayload { deviceId id } ... on NotFound { code resource key } }\n  }\n"): (typeof documents)["\n  mutation DeleteDevice($deviceId: String!) {\n    deleteDevice(deviceId: $deviceId) { __typename ... on DeleteDevicePayload { deviceId id } ... on NotFound { code resource key } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Rotate($deviceId: String!) {\n    rotateDeviceCredentials(deviceId: $deviceId) {\n      __typename\n      ... on DeviceWithCredentials { credentials { username password } }\n      ... on NotFound { code }\n    }\n  }\n"): (typeof documents)["\n  mutation Rotate($deviceId: String!) {\n    rotateDeviceCredentials(deviceId: $deviceId) {\n      __typename\n      ... on DeviceWithCredentials { credentials { username password } }\n      ... on NotFound { code }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription FanOutLive($deviceId: String) { telemetry(deviceId: $deviceId) { deviceId points { metric ts value } } }\n"): (typeof documents)["\n  subscription FanOutLive($deviceId: String) { telemetry(deviceId: $deviceId) { deviceId points { metric ts value } } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RollupSeries($deviceId: String!, $metrics: [String!]!, $from: DateTime!, $to: DateTime!, $interval: SeriesInterval!, $timeZone: String, $fill: FillMode) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: [AVG, MIN, MAX, SUM, COUNT, FIRST, LAST], timeZone: $timeZone, fill: $fill) {\n        metric\n        buckets { start end filled avg min max sum count first last }\n      }\n    }\n  }\n"): (typeof documents)["\n  query RollupSeries($deviceId: String!, $metrics: [String!]!, $from: DateTime!, $to: DateTime!, $interval: SeriesInterval!, $timeZone: String, $fill: FillMode) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: [AVG, MIN, MAX, SUM, COUNT, FIRST, LAST], timeZone: $timeZone, fill: $fill) {\n        metric\n        buckets { start end filled avg min max sum count first last }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Series(\n    $deviceId: String!\n    $metrics: [String!]!\n    $from: DateTime!\n    $to: DateTime!\n    $interval: SeriesInterval!\n    $aggregates: [Aggregate!]!\n    $timeZone: String\n    $fill: FillMode\n  ) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: $aggregates, timeZone: $timeZone, fill: $fill) {\n        metric\n        buckets { start end filled avg min max sum count first last }\n      }\n    }\n  }\n"): (typeof documents)["\n  query Series(\n    $deviceId: String!\n    $metrics: [String!]!\n    $from: DateTime!\n    $to: DateTime!\n    $interval: SeriesInterval!\n    $aggregates: [Aggregate!]!\n    $timeZone: String\n    $fill: FillMode\n  ) {\n    device(deviceId: $deviceId) {\n      series(metrics: $metrics, from: $from, to: $to, interval: $interval, aggregates: $aggregates, timeZone: $timeZone, fill: $fill) {\n        metric\n        buckets { start end filled avg min max sum count first last }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query FleetSeries($first: Int, $filter: DeviceFilter, $from: DateTime!, $to: DateTime!) {\n    devices(first: $first, filter: $filter) {\n      edges {\n        node {\n          deviceId\n          daily: series(metrics: [\"temp\"], from: $from, to: $to, interval: DAY, aggregates: [AVG, COUNT, LAST], timeZone: \"Europe/Berlin\") {\n            metric\n            buckets { start end filled avg min max sum count first last }\n          }\n          hourly: series(metrics: [\"temp\"], from: $from, to: $to, interval: HOUR, aggregates: [SUM], timeZone: \"America/New_York\", fill: NULL) {\n            metric\n            buckets { start end filled avg min max sum count first last }\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query FleetSeries($first: Int, $filter: DeviceFilter, $from: DateTime!, $to: DateTime!) {\n    devices(first: $first, filter: $filter) {\n      edges {\n        node {\n          deviceId\n          daily: series(metrics: [\"temp\"], from: $from, to: $to, interval: DAY, aggregates: [AVG, COUNT, LAST], timeZone: \"Europe/Berlin\") {\n            metric\n            buckets { start end filled avg min max sum count first last }\n          }\n          hourly: series(metrics: [\"temp\"], from: $from, to: $to, interval: HOUR, aggregates: [SUM], timeZone: \"America/New_York\", fill: NULL) {\n            metric\n            buckets { start end filled avg min max sum count first last }\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription Live($deviceId: String, $metrics: [String!], $sampleIntervalMs: Int) {\n    telemetry(deviceId: $deviceId, metrics: $metrics, sampleIntervalMs: $sampleIntervalMs) { deviceId at points { metric ts value } }\n  }\n"): (typeof documents)["\n  subscription Live($deviceId: String, $metrics: [String!], $sampleIntervalMs: Int) {\n    telemetry(deviceId: $deviceId, metrics: $metrics, sampleIntervalMs: $sampleIntervalMs) { deviceId at points { metric ts value } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query TelemetryLatest($deviceId: String!, $metrics: [String!]) {\n    device(deviceId: $deviceId) { latest(metrics: $metrics) { metric ts value boolValue } }\n  }\n"): (typeof documents)["\n  query TelemetryLatest($deviceId: String!, $metrics: [String!]) {\n    device(deviceId: $deviceId) { latest(metrics: $metrics) { metric ts value boolValue } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query TelemetryRaw($deviceId: String!, $metric: String!, $from: DateTime, $to: DateTime, $first: Int, $after: String, $last: Int, $before: String) {\n    device(deviceId: $deviceId) {\n      telemetry(metric: $metric, from: $from, to: $to, first: $first, after: $after, last: $last, before: $before) {\n        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n        edges { cursor node { metric ts value boolValue } }\n      }\n    }\n  }\n"): (typeof documents)["\n  query TelemetryRaw($deviceId: String!, $metric: String!, $from: DateTime, $to: DateTime, $first: Int, $after: String, $last: Int, $before: String) {\n    device(deviceId: $deviceId) {\n      telemetry(metric: $metric, from: $from, to: $to, first: $first, after: $after, last: $last, before: $before) {\n        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }\n        edges { cursor node { metric ts value boolValue } }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DevicesLatest($first: Int, $filter: DeviceFilter) {\n    devices(first: $first, filter: $filter) { edges { node { deviceId latest { metric value } } } }\n  }\n"): (typeof documents)["\n  query DevicesLatest($first: Int, $filter: DeviceFilter) {\n    devices(first: $first, filter: $filter) { edges { node { deviceId latest { metric value } } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DevicesRaw($first: Int, $filter: DeviceFilter) {\n    devices(first: $first, filter: $filter) { edges { node { deviceId telemetry(metric: \"temp\", first: 2) { edges { node { ts value } } } } } }\n  }\n"): (typeof documents)["\n  query DevicesRaw($first: Int, $filter: DeviceFilter) {\n    devices(first: $first, filter: $filter) { edges { node { deviceId telemetry(metric: \"temp\", first: 2) { edges { node { ts value } } } } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription Telemetry($deviceId: String, $metrics: [String!]) {\n    telemetry(deviceId: $deviceId, metrics: $metrics) { deviceId at points { metric ts value boolValue } }\n  }\n"): (typeof documents)["\n  subscription Telemetry($deviceId: String, $metrics: [String!]) {\n    telemetry(deviceId: $deviceId, metrics: $metrics) { deviceId at points { metric ts value boolValue } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateDesired($deviceId: String!, $patch: JSON!, $ifVersion: Int) {\n    updateDesired(deviceId: $deviceId, patch: $patch, ifVersion: $ifVersion) {\n      __typename\n      ... on UpdateDesiredPayload { changed version twin { version desired delta } }\n      ... on VersionConflict { code expectedVersion currentVersion }\n      ... on ValidationError { code fieldErrors { path code message } }\n      ... on NotFound { code }\n    }\n  }\n"): (typeof documents)["\n  mutation UpdateDesired($deviceId: String!, $patch: JSON!, $ifVersion: Int) {\n    updateDesired(deviceId: $deviceId, patch: $patch, ifVersion: $ifVersion) {\n      __typename\n      ... on UpdateDesiredPayload { changed version twin { version desired delta } }\n      ... on VersionConflict { code expectedVersion currentVersion }\n      ... on ValidationError { code fieldErrors { path code message } }\n      ... on NotFound { code }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription TwinChanged($deviceId: String) {\n    twinChanged(deviceId: $deviceId) { deviceId version section patch source twin { version reported } }\n  }\n"): (typeof documents)["\n  subscription TwinChanged($deviceId: String) {\n    twinChanged(deviceId: $deviceId) { deviceId version section patch source twin { version reported } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Register($input: RegisterDeviceInput!) {\n    registerDevice(input: $input) {\n      __typename\n      ... on DeviceWithCredentials {\n        device { id deviceId name tags model { name } twin { version } }\n        credentials { username password }\n      }\n      ... on Error { code message }\n      ... on ValidationError { fieldErrors { path code message } }\n    }\n  }\n"): (typeof documents)["\n  mutation Register($input: RegisterDeviceInput!) {\n    registerDevice(input: $input) {\n      __typename\n      ... on DeviceWithCredentials {\n        device { id deviceId name tags model { name } twin { version } }\n        credentials { username password }\n      }\n      ... on Error { code message }\n      ... on ValidationError { fieldErrors { path code message } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Twin($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      deviceId\n      connected\n      lastSeenAt\n      twin { version reported desired delta metadata updatedAt }\n    }\n  }\n"): (typeof documents)["\n  query Twin($deviceId: String!) {\n    device(deviceId: $deviceId) {\n      deviceId\n      connected\n      lastSeenAt\n      twin { version reported desired delta metadata updatedAt }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;