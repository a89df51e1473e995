import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { summarizeProfile } from './profile.js';

const frame = (functionName: string, url: string) => ({ functionName, url, lineNumber: 0, columnNumber: 0, scriptId: '0' });

// A profile of 1 ms samples: a gateway function, a library's it calls, Node.js's, the garbage collector and idle, in that order, twice.
const PROFILE = {
  nodes: [
    { id: 1, callFrame: frame('(root)', ''), children: [2, 4, 5, 6] },
    { id: 2, callFrame: frame('admit', 'file:///app/services/ingress/pipeline.js'), children: [3] },
    { id: 3, callFrame: frame('dispatch', 'file:///app/node_modules/undici/lib/pool.js') },
    { id: 4, callFrame: frame('emit', 'node:events') },
    { id: 5, callFrame: frame('(garbage collector)', '') },
    { id: 6, callFrame: frame('(idle)', '') },
  ],
  startTime: 1_000_000,
  samples: [2, 3, 4, 5, 6, 2, 3, 4, 5, 6],
  timeDeltas: Array(10).fill(1_000),
};

describe('npm run bench -- --cpu-prof', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('sums only the samples inside the load phases, by whose code they are', () => {
    dir = mkdtempSync(join(tmpdir(), 'profile-test-'));
    const file = join(dir, 'CPU.cpuprofile');
    writeFileSync(file, JSON.stringify(PROFILE));

    const whole = summarizeProfile(file);
    expect(whole.busyMs).toBe(8);
    expect(Object.fromEntries(whole.byOwner.map((o) => [o.owner, o.selfMs]))).toEqual({
      'gateway (services/)': 2,
      'libraries (node_modules)': 2,
      'Node.js internals': 2,
      'V8 (gc, program, native)': 2,
    });

    // Two phases: the first sample (the gateway's) and the seventh to ninth (library, Node.js, GC); the rest is between phases.
    const phases = summarizeProfile(file, [
      { fromUs: 1_000_500, toUs: 1_001_500 },
      { fromUs: 1_006_500, toUs: 1_009_500 },
    ]);
    expect(phases.windowMs).toBe(4);
    expect(phases.busyMs).toBe(4);
    expect(phases.byOwner.map((o) => o.owner).sort()).toEqual([
      'Node.js internals',
      'V8 (gc, program, native)',
      'gateway (services/)',
      'libraries (node_modules)',
    ]);
    expect(phases.topFunctions.find((f) => f.frame.startsWith('admit'))?.selfMs).toBe(1);
    // The library's sample ran under admit, so it counts as admit's; Node.js's and the collector's under none.
    expect(Object.fromEntries(phases.byGatewayFunction.map((f) => [f.frame, f.selfMs]))).toEqual({
      'admit services/ingress/pipeline.js:1': 2,
      '(under no gateway function)': 2,
    });
  });
});
