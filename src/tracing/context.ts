/**
 * The active span follows async work: a context manager on node:async_hooks' AsyncLocalStorage, set
 * as the OpenTelemetry API's global one the first time tracing is turned on (never when it is off).
 * Written here rather than taken from @opentelemetry/context-async-hooks, which is not a dependency
 * of ours (only of sdk-trace-node): the whole job is these few lines.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context, ROOT_CONTEXT, type Context, type ContextManager } from '@opentelemetry/api';

class AsyncLocalStorageContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();

  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }

  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return this.storage.run(ctx, () => fn.apply(thisArg, args));
  }

  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (...args: unknown[]): unknown => this.with(ctx, () => (target as (...a: unknown[]) => unknown)(...args));
    return run as T;
  }

  enable(): this {
    return this;
  }

  disable(): this {
    this.storage.disable();
    return this;
  }
}

let enabled = false;

/** Installs the context manager once per process; later calls (a second server in tests) do nothing. */
export function enableAsyncContext(): void {
  if (enabled) return;
  enabled = context.setGlobalContextManager(new AsyncLocalStorageContextManager());
}
