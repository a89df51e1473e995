import Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usdText } from '../../services/kit/pricing/money.js';
import { startFakeAnthropic, THINKING_TOKENS, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';
import { EVERY_PART_MODEL as MODEL, EVERY_PART_PRICE, pricedRow, type LedgerRow } from '../harness/ledger.js';

const POLICY = 'The support policy, long and unchanging.';

// One request with every part of a cost (fresh, cache-read and cache-written prompt tokens, output and reasoning)
// through each inbound API, whole and streamed: its ledger row keeps the parts, priced exactly.
describe('every inbound API records usage priced part by part', () => {
  let anthropicFake: FakeAnthropic;
  let openaiFake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    gateway = await startInProcess({
      routing: {
        providers: {
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' },
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' },
        },
      },
      pricing: { models: { [MODEL]: EVERY_PART_PRICE } },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await anthropicFake?.close();
    await openaiFake?.close();
  });

  /** A key of its own for each request, so its ledger row is the key's only one. */
  async function withKey<T>(call: (clients: { openai: OpenAI; anthropic: Anthropic }) => Promise<T>): Promise<{ answer: T; row: LedgerRow }> {
    const { id, key } = await gateway.createKey({ name: 'priced' });
    const anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
    const answer = await call({ openai: gateway.client(key), anthropic });
    const row = await eventually('the usage row', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const text = (await response.text()).trim();
      return text ? (JSON.parse(text) as LedgerRow) : undefined;
    });
    return { answer, row };
  }

  it('chat completions, whole and streamed, with a one-hour cache write asked for in a content part', async () => {
    const messages: OpenAI.ChatCompletionMessageParam[] = [
      { role: 'system', content: [{ type: 'text', text: POLICY, cache_control: { type: 'ephemeral', ttl: '1h' } } as OpenAI.ChatCompletionContentPartText] },
      { role: 'user', content: 'What is covered?' },
    ];
    const whole = await withKey(({ openai }) => openai.chat.completions.create({ model: MODEL, messages }));
    const usage = whole.answer.usage!;
    expect(usage).toMatchObject({ prompt_tokens_details: { cached_tokens: 100 }, completion_tokens_details: { reasoning_tokens: THINKING_TOKENS } });
    expect(whole.row).toMatchObject({
      endpoint: 'chat.completions',
      stream: false,
      ...pricedRow({ prompt: usage.prompt_tokens, completion: usage.completion_tokens, hour: true }),
    });

    const streamed = await withKey(async ({ openai }) => {
      let last: OpenAI.CompletionUsage | undefined;
      for await (const chunk of await openai.chat.completions.create({ model: MODEL, messages, stream: true, stream_options: { include_usage: true } }))
        last = chunk.usage ?? last;
      return last!;
    });
    expect(streamed.row).toMatchObject({
      stream: true,
      ...pricedRow({ prompt: streamed.answer.prompt_tokens, completion: streamed.answer.completion_tokens, hour: true }),
    });
  });

  it('the Responses API, whole and streamed', async () => {
    const request = { model: MODEL, instructions: POLICY, input: 'What is covered?' };
    const whole = await withKey(({ openai }) => openai.responses.create(request));
    const usage = whole.answer.usage!;
    expect(usage).toMatchObject({ input_tokens_details: { cached_tokens: 100 }, output_tokens_details: { reasoning_tokens: THINKING_TOKENS } });
    expect(whole.row).toMatchObject({ endpoint: 'responses', ...pricedRow({ prompt: usage.input_tokens, completion: usage.output_tokens, hour: false }) });

    const streamed = await withKey(async ({ openai }) => {
      let completed: OpenAI.Responses.ResponseUsage | undefined;
      for await (const event of await openai.responses.create({ ...request, stream: true }))
        if (event.type === 'response.completed') completed = event.response.usage ?? undefined;
      return completed!;
    });
    expect(streamed.row).toMatchObject({
      stream: true,
      ...pricedRow({ prompt: streamed.answer.input_tokens, completion: streamed.answer.output_tokens, hour: false }),
    });
  });

  it('the Anthropic Messages API, whole and streamed, with the one-hour cache asked for as Anthropic clients ask', async () => {
    const request: Anthropic.MessageCreateParamsNonStreaming = {
      model: MODEL,
      max_tokens: 200,
      system: [{ type: 'text', text: POLICY, cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: [{ role: 'user', content: 'What is covered?' }],
    };
    const prompt = (usage: Anthropic.Usage) => usage.input_tokens + usage.cache_read_input_tokens! + usage.cache_creation_input_tokens!;
    const whole = await withKey(({ anthropic }) => anthropic.messages.create(request));
    expect(whole.answer.usage).toMatchObject({
      cache_read_input_tokens: 100,
      cache_creation: { ephemeral_1h_input_tokens: 20 },
      output_tokens_details: { thinking_tokens: THINKING_TOKENS },
    });
    expect(whole.row).toMatchObject({
      endpoint: 'messages',
      ...pricedRow({ prompt: prompt(whole.answer.usage), completion: whole.answer.usage.output_tokens, hour: true }),
    });

    const streamed = await withKey(({ anthropic }) => anthropic.messages.stream(request).finalMessage());
    expect(streamed.row).toMatchObject({
      stream: true,
      ...pricedRow({ prompt: prompt(streamed.answer.usage), completion: streamed.answer.usage.output_tokens, hour: true }),
    });
  });

  it('legacy completions, converted to chat', async () => {
    const { answer, row } = await withKey(({ openai }) => openai.completions.create({ model: MODEL, prompt: 'What is covered?', max_tokens: 200 }));
    expect(row).toMatchObject({
      endpoint: 'completions',
      ...pricedRow({ prompt: answer.usage!.prompt_tokens, completion: answer.usage!.completion_tokens, hour: false }),
    });
  });

  it('embeddings: prompt tokens alone, at the input price', async () => {
    const { answer, row } = await withKey(({ openai }) => openai.embeddings.create({ model: 'openai/text-embedding-3-small', input: ['one two', 'three'] }));
    // text-embedding-3-small: $0.02/M.
    expect(row).toMatchObject({
      endpoint: 'embeddings',
      prompt_tokens: answer.usage.prompt_tokens,
      cost_usd: usdText(BigInt(answer.usage.prompt_tokens) * 20_000n),
      input_cost_usd: usdText(BigInt(answer.usage.prompt_tokens) * 20_000n),
      reasoning_cost_usd: usdText(0n),
    });
  });
});
