/**
 * GraphQL operations as spans (docs/operations.md, "Tracing"): one per query or mutation, and one per
 * subscription's setup (not its life: a subscription may stay open for days), named `<type> <name>` —
 * e.g. `mutation SendCommand` — with the semantic conventions' graphql.operation.* attributes. The
 * span is active while resolvers run, so the statements and the stored commands they send carry it.
 * Errors in the result are recorded on the span. An HTTP request with a W3C `traceparent` header
 * continues the caller's trace. The document itself is not recorded: it may carry values inline.
 */
import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api';
import { getOperationAST, type DocumentNode, type ExecutionResult } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import { parseTraceparent } from '../tracing/index.ts';

// The GraphQL attributes are still "incubating" in @opentelemetry/semantic-conventions; their own advice
// is to copy them rather than import the unstable entry point.
export const ATTR_GRAPHQL_OPERATION_TYPE = 'graphql.operation.type';
export const ATTR_GRAPHQL_OPERATION_NAME = 'graphql.operation.name';

/** What envelop's (loosely typed) execution arguments hold that names the operation. */
type OperationArgs = { document: DocumentNode; operationName?: string | null | undefined };

export function tracingPlugin(tracer: Tracer): Plugin<{ request?: Request }> {
  function start({ document, operationName }: OperationArgs, request: Request | undefined): Span {
    const operation = getOperationAST(document, operationName);
    const type = operation?.operation ?? 'unknown';
    const name = operation?.name?.value;
    const remote = parseTraceparent(request?.headers.get('traceparent'));
    const parent = remote ? trace.setSpanContext(context.active(), remote) : context.active();
    return tracer.startSpan(
      name ? `${type} ${name}` : type,
      { kind: SpanKind.SERVER, attributes: { [ATTR_GRAPHQL_OPERATION_TYPE]: type, ...(name ? { [ATTR_GRAPHQL_OPERATION_NAME]: name } : {}) } },
      parent,
    );
  }

  function finish(span: Span, result: unknown): void {
    const errors = !isAsyncIterable(result) ? (result as ExecutionResult).errors : undefined;
    if (errors && errors.length > 0) {
      for (const error of errors) span.recordException({ name: 'GraphQLError', message: error.message });
      const code = errors[0]!.extensions?.code;
      span.setStatus({ code: SpanStatusCode.ERROR, message: errors[0]!.message });
      span.setAttribute('error.type', typeof code === 'string' ? code : 'GraphQLError');
    }
    span.end();
  }

  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const span = start(args as OperationArgs, args.contextValue.request);
      const active = trace.setSpan(context.active(), span);
      setExecuteFn((executeArgs) => context.with(active, () => executeFn(executeArgs) as never));
      return { onExecuteDone: ({ result }) => finish(span, result) };
    },
    onSubscribe({ args, subscribeFn, setSubscribeFn }) {
      const span = start(args as OperationArgs, args.contextValue.request);
      const active = trace.setSpan(context.active(), span);
      setSubscribeFn((subscribeArgs) => context.with(active, () => subscribeFn(subscribeArgs) as never));
      return {
        onSubscribeResult: ({ result }) => finish(span, result),
        onSubscribeError: ({ error }) => {
          span.recordException(error instanceof Error ? error : new Error(String(error)));
          span.setStatus({ code: SpanStatusCode.ERROR });
          span.end();
        },
      };
    },
  };
}
