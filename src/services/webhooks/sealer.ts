/**
 * The webhook secret sealer, created on first use: resolving the key may create the key file under the
 * data directory (src/security/webhook-key.ts), which an installation that never saves an endpoint
 * should not get. Contract: the same key and sealer the deliverer opens secrets with.
 */
import type { Config } from '../../config.ts';
import { createSecretSealer, resolveWebhookSecretKey, type SecretSealer } from '../../security/webhook-key.ts';

export function lazySecretSealer(config: Pick<Config, 'dataDir'> & { webhooks: Pick<Config['webhooks'], 'secretKey'> }): SecretSealer {
  let sealer: SecretSealer | undefined;
  const get = () => (sealer ??= createSecretSealer(resolveWebhookSecretKey(config.webhooks.secretKey, config.dataDir)));
  return {
    seal: (endpointId, secret) => get().seal(endpointId, secret),
    open: (endpointId, sealed) => get().open(endpointId, sealed),
  };
}
