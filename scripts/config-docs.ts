/**
 * Writes docs/configuration.md and .env.example from the configuration spec (src/config/spec.ts). With
 * --check, exits 1 when a committed file differs from what the spec generates (CI runs this), without
 * writing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { GENERATED_FILES } from '../src/config/docs.ts';

const root = path.resolve(import.meta.dirname, '..');

if (process.argv.includes('--check')) {
  const stale: string[] = [];
  for (const file of GENERATED_FILES) {
    const absolute = path.join(root, file.path);
    const current = fs.existsSync(absolute) ? fs.readFileSync(absolute, 'utf8') : undefined;
    const difference = firstDifference(current, file.render());
    if (difference !== undefined) stale.push(`  - ${file.path}: ${difference}`);
  }
  if (stale.length > 0) {
    console.error(`Configuration docs are stale (they differ from what src/config/spec.ts generates):\n${stale.join('\n')}`);
    console.error('Edit src/config/spec.ts, not the generated files; run `npm run config:docs` and commit the result.');
    process.exit(1);
  }
  console.log(`${GENERATED_FILES.map((file) => file.path).join(' and ')} are up to date.`);
} else {
  for (const file of GENERATED_FILES) {
    fs.writeFileSync(path.join(root, file.path), file.render());
    console.log(`wrote ${file.path}`);
  }
}

/** Where `current` stops matching `expected`, for the message; undefined when they are equal. */
function firstDifference(current: string | undefined, expected: string): string | undefined {
  if (current === undefined) return 'missing';
  if (current === expected) return undefined;
  const have = current.split('\n');
  const want = expected.split('\n');
  const line = want.findIndex((text, i) => have[i] !== text);
  const at = line === -1 ? want.length : line;
  return `first difference at line ${at + 1} (expected ${JSON.stringify(want[at] ?? '<end of file>')}, found ${JSON.stringify(have[at] ?? '<end of file>')})`;
}
