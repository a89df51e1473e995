import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { migrate } from '../kit/db/migrate.js';
import { GatewayError } from '../kit/errors.js';
import { createLogger } from '../kit/log.js';
import { Pricing } from '../kit/pricing/index.js';
import { generateVirtualKey, hashSecret } from '../kit/secrets/keys.js';
import { governanceConfig } from './config.js';
import { Holders } from './holders.js';
import { governanceMigrations } from './migrations.js';
import { QuotaBook } from './quota/book.js';
import { ReservationPricer } from './reservations.js';
import { Governance } from './service.js';
import { Directory } from './store/directory.js';
import type { VirtualKey } from './store/entities.js';

const log = createLogger({ level: 'silent' });
const noLimits = { rpmLimit: null, tpmLimit: null, maxParallel: null, rateWindowSeconds: 60 };
// $10 per million tokens in and out: a request reserving 100,000 output tokens reserves $1 and a bit.
const pricing = new Pricing({ 'mock/echo': { input: 10, output: 10 }, 'pricey/big': { input: 100, output: 100 } });
/** What routing says its configured names reach: "smart" may be served by mock/echo or, falling back, by pricey/big. */
const resolved = async () => ({
  models: [
    {
      name: 'smart',
      targets: [
        { provider: 'mock', model: 'echo' },
        { provider: 'pricey', model: 'big' },
      ],
    },
  ],
});

describe('governance admission', () => {
  let cleanup: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await cleanup?.();
    cleanup = undefined;
  });

  async function setup(key: Partial<VirtualKey> = {}) {
    const handle = await DATABASE_KINDS.pglite();
    cleanup = handle.cleanup;
    await migrate(handle.db, 'governance', governanceMigrations, log);
    const directory = new Directory(handle.db);
    let clock = new Date('2026-11-25T10:00:00Z').getTime();
    const config = governanceConfig.parse({});
    // A governance replica on the shared database; sweeps are run by hand, with the clock.
    const replica = () => {
      const book = new QuotaBook(handle.db, { leaseFraction: 0.125, syncIntervalMs: 60_000, idleMs: 60_000, reclaimAfterMs: 60_000 }, log, () => clock);
      const metrics = new Registry();
      const pricer = new ReservationPricer(pricing, config.unknownModelCostPerMillion, resolved, log);
      const api = new Governance(
        directory,
        book,
        new Holders(handle.db, config.holderSilenceMs, () => clock),
        pricing,
        pricer,
        config,
        metrics,
        log,
        () => new Date(clock),
      );
      return { api, metrics, sweep: () => (api as unknown as { sweep(): Promise<void> }).sweep() };
    };
    const first = replica();
    const governance = first.api;
    const value = generateVirtualKey();
    await directory.customers.insert({ id: 'acme', name: 'Acme', metadata: {}, createdAt: new Date() });
    await directory.teams.insert({ id: 'search', name: 'Search', customerId: 'acme', metadata: {}, createdAt: new Date(), ...noLimits });
    const stored = await directory.keys.insert({
      id: 'vk_1',
      name: 'k',
      keyHash: hashSecret(value),
      teamId: 'search',
      customerId: null,
      allowedModels: ['mock/*'],
      allowedTools: [],
      metadata: {},
      contentLogging: false,
      cacheScope: 'team',
      toolMode: 'off',
      toolCallLimit: null,
      createdAt: new Date(),
      expiresAt: null,
      revokedAt: null,
      ...noLimits,
      ...key,
      codeLimits: key.codeLimits ?? {},
    });
    const authorize = (maxOutputTokens = 100_000, model = 'mock/echo', holder = '', batch = false) =>
      governance.authorize({
        context: undefined,
        keyHash: hashSecret(value),
        model,
        endpoint: 'chat.completions',
        promptBoundTokens: 10,
        promptO200kTokens: 0,
        maxOutputTokens,
        choices: 1,
        billed: undefined,
        holder,
        batch,
      });
    const settle = (reservationId: string, totalTokens: number) =>
      governance.settle({
        context: undefined,
        reservationId,
        success: true,
        cacheHit: false,
        served: { provider: 'mock', model: 'echo', deployment: '' },
        usage: {
          promptTokens: totalTokens / 2,
          completionTokens: totalTokens / 2,
          totalTokens,
          cachedTokens: 0,
          reasoningTokens: 0,
          cacheWriteTokens: 0,
          cacheWrite1hTokens: 0,
          billed: undefined,
        },
      });
    const budget = (scope: 'key' | 'team' | 'customer', scopeId: string, limitUsd: number, period: 'minute' | 'day' = 'minute') =>
      directory.budgets.insert({ id: `b_${scope}`, scope, scopeId, limitUsd, period, alignment: 'calendar', anchor: new Date(clock), createdAt: new Date() });
    return { directory, governance, first, replica, config, authorize, settle, budget, key: stored, advance: (ms: number) => (clock += ms) };
  }

  const refusedWith = async (promise: Promise<unknown>) => {
    const error = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  };

  it('reserves the worst case against every budget of key, team and customer, capping the output at what is left, and resets with the period', async () => {
    const { authorize, budget, advance } = await setup();
    await budget('customer', 'acme', 2.5);
    // $1.0001 each: the 10-token prompt and 100,000 output tokens at $10 per million.
    expect(await authorize()).toMatchObject({ maxOutputTokens: 100_000, countsPromptTokens: true });
    expect(await authorize()).toMatchObject({ maxOutputTokens: 100_000 });
    // What is left ($0.4998) covers the prompt and 49,970 output tokens: the third is admitted with that cap.
    expect(await authorize()).toMatchObject({ maxOutputTokens: 49_970 });
    const refused = await refusedWith(authorize());
    expect(refused).toMatchObject({ code: 'budget_exceeded', status: 402 });
    expect(refused.message).toContain('customer acme');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    advance(60_000);
    await expect(authorize()).resolves.toMatchObject({ actor: { keyId: 'vk_1', teamId: 'search', customerId: 'acme' } });
  });

  it('sends no cap of its own where nothing is charged by tokens', async () => {
    const { authorize } = await setup({ rpmLimit: 10 });
    expect(await authorize(0)).toMatchObject({ maxOutputTokens: 0, countsPromptTokens: false });
    expect(await authorize(300)).toMatchObject({ maxOutputTokens: 300 });
  });

  it('prices an alias on the dearest deployment it may reach, not on its name', async () => {
    const { authorize, budget } = await setup({ allowedModels: ['*'] });
    await budget('team', 'search', 0.05);
    // At pricey/big's $100 per million, $0.05 covers the 10-token prompt and 490 output tokens (at mock/echo's, 4,990).
    expect(await authorize(10_000, 'smart')).toMatchObject({ maxOutputTokens: 490 });
  });

  it('counts budgets in whole micro-dollars: three requests of $0.10 fit $0.30 exactly, where floats sum past it', async () => {
    const { authorize, budget } = await setup();
    await budget('team', 'search', 0.3);
    // 10 prompt and 9,990 output tokens at $10 per million: $0.1 each. As floats, 0.1 + 0.1 + 0.1 is 0.30000000000000004.
    for (let i = 0; i < 3; i++) expect(await authorize(9_990)).toMatchObject({ maxOutputTokens: 9_990 });
    expect(await refusedWith(authorize(9_990))).toMatchObject({ code: 'budget_exceeded' });
  });

  it('settles a reservation to the real cost, so a budget fits more cheap requests', async () => {
    const { authorize, settle, budget } = await setup();
    await budget('team', 'search', 2.5);
    for (let i = 0; i < 5; i++) {
      const grant = await authorize();
      await settle(grant.reservationId, 1_000); // really cost $0.01
    }
    expect((await authorize()).reservationId).toBeTruthy();
  });

  it("holds a batch line's reservation past reservationTimeoutMs, up to 25 hours, and counts it against budgets only", async () => {
    const { authorize, first, config, advance } = await setup({ rpmLimit: 1, maxParallel: 1 });
    const released = async () => (await first.metrics.getSingleMetricAsString('gateway_governance_reservations_released_total')).match(/timeout"\} (\d+)/)?.[1];
    // Three batch lines and then an ordinary request, under one request a window and one in flight.
    for (let i = 0; i < 3; i++) await authorize(1_000, 'mock/echo', '', true);
    await authorize(1_000);
    advance(config.reservationTimeoutMs);
    await first.sweep();
    expect(await released()).toBe('1');
    advance(25 * 3_600_000 - config.reservationTimeoutMs);
    await first.sweep();
    expect(await released()).toBe('4');
  });

  it('limits requests and tokens per window, with x-ratelimit headers', async () => {
    const { authorize, advance } = await setup({ rpmLimit: 2, tpmLimit: 1_000_000, rateWindowSeconds: 60 });
    const first = await authorize(1000);
    expect(first.headers).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1', 'x-ratelimit-limit-tokens': '1000000' });
    await authorize(1000);
    const refused = await refusedWith(authorize(1000));
    expect(refused).toMatchObject({ code: 'rate_limit_exceeded', status: 429 });
    expect(refused.headers['x-ratelimit-remaining-requests']).toBe('0');
    advance(60_000);
    await authorize(1000);

    const tokens = await setup({ tpmLimit: 5_000 });
    await tokens.authorize(4_000);
    // 990 tokens are left: the 10-token prompt and 980 output tokens.
    expect(await tokens.authorize(4_000)).toMatchObject({ maxOutputTokens: 980 });
    expect(await refusedWith(tokens.authorize(4_000))).toMatchObject({ code: 'rate_limit_exceeded' });
  });

  it('limits requests in flight, freeing a slot when one settles', async () => {
    const { authorize, settle } = await setup({ maxParallel: 1 });
    const grant = await authorize();
    expect(await refusedWith(authorize())).toMatchObject({ code: 'concurrency_limit_exceeded', status: 429 });
    await settle(grant.reservationId, 10);
    await authorize();
  });

  it("keeps a holder's admissions while it shows life to any replica, and frees the slots of a silent one", async () => {
    const { first, replica, config, authorize, advance } = await setup({ maxParallel: 3 });
    const other = replica();
    await authorize(10, 'mock/echo', 'ingress-live');
    await authorize(10, 'mock/echo', 'ingress-killed');
    await authorize(10); // from an ingress in governance's own process: no holder
    expect(await refusedWith(authorize(10, 'mock/echo', 'ingress-new'))).toMatchObject({ code: 'concurrency_limit_exceeded' });
    const step = config.holderSilenceMs / 4;
    for (let elapsed = step; elapsed <= 3 * config.holderSilenceMs; elapsed += step) {
      advance(step);
      // Heartbeats reach the admitting replica for a while, then the other one (the ingress's stream moved there).
      await (elapsed <= config.holderSilenceMs ? first : other).api.heartbeat({ holder: 'ingress-live' });
      await other.sweep();
      await first.sweep();
    }
    // The killed ingress's slot is free again; the live one's, and the one without a holder, are still taken.
    await authorize(10, 'mock/echo', 'ingress-new');
    expect(await refusedWith(authorize(10, 'mock/echo', 'ingress-new'))).toMatchObject({ code: 'concurrency_limit_exceeded' });
    expect(await first.metrics.getSingleMetricAsString('gateway_governance_reservations_released_total')).toContain('{reason="holder_silent"} 1');
  });

  it('enforces the model allowlist, expiry and revocation', async () => {
    const { authorize, directory } = await setup();
    expect(await refusedWith(authorize(10, 'openai/gpt-4o'))).toMatchObject({ code: 'model_not_allowed', status: 403 });
    await directory.keys.update('vk_1', { allowedModels: [] });
    expect(await refusedWith(authorize(10))).toMatchObject({ code: 'model_not_allowed' });
    await directory.keys.update('vk_1', { allowedModels: ['*'], expiresAt: new Date('2026-01-01T00:00:00Z') });
    expect(await refusedWith(authorize(10))).toMatchObject({ code: 'invalid_api_key', status: 401 });
    await directory.keys.update('vk_1', { expiresAt: null, revokedAt: new Date() });
    expect((await refusedWith(authorize(10))).message).toContain('revoked');
  });
});

describe('governance directory replicas', () => {
  it('finds an entity another replica wrote before its change event arrives', async () => {
    const handle = await DATABASE_KINDS.pglite();
    try {
      await migrate(handle.db, 'governance', governanceMigrations, log);
      const [writer, reader] = [new Directory(handle.db), new Directory(handle.db)];
      await writer.teams.insert({ id: 'late', name: 'Late', customerId: null, metadata: {}, createdAt: new Date(), ...noLimits });
      expect(reader.teams.get('late')).toBeUndefined();
      expect((await reader.teams.find('late'))?.name).toBe('Late');
      // Kept once read: the request path, which reads memory only, sees it too.
      expect(reader.teams.get('late')?.name).toBe('Late');
      expect(await reader.teams.find('never')).toBeUndefined();
    } finally {
      await handle.cleanup();
    }
  });
});
