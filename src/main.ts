// First: graphql must be loaded with its release-build checks before anything else imports it.
import './graphql-release-checks.ts';
import { loadConfigOrReport } from './config.ts';
import { createServer } from './server.ts';

// The only module that reads signals and exits; everything else is a factory.
async function main(): Promise<void> {
  const config = loadConfigOrReport();
  if (!config) {
    process.exit(2);
  }
  const server = createServer(config);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.logger.info({ signal }, 'shutting down');
    await server.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await server.start();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
