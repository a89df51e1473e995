import { afterAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, THINKING_TOKENS as ANTHROPIC_THINKING } from '../../../test/fakes/anthropic.js';
import { startFakeBedrock } from '../../../test/fakes/bedrock.js';
import { startFakeCohere, THINKING_TOKENS as COHERE_THINKING } from '../../../test/fakes/cohere.js';
import { startFakeGemini } from '../../../test/fakes/gemini.js';
import { startFakeOpenAI } from '../../../test/fakes/openai.js';
import { FAKE_REASONING_TOKENS, type UsageDialect } from '../../../test/fakes/openai-usage.js';
import { call, collect, TEST_TIMEOUTS as timeouts } from '../../../test/harness/adapters.js';
import type { Usage } from '../../gen/gateway/v1/common.js';
import { Pricing } from '../../kit/pricing/index.js';
import { usdText } from '../../kit/pricing/money.js';
import type { ChatRequest, TextPart } from '../canonical.js';
import { anthropicProviderConfig, createAnthropicAdapter } from './anthropic.js';
import { bedrockProviderConfig, createBedrockAdapter } from './bedrock.js';
import { cohereProviderConfig, createCohereAdapter } from './cohere.js';
import { createGeminiAdapter, geminiProviderConfig } from './gemini.js';
import { createOpenAIAdapter, openAIProviderConfig, type OpenAIPreset } from './openai.js';
import { usageFromOpenAI, type ProviderAdapter } from './types.js';

const SONNET = { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 };
/** The catalog, and Sonnet's prices for the fakes' trigger models that no catalog name matches. */
const pricing = new Pricing({
  'anthropic/cached-thinking': SONNET,
  'openrouter/anthropic/claude-sonnet-4.5': SONNET,
  'gemini/thinking': { input: 0.3, output: 2.5, cachedInput: 0.03 },
});
/** A system prompt long enough for OpenAI-style prompt caching (1,024 tokens and more), cached for an hour where that is asked for. */
const POLICY: TextPart = { type: 'text', text: 'The support policy, long and unchanging. '.repeat(30), cache_control: { type: 'ephemeral', ttl: '1h' } };

const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers) await close();
});

/** The contract's Usage of one answer, whole and streamed, and what it cost. */
async function usageOf(adapter: ProviderAdapter, request: ChatRequest): Promise<{ whole: Usage; streamed: Usage }> {
  const whole = usageFromOpenAI((await adapter.chat(call(request))).usage);
  const chunks = await collect(await adapter.chatStream(call({ ...request, stream: true, stream_options: { include_usage: true } })));
  return { whole, streamed: usageFromOpenAI(chunks.at(-1)?.usage) };
}

const costOf = (provider: string, model: string, usage: Usage) => usdText(pricing.price({ provider, model, deployment: '' }, usage)!.total);

const ask = (model: string, question: string, system: TextPart[] = [POLICY]): ChatRequest => ({
  model,
  messages: [
    { role: 'system', content: system },
    { role: 'user', content: question },
  ],
});

async function openAICompatible(type: OpenAIPreset, dialect: UsageDialect): Promise<ProviderAdapter> {
  const fake = await startFakeOpenAI({ apiKey: 'k', dialect });
  const adapter = createOpenAIAdapter(type, openAIProviderConfig(type).parse({ type, baseUrl: `${fake.url}/v1`, apiKey: 'k' }), timeouts);
  closers.push(
    () => adapter.close(),
    () => fake.close(),
  );
  return adapter;
}

/** The OpenAI fake's prompt, one token per character of the messages' JSON, as the adapter sends it. */
const promptTokens = (request: ChatRequest) => JSON.stringify(request.messages).length;

// One test per shape of provider usage, through the adapter against its fake,
// whole and streamed: the Usage it comes to and what that costs, exactly.
describe('usage of every provider, normalised and priced', () => {
  it('OpenAI: cached tokens inside the prompt, reasoning inside the completion', async () => {
    const adapter = await openAICompatible('openai', 'openai');
    const request = ask('o4-mini', 'What is covered?');
    await adapter.chat(call(ask('o4-mini', 'An earlier question.')));
    const { whole, streamed } = await usageOf(adapter, request);
    const prompt = promptTokens(request);
    const completion = 'Fake OpenAI reply to: What is covered?'.split(' ').length + FAKE_REASONING_TOKENS;
    expect(whole).toEqual({
      promptTokens: prompt,
      completionTokens: completion,
      totalTokens: prompt + completion,
      cachedTokens: 1_280,
      reasoningTokens: 64,
      cacheWriteTokens: 0,
      cacheWrite1hTokens: 0,
    });
    expect(streamed).toEqual(whole);
    // o4-mini: $1.10/M input, $0.275/M cached, $4.40/M output and reasoning.
    expect(costOf('openai', 'o4-mini', whole)).toBe(usdText(BigInt(prompt - 1_280) * 1_100_000n + 1_280n * 275_000n + BigInt(completion) * 4_400_000n));
  });

  it('xAI: reasoning counted apart from completion_tokens is added to the completion', async () => {
    const adapter = await openAICompatible('xai', 'xai');
    const request = ask('grok-4', 'What is covered?');
    const { whole, streamed } = await usageOf(adapter, request);
    const visible = 'Fake OpenAI reply to: What is covered?'.split(' ').length;
    expect(whole).toMatchObject({
      completionTokens: visible + FAKE_REASONING_TOKENS,
      reasoningTokens: FAKE_REASONING_TOKENS,
      totalTokens: whole.promptTokens + visible + FAKE_REASONING_TOKENS,
    });
    expect(streamed).toEqual({ ...whole, cachedTokens: 1_280 });
    // grok-4: $3/M input, $0.75/M cached, $15/M output and reasoning.
    expect(costOf('xai', 'grok-4', streamed)).toBe(
      usdText(BigInt(whole.promptTokens - 1_280) * 3_000_000n + 1_280n * 750_000n + BigInt(visible + FAKE_REASONING_TOKENS) * 15_000_000n),
    );
  });

  it('DeepSeek: prompt_cache_hit_tokens are the cached tokens', async () => {
    const adapter = await openAICompatible('deepseek', 'deepseek');
    const { whole, streamed } = await usageOf(adapter, ask('deepseek-reasoner', 'What is covered?'));
    expect(whole).toMatchObject({ cachedTokens: 0, reasoningTokens: FAKE_REASONING_TOKENS });
    expect(streamed).toEqual({ ...whole, cachedTokens: 1_280 });
    // deepseek-reasoner: $0.28/M input, $0.028/M cached, $0.42/M output.
    expect(costOf('deepseek', 'deepseek-reasoner', streamed)).toBe(
      usdText(BigInt(whole.promptTokens - 1_280) * 280_000n + 1_280n * 28_000n + BigInt(whole.completionTokens) * 420_000n),
    );
  });

  it('OpenRouter: prompt_tokens_details.cache_write_tokens are cache writes, and a later read is cached', async () => {
    const adapter = await openAICompatible('openrouter', 'openrouter');
    const { whole, streamed } = await usageOf(adapter, ask('anthropic/claude-sonnet-4.5', 'What is covered?'));
    expect(whole).toMatchObject({ cachedTokens: 0, cacheWriteTokens: 1_280 });
    expect(streamed).toEqual({ ...whole, cachedTokens: 1_280, cacheWriteTokens: 0 });
    const fresh = BigInt(whole.promptTokens - 1_280);
    expect(costOf('openrouter', 'anthropic/claude-sonnet-4.5', whole)).toBe(
      usdText(fresh * 3_000_000n + 1_280n * 3_750_000n + BigInt(whole.completionTokens) * 15_000_000n),
    );
    expect(costOf('openrouter', 'anthropic/claude-sonnet-4.5', streamed)).toBe(
      usdText(fresh * 3_000_000n + 1_280n * 300_000n + BigInt(whole.completionTokens) * 15_000_000n),
    );
  });

  it('Anthropic: cache reads and writes apart from input_tokens, writes for an hour, thinking inside the output', async () => {
    const fake = await startFakeAnthropic({ apiKey: 'k' });
    const adapter = createAnthropicAdapter('anthropic', anthropicProviderConfig.parse({ type: 'anthropic', baseUrl: fake.url, apiKey: 'k' }), timeouts);
    closers.push(
      () => adapter.close(),
      () => fake.close(),
    );
    const { whole, streamed } = await usageOf(adapter, ask('cached-thinking', 'What is covered?'));
    const input = whole.promptTokens - 120;
    const completion = 'Fake Anthropic reply to: What is covered?'.split(' ').length + ANTHROPIC_THINKING;
    expect(whole).toEqual({
      promptTokens: input + 120,
      completionTokens: completion,
      totalTokens: input + 120 + completion,
      cachedTokens: 100,
      reasoningTokens: ANTHROPIC_THINKING,
      cacheWriteTokens: 20,
      cacheWrite1hTokens: 20,
    });
    expect(streamed).toEqual(whole);
    expect(costOf('anthropic', 'cached-thinking', whole)).toBe(
      usdText(BigInt(input) * 3_000_000n + 100n * 300_000n + 20n * 6_000_000n + BigInt(completion) * 15_000_000n),
    );
    const fiveMinutes = (await usageOf(adapter, ask('cached-thinking', 'What is covered?', [{ ...POLICY, cache_control: { type: 'ephemeral' } }]))).streamed;
    expect(fiveMinutes).toMatchObject({ cachedTokens: 100, cacheWriteTokens: 20, cacheWrite1hTokens: 0 });
    const fiveMinutesInput = BigInt(fiveMinutes.promptTokens - 120);
    expect(costOf('anthropic', 'cached-thinking', fiveMinutes)).toBe(
      usdText(fiveMinutesInput * 3_000_000n + 100n * 300_000n + 20n * 3_750_000n + BigInt(completion) * 15_000_000n),
    );
  });

  it('Gemini: cachedContentTokenCount inside promptTokenCount, thoughtsTokenCount outside candidatesTokenCount', async () => {
    const fake = await startFakeGemini({ apiKey: 'k' });
    const adapter = createGeminiAdapter('gemini', geminiProviderConfig.parse({ type: 'gemini', baseUrl: fake.url, apiKey: 'k' }), timeouts);
    closers.push(
      () => adapter.close(),
      () => fake.close(),
    );
    const { whole, streamed } = await usageOf(adapter, ask('thinking', 'What is covered?'));
    const completion = 'Fake Gemini reply to: What is covered?'.split(' ').length;
    expect(whole).toMatchObject({
      completionTokens: completion + 7,
      totalTokens: whole.promptTokens + completion + 7,
      cachedTokens: 3,
      reasoningTokens: 7,
      cacheWriteTokens: 0,
    });
    expect(streamed).toEqual(whole);
    // $0.30/M input, $0.03/M cached, $2.50/M output and thoughts.
    expect(costOf('gemini', 'thinking', whole)).toBe(usdText(BigInt(whole.promptTokens - 3) * 300_000n + 3n * 30_000n + BigInt(completion + 7) * 2_500_000n));
  });

  it('Bedrock: cacheReadInputTokens and cacheWriteInputTokens apart from inputTokens, the writes by TTL from cacheDetails', async () => {
    const credentials = [{ accessKeyId: 'AKIAFAKEPRICING', secretAccessKey: 'fake-secret' }];
    const fake = await startFakeBedrock({ region: 'us-east-1', ...credentials[0]! });
    const adapter = createBedrockAdapter(
      'bedrock',
      bedrockProviderConfig.parse({ type: 'bedrock', region: 'us-east-1', baseUrl: fake.url, credentials }),
      timeouts,
    );
    closers.push(
      () => adapter.close(),
      () => fake.close(),
    );
    const model = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
    const { whole, streamed } = await usageOf(adapter, ask(model, 'What is covered?'));
    expect(fake.requests.at(-1)?.body.system).toEqual([{ text: POLICY.text }, { cachePoint: { type: 'default', ttl: '1h' } }]);
    expect(whole).toMatchObject({
      totalTokens: whole.promptTokens + whole.completionTokens,
      cachedTokens: 7,
      cacheWriteTokens: 3,
      cacheWrite1hTokens: 3,
      reasoningTokens: 0,
    });
    expect(streamed).toEqual(whole);
    // The catalog's anthropic.claude-sonnet-4-5: Sonnet's prices.
    expect(costOf('bedrock', model, whole)).toBe(
      usdText(BigInt(whole.promptTokens - 10) * 3_000_000n + 7n * 300_000n + 3n * 6_000_000n + BigInt(whole.completionTokens) * 15_000_000n),
    );
  });

  it('Cohere: the billed units, thinking inside them, and no cache discount on raw cached tokens', async () => {
    const fake = await startFakeCohere({ apiKey: 'k' });
    const adapter = createCohereAdapter('cohere', cohereProviderConfig.parse({ type: 'cohere', baseUrl: fake.url, apiKey: 'k' }), timeouts);
    closers.push(
      () => adapter.close(),
      () => fake.close(),
    );
    const request: ChatRequest = { model: 'command-a-reasoning-08-2025', messages: [{ role: 'user', content: 'What is covered?' }] };
    const { whole, streamed } = await usageOf(adapter, request);
    const output = 'Fake Cohere reply to: What is covered?'.split(' ').length + COHERE_THINKING;
    expect(whole).toEqual({
      promptTokens: 3,
      completionTokens: output,
      totalTokens: 3 + output,
      cachedTokens: 0,
      reasoningTokens: 0,
      cacheWriteTokens: 0,
      cacheWrite1hTokens: 0,
    });
    // The repeat's raw input hit Cohere's cache, which it does not bill for less.
    expect(streamed).toEqual(whole);
    // command-a: $2.50/M input, $10/M output.
    expect(costOf('cohere', request.model, whole)).toBe(usdText(3n * 2_500_000n + BigInt(output) * 10_000_000n));
  });
});
