/**
 * The layer rule, enforced (`npm run deps:check`). Layers, inner to outer:
 *   src/domain   pure rules and types: imports only domain and pure npm packages (ajv), no I/O;
 *   src/services use cases over the database: never the transports (mqtt, schema, http) or the app;
 *   src/mqtt, src/schema, src/http  the adapters: they call services and domain, not each other;
 *   src/server.ts wires everything; only src/main.ts and tests, benchmarks and scripts import the app.
 * And no import cycles in src. Type-only imports count: a layer that names another's types depends on it.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: the modules in it can only be understood, tested and loaded together. Break it by moving the shared part down a layer.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment:
        'src/domain holds pure rules: it imports only src/domain and pure npm packages (ajv, ajv-formats), no node: modules, no I/O. The one exception is node:crypto in src/domain/webhooks/signing.ts: an HMAC and a constant-time compare are computation, and reimplementing them would be the risk.',
      from: { path: '^src/domain/', pathNot: '^src/domain/webhooks/signing[.]ts$' },
      to: { pathNot: ['^src/domain/', '^node_modules/(ajv|ajv-formats)/'] },
    },
    {
      name: 'domain-crypto-only',
      severity: 'error',
      comment: 'src/domain/webhooks/signing.ts may use node:crypto and nothing else outside src/domain.',
      from: { path: '^src/domain/webhooks/signing[.]ts$' },
      to: { pathNot: ['^src/domain/', '^crypto$'] },
    },
    {
      name: 'services-not-to-transports',
      severity: 'error',
      comment: 'src/services must not know how it is reached: no src/mqtt, src/schema, src/http, no app (server.ts, main.ts), no GraphQL server libraries.',
      from: { path: '^src/services/' },
      to: { path: ['^src/(mqtt|schema|http)/', '^src/(server|main)[.]ts$', '^node_modules/(graphql-yoga|@graphql-yoga|@pothos)/'] },
    },
    {
      name: 'mqtt-not-to-graphql',
      severity: 'error',
      comment: 'The MQTT adapter talks to services and domain, not to the GraphQL schema or the HTTP edge.',
      from: { path: '^src/mqtt/' },
      to: { path: '^src/(schema|http)/' },
    },
    {
      name: 'schema-not-to-other-transports',
      severity: 'error',
      comment: 'The GraphQL schema talks to services and domain, not to the MQTT adapter or the HTTP edge.',
      from: { path: '^src/schema/' },
      to: { path: '^src/(mqtt|http)/' },
    },
    {
      name: 'only-entry-points-import-the-app',
      severity: 'error',
      comment: 'src/server.ts and src/main.ts are the app: only src/main.ts, tests, benchmarks and scripts may import them.',
      from: { pathNot: ['^src/main[.]ts$', '^test/', '^bench/', '^scripts/'] },
      to: { path: '^src/(server|main)[.]ts$' },
    },
    {
      name: 'console-app-is-a-browser-client',
      severity: 'error',
      comment:
        'src/console/app runs in the browser and speaks only the public GraphQL API: it imports its own files and browser packages (preact, graphql-ws, uplot), never server code or node: modules.',
      from: { path: '^src/console/app/' },
      to: {
        pathNot: ['^src/console/app/', '(^|/)node_modules/(preact|graphql-ws|uplot|@graphql-typed-document-node/core)/', '^@graphql-typed-document-node/core$'],
      },
    },
    {
      name: 'server-does-not-import-the-console-app',
      severity: 'error',
      comment: 'The server bundles src/console/app (src/console/bundle.ts) but never imports it: browser code does not run in Node.',
      from: { path: '^src/', pathNot: '^src/console/app/' },
      to: { path: '^src/console/app/' },
    },
  ],
  options: {
    // npm packages and the generated Prisma client are leaves here: their insides are not ours to judge.
    doNotFollow: { path: ['node_modules', '^src/generated/', '^test/generated/'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
