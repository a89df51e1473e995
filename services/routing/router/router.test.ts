import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../../kit/errors.js';
import { chatCompletionId, type ChatRequest, type ChatResponse } from '../canonical.js';
import { routingConfig } from '../config.js';
import { ProviderError, type Capabilities, type FailureKind, type ProviderAdapter, type ProviderCall } from '../providers/types.js';
import { ModelCatalog } from './catalog.js';
import { Router, type Target } from './router.js';

/**
 * What the scripted provider does next: answer, refuse on content policy, fail, fail while the gateway
 * builds its request (`unbuildable`: a real stack overflow, as a body nested 10,000 levels deep causes;
 * `bug`: a TypeError), or wait until the client goes away (`hang`).
 */
type Step = 'ok' | 'refuse' | 'unbuildable' | 'bug' | 'hang' | { fail: FailureKind; status?: number; retryAfterMs?: number };

const tooDeep = JSON.parse(`${'['.repeat(10_000)}${']'.repeat(10_000)}`) as unknown;

/** An adapter that answers from a script, recording which credential each call used. */
class ScriptedAdapter implements ProviderAdapter {
  readonly type = 'scripted';
  readonly capabilities: Capabilities = {
    streaming: true,
    tools: true,
    vision: true,
    embeddings: false,
    jsonSchema: true,
    completions: false,
    moderations: false,
    images: false,
    rerank: false,
    audio: false,
  };
  readonly models = [];
  readonly calls: number[] = [];
  /** Current fingerprint of each credential's value. */
  readonly stamps: string[] = ['v1', 'v1', 'v1'];
  /** Credentials whose quota is used up: every call with them is answered 429 at once. */
  readonly limited = new Set<number>();
  /** When set, answers wait for it, as a real answer takes longer than a refusal. */
  answerAfter: Promise<unknown> | undefined;

  credentialStamp(credential: number): string {
    return this.stamps[credential]!;
  }

  constructor(
    readonly name: string,
    private readonly script: Step[],
    readonly credentialCount = 1,
  ) {}

  async chat({ credential, request, signal }: ProviderCall<ChatRequest>): Promise<ChatResponse> {
    this.calls.push(credential);
    if (this.limited.has(credential)) throw new ProviderError('rate_limit', this.name, `${this.name} rate_limit`, { upstreamStatus: 429 });
    const step = this.script.shift() ?? 'ok';
    if (step === 'unbuildable') JSON.stringify({ ...request, junk: tooDeep });
    if (step === 'bug') (undefined as unknown as { messages: [] }).messages.flatMap(String);
    if (step === 'hang') {
      // As undici ends a call whose signal aborts.
      await new Promise((_, reject) =>
        signal.addEventListener('abort', () => reject(new ProviderError('network', this.name, `The call to provider ${this.name} was cancelled.`))),
      );
    }
    if (typeof step === 'object')
      throw new ProviderError(step.fail, this.name, `${this.name} ${step.fail}`, { upstreamStatus: step.status, retryAfterMs: step.retryAfterMs });
    await this.answerAfter;
    return {
      id: chatCompletionId(),
      object: 'chat.completion',
      created: 0,
      model: request.model,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: `from ${this.name}` },
          finish_reason: step === 'refuse' ? 'content_filter' : 'stop',
          logprobs: null,
        },
      ],
    };
  }

  chatStream(): never {
    throw new Error('not used');
  }

  async close(): Promise<void> {}
}

function setup(
  adapters: ScriptedAdapter[],
  models: Record<string, unknown> = {},
  overrides: Record<string, unknown> = {},
  circuit: Record<string, unknown> = {},
) {
  const providers = Object.fromEntries(adapters.map((a) => [a.name, { type: 'mock' }]));
  const circuitBreaker = { failureThreshold: 2, windowMs: 10_000, openMs: 5_000, ...circuit };
  const config = routingConfig.parse({ providers, models, retry: { baseDelayMs: 100, maxDelayMs: 1000, ...overrides }, circuitBreaker });
  let clock = 1_000_000;
  const catalog = new ModelCatalog(config, new Map(adapters.map((a) => [a.name, a])), () => clock);
  const waits: number[] = [];
  const router = new Router(catalog, config.retry, new Registry(), async (ms) => {
    waits.push(ms);
    clock += ms;
  });
  const call = (target: Target) =>
    target.deployment.provider.chat({ request: { model: target.deployment.model, messages: [] }, credential: target.credential, signal: target.signal });
  const route = (model: string, hints = {}, signal = new AbortController().signal) =>
    router.route(model, { strategy: '', deployment: '', noFallbacks: false, maxOutputTokens: 0, anthropicBeta: [], ...hints }, signal, call, (value, d) =>
      value.choices[0]?.finish_reason === 'content_filter' ? new ProviderError('content_policy', d.provider.name, 'refused') : undefined,
    );
  const breaker = (id: string) => catalog.allDeployments().find((d) => d.id === id)!.breaker;
  return { route, waits, advance: (ms: number) => (clock += ms), catalog, breaker };
}

const summary = (attempts: { deployment: string; reason: string; outcome: string; credential: number }[]) =>
  attempts.map((a) => `${a.deployment}#${a.credential} ${a.reason} ${a.outcome}`);

describe('router', () => {
  it('retries a server error with backoff, then succeeds', async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'server', status: 503 }, 'ok']);
    const { route, waits } = setup([a]);
    const routed = await route('a/m');
    expect(routed.value.choices[0]?.message.content).toBe('from a');
    expect(summary(routed.attempts)).toEqual(['a/m#0 initial upstream_error', 'a/m#0 retry ok']);
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[0]).toBeLessThanOrEqual(100);
  });

  it('waits as long as Retry-After asks, and moves on when that is longer than maxDelayMs', async () => {
    const patient = new ScriptedAdapter('a', [{ fail: 'rate_limit', status: 429, retryAfterMs: 700 }, 'ok']);
    const first = setup([patient]);
    await first.route('a/m');
    expect(first.waits).toEqual([700]);

    const tooLong = new ScriptedAdapter('b', [{ fail: 'rate_limit', status: 429, retryAfterMs: 60_000 }]);
    const other = new ScriptedAdapter('c', ['ok']);
    const second = setup([tooLong, other], { g: { deployments: [{ provider: 'b', model: 'm' }], fallbacks: ['c/m'] } });
    const routed = await second.route('g');
    expect(second.waits).toEqual([]);
    expect(summary(routed.attempts)).toEqual(['b/m#0 initial rate_limit_exceeded', 'c/m#0 fallback ok']);
  });

  it('moves to another credential of the same provider on 429, 401 and 402, and keeps refused ones out', async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'rate_limit', status: 429, retryAfterMs: 30_000 }, 'ok', { fail: 'auth', status: 401 }, 'ok', 'ok'], 3);
    const { route } = setup([a]);
    expect(summary((await route('a/m')).attempts)).toEqual(['a/m#0 initial rate_limit_exceeded', 'a/m#1 credential_rotation ok']);
    expect(summary((await route('a/m')).attempts)).toEqual(['a/m#2 initial upstream_error', 'a/m#1 credential_rotation ok']);
    // Credential 0 waits out its Retry-After and 2 its cooldown: 1 serves.
    expect(summary((await route('a/m')).attempts)).toEqual(['a/m#1 initial ok']);
  });

  it('tries a refused credential again as soon as its value is rotated', async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'auth', status: 401 }, 'ok']);
    const { route } = setup([a]);
    await expect(route('a/m')).rejects.toMatchObject({ code: 'upstream_error', status: 502 });
    // The refused key is left out: nothing is sent until it changes.
    const paused = await route('a/m').catch((e: ProviderError) => e);
    expect(paused).toMatchObject({ code: 'service_unavailable' });
    expect((paused as ProviderError).message).toContain('credential');
    expect(a.calls).toHaveLength(1);
    a.stamps[0] = 'v2';
    expect(summary((await route('a/m')).attempts)).toEqual(['a/m#0 initial ok']);
  });

  it('fails over inside a group, then to the fallback models', async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'server' }, { fail: 'network' }]);
    const b = new ScriptedAdapter('b', [{ fail: 'timeout' }, { fail: 'timeout' }]);
    const c = new ScriptedAdapter('c', ['ok']);
    const { route } = setup([a, b, c], {
      primary: {
        deployments: [
          { provider: 'a', model: 'm', inputCostPerMillion: 1 },
          { provider: 'b', model: 'm', inputCostPerMillion: 2 },
        ],
        strategy: 'lowest-cost',
        fallbacks: ['backup'],
      },
      backup: { deployments: [{ provider: 'c', model: 'm' }] },
    });
    const routed = await route('primary');
    expect(routed.deployment.id).toBe('c/m');
    expect(routed.attempts.map((x) => `${x.deployment} ${x.reason}`)).toEqual(['a/m initial', 'a/m retry', 'b/m fallback', 'b/m retry', 'c/m fallback']);
  });

  it('sends a prompt that is too long to the context-window fallback, and a refusal to the content-policy fallback', async () => {
    const small = new ScriptedAdapter('small', [{ fail: 'context_window', status: 400 }]);
    const large = new ScriptedAdapter('large', ['ok']);
    const strict = new ScriptedAdapter('strict', ['refuse']);
    const lenient = new ScriptedAdapter('lenient', ['ok']);
    const { route } = setup([small, large, strict, lenient], {
      chat: { deployments: [{ provider: 'small', model: 'm' }], contextWindowFallbacks: ['large/m'] },
      safe: { deployments: [{ provider: 'strict', model: 'm' }], contentPolicyFallbacks: ['lenient/m'] },
    });
    expect(summary((await route('chat')).attempts)).toEqual(['small/m#0 initial context_length_exceeded', 'large/m#0 context_window_fallback ok']);
    expect(summary((await route('safe')).attempts)).toEqual(['strict/m#0 initial content_policy_violation', 'lenient/m#0 content_policy_fallback ok']);
  });

  it("returns the client's own errors at once, with the attempt recorded", async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'bad_request', status: 422 }]);
    const { route } = setup([a]);
    const error = await route('a/m').catch((e: ProviderError) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).status).toBe(422);
    expect(summary((error as ProviderError).attempts)).toEqual(['a/m#0 initial upstream_error']);
  });

  it("opens a failing deployment's circuit, skips it, probes it after openMs, and closes on success", async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'server' }, { fail: 'server' }, 'ok']);
    const b = new ScriptedAdapter('b', ['ok', 'ok', 'ok']);
    const { route, advance, catalog } = setup([a, b], {
      g: {
        strategy: 'lowest-cost',
        deployments: [
          { provider: 'a', model: 'm', inputCostPerMillion: 1 },
          { provider: 'b', model: 'm', inputCostPerMillion: 2 },
        ],
      },
    });
    const first = await route('g');
    expect(summary(first.attempts)).toEqual(['a/m#0 initial upstream_error', 'a/m#0 retry upstream_error', 'b/m#0 fallback ok']);
    const deploymentA = catalog.allDeployments().find((d) => d.id === 'a/m')!;
    expect(deploymentA.breaker.state).toBe('open');
    expect(summary((await route('g')).attempts)).toEqual(['b/m#0 initial ok']);
    advance(5_000);
    const probe = await route('g');
    expect(summary(probe.attempts)).toEqual(['a/m#0 initial ok']);
    expect(deploymentA.breaker.state).toBe('closed');
  });

  it("fails fast with 503 when every deployment's circuit is open", async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'server' }, { fail: 'server' }]);
    const { route } = setup([a], {}, { attemptsPerDeployment: 2 });
    await expect(route('a/m')).rejects.toMatchObject({ code: 'upstream_error' });
    await expect(route('a/m')).rejects.toMatchObject({ code: 'service_unavailable', status: 503 });
    expect(a.calls).toHaveLength(2);
  });

  it('honours per-request hints: one try only, or a pinned deployment', async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'server' }, 'ok']);
    const b = new ScriptedAdapter('b', ['ok']);
    const { route } = setup([a, b], {
      g: {
        deployments: [
          { provider: 'a', model: 'm', id: 'first', inputCostPerMillion: 1 },
          { provider: 'b', model: 'm', id: 'second', inputCostPerMillion: 2 },
        ],
        strategy: 'lowest-cost',
        fallbacks: [],
      },
    });
    const single = await route('g', { noFallbacks: true, deployment: 'first' }).catch((e: ProviderError) => e);
    expect(summary((single as ProviderError).attempts)).toEqual(['first#0 initial upstream_error']);
    expect((await route('g', { deployment: 'second' })).deployment.id).toBe('second');
    const calls = a.calls.length + b.calls.length;
    await expect(route('g', { deployment: 'third' })).rejects.toMatchObject({ code: 'invalid_request', param: 'x-gateway-deployment' });
    expect(a.calls.length + b.calls.length).toBe(calls);
    await expect(route('g', { strategy: 'fastest' })).rejects.toMatchObject({ code: 'invalid_request', param: 'x-gateway-strategy' });
  });

  it("falls back from a pinned deployment to the group's fallbacks, which do not have it", async () => {
    const a = new ScriptedAdapter('a', [{ fail: 'server' }, { fail: 'server' }]);
    const b = new ScriptedAdapter('b', []);
    const c = new ScriptedAdapter('c', ['ok']);
    const { route } = setup([a, b, c], {
      g: {
        deployments: [
          { provider: 'a', model: 'm', id: 'pinned' },
          { provider: 'b', model: 'm', id: 'other' },
        ],
        fallbacks: ['backup'],
      },
      backup: { deployments: [{ provider: 'c', model: 'm' }] },
    });
    const routed = await route('g', { deployment: 'pinned' });
    expect(summary(routed.attempts)).toEqual(['pinned#0 initial upstream_error', 'pinned#0 retry upstream_error', 'c/m#0 fallback ok']);
    expect(b.calls).toEqual([]);
  });

  it('stops at maxAttempts, within a deployment and across fallbacks, without waiting after the last', async () => {
    // A circuit that would not open before the cap, so only the cap can stop the calls.
    const a = new ScriptedAdapter(
      'a',
      Array.from({ length: 10 }, () => ({ fail: 'server' as const })),
    );
    const one = setup([a], {}, { attemptsPerDeployment: 10, maxAttempts: 3 }, { failureThreshold: 100 });
    const error = (await one.route('a/m').catch((e: ProviderError) => e)) as ProviderError;
    expect(summary(error.attempts)).toEqual(['a/m#0 initial upstream_error', 'a/m#0 retry upstream_error', 'a/m#0 retry upstream_error']);
    expect(a.calls).toHaveLength(3);
    expect(one.waits).toHaveLength(2);

    const b = new ScriptedAdapter('b', [{ fail: 'server' }, { fail: 'server' }]);
    const c = new ScriptedAdapter('c', [{ fail: 'server' }, 'ok']);
    const chain = setup([b, c], { g: { deployments: [{ provider: 'b', model: 'm' }], fallbacks: ['c/m'] } }, { maxAttempts: 3 }, { failureThreshold: 100 });
    const failed = (await chain.route('g').catch((e: ProviderError) => e)) as ProviderError;
    expect(summary(failed.attempts)).toEqual(['b/m#0 initial upstream_error', 'b/m#0 retry upstream_error', 'c/m#0 fallback upstream_error']);
  });

  it('keeps serving with one rate-limited credential of two, and leaves the circuit closed', async () => {
    const a = new ScriptedAdapter('a', [], 2);
    a.limited.add(0);
    let answer!: () => void;
    a.answerAfter = new Promise<void>((resolve) => (answer = resolve));
    const { route, breaker } = setup([a]);
    // Round robin sends two of these to the limited credential; their 429s come back while the answers are still on their way.
    const first = Array.from({ length: 4 }, () => route('a/m'));
    await new Promise(setImmediate);
    expect(breaker('a/m').state).toBe('closed');
    const later = route('a/m');
    answer();
    const served = await Promise.all([...first, later]);
    expect(served.map((r) => r.value.choices[0]?.message.content)).toEqual(Array.from({ length: 5 }, () => 'from a'));
    expect(summary(served[0]!.attempts)).toEqual(['a/m#0 initial rate_limit_exceeded', 'a/m#1 credential_rotation ok']);
    expect(breaker('a/m').recentFailures).toBe(0);
  });

  it('answers a request it cannot make into a provider request at once, without a retry or a mark on the circuit', async () => {
    const a = new ScriptedAdapter('a', ['unbuildable', 'unbuildable', 'unbuildable', 'bug', 'ok']);
    const { route, breaker } = setup([a]);
    for (let i = 0; i < 3; i++) {
      const error = (await route('a/m').catch((e: GatewayError) => e)) as GatewayError;
      expect(error).toMatchObject({
        code: 'invalid_request',
        status: 400,
        message: 'The request could not be made into a request for provider a: it is nested too deeply or too large.',
      });
      expect(summary(error.attempts)).toEqual(['a/m#0 initial invalid_request']);
    }
    const bug = (await route('a/m').catch((e: GatewayError) => e)) as GatewayError;
    expect(bug).toMatchObject({ code: 'internal_error', status: 500, message: 'The gateway could not make this request into a request for provider a.' });
    expect(breaker('a/m').recentFailures).toBe(0);
    expect(summary((await route('a/m')).attempts)).toEqual(['a/m#0 initial ok']);
  });

  it('never counts a client that went away toward the circuit', async () => {
    const a = new ScriptedAdapter('a', ['hang', 'hang', 'hang', 'ok']);
    const { route, breaker } = setup([a]);
    for (let i = 0; i < 3; i++) {
      const client = new AbortController();
      const routed = route('a/m', {}, client.signal);
      setImmediate(() => client.abort());
      await expect(routed).rejects.toMatchObject({ kind: 'network' });
    }
    expect(breaker('a/m').state).toBe('closed');
    expect(breaker('a/m').recentFailures).toBe(0);
    expect(summary((await route('a/m')).attempts)).toEqual(['a/m#0 initial ok']);
  });

  it('resolves aliases, and names what exists when a model does not', async () => {
    const a = new ScriptedAdapter('a', ['ok']);
    const { route } = setup([a], { fast: 'a/m' });
    expect((await route('fast')).deployment.id).toBe('a/m');
    await expect(route('nowhere')).rejects.toMatchObject({ code: 'model_not_found', status: 404 });
  });
});
