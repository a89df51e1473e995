import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { CachingService, LookupRequest, LookupResponse } from '../gen/gateway/v1/caching.js';
import { MultiplexService } from '../gen/gateway/v1/mux.js';
import { GatewayError } from './errors.js';
import { grpcClient, grpcImplementation, GrpcServer, type Api, type CallOptions } from './grpc.js';
import { MuxServer } from './grpc-mux.js';
import { createLogger } from './log.js';

const log = createLogger({ level: 'silent' });
/** Who may call caching (without TLS, as here, no caller has an identity to check). */
const CACHING_CALLERS = { lookup: ['ingress'], store: ['ingress'], listEntries: ['governance'], purge: ['governance'] };

/**
 * A caching service whose lookup answers by the namespace it is given:
 * "fail:<code>" throws that gateway error, "crash" throws a plain error,
 * "hold" waits until released or cancelled; anything else is echoed back.
 */
function fakeCaching(name: string) {
  const started: string[] = [];
  const cancelled: string[] = [];
  const held = new Map<string, () => void>();
  const api = {
    async lookup(request: LookupRequest, options: CallOptions = {}) {
      started.push(request.namespace);
      if (request.namespace.startsWith('fail:')) {
        const error = new GatewayError('rate_limit_exceeded', 'slow down', { param: 'model' });
        error.headers = { 'retry-after': '3' };
        error.attempts = [{ provider: 'openai', model: 'gpt-4o', deployment: 'd1', credential: 0, outcome: 'rate_limited', upstreamStatus: 429, durationMs: 2, reason: '', errorMessage: '' }];
        throw error;
      }
      if (request.namespace === 'crash') throw new Error('secret detail sk-live-123');
      if (request.namespace === 'huge-answer') return LookupResponse.fromPartial({ match: 'y'.repeat(61 * 1024 * 1024) });
      if (request.namespace.startsWith('hold')) {
        await new Promise<void>((resolve, reject) => {
          held.set(request.namespace, resolve);
          options.signal?.addEventListener('abort', () => {
            cancelled.push(request.namespace);
            reject(new GatewayError('service_unavailable', 'cancelled'));
          });
        });
      }
      const size = request.body.length > 0 ? `:${request.body.length}` : '';
      return LookupResponse.fromPartial({ hit: true, match: `${name}:${request.namespace}${size}` });
    },
    store: unused,
    listEntries: unused,
    purge: unused,
  } as unknown as Api<typeof CachingService>;
  return { api, started, cancelled, release: (namespace: string) => held.get(namespace)?.() };
}

const unused = () => Promise.reject(new Error('not part of this test'));
const lookup = (namespace: string) => LookupRequest.fromPartial({ namespace, endpoint: 'chat.completions' });

async function listen(server: Server, port = 0): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(port: number, deadlineMs = 30_000, options: { multiplex?: boolean; streamLifetimeMs?: number } = {}) {
  const caching = grpcClient(CachingService, `127.0.0.1:${port}`, 'caching service', { deadlineMs, ...options });
  cleanups.push(() => caching.close());
  return caching;
}

/** A server that serves only Multiplex, so a call it answers came on a stream; `streams` counts the streams opened. */
async function muxOnlyServer(name: string) {
  const fake = fakeCaching(name);
  const mux = new MuxServer(log);
  mux.register(CachingService.lookup, (request, options) => fake.api.lookup(request as LookupRequest, options), ['ingress']);
  const server = new Server();
  const opened = { streams: 0 };
  server.addService(MultiplexService as unknown as ServiceDefinition, {
    calls: (call: Parameters<typeof mux.serve>[0]) => {
      opened.streams += 1;
      mux.serve(call);
    },
  });
  const port = await listen(server);
  cleanups.push(() => server.forceShutdown());
  return { ...fake, port, opened };
}

async function gatewayServer(name: string, port = 0) {
  const fake = fakeCaching(name);
  const server = new GrpcServer();
  server.add(CachingService, fake.api, log, CACHING_CALLERS);
  const bound = await server.listen('127.0.0.1', port);
  cleanups.push(() => server.stop(1_000));
  return { ...fake, server, port: bound };
}

describe('unary calls multiplexed on one stream', () => {
  it('travel on the Multiplex stream: a server that serves nothing else answers many at once, each its own answer', async () => {
    const { port, opened } = await muxOnlyServer('mux-only');
    const caching = client(port);
    const names = Array.from({ length: 200 }, (_, i) => `team-${i}`);
    const answers = await Promise.all(names.map((name) => caching.lookup(lookup(name))));
    expect(answers.map((a) => a.match)).toEqual(names.map((name) => `mux-only:${name}`));
    expect(opened.streams).toBe(1);
  });

  it('moves to a new stream when one has served its time, still cancelling calls left on the old one', async () => {
    const server = await muxOnlyServer('s');
    const caching = client(server.port, 30_000, { streamLifetimeMs: 0 });
    const abort = new AbortController();
    const held = caching.lookup(lookup('hold-old'), { signal: abort.signal });
    await expect.poll(() => server.started).toContain('hold-old');
    expect((await caching.lookup(lookup('next'))).match).toBe('s:next');
    expect(server.opened.streams).toBe(2);
    abort.abort();
    await expect(held).rejects.toMatchObject({ detail: 'call to caching service was cancelled' });
    await expect.poll(() => server.cancelled).toContain('hold-old');
  });

  it('still cancels a call left running when the client closes, on the server too', async () => {
    const server = await muxOnlyServer('s');
    const caching = client(server.port);
    const abort = new AbortController();
    const held = caching.lookup(lookup('hold-at-close'), { signal: abort.signal });
    await expect.poll(() => server.started).toContain('hold-at-close');
    caching.close();
    abort.abort();
    await expect(held).rejects.toMatchObject({ detail: 'call to caching service was cancelled' });
    await expect.poll(() => server.cancelled).toContain('hold-at-close');
  });

  it('makes plain calls when multiplexing is off (multiplexCalls: false): a server with only Multiplex cannot answer them', async () => {
    const { port, started } = await muxOnlyServer('s');
    await expect(client(port, 30_000, { multiplex: false }).lookup(lookup('plain'))).rejects.toMatchObject({ code: 'service_unavailable' });
    expect(started).toEqual([]);
  });

  it('carries a turn of large requests that one message could not hold (64 MB at most)', async () => {
    const { port } = await gatewayServer('a');
    const caching = client(port);
    const body = Buffer.alloc(14 * 1024 * 1024, 'x');
    const names = ['p1', 'p2', 'p3', 'p4', 'p5'];
    const answers = await Promise.all(names.map((name) => caching.lookup({ ...lookup(name), body })));
    expect(answers.map((a) => a.match)).toEqual(names.map((name) => `a:${name}:${body.length}`));
  });

  it('fails only the call that is too large for a message (request or answer), not the others on the stream', async () => {
    const { port } = await gatewayServer('a');
    const caching = client(port);
    const [tooLarge, hugeAnswer, ...small] = await Promise.allSettled([
      caching.lookup({ ...lookup('too-large'), body: Buffer.alloc(65 * 1024 * 1024, 'x') }),
      caching.lookup(lookup('huge-answer')),
      caching.lookup(lookup('s1')),
      caching.lookup(lookup('s2')),
    ]);
    expect(tooLarge).toMatchObject({ status: 'rejected', reason: { code: 'service_unavailable' } });
    expect(hugeAnswer).toMatchObject({ status: 'rejected', reason: { code: 'internal_error', message: expect.stringContaining('larger than a message') } });
    expect(small).toEqual([
      { status: 'fulfilled', value: expect.objectContaining({ match: 'a:s1' }) },
      { status: 'fulfilled', value: expect.objectContaining({ match: 'a:s2' }) },
    ]);
  });

  it('carries gateway errors whole (code, status, param, headers, attempts) and hides other errors', async () => {
    const { port } = await gatewayServer('a');
    const caching = client(port);
    const refused = await caching.lookup(lookup('fail:rate')).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({ code: 'rate_limit_exceeded', status: 429, message: 'slow down', param: 'model', headers: { 'retry-after': '3' } });
    expect((refused as GatewayError).attempts).toEqual([expect.objectContaining({ provider: 'openai', deployment: 'd1', upstreamStatus: 429 })]);

    const crashed = await caching.lookup(lookup('crash')).catch((err: unknown) => err);
    expect(crashed).toMatchObject({ code: 'internal_error', message: 'internal error' });
    expect(JSON.stringify(crashed)).not.toContain('sk-live');
    // The stream survives both.
    expect((await caching.lookup(lookup('after'))).match).toBe('a:after');
  });

  it('cancels the call on the server when the caller goes away, and when its deadline passes', async () => {
    const fake = await gatewayServer('a');
    const caching = client(fake.port);
    const abort = new AbortController();
    const call = caching.lookup(lookup('hold-aborted'), { signal: abort.signal });
    await expect.poll(() => fake.started).toContain('hold-aborted');
    abort.abort();
    await expect(call).rejects.toMatchObject({ code: 'service_unavailable', detail: 'call to caching service was cancelled' });
    await expect.poll(() => fake.cancelled).toContain('hold-aborted');

    const impatient = client(fake.port, 300);
    await expect(impatient.lookup(lookup('hold-forever'))).rejects.toMatchObject({ detail: 'caching service did not answer in time' });
    await expect.poll(() => fake.cancelled).toContain('hold-forever');
  });

  it('fails the calls in flight when the server dies, and opens a new stream for the next', async () => {
    const first = await gatewayServer('first');
    const caching = client(first.port);
    const call = caching.lookup(lookup('hold'));
    await expect.poll(() => first.started).toContain('hold');
    first.server.stop(0);
    await expect(call).rejects.toMatchObject({ code: 'service_unavailable' });

    const second = await gatewayServer('second', first.port);
    expect((await caching.lookup(lookup('x'))).match).toBe('second:x');
    expect(second.started).toEqual(['x']);
  });

  it('lets a stopping server finish its calls, and sends calls it did not start to the server that took its place', async () => {
    const old = await gatewayServer('old');
    const caching = client(old.port);
    const inFlight = caching.lookup(lookup('hold'));
    await expect.poll(() => old.started).toContain('hold');

    const stopped = old.server.stop(30_000);
    const replacement = await gatewayServer('new', old.port);
    // Sent on the old stream: the stopping server refuses it unstarted, and the client sends it again.
    const later = caching.lookup(lookup('later'));
    expect((await later).match).toBe('new:later');
    expect(old.started).toEqual(['hold']);

    old.release('hold');
    expect((await inFlight).match).toBe('old:hold');
    await stopped;
    expect(replacement.started).toEqual(['later']);
  });

  it('falls back to plain calls against a server without Multiplex (an older version)', async () => {
    const fake = fakeCaching('plain');
    const server = new Server();
    server.addService(CachingService as unknown as ServiceDefinition, grpcImplementation(CachingService, fake.api, log, CACHING_CALLERS));
    const port = await listen(server);
    cleanups.push(() => server.forceShutdown());

    const caching = client(port);
    const answers = await Promise.all(['a', 'b', 'c'].map((name) => caching.lookup(lookup(name))));
    expect(answers.map((a) => a.match)).toEqual(['plain:a', 'plain:b', 'plain:c']);
    expect((await caching.lookup(lookup('d'))).match).toBe('plain:d');
    await expect(caching.lookup(lookup('fail:x'))).rejects.toMatchObject({ code: 'rate_limit_exceeded', headers: { 'retry-after': '3' } });
  });
});
