import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { completionTokensParam } from '../../services/routing/providers/openai.js';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeAzure, type FakeAzure } from '../fakes/azure.js';
import { startFakeBedrock, type FakeBedrock } from '../fakes/bedrock.js';
import { startFakeCohere, type FakeCohere } from '../fakes/cohere.js';
import { startFakeGemini, type FakeGemini } from '../fakes/gemini.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startInProcess } from '../harness/gateway.js';

// Issue 22: a request whose key is charged by budget is sent to its provider
// with the output cap its reservation covers, in the provider's own
// parameter, so the provider cannot generate more than the reservation pays
// for; and a stream whose provider goes on past the cap is ended.
describe('output caps sent to every provider', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let fakes: { openai: FakeOpenAI; azure: FakeAzure; anthropic: FakeAnthropic; cohere: FakeCohere; gemini: FakeGemini; bedrock: FakeBedrock };
  let budgeted: OpenAI;
  let unlimited: OpenAI;

  beforeAll(async () => {
    fakes = {
      openai: await startFakeOpenAI({ apiKey: 'sk-openai' }),
      azure: await startFakeAzure({ apiKey: 'azure-key', deployments: ['gpt-4o'] }),
      anthropic: await startFakeAnthropic({ apiKey: 'sk-ant' }),
      cohere: await startFakeCohere({ apiKey: 'co-key' }),
      gemini: await startFakeGemini({ apiKey: 'g-key' }),
      bedrock: await startFakeBedrock({ region: 'us-east-1', accessKeyId: 'AKIAFAKEGATEWAY', secretAccessKey: 'fake-secret-access-key' }),
    };
    gateway = await startInProcess({
      routing: {
        providers: {
          openai: { type: 'openai', baseUrl: `${fakes.openai.url}/v1`, apiKey: 'sk-openai' },
          azure: { type: 'azure', endpoint: fakes.azure.url, apiKey: 'azure-key' },
          anthropic: { type: 'anthropic', baseUrl: fakes.anthropic.url, apiKey: 'sk-ant' },
          cohere: { type: 'cohere', baseUrl: fakes.cohere.url, apiKey: 'co-key' },
          gemini: { type: 'gemini', baseUrl: fakes.gemini.url, apiKey: 'g-key' },
          bedrock: {
            type: 'bedrock',
            region: 'us-east-1',
            baseUrl: fakes.bedrock.url,
            credentials: [{ accessKeyId: 'AKIAFAKEGATEWAY', secretAccessKey: 'fake-secret-access-key' }],
          },
        },
      },
    });
    await admin(gateway.adminUrl, 'POST', '/admin/teams', { id: 'metered', name: 'Metered' });
    await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'team', scope_id: 'metered', limit_usd: 1_000, period: 'month' });
    budgeted = gateway.client((await gateway.createKey({ name: 'budgeted', team: 'metered' })).key);
    unlimited = gateway.client((await gateway.createKey({ name: 'unlimited' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    for (const fake of Object.values(fakes ?? {})) await fake.close();
  });

  const ask = (client: OpenAI, model: string, extra: Record<string, unknown> = {}) =>
    client.chat.completions.create({ model, messages: [{ role: 'user', content: 'how long?' }], ...extra } as OpenAI.ChatCompletionCreateParamsNonStreaming);

  it("sends the reserved cap (governance.defaultMaxOutputTokens) in each provider's own parameter when the request set none", async () => {
    await ask(budgeted, 'openai/gpt-4o-mini');
    expect(fakes.openai.requests.at(-1)!.body).toMatchObject({ max_tokens: 4_096 });
    await ask(budgeted, 'azure/gpt-4o');
    // Azure, like OpenAI's own API, deprecates max_tokens and its reasoning models refuse it.
    expect(fakes.azure.requests.at(-1)!.body).toMatchObject({ max_completion_tokens: 4_096 });
    expect(fakes.azure.requests.at(-1)!.body).not.toHaveProperty('max_tokens');
    await ask(budgeted, 'anthropic/claude-sonnet-4-5');
    expect(fakes.anthropic.requests.at(-1)!.body).toMatchObject({ max_tokens: 4_096 });
    await ask(budgeted, 'cohere/command-a-03-2025');
    expect(fakes.cohere.requests.at(-1)!.body).toMatchObject({ max_tokens: 4_096 });
    await ask(budgeted, 'gemini/gemini-2.5-flash');
    expect(fakes.gemini.requests.at(-1)!.body).toMatchObject({ generationConfig: { maxOutputTokens: 4_096 } });
    await ask(budgeted, 'bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0');
    expect(fakes.bedrock.requests.at(-1)!.body).toMatchObject({ inferenceConfig: { maxTokens: 4_096 } });
    expect(completionTokensParam('https://api.openai.com/v1')).toBe(true);
    expect(completionTokensParam('http://127.0.0.1:11434/v1')).toBe(false);
  });

  it("keeps a lower cap of the request's own, and sends none of its own where no budget or token limit applies", async () => {
    await ask(budgeted, 'openai/gpt-4o-mini', { max_completion_tokens: 50 });
    expect(fakes.openai.requests.at(-1)!.body).toMatchObject({ max_completion_tokens: 50 });
    await ask(unlimited, 'openai/gpt-4o-mini');
    expect(fakes.openai.requests.at(-1)!.body).not.toHaveProperty('max_tokens');
    expect(fakes.openai.requests.at(-1)!.body).not.toHaveProperty('max_completion_tokens');
  });

  it('ends a stream whose provider goes on past the cap, with an error event the client sees', async () => {
    const stream = await budgeted.chat.completions.create({
      model: 'openai/chatter',
      max_tokens: 20,
      stream: true,
      messages: [{ role: 'user', content: 'talk' }],
    });
    let text = '';
    const ended = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e: unknown) => e);
    expect(ended).toMatchObject({ message: expect.stringContaining('went on past the output tokens') });
    // The slack (a quarter, and 32 tokens) is for other providers' tokenizers; then the stream stops.
    expect(text.split('on and on').length - 1).toBeLessThan(40);
  });
});
