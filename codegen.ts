import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * Typed documents for the tests and the console: `graphql(\`…\`)` calls in test/ and src/console/app/
 * are checked against schema.graphql and typed. Run `npm run codegen` after changing the schema.
 */
const config: CodegenConfig = {
  schema: 'schema.graphql',
  ignoreNoDocuments: true,
  generates: {
    // The console's documents as typed strings: the browser bundle needs no graphql-js to send them.
    'src/console/app/gql/': {
      documents: ['src/console/app/**/*.{ts,tsx}', '!src/console/app/gql/**'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        documentMode: 'string',
        useTypeImports: true,
        importExtension: '.ts',
        enumsAsTypes: true,
        scalars: { JSON: 'unknown', DateTime: 'string' },
      },
    },
    'test/generated/': {
      documents: ['test/**/*.ts', '!test/generated/**'],
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        importExtension: '.ts',
        enumsAsTypes: true,
        scalars: { JSON: 'unknown', DateTime: 'string' },
      },
    },
  },
};

export default config;
