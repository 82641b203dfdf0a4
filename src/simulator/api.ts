/**
 * The little of Doppel's GraphQL API the simulator needs: register a device, rotate its secret.
 * Plain `fetch` with string documents; every failure becomes an {@link ApiError} with a message a
 * person can act on.
 */
import type { DeviceCredentials } from './credentials.ts';

export interface ApiOptions {
  /** GraphQL endpoint, e.g. http://127.0.0.1:4000/graphql. */
  url: string;
  /** API bearer token (admin or operator). */
  token: string;
  /** Injected for tests; defaults to the global `fetch`. */
  fetch?: typeof fetch;
}

export interface RegisterInput {
  deviceId: string;
  name?: string;
  tags?: string[];
  model?: string;
}

export type RegisterOutcome = { kind: 'created'; credentials: DeviceCredentials } | { kind: 'exists' };

export interface DoppelApi {
  /** Registers a device; `exists` when the id is already taken (its secret is not shown again). */
  registerDevice(input: RegisterInput): Promise<RegisterOutcome>;
  /** Issues a new secret for an existing device; the old one stops working at once. */
  rotateCredentials(deviceId: string): Promise<DeviceCredentials>;
}

export class ApiError extends Error {
  override name = 'ApiError';
}

const REGISTER = `mutation SimulatorRegister($input: RegisterDeviceInput!) {
  registerDevice(input: $input) {
    __typename
    ... on DeviceWithCredentials { credentials { username password } }
    ... on Error { code message }
    ... on ValidationError { fieldErrors { path message } }
  }
}`;

const ROTATE = `mutation SimulatorRotate($deviceId: String!) {
  rotateDeviceCredentials(deviceId: $deviceId) {
    __typename
    ... on DeviceWithCredentials { credentials { username password } }
    ... on Error { code message }
  }
}`;

interface Payload {
  __typename: string;
  credentials?: DeviceCredentials;
  code?: string;
  message?: string;
  fieldErrors?: Array<{ path: string[]; message: string }>;
}

/** How often one request waits out a 429 before giving up (each wait is the server's Retry-After). */
const MAX_RATE_LIMITED_RETRIES = 60;

export function createApi(options: ApiOptions): DoppelApi {
  const doFetch = options.fetch ?? fetch;

  async function request(query: string, variables: Record<string, unknown>, field: string): Promise<Payload> {
    let response: Response;
    // The server rate limits each API token (HTTP 429 + Retry-After): registering many devices with one
    // token waits as told instead of failing.
    for (let attempt = 0; ; attempt++) {
      try {
        response = await doFetch(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.token}` },
          body: JSON.stringify({ query, variables }),
        });
      } catch (error) {
        const cause = (error as { cause?: { code?: string; message?: string } }).cause;
        throw new ApiError(`cannot reach the Doppel server at ${options.url} (${cause?.code ?? cause?.message ?? (error as Error).message}); is it running?`);
      }
      if (response.status !== 429 || attempt >= MAX_RATE_LIMITED_RETRIES) break;
      await response.body?.cancel();
      const retryAfterS = Number(response.headers.get('retry-after'));
      await new Promise((resolve) => setTimeout(resolve, (Number.isFinite(retryAfterS) && retryAfterS > 0 ? retryAfterS : 1) * 1000));
    }
    if (response.status === 401 || response.status === 403) {
      throw new ApiError(`the server refused the API token (HTTP ${response.status}); check --token / --token-file`);
    }
    let body: { data?: Record<string, Payload | null> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new ApiError(`${options.url} answered HTTP ${response.status} without a GraphQL response; is it Doppel's GraphQL endpoint?`);
    }
    const payload = body.data?.[field];
    if (!payload) {
      const reasons = body.errors?.map((e) => (e.extensions?.code ? `${e.extensions.code}: ${e.message}` : e.message)).join('; ');
      throw new ApiError(`${field} failed (HTTP ${response.status}): ${reasons ?? 'no data'}`);
    }
    return payload;
  }

  function explain(field: string, deviceId: string, payload: Payload): ApiError {
    const details = payload.fieldErrors?.map((f) => `${f.path.join('.')}: ${f.message}`).join('; ');
    return new ApiError(`${field} ${deviceId}: ${payload.code ?? payload.__typename}: ${payload.message ?? ''}${details ? ` (${details})` : ''}`);
  }

  return {
    async registerDevice(input) {
      const payload = await request(REGISTER, { input }, 'registerDevice');
      if (payload.__typename === 'DeviceWithCredentials' && payload.credentials) return { kind: 'created', credentials: payload.credentials };
      if (payload.__typename === 'AlreadyExists') return { kind: 'exists' };
      throw explain('registerDevice', input.deviceId, payload);
    },
    async rotateCredentials(deviceId) {
      const payload = await request(ROTATE, { deviceId }, 'rotateDeviceCredentials');
      if (payload.__typename === 'DeviceWithCredentials' && payload.credentials) return payload.credentials;
      throw explain('rotateDeviceCredentials', deviceId, payload);
    },
  };
}
