/** `npm run devices -- import …`: see src/cli/devices.ts (usage: `npm run devices -- --help`). */
import { runDevicesCli } from '../src/cli/devices.ts';

runDevicesCli(process.argv.slice(2), process.env, { out: (l) => console.log(l), err: (l) => console.error(l) }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
