/** The dependencies the parts of the provisioning service share. */
import type { Database } from '../../db/client.ts';
import type { Logger } from '../../logger.ts';
import type { Metrics } from '../../metrics.ts';
import type { AuditLog } from '../audit.ts';
import type { DeviceService } from '../devices/index.ts';

/** Seals and opens group keys (bound to their policy id); the key lives outside the database. */
export interface GroupKeySealer {
  seal(policyId: string, groupKey: string): string;
  open(policyId: string, sealed: string): string | undefined;
}

export interface ProvisioningServiceOptions {
  db: Database;
  logger: Logger;
  metrics: Metrics;
  audit: AuditLog;
  /** Devices are created through bulk registration and rotated through the credentials manager, as an admin's would be. */
  devices: Pick<DeviceService, 'registerMany' | 'rotateCredentials'>;
  groupKeys: GroupKeySealer;
  /** With Mosquitto dynamic security: seals a device's secret for the broker mirror (src/services/devices/types.ts). */
  sealSecret?: (deviceId: string, secret: string) => string;
}
