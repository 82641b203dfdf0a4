import { describe, expect, it } from 'vitest';
import { createLifecycle, type Component } from '../../src/app/lifecycle.ts';
import { createLogger } from '../../src/logger.ts';

const logger = createLogger('silent');

function recording(log: string[], name: string, failStart = false, failStop = false): Component {
  return {
    name,
    start() {
      log.push(`start ${name}`);
      if (failStart) throw new Error(`${name} cannot start`);
    },
    stop() {
      log.push(`stop ${name}`);
      if (failStop) throw new Error(`${name} cannot stop`);
    },
  };
}

describe('lifecycle', () => {
  it('starts in order and stops in reverse, once', async () => {
    const log: string[] = [];
    const app = createLifecycle([recording(log, 'a'), { name: 'no-hooks' }, recording(log, 'b')], logger);
    await app.start();
    await app.stop();
    await app.stop();
    expect(log).toEqual(['start a', 'start b', 'stop b', 'stop a']);
  });

  it('a failed start stops what had started, in reverse, and rethrows', async () => {
    const log: string[] = [];
    const app = createLifecycle([recording(log, 'a'), recording(log, 'b'), recording(log, 'c', true), recording(log, 'd')], logger);
    await expect(app.start()).rejects.toThrow('c cannot start');
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop b', 'stop a']);
  });

  it('a failing stop does not keep the others from stopping', async () => {
    const log: string[] = [];
    const app = createLifecycle([recording(log, 'a'), recording(log, 'b', false, true), recording(log, 'c')], logger);
    await app.start();
    await app.stop();
    expect(log).toEqual(['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
  });
});
