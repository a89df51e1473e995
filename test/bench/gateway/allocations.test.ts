import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { ALLOC_SAMPLER_ARGS, sampleAllocations } from './allocations.js';

// A process that, once sampling has started (its SIGUSR2 listener runs after the sampler's), allocates
// 100,000 arrays of 64 numbers in one named function, keeps them, and says so.
const CHILD = `
function allocateArrays(count) {
  const kept = [];
  for (let i = 0; i < count; i++) kept.push(new Array(64).fill(i));
  return kept;
}
let kept;
process.once('SIGUSR2', () => {
  kept = allocateArrays(100000);
  process.stdout.write('allocated\\n');
});
process.stdout.write('ready\\n');
setInterval(() => undefined, 1000);
`;

describe('npm run bench -- --alloc-prof', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('counts what a process allocated between the two signals, per request, by the function that allocated it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'alloc-sampler-'));
    const script = join(dir, 'child.cjs');
    writeFileSync(script, CHILD);
    const child = spawn(process.execPath, [...ALLOC_SAMPLER_ARGS, script], {
      env: { ...process.env, GATEWAY_BENCH_ALLOC_DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const said = (line: string) => new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes(line) && resolve()));
      await said('ready');
      const allocated = said('allocated');
      const sampling = sampleAllocations([{ name: 'child', pid: child.pid! }], dir);
      await allocated;
      // As if the 100,000 arrays were 100,000 requests.
      const { child: summary } = await sampling.stop(100_000);
      const top = summary!.topFunctions[0]!;
      expect(top.frame).toMatch(/^allocateArrays .*child\.cjs:2$/);
      expect(top.percent).toBeGreaterThan(80);
      // An array of 64 small numbers is about 550 bytes on a 64-bit V8 (elements 16 + 64 × 8, object 32).
      expect(top.bytesPerRequest).toBeGreaterThan(400);
      expect(top.bytesPerRequest).toBeLessThan(800);
      expect(summary!.bytesPerRequest).toBeGreaterThanOrEqual(top.bytesPerRequest);
    } finally {
      child.kill();
      await once(child, 'exit');
    }
  });
});
