import { createRequire } from 'node:module';

/**
 * Loads graphql-js with its release-build checks, whatever NODE_ENV says, and leaves NODE_ENV as it was.
 *
 * graphql 16 decides once, when `graphql/jsutils/instanceOf` is first loaded, whether
 * `process.env.NODE_ENV === 'production'`. Otherwise every `isListType`, `isNonNullType`, `isObjectType`…
 * that answers "no" goes on to read the value's `Symbol.toStringTag` and constructor name, to tell a
 * second copy of graphql apart ("Cannot use GraphQLSchema from another module or realm"). The executor
 * asks those questions for every field of every row: ≈ 2 % of the server's CPU for a devices page of
 * 100 (docs/performance.md, "API reads"). The rest of NODE_ENV=production means other things to Doppel
 * (introspection and GraphiQL off, the plain MQTT listener loopback-only: src/config/load.ts), so the
 * variable is set only while graphql loads, not for the process.
 *
 * Only the server's entry points import this, first (src/main.ts, bench/lib/server-child.ts): the tests
 * keep graphql's development checks, which is where a second copy of graphql would show up. Node's ESM
 * `import 'graphql'` loads this same CommonJS build (the package has no "exports"), so every later
 * import gets the instance loaded here.
 */
const require = createRequire(import.meta.url);
const before = process.env.NODE_ENV;
process.env.NODE_ENV = 'production';
try {
  require('graphql');
} finally {
  if (before === undefined) delete process.env.NODE_ENV;
  else process.env.NODE_ENV = before;
}
