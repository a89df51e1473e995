import { afterEach, describe, expect, it } from 'vitest';
import { CachingService, LookupRequest, LookupResponse } from '../gen/gateway/v1/caching.js';
import { Usage } from '../gen/gateway/v1/common.js';
import { GatewayError } from './errors.js';
import { grpcClient, GrpcServer, type Api, type CallOptions } from './grpc.js';
import { createLogger } from './log.js';

const log = createLogger({ level: 'silent' });
const PAID_USAGE = Usage.fromPartial({ promptTokens: 12, completionTokens: 30, totalTokens: 42, reasoningTokens: 8 });
/** Who may call caching (without TLS, as here, no caller has an identity to check). */
const CACHING_CALLERS = { lookup: ['ingress'], store: ['ingress'], listEntries: ['governance'], purge: ['governance'] };

/**
 * A caching service whose lookup answers by the namespace it is given:
 * "fail:<code>" throws a gateway error, "crash" throws a plain error, "hold…"
 * waits until released or cancelled; anything else is echoed back.
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
        error.headers = { 'retry-after': '3', 'x-ratelimit-remaining-requests': '0' };
        error.attempts = [
          {
            provider: 'openai',
            model: 'gpt-4o',
            deployment: 'd1',
            credential: 0,
            outcome: 'rate_limited',
            upstreamStatus: 429,
            durationMs: 2,
            reason: '',
            errorMessage: '',
          },
        ];
        error.guardrails = [{ policy: 'baseline', rule: 'no-secrets', action: 'block', detector: 'secret.jwt', count: 1 }];
        error.paid = { usage: { ...PAID_USAGE }, served: { provider: 'openai', model: 'gpt-4o', deployment: 'd1' } };
        throw error;
      }
      if (request.namespace === 'crash') throw new Error('secret detail sk-live-123');
      if (request.namespace.startsWith('hold')) {
        await new Promise<void>((resolve, reject) => {
          held.set(request.namespace, resolve);
          options.signal?.addEventListener('abort', () => {
            cancelled.push(request.namespace);
            reject(new GatewayError('service_unavailable', 'cancelled'));
          });
        });
      }
      const size = request.key.length > 1 ? `:${request.key.length}` : '';
      return LookupResponse.fromPartial({ hit: true, match: `${name}:${request.namespace}${size}` });
    },
    store: unused,
    listEntries: unused,
    purge: unused,
  } as unknown as Api<typeof CachingService>;
  return { api, started, cancelled, release: (namespace: string) => held.get(namespace)?.() };
}

const unused = () => Promise.reject(new Error('not part of this test'));
const lookup = (namespace: string) => LookupRequest.fromPartial({ namespace, key: 'k' });

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function client(port: number, deadlineMs = 30_000) {
  const caching = grpcClient(CachingService, `127.0.0.1:${port}`, 'caching service', { deadlineMs });
  cleanups.push(() => caching.close());
  return caching;
}

async function cachingServer(name: string, port = 0) {
  const fake = fakeCaching(name);
  const server = new GrpcServer();
  server.add(CachingService, fake.api, log, CACHING_CALLERS);
  const bound = await server.listen('127.0.0.1', port);
  cleanups.push(() => server.stop(1_000));
  return { ...fake, server, port: bound };
}

describe('unary calls between processes, each a gRPC call', () => {
  it('answers many calls at once, each its own answer', async () => {
    const { port } = await cachingServer('a');
    const caching = client(port);
    const names = Array.from({ length: 200 }, (_, i) => `team-${i}`);
    const answers = await Promise.all(names.map((name) => caching.lookup(lookup(name))));
    expect(answers.map((a) => a.match)).toEqual(names.map((name) => `a:${name}`));
  });

  it("carries gateway errors whole (code, status, param, headers, attempts, guardrails, a paid answer's usage) and hides other errors", async () => {
    const { port } = await cachingServer('a');
    const caching = client(port);
    const refused = await caching.lookup(lookup('fail:rate')).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(GatewayError);
    expect(refused).toMatchObject({
      code: 'rate_limit_exceeded',
      status: 429,
      message: 'slow down',
      param: 'model',
      headers: { 'retry-after': '3', 'x-ratelimit-remaining-requests': '0' },
    });
    expect((refused as GatewayError).attempts).toEqual([expect.objectContaining({ provider: 'openai', deployment: 'd1', upstreamStatus: 429 })]);
    expect((refused as GatewayError).guardrails).toEqual([{ policy: 'baseline', rule: 'no-secrets', action: 'block', detector: 'secret.jwt', count: 1 }]);
    expect((refused as GatewayError).paid).toEqual({ usage: PAID_USAGE, served: { provider: 'openai', model: 'gpt-4o', deployment: 'd1' } });

    const crashed = await caching.lookup(lookup('crash')).catch((err: unknown) => err);
    expect(crashed).toMatchObject({ code: 'internal_error', message: 'internal error' });
    expect(JSON.stringify(crashed)).not.toContain('sk-live');
    expect((await caching.lookup(lookup('after'))).match).toBe('a:after');
  });

  it('carries large requests (up to 64 MB), and fails only the call too large for a message', async () => {
    const { port } = await cachingServer('a');
    const caching = client(port);
    const key = 'x'.repeat(14 * 1024 * 1024);
    const [tooLarge, large, small] = await Promise.allSettled([
      caching.lookup({ ...lookup('too-large'), key: 'x'.repeat(65 * 1024 * 1024) }),
      caching.lookup({ ...lookup('large'), key }),
      caching.lookup(lookup('small')),
    ]);
    expect(tooLarge).toMatchObject({ status: 'rejected', reason: { code: 'service_unavailable' } });
    expect(large).toEqual({ status: 'fulfilled', value: expect.objectContaining({ match: `a:large:${key.length}` }) });
    expect(small).toEqual({ status: 'fulfilled', value: expect.objectContaining({ match: 'a:small' }) });
  });

  it('cancels the call on the server when the caller goes away, and when its deadline passes', async () => {
    const fake = await cachingServer('a');
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

    const gone = new AbortController();
    gone.abort();
    await expect(caching.lookup(lookup('never'), { signal: gone.signal })).rejects.toMatchObject({ detail: 'call to caching service was cancelled' });
    expect(fake.started).not.toContain('never');
  });

  it('fails the calls in flight when the server dies, and reaches the server that takes its place', async () => {
    const first = await cachingServer('first');
    const caching = client(first.port);
    const call = caching.lookup(lookup('hold'));
    await expect.poll(() => first.started).toContain('hold');
    void first.server.stop(0);
    await expect(call).rejects.toMatchObject({ code: 'service_unavailable' });

    const second = await cachingServer('second', first.port);
    expect((await caching.lookup(lookup('x'))).match).toBe('second:x');
    expect(second.started).toEqual(['x']);
  });

  it('lets a stopping server finish its calls, while new calls go to the server that took its place', async () => {
    const old = await cachingServer('old');
    const caching = client(old.port);
    const inFlight = caching.lookup(lookup('hold'));
    await expect.poll(() => old.started).toContain('hold');

    const stopped = old.server.stop(30_000);
    const replacement = await cachingServer('new', old.port);
    expect((await caching.lookup(lookup('later'))).match).toBe('new:later');
    expect(old.started).toEqual(['hold']);

    old.release('hold');
    expect((await inFlight).match).toBe('old:hold');
    await stopped;
    expect(replacement.started).toEqual(['later']);
  });
});
