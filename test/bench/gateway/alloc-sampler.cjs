/**
 * Preloaded into each gateway process by `npm run bench -- --alloc-prof`
 * (node --require). SIGUSR2 starts V8's sampling heap profiler, counting the
 * objects garbage collection has since freed too, so it measures what is
 * allocated rather than what stays; the next SIGUSR2 stops it and writes the
 * profile to $GATEWAY_BENCH_ALLOC_DIR/<pid>.heapprofile. Plain CommonJS: the
 * gateway runs as transpiled JavaScript, without tsx.
 */
'use strict';
const { Session } = require('node:inspector');
const { renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const dir = process.env.GATEWAY_BENCH_ALLOC_DIR;
if (dir) {
  const session = new Session();
  session.connect();
  session.post('HeapProfiler.enable');
  let sampling = false;
  process.on('SIGUSR2', () => {
    sampling = !sampling;
    if (sampling) {
      session.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      return;
    }
    session.post('HeapProfiler.stopSampling', (err, result) => {
      const file = join(dir, `${process.pid}.heapprofile`);
      writeFileSync(`${file}.part`, JSON.stringify(err ? { error: err.message } : result.profile));
      renameSync(`${file}.part`, file);
    });
  });
}
