// Importing a domain module registers its types on the builder; this file only collects them.
import { builder } from '../builder.ts';
import './scalars.ts';
import './errors.ts';
import { resolveDeviceIdsSynchronously } from './device.ts';
import './device-admin.ts';
import './twin.ts';
import './twin-history.ts';
import './telemetry.ts';
import './tokens.ts';
import './audit.ts';
import './models.ts';
import './commands.ts';
import './dead-letters.ts';
import './rules.ts';
import './webhooks.ts';
import './alarms.ts';
import './provisioning.ts';
import './device-certificates.ts';

builder.queryType({});
builder.mutationType({});
builder.subscriptionType({});

let schema: ReturnType<typeof builder.toSchema> | undefined;

/** The executable schema, built on first use (and once per process: it is immutable). */
export function buildSchema() {
  if (!schema) {
    schema = builder.toSchema({ sortSchema: true });
    resolveDeviceIdsSynchronously(schema);
  }
  return schema;
}
