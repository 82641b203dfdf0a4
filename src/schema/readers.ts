import type { GraphQLContext } from '../context.ts';
import type { DeviceReader } from '../services/device-reads.ts';

// One reader per request: the device fields of one request share its loaders, and nothing outlives it.
const readers = new WeakMap<GraphQLContext, DeviceReader>();

/** The request's device reader (src/services/device-reads.ts), made on first use. */
export function deviceReaderOf(ctx: GraphQLContext): DeviceReader {
  let reader = readers.get(ctx);
  if (!reader) readers.set(ctx, (reader = ctx.deviceReader()));
  return reader;
}
