import { getEventListeners } from 'node:events';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenLocally, type LocalServer } from '../../../test/fakes/local-server.js';
import { Upstream } from './http.js';
import { NEVER_ABORTED, ProviderError } from './types.js';

const same = <T>(answer: T) => answer;

describe('upstream calls', () => {
  let server: LocalServer;
  let upstream: Upstream;
  let received = 0;

  beforeAll(async () => {
    server = await listenLocally(
      createServer((req, res) => {
        received++;
        if (req.url === '/v1/endless') {
          // A chunk every 50 ms, forever: no idle or first-byte timeout fires, only the total one.
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const tick = setInterval(() => res.write('data: {}\n\n'), 50);
          res.on('close', () => clearInterval(tick));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      }),
    );
    upstream = new Upstream('test', `${server.url}/v1`, { connectMs: 1_000, firstByteMs: 1_000, idleMs: 1_000, totalMs: 400 });
  });
  afterAll(async () => {
    await upstream.close();
    await server.close();
  });

  it('ends a call that outlasts timeouts.totalMs as a timeout', async () => {
    const events = await upstream.sse({ path: '/endless', signal: new AbortController().signal }, same);
    const error = await (async () => {
      for await (const _ of events);
    })().catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).kind).toBe('timeout');
  });

  it("lets go of the caller's signal once a call is read, whether it answered or failed", async () => {
    const caller = new AbortController();
    expect(await upstream.json({ path: '/ok', signal: caller.signal }, same)).toEqual({ ok: true });
    const refused = new Upstream('test', 'http://127.0.0.1:9/v1', { connectMs: 200, firstByteMs: 200, idleMs: 200, totalMs: 400 });
    await expect(refused.json({ path: '/ok', signal: caller.signal }, same)).rejects.toBeInstanceOf(ProviderError);
    await refused.close();
    for (let i = 0; i < 20; i++) await upstream.json({ path: '/ok', signal: NEVER_ABORTED }, same);
    expect(getEventListeners(caller.signal, 'abort')).toHaveLength(0);
    expect(getEventListeners(NEVER_ABORTED, 'abort')).toHaveLength(0);
  });

  it("throws a body it cannot serialize before sending anything, as no fault of the provider's", async () => {
    const before = received;
    const tooDeep = JSON.parse(`${'['.repeat(10_000)}${']'.repeat(10_000)}`) as unknown;
    const error = await upstream.json({ path: '/ok', body: { model: 'm', junk: tooDeep }, signal: NEVER_ABORTED }, same).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeError);
    expect(received).toBe(before);
  });

  it('ends a call the caller cancels as cancelled', async () => {
    const caller = new AbortController();
    const events = await upstream.sse({ path: '/endless', signal: caller.signal }, same);
    setTimeout(() => caller.abort(), 100);
    const error = await (async () => {
      for await (const _ of events);
    })().catch((err: unknown) => err);
    expect((error as ProviderError).kind).toBe('network');
    expect((error as ProviderError).message).toContain('cancelled');
  });
});
