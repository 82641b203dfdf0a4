/**
 * bench:farm's server profiler (bench/farm.ts `--cpu-prof`), preloaded into the Doppel server with
 * `NODE_OPTIONS=--import …/farm-profiler.mjs` (V8's own `--cpu-prof` is not allowed in NODE_OPTIONS, and
 * would profile start-up and registration too). The first SIGUSR2 starts a CPU profile, the second
 * writes it to FARM_CPU_PROFILE and stops: the window is exactly the admission the bench measures.
 * Plain JavaScript because it loads before tsx does.
 */
import fs from 'node:fs';
import process from 'node:process';
import { Session } from 'node:inspector';

const file = process.env.FARM_CPU_PROFILE;
if (file) {
  let session;
  process.on('SIGUSR2', () => {
    if (!session) {
      session = new Session();
      session.connect();
      session.post('Profiler.enable');
      session.post('Profiler.setSamplingInterval', { interval: 1000 });
      session.post('Profiler.start');
      return;
    }
    const current = session;
    session = undefined;
    current.post('Profiler.stop', (err, result) => {
      // Renamed into place so the bench never reads a half-written file.
      if (!err) {
        fs.writeFileSync(`${file}.tmp`, JSON.stringify(result.profile));
        fs.renameSync(`${file}.tmp`, file);
      }
      current.disconnect();
    });
  });
}
