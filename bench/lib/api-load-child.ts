/**
 * The load generator of bench:api (bench/api.ts), in its own process so its CPU is not the server's:
 * autocannon (the tool the baseline figures were taken with), in-process here, against one URL
 * with one request body at a time.
 */
import { createRequire } from 'node:module';
import { serveRpc } from './rpc.ts';

interface AutocannonHistogram {
  average: number;
  p50: number;
  p99: number;
  total: number;
}
interface AutocannonResult {
  requests: AutocannonHistogram;
  latency: AutocannonHistogram;
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  '2xx': number;
}
type Autocannon = (options: {
  url: string;
  method: string;
  connections: number;
  duration: number;
  headers: Record<string, string>;
  body: string;
}) => Promise<AutocannonResult>;

// autocannon ships no types; this is the part of its API used here.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface LoadParams {
  url: string;
  body: string;
  headers: Record<string, string>;
  connections: number;
  seconds: number;
}

export interface LoadResult {
  /** Completed requests in the window (2xx and others). */
  requests: number;
  /** Requests per second over the window. */
  rps: number;
  p50: number;
  p99: number;
  seconds: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

serveRpc({
  async run(params: LoadParams): Promise<LoadResult> {
    const result = await autocannon({
      url: params.url,
      method: 'POST',
      connections: params.connections,
      duration: params.seconds,
      headers: { 'content-type': 'application/json', ...params.headers },
      body: params.body,
    });
    return {
      requests: result.requests.total,
      rps: result.requests.total / result.duration,
      p50: result.latency.p50,
      p99: result.latency.p99,
      seconds: result.duration,
      non2xx: result.non2xx,
      errors: result.errors,
      timeouts: result.timeouts,
    };
  },
});
