/**
 * The log formats (src/logger.ts): JSON lines by default and wherever stdout is not a terminal,
 * readable lines for a person at one. The last case runs the real server under a pseudo-terminal
 * (util-linux `script`), as `npm start` in a shell would.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, resolveLogFormat } from '../src/logger.ts';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let out = '';
  stream.on('data', (chunk: Buffer) => (out += chunk.toString()));
  return { stream, text: () => out };
}

describe('log formats', () => {
  it('auto means pretty on a terminal and JSON anywhere else; json and pretty are what they say', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });

  it('writes one JSON object per line with the service name', () => {
    const out = capture();
    createLogger('info', { component: 'test' }, 'json', out.stream).info({ deviceId: 'd1' }, 'device connected');
    const entry = JSON.parse(out.text().trim()) as Record<string, unknown>;
    expect(entry).toMatchObject({ level: 30, service: 'doppel', component: 'test', deviceId: 'd1', msg: 'device connected' });
  });

  it('writes a readable line with the level, the message and the fields, without colour codes off a terminal', () => {
    const out = capture();
    createLogger('info', {}, 'pretty', out.stream).warn({ deviceId: 'd1' }, 'device refused');
    const text = out.text();
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: device refused\n/);
    expect(text).toContain('deviceId: "d1"');
    expect(text).not.toContain('\u001b[');
    expect(() => JSON.parse(text) as unknown).toThrow();
  });

  it('keeps the level: entries below it are not written in either format', () => {
    for (const format of ['json', 'pretty'] as const) {
      const out = capture();
      const logger = createLogger('warn', {}, format, out.stream);
      logger.info('not written');
      logger.error('written');
      expect(out.text()).not.toContain('not written');
      expect(out.text()).toContain('written');
    }
  });

  it.skipIf(!existsSync('/usr/bin/script'))(
    'the server started on a terminal prints readable lines',
    async () => {
      const root = path.resolve(import.meta.dirname, '..');
      // `script` gives the server a pseudo-terminal as stdout; its output comes back through ours.
      const child = spawn('/usr/bin/script', ['-qfec', `${process.execPath} --import tsx src/main.ts`, '/dev/null'], {
        cwd: root,
        env: {
          ...process.env,
          PORT: '0',
          MQTT_PORT: '0',
          // No data directory here: nothing to generate certificates into.
          MQTT_TLS: 'off',
          HOST: '127.0.0.1',
          MQTT_HOST: '127.0.0.1',
          DATABASE_URL: 'memory://',
          MQTT_URL: '',
          LOG_FORMAT: 'auto',
          DOPPEL_BOOTSTRAP_TOKEN: 'false',
        },
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "Doppel is running" line:\n${out}`)), 120_000);
        child.stdout.on('data', () => {
          if (out.includes('Doppel is running')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      child.kill('SIGTERM');
      await exited;
      const line = out.split(/\r?\n/).find((l) => l.includes('Doppel is running'))!;
      expect(line).toMatch(/INFO/);
      expect(line.trimStart().startsWith('{')).toBe(false);
    },
    150_000,
  );
});
