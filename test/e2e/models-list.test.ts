import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startInProcess } from '../harness/gateway.js';

// GET /v1/models answers the models the calling key may use, as admission decides them, with the official client.
describe('the models a key may use, as /v1/models lists them', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
    gateway = await startInProcess({
      routing: {
        providers: {
          mock: { type: 'mock', models: ['echo'] },
          openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-provider', models: ['gpt-4o-mini', 'gpt-4o'] },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  /** A client with a new key, limited to these allowed models when given. */
  async function client(allowedModels?: string[]) {
    const { id, key } = await gateway.createKey({ name: 'lister' });
    if (allowedModels) await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${id}`, { allowed_models: allowedModels });
    return gateway.client(key);
  }
  const listed = async (openai: OpenAI) => (await openai.models.list()).data.map((model) => model.id).sort();

  it('lists every model to an unrestricted key', async () => {
    expect(await listed(await client())).toEqual(['mock/echo', 'openai/gpt-4o', 'openai/gpt-4o-mini']);
  });

  it('lists a restricted key only the models its allowed models match, the ones admission lets it use', async () => {
    const openai = await client(['openai/*-mini', 'mock/echo']);
    expect(await listed(openai)).toEqual(['mock/echo', 'openai/gpt-4o-mini']);
    const answer = await openai.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'Hi' }] });
    expect(answer.choices[0]?.message.content).toBe('Fake OpenAI reply to: Hi');
    const refused = await openai.chat.completions.create({ model: 'openai/gpt-4o', messages: [{ role: 'user', content: 'Hi' }] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((refused as InstanceType<typeof OpenAI.PermissionDeniedError>).code).toBe('model_not_allowed');
  });

  it('lists nothing to a key allowed no model', async () => {
    expect(await listed(await client([]))).toEqual([]);
  });
});
