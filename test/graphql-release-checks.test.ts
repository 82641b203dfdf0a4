import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const probe = path.resolve(import.meta.dirname, 'support/graphql-release-checks-probe.ts');

/** The probe in a fresh node process (as `npm start` runs: tsx), with NODE_ENV as given (undefined: unset). */
async function probeWith(nodeEnv: string | undefined): Promise<Record<string, unknown>> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_ENV;
  if (nodeEnv !== undefined) env.NODE_ENV = nodeEnv;
  const { stdout } = await run(process.execPath, ['--import', 'tsx', probe], { env, cwd: path.resolve(import.meta.dirname, '..') });
  return JSON.parse(stdout) as Record<string, unknown>;
}

describe('src/graphql-release-checks.ts', () => {
  it('loads graphql with its release-build instanceOf and leaves NODE_ENV unset when it was', async () => {
    expect(await probeWith(undefined)).toEqual({ release: true, nodeEnv: null, listIsList: true, scalarIsList: false });
  });

  it('leaves NODE_ENV as it was set (development stays development for the config)', async () => {
    expect(await probeWith('development')).toEqual({ release: true, nodeEnv: 'development', listIsList: true, scalarIsList: false });
    expect(await probeWith('production')).toEqual({ release: true, nodeEnv: 'production', listIsList: true, scalarIsList: false });
  });
});
