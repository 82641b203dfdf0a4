import type { IncomingMessage } from 'node:http';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import {
  Lexer,
  Source,
  TokenKind,
  type DocumentNode,
  type ExecutionArgs,
  type GraphQLError,
  type GraphQLSchema,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { createGraphQLError, type Plugin } from 'graphql-yoga';
import type { Principal } from '../domain/principal.ts';
import type { GraphQLEdgeConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { operationCost } from '../security/query-cost.ts';
import { createTokenBuckets } from '../security/token-bucket.ts';

/**
 * The hardened GraphQL edge: everything an operation must pass before it runs, over HTTP and
 * graphql-ws alike (docs/security.md, "GraphQL edge"). Each refusal is a GraphQLError with a stable
 * `extensions.code`, is counted in `doppel_graphql_refused_total{reason,transport}`, and happens before
 * any resolver runs, so a refused mutation stores nothing.
 */
export const EDGE_REFUSED_METRIC = 'doppel_graphql_refused_total';

export type Transport = 'http' | 'ws';

/** Stable codes of the edge's refusals, and the metric `reason` each is counted under. */
export const EDGE_CODES = {
  DEPTH_LIMIT_EXCEEDED: 'depth',
  ALIAS_LIMIT_EXCEEDED: 'aliases',
  TOKEN_LIMIT_EXCEEDED: 'tokens',
  COST_LIMIT_EXCEEDED: 'cost',
  INTROSPECTION_DISABLED: 'introspection',
  RATE_LIMITED: 'rate_limited',
  CSRF_PREVENTED: 'csrf',
  PAYLOAD_TOO_LARGE: 'body_size',
} as const;
export type EdgeCode = keyof typeof EDGE_CODES;

/** Extra fields of Yoga's initial context this module reads; graphql-ws operations set `transport: 'ws'`. */
interface EdgeContext {
  transport?: Transport;
}

function edgeError(code: EdgeCode, message: string, status: number, headers?: Record<string, string>): GraphQLError {
  // spec: false — Yoga answers spec-flagged validation errors with 200 to application/json clients; an edge
  // refusal keeps its status whatever the client accepts.
  return createGraphQLError(message, { extensions: { code, http: { status, spec: false, ...(headers ? { headers } : {}) } } });
}

/** True when `query` has more than `max` lexical tokens; lexing stops at max + 1. */
function overTokenLimit(query: string, max: number): boolean {
  try {
    const lexer = new Lexer(new Source(query));
    for (let n = 0; n <= max; n++) if (lexer.advance().kind === TokenKind.EOF) return false;
    return true;
  } catch {
    return false; // a syntax error: the parser reports it
  }
}

/**
 * Query strings already lexed and found within the token limit. Clients send the same few documents
 * over and over (Yoga caches their parse for the same reason); a repeated one is not lexed again. Only
 * short strings are kept and the set is emptied when full, so it is bounded in entries and in bytes.
 */
const WITHIN_LIMIT_MAX_ENTRIES = 1000;
const WITHIN_LIMIT_MAX_LENGTH = 4096;

/**
 * The cost of a document for the variables it is run with, remembered per document object (Yoga's
 * parse cache hands the same DocumentNode to every request with the same query text) and per
 * operation name and variables, so a repeated document is priced once. A bounded number of variable
 * sets is kept per document: a document sent with ever-new variables is priced each time instead.
 */
const COSTS_PER_DOCUMENT = 32;

/** graphql-js says "Document contains more that N tokens. Parsing aborted." (sic) when maxTokens stops it. */
const TOKEN_LIMIT_MESSAGE = /tokens\. Parsing aborted\./;

export function createEdge(config: GraphQLEdgeConfig, metrics: Metrics) {
  metrics.describe(EDGE_REFUSED_METRIC, 'GraphQL requests and operations refused at the edge, by reason (limit) and transport (http, ws).');
  const buckets = config.rateLimitPerSecond > 0 ? createTokenBuckets({ ratePerSecond: config.rateLimitPerSecond, burst: config.rateLimitBurst }) : undefined;

  function count(code: EdgeCode, transport: Transport): void {
    metrics.inc(EDGE_REFUSED_METRIC, { reason: EDGE_CODES[code], transport });
  }

  const transportOf = (context: unknown): Transport => ((context as EdgeContext | undefined)?.transport === 'ws' ? 'ws' : 'http');

  /** Armor's rules report a plain GraphQLError; ours carries the code and HTTP status. */
  const rejectAs =
    (code: EdgeCode) =>
    (context: ValidationContext | null, error: GraphQLError): void => {
      context?.reportError(edgeError(code, error.message.replace(/^Syntax Error: /, ''), 400));
    };

  const introspectionRule: ValidationRule = (context) => ({
    Field(node) {
      if (node.name.value === '__schema' || node.name.value === '__type') {
        context.reportError(edgeError('INTROSPECTION_DISABLED', 'GraphQL introspection is disabled on this server (GRAPHQL_INTROSPECTION)', 400));
      }
    },
  });

  const validationRules: ValidationRule[] = [
    maxDepthRule({
      n: config.maxDepth,
      // Introspection is allowed or refused as a whole; GraphiQL's introspection query is deeper than any API query.
      ignoreIntrospection: true,
      // Fragments are a way to write a selection, not a level of the response.
      flattenFragments: true,
      propagateOnRejection: false,
      onReject: [rejectAs('DEPTH_LIMIT_EXCEEDED')],
    }) as ValidationRule,
    maxAliasesRule({ n: config.maxAliases, propagateOnRejection: false, onReject: [rejectAs('ALIAS_LIMIT_EXCEEDED')] }) as ValidationRule,
    ...(config.introspection ? [] : [introspectionRule]),
  ];

  const tokenLimitError = () => edgeError('TOKEN_LIMIT_EXCEEDED', `Document has more than ${config.maxTokens} tokens; parsing stopped`, 400);

  const withinTokenLimit = new Set<string>();
  const tooManyTokens = (query: string): boolean => {
    if (withinTokenLimit.has(query)) return false;
    if (overTokenLimit(query, config.maxTokens)) return true;
    if (query.length <= WITHIN_LIMIT_MAX_LENGTH) {
      if (withinTokenLimit.size >= WITHIN_LIMIT_MAX_ENTRIES) withinTokenLimit.clear();
      withinTokenLimit.add(query);
    }
    return false;
  };

  const costs = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, Map<string, number>>>();
  const costOf = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Readonly<Record<string, unknown>> | null | undefined,
  ): number => {
    let bySchema = costs.get(schema);
    if (!bySchema) costs.set(schema, (bySchema = new WeakMap()));
    let byDocument = bySchema.get(document);
    if (!byDocument) bySchema.set(document, (byDocument = new Map<string, number>()));
    const key = `${operationName ?? ''}\u0000${variables && Object.keys(variables).length > 0 ? JSON.stringify(variables) : ''}`;
    let cost = byDocument.get(key);
    if (cost === undefined) {
      cost = operationCost(schema, document, operationName, variables);
      if (byDocument.size < COSTS_PER_DOCUMENT) byDocument.set(key, cost);
    }
    return cost;
  };

  const costError = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operationName: string | null | undefined,
    variables: Readonly<Record<string, unknown>> | null | undefined,
    transport: Transport,
  ): GraphQLError | null => {
    const cost = costOf(schema, document, operationName, variables);
    if (cost <= config.maxCost) return null;
    count('COST_LIMIT_EXCEEDED', transport);
    return edgeError(
      'COST_LIMIT_EXCEEDED',
      `Query cost ${cost} exceeds the limit of ${config.maxCost}: ask for smaller pages (first/last) or fewer fields (see docs/security.md for the cost model)`,
      400,
    );
  };

  /** Envelop types execution arguments as `any` (it does not depend on graphql); Yoga's are graphql-js's. */
  const costErrorOf = (args: object): GraphQLError | null => {
    const { schema, document, operationName, variableValues, contextValue } = args as ExecutionArgs;
    return costError(schema, document, operationName, variableValues, transportOf(contextValue));
  };

  // Yoga's own plugin decides what counts as CSRF-safe; we only give its refusal a code and count it.
  const csrf = useCSRFPrevention();

  const plugin: Plugin<EdgeContext> = {
    onRequestParse(payload) {
      const { requestParser, setRequestParser } = payload;
      // A body without Content-Length (chunked) is cut off by Yoga's maxRequestBodySize while it is
      // read; give that refusal the same code as the Content-Length check in checkBody, and count it.
      if (requestParser) {
        setRequestParser(async (request) => {
          try {
            return await requestParser(request);
          } catch (error) {
            if ((error as { extensions?: { code?: unknown } }).extensions?.code !== 'REQUEST_ENTITY_TOO_LARGE') throw error;
            count('PAYLOAD_TOO_LARGE', 'http');
            throw edgeError('PAYLOAD_TOO_LARGE', `request body over ${config.maxBodyBytes} bytes (GRAPHQL_MAX_BODY_BYTES)`, 413);
          }
        });
      }
      try {
        // Synchronous: it throws to refuse; `void` only because its type also allows a promise.
        void csrf.onRequestParse?.(payload);
      } catch {
        count('CSRF_PREVENTED', 'http');
        throw edgeError(
          'CSRF_PREVENTED',
          'Refused as a possible cross-site request: send the header "x-graphql-yoga-csrf" or a non-simple Content-Type such as application/json',
          403,
        );
      }
    },
    // Over HTTP the token limit is checked on the raw parameters: a refusal at parse time would be
    // turned into a GraphQL-over-HTTP parse failure, which Yoga answers with 200 to application/json
    // clients. graphql-ws operations do not pass here and are stopped by the parser below.
    onParams({ params, setResult }) {
      if (typeof params.query === 'string' && tooManyTokens(params.query)) {
        count('TOKEN_LIMIT_EXCEEDED', 'http');
        setResult({ errors: [tokenLimitError()] });
      }
    },
    onParse({ parseFn, setParseFn, context }) {
      // Yoga's own parse (not an import of ours): under vitest two copies of graphql can load, and a
      // syntax error from the other copy would not be recognised as a GraphQLError and get masked.
      setParseFn((source, options) => {
        try {
          return parseFn(source, { ...options, maxTokens: config.maxTokens }) as DocumentNode;
        } catch (error) {
          if (error instanceof Error && TOKEN_LIMIT_MESSAGE.test(error.message)) {
            count('TOKEN_LIMIT_EXCEEDED', transportOf(context));
            throw tokenLimitError();
          }
          throw error;
        }
      });
    },
    onValidate({ addValidationRule, context }) {
      for (const rule of validationRules) addValidationRule(rule);
      // Counted from the result, not in the rules: Yoga caches validation results per document, and a
      // cached refusal is still a refusal.
      return ({ result }) => {
        for (const error of result as readonly GraphQLError[]) {
          const code = error.extensions?.code;
          if (typeof code === 'string' && code in EDGE_CODES) count(code as EdgeCode, transportOf(context));
        }
      };
    },
    onExecute({ args, setResultAndStopExecution }) {
      const error = costErrorOf(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = costErrorOf(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };

  return {
    plugin,
    maxBodyBytes: config.maxBodyBytes,
    costError,

    /** Spends one operation of the caller's bucket; the refusal when it is empty. */
    rateLimit(principal: Principal, transport: Transport): { error: GraphQLError; retryAfterSeconds: number } | null {
      if (!buckets) return null;
      const taken = buckets.take(principal.tokenId);
      if (taken.allowed) return null;
      count('RATE_LIMITED', transport);
      const retryAfterSeconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
      const error = edgeError(
        'RATE_LIMITED',
        `Rate limit of ${config.rateLimitPerSecond} operations/s (burst ${config.rateLimitBurst}) for this API token exceeded; retry in ${retryAfterSeconds} s`,
        429,
        { 'Retry-After': String(retryAfterSeconds) },
      );
      return { error, retryAfterSeconds };
    },

    /**
     * Refuses an HTTP request whose Content-Length is over the limit before anything reads it (Node
     * reads exactly that many bytes, so the header is a bound). Chunked bodies are counted while Yoga
     * reads them (maxRequestBodySize, see the plugin above); GET query strings are bounded by Node's
     * header limit (16 KiB: 431 beyond it).
     */
    checkBody(req: IncomingMessage): { status: number; code: EdgeCode; message: string } | null {
      const raw = req.headers['content-length'];
      if (raw === undefined || Number(raw) <= config.maxBodyBytes) return null;
      count('PAYLOAD_TOO_LARGE', 'http');
      return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `request body over ${config.maxBodyBytes} bytes (GRAPHQL_MAX_BODY_BYTES)` };
    },
  };
}

export type Edge = ReturnType<typeof createEdge>;
