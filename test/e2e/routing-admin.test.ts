import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

// Providers (credentials as secret references) and models (aliases, groups)
// added through the admin API, checked by routing, applied without a restart.
describe('providers and models through the admin API', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let client: OpenAI;

  beforeAll(async () => {
    process.env.GW_TEST_DYNAMIC_KEY = 'sk-dynamic-provider';
    fake = await startFakeOpenAI({ apiKey: 'sk-dynamic-provider' });
    // The fake listens on 127.0.0.1, which the operator must name for providers added through the admin API.
    gateway = await startInProcess({
      routing: { adminProviders: { hosts: ['127.0.0.1'], secretReferences: [{ reference: 'env:GW_TEST_DYNAMIC_KEY', hosts: ['127.0.0.1'] }] } },
    });
    client = gateway.client((await gateway.createKey({ name: 'dynamic' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  const put = (path: string, body: unknown) =>
    fetch(`${gateway.adminUrl}${path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  it('adds a provider and a model group that clients can use at once', async () => {
    const provider = await put('/admin/providers/dynamic', { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'env:GW_TEST_DYNAMIC_KEY' });
    expect(provider.status).toBe(200);
    const group = await put('/admin/models/house', { deployments: [{ provider: 'dynamic', model: 'gpt-4o-mini' }], fallbacks: ['mock/echo'] });
    expect(group.status, await group.clone().text()).toBe(200);
    expect((await put('/admin/models/quick', 'house')).status).toBe(200);
    const answer = await eventually('the new model to be served', () =>
      client.chat.completions.create({ model: 'quick', messages: [{ role: 'user', content: 'dynamic hello' }] }).catch(() => undefined),
    );
    expect(answer.choices[0]?.message.content).toBe('Fake OpenAI reply to: dynamic hello');
    expect(fake.requests.at(-1)?.authorization).toBe('Bearer sk-dynamic-provider');
    const listed = await admin<{ data: { name: string; entry: { apiKey?: string } }[] }>(gateway.adminUrl, 'GET', '/admin/providers');
    expect(listed.data).toEqual([expect.objectContaining({ name: 'dynamic', entry: expect.objectContaining({ apiKey: 'env:GW_TEST_DYNAMIC_KEY' }) })]);
  });

  it('refuses entries routing cannot use, naming what is wrong', async () => {
    const literal = await put('/admin/providers/leaky', { type: 'openai', apiKey: 'sk-pasted-secret' });
    expect(literal.status).toBe(400);
    const literalBody = (await literal.json()) as { error: { message: string } };
    expect(literalBody.error.message).toContain('routing.providers.leaky.apiKey');
    expect(literalBody.error.message).not.toContain('sk-pasted-secret');

    const unknownProvider = (await (await put('/admin/models/broken', { deployments: [{ provider: 'nowhere', model: 'x' }] })).json()) as {
      error: { message: string };
    };
    expect(unknownProvider.error.message).toContain('routing.models.broken.deployments.0.provider');
    expect((await put('/admin/providers/mock', { type: 'mock' })).status).toBe(400);
    expect((await put('/admin/providers/unreadable', { type: 'openai', apiKey: 'env:GW_TEST_NOT_SET_ANYWHERE' })).status).toBe(400);
  });

  it('removes a model, then its provider, in that order', async () => {
    const inUse = await fetch(`${gateway.adminUrl}/admin/providers/dynamic`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(inUse.status).toBe(400);
    await admin(gateway.adminUrl, 'DELETE', '/admin/models/quick');
    await admin(gateway.adminUrl, 'DELETE', '/admin/models/house');
    await admin(gateway.adminUrl, 'DELETE', '/admin/providers/dynamic');
    const gone = await eventually('the model to be gone', async () => {
      const error = await client.chat.completions.create({ model: 'house', messages: [{ role: 'user', content: 'x' }] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      return error instanceof OpenAI.NotFoundError ? error : undefined;
    });
    expect(gone.status).toBe(404);
  });
});
