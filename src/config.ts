/**
 * Configuration: the types the rest of Doppel uses (src/config/types.ts), the one spec of every
 * environment variable (src/config/spec.ts) and `loadConfig`, which reads the environment through it
 * (src/config/load.ts). docs/configuration.md and .env.example are generated from the spec
 * (`npm run config:docs`).
 */
export type {
  CommandsConfig,
  DeadLettersConfig,
  HistoryRetentionConfig,
  Config,
  DatabaseConfig,
  DynsecConfig,
  EmbeddedMaintenanceConfig,
  GraphQLEdgeConfig,
  LogFormat,
  LogLevel,
  MqttConfig,
  TelemetryConfig,
  TwinLimits,
} from './config/types.ts';
export { ConfigError, loadConfig, loadConfigOrReport } from './config/load.ts';
