import { Cohere, CohereClientV2, type CohereError } from 'cohere-ai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeCohere, THINKING_TOKENS, type FakeCohere } from './cohere.js';

// The fake must be something the official SDK can call and parse, streaming included;
// otherwise tests that use it prove nothing. The SDK maps Cohere's snake_case wire
// fields to camelCase, so a misnamed field in the fake shows up here as undefined.
describe('fake Cohere provider, checked with the official cohere-ai SDK', () => {
  let fake: FakeCohere;
  let client: CohereClientV2;
  const weatherTool: Cohere.ToolV2 = {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
    },
  };

  beforeAll(async () => {
    fake = await startFakeCohere({ apiKey: 'co-fake-provider-key' });
    // v8 takes the base URL as `environment` (or `baseUrl`) and appends v2/chat, v2/embed.
    client = new CohereClientV2({ token: 'co-fake-provider-key', environment: fake.url, maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('answers a chat the SDK parses', async () => {
    const response = await client.chat({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'ping' }] });
    expect(response.finishReason).toBe('COMPLETE');
    const first = response.message.content?.[0];
    expect(first?.type === 'text' ? first.text : undefined).toBe('Fake Cohere reply to: ping');
    expect(response.usage?.billedUnits?.inputTokens).toBe(1);
    expect(response.usage?.tokens?.outputTokens).toBe(5);
    expect(fake.requests.at(-1)?.authorization).toBe('Bearer co-fake-provider-key');
    expect(fake.requests.at(-1)?.body.stream).toBe(false);
  });

  it('answers a tool call with a tool plan', async () => {
    const response = await client.chat({
      model: 'command-a-03-2025',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [weatherTool],
    });
    expect(response.finishReason).toBe('TOOL_CALL');
    expect(response.message.toolPlan).toBe('I will look up the weather in Paris.');
    expect(response.message.toolCalls?.[0]?.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });

    // The tool result goes back with the call's id, and the model answers in text.
    const call = response.message.toolCalls![0]!;
    const followUp = await client.chat({
      model: 'command-a-03-2025',
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', toolPlan: response.message.toolPlan, toolCalls: [call] },
        { role: 'tool', toolCallId: call.id, content: '{"temperature":21}' },
      ],
      tools: [weatherTool],
    });
    expect(followUp.finishReason).toBe('COMPLETE');
  });

  it("thinks first for a reasoning model, counting the thought in the output, and reports a repeated conversation's input as cached", async () => {
    const request = { model: 'command-a-reasoning-08-2025', messages: [{ role: 'user' as const, content: 'think about it' }] };
    const first = await client.chat(request);
    expect(first.message.content?.map((item) => item.type)).toEqual(['thinking', 'text']);
    expect(first.usage).toMatchObject({
      billedUnits: { inputTokens: 3, outputTokens: 7 + THINKING_TOKENS },
      tokens: { inputTokens: 3 + 64, outputTokens: 7 + THINKING_TOKENS },
      cachedTokens: 0,
    });
    let streamedUsage: unknown;
    let thought = '';
    for await (const event of await client.chatStream(request)) {
      if (event.type === 'content-delta') thought += event.delta?.message?.content?.thinking ?? '';
      if (event.type === 'message-end') streamedUsage = event.delta?.usage;
    }
    expect(thought).not.toBe('');
    expect(streamedUsage).toMatchObject({ billedUnits: first.usage!.billedUnits, cachedTokens: 3 + 64 });
  });

  it('streams text events the SDK parses', async () => {
    const stream = await client.chatStream({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'stream please' }] });
    let text = '';
    const types: string[] = [];
    let finish: string | undefined;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content-delta') text += event.delta?.message?.content?.text ?? '';
      if (event.type === 'message-end') finish = event.delta?.finishReason;
    }
    expect(text).toBe('Fake Cohere reply to: stream please');
    expect(finish).toBe('COMPLETE');
    expect(types[0]).toBe('message-start');
    expect(types.slice(-2)).toEqual(['content-end', 'message-end']);
  });

  it('streams a tool call the SDK can assemble', async () => {
    const stream = await client.chatStream({
      model: 'command-a-03-2025',
      messages: [{ role: 'user', content: 'weather in Paris?' }],
      tools: [weatherTool],
    });
    let plan = '';
    let name: string | undefined;
    let args = '';
    let finish: string | undefined;
    for await (const event of stream) {
      if (event.type === 'tool-plan-delta') plan += event.delta?.message?.toolPlan ?? '';
      if (event.type === 'tool-call-start') {
        name = event.delta?.message?.toolCalls?.function?.name;
        args += event.delta?.message?.toolCalls?.function?.arguments ?? '';
      }
      if (event.type === 'tool-call-delta') args += event.delta?.message?.toolCalls?.function?.arguments ?? '';
      if (event.type === 'message-end') finish = event.delta?.finishReason;
    }
    expect(plan).toBe('I will look up the weather in Paris.');
    expect(name).toBe('get_weather');
    expect(JSON.parse(args)).toEqual({ city: 'Paris' });
    expect(finish).toBe('TOOL_CALL');
  });

  it('embeds texts', async () => {
    const response = await client.embed({
      model: 'embed-v4.0',
      texts: ['hello world', 'goodbye world'],
      inputType: 'search_document',
      embeddingTypes: ['float'],
      outputDimension: 256,
    });
    expect(response.embeddings.float).toHaveLength(2);
    expect(response.embeddings.float?.[0]).toHaveLength(256);
    expect(response.meta?.billedUnits?.inputTokens).toBe(4);
  });

  it('fails in the shapes the SDK maps to its error classes', async () => {
    const chat = (model: string) => client.chat({ model, messages: [{ role: 'user', content: 'x' }] });
    await expect(chat('fail-429')).rejects.toBeInstanceOf(Cohere.TooManyRequestsError);
    await expect(chat('fail-500')).rejects.toBeInstanceOf(Cohere.InternalServerError);
    await expect(chat('fail-503')).rejects.toBeInstanceOf(Cohere.ServiceUnavailableError);
    const tooLong = await chat('too-long').catch((err: unknown) => err);
    expect(tooLong).toBeInstanceOf(Cohere.BadRequestError);
    expect((tooLong as CohereError).body).toMatchObject({ message: expect.stringContaining('too many tokens') });
    const wrongKey = new CohereClientV2({ token: 'co-wrong', environment: fake.url, maxRetries: 0 });
    await expect(wrongKey.chat({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(Cohere.UnauthorizedError);
  });

  it('refuses OpenAI field names, as the real API does', async () => {
    const raw = await fetch(`${fake.url}/v2/chat`, {
      method: 'POST',
      headers: { authorization: 'Bearer co-fake-provider-key', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'command-a-03-2025', messages: [{ role: 'user', content: 'x' }], top_p: 0.5 }),
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ message: "invalid request: unknown field: parameter 'top_p' is not a valid field" });
  });

  it('reranks documents as the SDK parses them, billing one search unit per 100 documents', async () => {
    const documents = ['Berlin is big', 'Paris is the capital of France', 'France has wine'];
    const ranked = await client.rerank({ model: 'rerank-v3.5', query: 'capital of France', documents, topN: 2 });
    expect(ranked.results).toEqual([
      { index: 1, relevanceScore: 1 },
      { index: 2, relevanceScore: 0.3333 },
    ]);
    expect(ranked.meta?.billedUnits?.searchUnits).toBe(1);
    const many = await client.rerank({ model: 'rerank-v3.5', query: 'x', documents: Array.from({ length: 101 }, () => 'x') });
    expect(many.meta?.billedUnits?.searchUnits).toBe(2);
  });
});
