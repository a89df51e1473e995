import { afterEach, describe, expect, it } from 'vitest';
import { SandboxPool } from './pool.js';
import type { SandboxLimits } from './sandbox.js';

// Generous time: a busy test machine must not end a run early.
const limits: SandboxLimits = { timeMs: 30_000, memoryBytes: 32 * 1024 * 1024, maxToolCalls: 5, maxResultBytes: 65_536, maxLogBytes: 1_024 };
const servers = new Map([['calc', ['add']]]);
const add = async (_tool: string, argumentsJson: string) => {
  const { a, b } = JSON.parse(argumentsJson) as { a: number; b: number };
  return { sum: a + b };
};

describe('the sandbox pool', () => {
  const pools: SandboxPool[] = [];
  const pool = (options: ConstructorParameters<typeof SandboxPool>[0]) => {
    const made = new SandboxPool(options);
    pools.push(made);
    return made;
  };
  afterEach(async () => {
    for (const made of pools.splice(0)) await made.close();
  });

  it('runs a program on a worker thread, its tool calls answered by the calling thread', async () => {
    const threads = pool({ workers: 1, queueSize: 0, killAfterMs: 1_000 });
    const outcome = await threads.run('const { sum } = await calc.add({ a: 2, b: 3 }) as { sum: number }; return sum * 10;', servers, add, limits);
    expect(outcome).toEqual({ ok: true, resultJson: '50', logs: '', toolCalls: 1 });
    expect(await threads.run('return 1 +;', servers, add, limits)).toMatchObject({ ok: false, error: expect.stringMatching(/^SyntaxError: /) });
  });

  it('queues programs past its workers, and refuses those past its queue', async () => {
    const threads = pool({ workers: 1, queueSize: 1, killAfterMs: 1_000 });
    let release: (value: unknown) => void = () => undefined;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    const calls: string[] = [];
    const first = threads.run(
      'return await calc.add({ a: 1, b: 1 });',
      servers,
      async (tool) => {
        calls.push(tool);
        return held;
      },
      // A worker started from source under a loaded machine can take most of a minute: its time must not run out first.
      { ...limits, timeMs: 600_000 },
    );
    // The first program holds the one worker until its tool call is answered.
    await expect.poll(() => calls.length, { timeout: 150_000 }).toBe(1);
    const second = threads.run('return 2;', servers, add, limits);
    expect(await threads.run('return 3;', servers, add, limits)).toEqual({
      ok: false,
      error: 'Code mode is busy: 1 programs are running and 1 waiting. Try again shortly.',
      reason: 'busy',
      logs: '',
      toolCalls: 0,
    });
    release('done');
    expect(await first).toMatchObject({ ok: true, resultJson: '"done"' });
    expect(await second).toMatchObject({ ok: true, resultJson: '2' });
  }, 180_000);

  it('terminates a worker held past the time limit and runs the next program on a new one', async () => {
    const workerUrl = new URL('../../../test/fakes/stuck-sandbox-worker.ts', import.meta.url);
    const threads = pool({ workers: 1, queueSize: 1, killAfterMs: 200, workerUrl });
    const stuck = threads.run("return 'hold the thread';", servers, add, { ...limits, timeMs: 100 });
    const next = threads.run('return (await calc.add({ a: 20, b: 22 })).sum;', servers, add, limits);
    expect(await stuck).toEqual({
      ok: false,
      error: 'The program ran out of time: the limit is 100 ms, tool calls included.',
      reason: 'time_limit',
      logs: '',
      toolCalls: 0,
    });
    expect(await next).toEqual({ ok: true, resultJson: '42', logs: '', toolCalls: 1 });
  });
});
