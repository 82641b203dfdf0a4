import type { Principal } from './domain/principal.ts';
import type { Config } from './config.ts';
import type { PrismaClient } from './db/client.ts';
import type { EventBus } from './events/bus.ts';
import type { Logger } from './logger.ts';
import type { AuditLog } from './services/audit.ts';
import type { DeviceService } from './services/devices/index.ts';
import type { TwinService } from './services/twins/index.ts';
import type { TwinReplay } from './services/twin-replay/index.ts';
import type { ModelService } from './services/models.ts';
import type { CommandService } from './services/commands/index.ts';
import type { TokenService } from './services/tokens.ts';
import type { TelemetryReader } from './services/telemetry-queries.ts';
import type { DeviceReader } from './services/device-reads.ts';
import type { DeadLetterService } from './services/dead-letters/index.ts';
import type { RuleService } from './services/rules/index.ts';
import type { RuleBacktest } from './services/rules/backtest.ts';
import type { WebhookService } from './services/webhooks/index.ts';
import type { AlarmControl } from './services/rules/engine/control.ts';
import type { ProvisioningService } from './services/provisioning/index.ts';
import type { DeviceCertificateService } from './services/device-certificates/index.ts';

/** Everything a resolver may use. Built by one factory for HTTP and WebSocket alike (src/http/graphql.ts). */
export interface GraphQLContext {
  principal: Principal;
  prisma: PrismaClient;
  bus: EventBus;
  config: Config;
  logger: Logger;
  devices: DeviceService;
  twins: TwinService;
  /** twinChanged resumed from a version: the change log, then live (src/services/twin-replay/). */
  twinReplay: TwinReplay;
  /** The audit log; the services that perform actions record them, resolvers only read it. */
  audit: AuditLog;
  models: ModelService;
  tokens: TokenService;
  commands: CommandService;
  /** Device messages that failed deterministically: listed, replayed and discarded by admins. */
  deadLetters: DeadLetterService;
  /** Rule management (src/services/rules/): checked, versioned, audited. */
  rules: RuleService;
  /** testRule: rules replayed over stored data. */
  ruleBacktest: RuleBacktest;
  /** Webhook endpoints of the tenant: created, rotated, inspected and redelivered by admins. */
  webhooks: WebhookService;
  /** Acknowledge, clear and comment alarms (the rules engine's manual control). */
  alarms: AlarmControl;
  /** Provisioning policies and attempts (admins); docs/onboarding.md "Provisioning". */
  provisioning: ProvisioningService;
  /** Device certificates and tenant CAs (mutual TLS, admins); docs/security.md "Device certificates". */
  deviceCertificates: DeviceCertificateService;
  /**
   * A new telemetry reader (pages, latest values, series). The schema makes one per request, so the
   * fields of one request that ask many devices for the same page or series share one statement.
   */
  telemetryReader(): TelemetryReader;
  /**
   * A new reader of devices with their twins (one statement per read, batched per tick). The schema
   * makes one per request; nothing it reads outlives the request, so reads see accepted changes at once.
   */
  deviceReader(): DeviceReader;
}
