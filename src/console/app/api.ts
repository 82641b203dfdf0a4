/**
 * The console's only way to the server: the public GraphQL API, over HTTP for queries and mutations
 * and over graphql-ws for live updates. Documents are typed by codegen (src/console/app/gql/), so a
 * field the schema does not have is a type error here, not a blank cell in the browser.
 */
import { createClient, type Client } from 'graphql-ws';
import { ApiError, detailsOf } from './errors.ts';
import type { TypedDocumentString } from './gql/graphql.ts';

/** Close code the server uses for a refused, revoked or expired token (src/http/graphql.ts). */
const TOKEN_REFUSED_CLOSE = 4403;

/** `idle`: the socket is closed because no page on screen subscribes to anything (the admin pages). */
export type LinkState = 'connecting' | 'live' | 'reconnecting' | 'idle';

/** graphql-ws closes its lazy socket with 1000 once the last subscription ends; it then reconnects only when a page subscribes again. */
const CLOSED_BY_CLIENT = 1000;

/**
 * The link state after the socket closed for any reason but a refused token: the client's own close
 * (no subscriber left) is idle, anything else (network, server restart) is a reconnect in progress.
 */
export function linkStateAfterClose(code: number | undefined): LinkState {
  return code === CLOSED_BY_CLIENT ? 'idle' : 'reconnecting';
}

export interface ApiOptions {
  token: string;
  /** The token was refused (revoked, expired, mistyped): the console goes back to the token page. */
  onUnauthenticated(message: string): void;
  onLinkState?(state: LinkState): void;
}

export interface Api {
  request<TResult, TVariables>(document: TypedDocumentString<TResult, TVariables>, variables: TVariables): Promise<TResult>;
  /** Calls `next` for every event until the returned function is called; errors are reported, then it retries. */
  subscribe<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    sink: { next(data: TResult): void; error?(error: ApiError): void },
  ): () => void;
  /** Fires after every reconnect of the live link: views re-read what they show, so a gap misses nothing. */
  onReconnect(listener: () => void): () => void;
  dispose(): void;
}

/** Exponential back-off with full jitter, 0.5 s doubling to 15 s: a restarting server is not stampeded. */
export function retryDelayMs(attempt: number, random = Math.random): number {
  const cap = Math.min(15_000, 500 * 2 ** attempt);
  return Math.round(cap / 2 + random() * (cap / 2));
}

export function createApi(options: ApiOptions): Api {
  const authorization = `Bearer ${options.token}`;
  const reconnectListeners = new Set<() => void>();
  let connectedOnce = false;
  let refused = false;
  // After an idle close, the next connect is a page starting to subscribe, not a recovery.
  let idle = false;
  const setLinkState = (state: LinkState) => {
    idle = state === 'idle';
    options.onLinkState?.(state);
  };

  const unauthenticated = (message: string) => {
    if (refused) return;
    refused = true;
    options.onUnauthenticated(message);
  };

  const ws: Client = createClient({
    url: `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/graphql`,
    connectionParams: () => ({ authorization }),
    lazy: true,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: (event) => !(isCloseEvent(event) && event.code === TOKEN_REFUSED_CLOSE),
    retryWait: (attempt) => new Promise((resolve) => setTimeout(resolve, retryDelayMs(attempt))),
    on: {
      connecting: () => setLinkState(connectedOnce && !idle ? 'reconnecting' : 'connecting'),
      connected: () => {
        setLinkState('live');
        if (connectedOnce) for (const listener of reconnectListeners) listener();
        connectedOnce = true;
      },
      closed: (event) => {
        if (isCloseEvent(event) && event.code === TOKEN_REFUSED_CLOSE) unauthenticated('The API token was refused: it was revoked, has expired, or is wrong.');
        else setLinkState(linkStateAfterClose(isCloseEvent(event) ? event.code : undefined));
      },
    },
  });

  async function request<TResult, TVariables>(document: TypedDocumentString<TResult, TVariables>, variables: TVariables): Promise<TResult> {
    const response = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', authorization },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
    let body: { data?: TResult | null; errors?: Parameters<typeof detailsOf>[0] };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new ApiError([{ message: `The server answered ${response.status} ${response.statusText} without a GraphQL response.` }]);
    }
    if (body.errors?.length) {
      const error = new ApiError(detailsOf(body.errors));
      if (error.code === 'UNAUTHENTICATED') unauthenticated(error.message);
      throw error;
    }
    if (body.data == null) throw new ApiError([{ message: `The server answered ${response.status} with no data.` }]);
    return body.data;
  }

  function subscribe<TResult, TVariables>(
    document: TypedDocumentString<TResult, TVariables>,
    variables: TVariables,
    sink: { next(data: TResult): void; error?(error: ApiError): void },
  ): () => void {
    return ws.subscribe<TResult>(
      { query: document.toString(), variables: variables as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length) sink.error?.(new ApiError(detailsOf(result.errors as never)));
          else if (result.data) sink.next(result.data);
        },
        error: (error) => {
          if (Array.isArray(error)) sink.error?.(new ApiError(detailsOf(error as never)));
        },
        complete: () => undefined,
      },
    );
  }

  return {
    request,
    subscribe,
    onReconnect(listener) {
      reconnectListeners.add(listener);
      return () => reconnectListeners.delete(listener);
    },
    dispose: () => void ws.dispose(),
  };
}

function isCloseEvent(event: unknown): event is { code: number; reason: string } {
  return typeof event === 'object' && event !== null && 'code' in event && typeof (event as { code: unknown }).code === 'number';
}
