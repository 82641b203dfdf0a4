/**
 * One lifecycle for every running part of Doppel. A component declares what it does when the app
 * starts and when it stops; the app is a list of components started in order and stopped in reverse,
 * so whatever a component needs is started before it and stopped after it. The order of the list is
 * the whole shutdown story (src/app/compose.ts writes it down once).
 */
import type { Logger } from '../logger.ts';

export interface Component {
  /** For logs: which part failed to start or stop. */
  readonly name: string;
  /** Called once, after every component before it in the list has started. */
  start?(): Promise<void> | void;
  /** Called once, in reverse order, for every component whose start succeeded (or that has none). Must be bounded. */
  stop?(): Promise<void> | void;
}

export interface Lifecycle {
  /**
   * Starts the components in order. When one fails, the ones already started are stopped (in reverse)
   * and the failure is rethrown, so a failed start leaves nothing running.
   */
  start(): Promise<void>;
  /** Stops what was started, newest first. A failing stop is logged and the others still run. Idempotent. */
  stop(): Promise<void>;
}

export function createLifecycle(components: readonly Component[], logger: Logger): Lifecycle {
  let started: Component[] = [];

  async function stop(): Promise<void> {
    const toStop = started.reverse();
    started = [];
    for (const component of toStop) {
      try {
        await component.stop?.();
      } catch (error) {
        logger.warn({ err: error, component: component.name }, 'shutdown step failed');
      }
    }
  }

  return {
    async start() {
      for (const component of components) {
        try {
          await component.start?.();
        } catch (error) {
          await stop();
          throw error;
        }
        started.push(component);
      }
    },
    stop,
  };
}
