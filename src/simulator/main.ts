/**
 * `npm run simulate`: the only simulator module that reads argv, environment and signals, or exits.
 * Exit codes: 0 after a clean stop, 1 when the simulator fails, 2 for bad usage.
 */
import { parseCli, readCaFile, readToken, UsageError } from './cli.ts';
import { createSimulator } from './simulator.ts';

function timestamp(): string {
  const d = new Date();
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

async function main(): Promise<void> {
  let options;
  let token;
  let ca: string | undefined;
  try {
    const cli = parseCli(process.argv.slice(2), process.env);
    if (cli.kind === 'help') {
      process.stdout.write(cli.text);
      return;
    }
    options = cli.options;
    token = await readToken(options);
    if (options.caFile !== undefined) ca = await readCaFile(options.caFile);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(error.message);
      process.exit(2);
    }
    throw error;
  }

  const simulator = createSimulator({ ...options, token, ...(ca ? { ca } : {}) }, { log: (line) => console.log(`${timestamp()} ${line}`) });

  let stopping = false;
  let stoppingSince = 0;
  const shutdown = async (why: string, code = 0): Promise<void> => {
    if (stopping) return;
    stopping = true;
    stoppingSince = Date.now();
    console.log(`${timestamp()} stopping (${why})`);
    await simulator.stop();
    process.exit(code);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // A second Ctrl-C means "now": skip the goodbyes (the broker's Last Wills will say offline).
    // One keypress can arrive twice (from the terminal and relayed by tsx), hence the grace second.
    if (stopping) {
      if (Date.now() - stoppingSince > 1000) process.exit(130);
      return;
    }
    void shutdown(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  if (options.durationS !== undefined) {
    const seconds = options.durationS;
    setTimeout(() => void shutdown(`--duration ${seconds} s elapsed`), seconds * 1000);
  }

  try {
    await simulator.start();
  } catch (error) {
    console.error(`${timestamp()} ${(error as Error).message}`);
    await shutdown('start-up failed', 1);
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
