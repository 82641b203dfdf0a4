/**
 * Run by test/graphql-release-checks.test.ts in a process of its own (graphql is loaded once per
 * process): imports the module as src/main.ts does, then reports what graphql chose and NODE_ENV.
 */
import '../../src/graphql-release-checks.ts';
import { createRequire } from 'node:module';
import { GraphQLList, GraphQLString, isListType } from 'graphql';

const require = createRequire(import.meta.url);
const { instanceOf } = require('graphql/jsutils/instanceOf.js') as { instanceOf: (value: unknown, constructor: unknown) => boolean };
// The release build's instanceOf is a bare `instanceof`; the development one also reads toStringTag.
const release = !/toStringTag/.test(instanceOf.toString());
process.stdout.write(
  JSON.stringify({
    release,
    nodeEnv: process.env.NODE_ENV ?? null,
    listIsList: isListType(new GraphQLList(GraphQLString)),
    scalarIsList: isListType(GraphQLString),
  }),
);
