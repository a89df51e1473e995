import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeBedrock, type FakeBedrock } from '../fakes/bedrock.js';
import { startFakeGemini, type FakeGemini } from '../fakes/gemini.js';
import { startInProcess } from '../harness/gateway.js';

// OpenAI's reasoning effort, from the official openai SDK, as the thinking budget Anthropic's (on its API and on
// Bedrock) and Gemini's APIs take (docs/routing.md#reasoning-effort). The fakes refuse what the real APIs refuse: an
// Anthropic budget under 1024 or not under max_tokens, a Gemini budget out of the model's range.

const question = [{ role: 'user' as const, content: 'Why is the sky blue?' }];
type WithReasoning = { reasoning_content?: string };
const AWS_KEY = { accessKeyId: 'AKIAFAKEEFFORT000001', secretAccessKey: 'effort/secret' };
const BEDROCK_CLAUDE = 'bedrock/anthropic.claude-sonnet-4-5-20250929-v1:0';

describe('reasoning effort as Anthropic extended thinking and Gemini thinkingConfig', () => {
  let anthropicFake: FakeAnthropic;
  let geminiFake: FakeGemini;
  let bedrockFake: FakeBedrock;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let openai: OpenAI;

  beforeAll(async () => {
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    geminiFake = await startFakeGemini({ apiKey: 'g-key' });
    bedrockFake = await startFakeBedrock({ region: 'us-east-1', ...AWS_KEY });
    gateway = await startInProcess({
      routing: {
        providers: {
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' },
          gemini: { type: 'gemini', baseUrl: geminiFake.url, apiKey: 'g-key' },
          bedrock: { type: 'bedrock', region: 'us-east-1', baseUrl: bedrockFake.url, credentials: [AWS_KEY] },
        },
      },
    });
    openai = gateway.client((await gateway.createKey({ name: 'reasoning' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await anthropicFake?.close();
    await geminiFake?.close();
    await bedrockFake?.close();
  });

  const sentToAnthropic = () => anthropicFake.requests.at(-1)!.body;
  const sentToGemini = () => geminiFake.requests.at(-1)!.body.generationConfig;

  it('gives Anthropic the effort’s budget, with the default answer room above it when the client set no max_tokens', async () => {
    const answer = await openai.chat.completions.create({ model: 'anthropic/claude-sonnet-4-5', messages: question, reasoning_effort: 'medium' });
    expect(sentToAnthropic()).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 8192 }, max_tokens: 4096 + 8192 });
    expect((answer.choices[0]!.message as WithReasoning).reasoning_content).toBeTruthy();
    expect(answer.choices[0]!.message.content).toContain('Why is the sky blue?');
  });

  it('fits the budget under the client’s max_tokens, and refuses an effort that leaves Anthropic under 1024 tokens to think', async () => {
    await openai.chat.completions.create({ model: 'anthropic/claude-sonnet-4-5', messages: question, reasoning_effort: 'high', max_completion_tokens: 10_000 });
    expect(sentToAnthropic()).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 9_999 }, max_tokens: 10_000 });

    const before = anthropicFake.requests.length;
    const refused = await openai.chat.completions
      .create({ model: 'anthropic/claude-sonnet-4-5', messages: question, reasoning_effort: 'low', max_tokens: 1000 })
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as Error).message).toContain('reasoning_effort "low" needs max_tokens above 1024');
    expect(anthropicFake.requests.length).toBe(before);

    // Anthropic takes no temperature but 1 with thinking on, and says so.
    const warm = await openai.chat.completions
      .create({ model: 'anthropic/claude-sonnet-4-5', messages: question, reasoning_effort: 'low', temperature: 0.5 })
      .catch((err: unknown) => err);
    expect(warm).toBeInstanceOf(OpenAI.BadRequestError);
    expect((warm as Error).message).toContain('`temperature` may only be set to 1');
  });

  it('sends no thinking for effort none, and the client’s own thinking over its effort', async () => {
    await openai.chat.completions.create({ model: 'anthropic/claude-sonnet-4-5', messages: question, reasoning_effort: 'none' as 'low' });
    expect(sentToAnthropic().thinking).toBeUndefined();
    const own = { thinking: { type: 'enabled', budget_tokens: 1500 } };
    await openai.chat.completions.create({ model: 'anthropic/claude-sonnet-4-5', messages: question, reasoning_effort: 'high', max_tokens: 3000, ...own });
    expect(sentToAnthropic()).toMatchObject({ ...own, max_tokens: 3000 });
  });

  it('maps the Responses API’s reasoning.effort the same way', async () => {
    const answer = await openai.responses.create({ model: 'anthropic/claude-sonnet-4-5', input: 'Why is the sky blue?', reasoning: { effort: 'low' } });
    expect(sentToAnthropic()).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2048 }, max_tokens: 4096 + 2048 });
    expect(answer.output_text).toContain('Why is the sky blue?');
    await openai.responses.create({ model: 'gemini/gemini-2.5-flash', input: 'Why is the sky blue?', reasoning: { effort: 'minimal' } });
    expect(sentToGemini()).toEqual({ thinkingConfig: { thinkingBudget: 1024, includeThoughts: true } });
  });

  it('gives Gemini the budget with thought summaries, answered as reasoning_content, whole and streamed; none turns thinking off', async () => {
    const answer = await openai.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: question, reasoning_effort: 'high' });
    expect(sentToGemini()).toEqual({ thinkingConfig: { thinkingBudget: 24_576, includeThoughts: true } });
    expect((answer.choices[0]!.message as WithReasoning).reasoning_content).toBe('Considering the question.');
    expect(answer.choices[0]!.message.content).toBe('Fake Gemini reply to: Why is the sky blue?');

    const stream = await openai.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: question, reasoning_effort: 'medium', stream: true });
    let reasoning = '';
    for await (const chunk of stream) reasoning += (chunk.choices[0]?.delta as WithReasoning | undefined)?.reasoning_content ?? '';
    expect(reasoning).toBe('Considering the question.');
    expect(sentToGemini()).toEqual({ thinkingConfig: { thinkingBudget: 8192, includeThoughts: true } });

    const off = await openai.chat.completions.create({ model: 'gemini/gemini-2.5-flash', messages: question, reasoning_effort: 'none' as 'low' });
    expect(sentToGemini()).toEqual({ thinkingConfig: { thinkingBudget: 0 } });
    expect((off.choices[0]!.message as WithReasoning).reasoning_content).toBeUndefined();
  });

  it('refuses an effort level neither API has a budget for, in OpenAI’s error shape', async () => {
    for (const model of ['anthropic/claude-sonnet-4-5', 'gemini/gemini-2.5-flash']) {
      const refused = await openai.chat.completions.create({ model, messages: question, reasoning_effort: 'xhigh' as 'high' }).catch((err: unknown) => err);
      expect(refused, model).toBeInstanceOf(OpenAI.BadRequestError);
      expect((refused as Error).message).toContain('reasoning_effort must be one of none, minimal, low, medium, high');
    }
  });

  it('gives Bedrock’s Anthropic models the same budget in additionalModelRequestFields, under the same max_tokens rules', async () => {
    const sentToBedrock = () => bedrockFake.requests.at(-1)!.body;
    const answer = await openai.chat.completions.create({ model: BEDROCK_CLAUDE, messages: question, reasoning_effort: 'medium' });
    expect(sentToBedrock()).toMatchObject({
      additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 8192 } },
      inferenceConfig: { maxTokens: 4096 + 8192 },
    });
    expect((answer.choices[0]!.message as WithReasoning).reasoning_content).toBeTruthy();

    await openai.responses.create({ model: BEDROCK_CLAUDE, input: 'Why is the sky blue?', reasoning: { effort: 'high' }, max_output_tokens: 10_000 });
    expect(sentToBedrock()).toMatchObject({
      additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens: 9_999 } },
      inferenceConfig: { maxTokens: 10_000 },
    });

    const before = bedrockFake.requests.length;
    const refused = await openai.chat.completions
      .create({ model: BEDROCK_CLAUDE, messages: question, reasoning_effort: 'low', max_tokens: 1000 })
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as Error).message).toContain('reasoning_effort "low" needs max_tokens above 1024');
    expect(bedrockFake.requests.length).toBe(before);
    // The model refuses a temperature but 1 with thinking on; Bedrock relays it, and so does the gateway.
    const warm = await openai.chat.completions
      .create({ model: BEDROCK_CLAUDE, messages: question, reasoning_effort: 'low', temperature: 0.5 })
      .catch((err: unknown) => err);
    expect(warm).toBeInstanceOf(OpenAI.BadRequestError);
    expect((warm as Error).message).toContain('`temperature` may only be set to 1');

    await openai.chat.completions.create({ model: BEDROCK_CLAUDE, messages: question, reasoning_effort: 'none' as 'low' });
    expect(sentToBedrock()).not.toHaveProperty('additionalModelRequestFields');
    // Only Anthropic's models on Bedrock take a thinking budget; the others get none of it.
    await openai.chat.completions.create({ model: 'bedrock/amazon.nova-pro-v1:0', messages: question, reasoning_effort: 'high' });
    expect(sentToBedrock()).not.toHaveProperty('additionalModelRequestFields');
    expect(sentToBedrock()).not.toHaveProperty('inferenceConfig');
  });
});
