/** `npm run token -- create|list|revoke …`: see src/cli/token.ts (usage: `npm run token -- --help`). */
import { runTokenCli } from '../src/cli/token.ts';

runTokenCli(process.argv.slice(2), process.env, { out: (l) => console.log(l), err: (l) => console.error(l) }).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  },
);
