import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from './openai.js';
import { FAKE_TRANSCRIPT, fakeSpeech, wav } from './openai-audio.js';
import { FAKE_PNG } from './openai-images.js';
import { FAKE_REASONING_TOKENS } from './openai-usage.js';

/** A prompt long enough for the prompt cache (1,024 tokens and more). */
const LONG = `${'A long, shared system prompt. '.repeat(40)}`;

// The fake must be something the official SDK can call and parse, streaming included;
// otherwise tests that use it prove nothing.
describe('fake OpenAI provider, checked with the official openai SDK', () => {
  let fake: FakeOpenAI;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-fake-provider-key' });
    client = new OpenAI({ baseURL: `${fake.url}/v1`, apiKey: 'sk-fake-provider-key', maxRetries: 0 });
  });
  afterAll(() => fake.close());

  it('answers a chat completion the SDK parses', async () => {
    const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'ping' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toBe('Fake OpenAI reply to: ping');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
  });

  it('streams chunks the SDK parses, with usage last when asked', async () => {
    const stream = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('Fake OpenAI reply to: stream please');
    expect(usage?.completion_tokens).toBe(6);
  });

  it('reads a repeated long prompt from the cache in 128-token steps, and counts reasoning inside the completion', async () => {
    const ask = (question: string) =>
      client.chat.completions.create({
        model: 'o4-mini',
        messages: [
          { role: 'system', content: LONG },
          { role: 'user', content: question },
        ],
      });
    const first = (await ask('first question')).usage!;
    expect(first.prompt_tokens).toBeGreaterThan(1_024);
    expect(first.prompt_tokens_details?.cached_tokens).toBe(0);
    expect(first.completion_tokens_details?.reasoning_tokens).toBe(FAKE_REASONING_TOKENS);
    expect(first.completion_tokens).toBe('Fake OpenAI reply to: first question'.split(' ').length + FAKE_REASONING_TOKENS);
    expect(first.total_tokens).toBe(first.prompt_tokens + first.completion_tokens);
    const second = (await ask('second question')).usage!;
    expect(second.prompt_tokens_details?.cached_tokens).toBe(1_152);
  });

  it('writes usage as xAI, DeepSeek and OpenRouter do, which their docs read with this SDK', async () => {
    const dialects = await Promise.all((['xai', 'deepseek', 'openrouter'] as const).map((dialect) => startFakeOpenAI({ apiKey: 'k', dialect })));
    try {
      const [xai, deepseek, openrouter] = dialects.map((d) => new OpenAI({ baseURL: `${d.url}/v1`, apiKey: 'k', maxRetries: 0 }));
      const messages = [
        { role: 'system' as const, content: LONG },
        { role: 'user' as const, content: 'hi' },
      ];
      const grok = (await xai!.chat.completions.create({ model: 'grok-4', messages })).usage!;
      expect(grok.total_tokens).toBe(grok.prompt_tokens + grok.completion_tokens + grok.completion_tokens_details!.reasoning_tokens!);
      await deepseek!.chat.completions.create({ model: 'deepseek-reasoner', messages });
      const hit = (await deepseek!.chat.completions.create({ model: 'deepseek-reasoner', messages })).usage as OpenAI.CompletionUsage & {
        prompt_cache_hit_tokens: number;
        prompt_cache_miss_tokens: number;
      };
      expect(hit.prompt_tokens_details).toBeUndefined();
      expect(hit.prompt_cache_hit_tokens + hit.prompt_cache_miss_tokens).toBe(hit.prompt_tokens);
      expect(hit.prompt_cache_hit_tokens).toBeGreaterThanOrEqual(1_024);
      const written = (await openrouter!.chat.completions.create({ model: 'anthropic/claude-sonnet-4.5', messages })).usage!;
      expect(written.prompt_tokens_details).toMatchObject({ cached_tokens: 0, cache_write_tokens: expect.any(Number) as number });
      const read = (await openrouter!.chat.completions.create({ model: 'anthropic/claude-sonnet-4.5', messages })).usage!;
      expect(read.prompt_tokens_details).toMatchObject({
        cached_tokens: (written.prompt_tokens_details as { cache_write_tokens: number }).cache_write_tokens,
        cache_write_tokens: 0,
      });
    } finally {
      await Promise.all(dialects.map((d) => d.close()));
    }
  });

  it('calls a tool when asked about the weather, whole and streamed', async () => {
    const tools = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const messages = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];
    const whole = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools });
    expect(whole.choices[0]?.finish_reason).toBe('tool_calls');
    const call = whole.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && call.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
    const runner = client.chat.completions.stream({ model: 'gpt-4o-mini', messages, tools });
    const final = await runner.finalChatCompletion();
    const streamed = final.choices[0]?.message.tool_calls?.[0];
    expect(streamed?.type === 'function' && streamed.function).toEqual({ name: 'get_weather', arguments: '{"city":"Paris"}' });
  });

  it('reports a prompt over the context window and a content-filter refusal as OpenAI does', async () => {
    const long = await client.chat.completions.create({ model: 'too-long', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(long).toBeInstanceOf(OpenAI.BadRequestError);
    expect((long as InstanceType<typeof OpenAI.BadRequestError>).code).toBe('context_length_exceeded');
    const effort = await client.chat.completions
      .create({ model: 'o4-mini', messages: [{ role: 'user', content: 'x' }], reasoning_effort: 'extreme' as 'high' })
      .catch((e: unknown) => e);
    expect(effort).toBeInstanceOf(OpenAI.BadRequestError);
    expect((effort as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('reasoning_effort');
    expect((effort as Error).message).toContain("Invalid value: 'extreme'");
    const refused = await client.chat.completions.create({ model: 'refuse', messages: [{ role: 'user', content: 'x' }] });
    expect(refused.choices[0]?.finish_reason).toBe('content_filter');
  });

  it('serves legacy completions and embeddings', async () => {
    const completion = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say this' });
    expect(completion.choices[0]?.text).toBe(' completed: Say this');
    let streamed = '';
    for await (const chunk of await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say that', stream: true }))
      streamed += chunk.choices[0]?.text ?? '';
    expect(streamed).toBe(' completed: Say that');
    const embedding = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two words'] });
    expect(embedding.data).toHaveLength(2);
    expect(embedding.data[1]?.embedding).toHaveLength(8);
    expect(embedding.usage.prompt_tokens).toBe(3);
  });

  it('fails in the shapes the SDK maps to its error classes', async () => {
    await expect(client.chat.completions.create({ model: 'fail-500', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
      OpenAI.InternalServerError,
    );
    await expect(client.chat.completions.create({ model: 'fail-429', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
      OpenAI.RateLimitError,
    );
    const wrongKey = new OpenAI({ baseURL: `${fake.url}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
    await expect(wrongKey.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
  });

  it('moderates strings and text and image parts as the SDK parses them', async () => {
    const strings = await client.moderations.create({ model: 'omni-moderation-latest', input: ['I will kill the process', 'hello'] });
    expect(strings.id).toMatch(/^modr-/);
    expect(strings.results.map((r) => [r.flagged, r.categories.violence, r.categories.harassment])).toEqual([
      [true, true, false],
      [false, false, false],
    ]);
    expect(strings.results[0]?.category_applied_input_types.violence).toEqual(['text']);
    const parts = await client.moderations.create({
      model: 'omni-moderation-latest',
      input: [
        { type: 'text', text: 'look' },
        { type: 'image_url', image_url: { url: 'https://example.com/gore.png' } },
      ],
    });
    expect(parts.results).toHaveLength(1);
    expect(parts.results[0]).toMatchObject({ flagged: true, category_applied_input_types: { violence: ['text', 'image'], harassment: ['text'] } });
  });

  it('makes images as the SDK parses them: urls or base64, one dall-e-3 image a request, sizes checked', async () => {
    const urls = await client.images.generate({ model: 'dall-e-2', prompt: 'a lighthouse', n: 2, size: '256x256' });
    expect(urls.data?.map((image) => image.url?.startsWith('https://'))).toEqual([true, true]);
    const hd = await client.images.generate({ model: 'dall-e-3', prompt: 'a lighthouse', quality: 'hd', response_format: 'b64_json' });
    expect(Buffer.from(hd.data![0]!.b64_json!, 'base64').subarray(1, 4).toString()).toBe('PNG');
    expect(hd.data![0]!.revised_prompt).toContain('a lighthouse');
    const chosen = await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse' });
    expect(chosen).toMatchObject({ quality: 'medium', size: '1024x1024', usage: { input_tokens: 12 } });
    const refused = await client.images.generate({ model: 'dall-e-3', prompt: 'x', size: '256x256' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
    expect((refused as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('size');
    await expect(client.images.generate({ model: 'dall-e-3', prompt: 'x', n: 2 })).rejects.toBeInstanceOf(OpenAI.BadRequestError);
  });
  it('edits images and makes variations from the forms the SDK sends: one image or several, a mask, dall-e-2 only for variations', async () => {
    const png = (name: string) => toFile(Buffer.from(FAKE_PNG, 'base64'), name, { type: 'image/png' });
    const edited = await client.images.edit({
      model: 'gpt-image-1',
      prompt: 'add a hat',
      image: [await png('a.png'), await png('b.png')],
      mask: await png('m.png'),
    });
    expect(edited).toMatchObject({ quality: 'medium', size: '1024x1024' });
    expect(edited.data?.[0]?.b64_json).toBe(FAKE_PNG);
    expect(fake.requests.at(-1)).toMatchObject({
      path: '/v1/images/edits',
      body: {
        model: 'gpt-image-1',
        prompt: 'add a hat',
        'image[]': [{ filename: 'a.png', type: 'image/png' }, { filename: 'b.png' }],
        mask: { filename: 'm.png' },
      },
    });
    const one = await client.images.edit({ model: 'dall-e-2', prompt: 'add a hat', image: await png('a.png'), n: 2, size: '256x256' });
    expect(one.data?.map((image) => image.url?.startsWith('https://'))).toEqual([true, true]);
    const twoForDallE = await client.images.edit({ model: 'dall-e-2', prompt: 'x', image: [await png('a.png'), await png('b.png')] }).catch((e: unknown) => e);
    expect((twoForDallE as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('image');
    const jpegMask = await client.images
      .edit({ model: 'gpt-image-1', prompt: 'x', image: await png('a.png'), mask: await toFile(Buffer.from('x'), 'm.jpg', { type: 'image/jpeg' }) })
      .catch((e: unknown) => e);
    expect((jpegMask as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('mask');

    const variations = await client.images.createVariation({ model: 'dall-e-2', image: await png('a.png'), n: 3, response_format: 'b64_json' });
    expect(variations.data?.map((image) => image.b64_json)).toEqual([FAKE_PNG, FAKE_PNG, FAKE_PNG]);
    const notDallE2 = await client.images.createVariation({ model: 'gpt-image-1', image: await png('a.png') }).catch((e: unknown) => e);
    expect((notDallE2 as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('model');
  });
  it('streams speech as SSE and a transcription as events the SDK parses, with usage in the done event', async () => {
    const speech = await client.audio.speech.create({ model: 'gpt-4o-mini-tts', voice: 'alloy', input: 'Hello there, stream me.', stream_format: 'sse' });
    expect(speech.headers.get('content-type')).toContain('text/event-stream');
    const events = (await speech.text())
      .split('\n\n')
      .filter(Boolean)
      .map((block) => JSON.parse(block.replace(/^data: /, '')) as { type: string; audio?: string; usage?: unknown });
    const audio = Buffer.concat(events.filter((e) => e.type === 'speech.audio.delta').map((e) => Buffer.from(e.audio!, 'base64')));
    expect(audio.equals(fakeSpeech('Hello there, stream me.'))).toBe(true);
    expect(events.at(-1)).toEqual({ type: 'speech.audio.done', usage: { input_tokens: 6, output_tokens: 30, total_tokens: 36 } });
    await expect(client.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'x', stream_format: 'sse' })).rejects.toMatchObject({ status: 400 });

    const stream = await client.audio.transcriptions.create({ file: await toFile(wav(2), 'a.wav'), model: 'gpt-4o-transcribe', stream: true });
    const received = [];
    for await (const event of stream) received.push(event);
    expect(
      received
        .filter((e) => e.type === 'transcript.text.delta')
        .map((e) => (e.type === 'transcript.text.delta' ? e.delta : ''))
        .join(''),
    ).toBe(FAKE_TRANSCRIPT);
    expect(received.at(-1)).toMatchObject({
      type: 'transcript.text.done',
      text: FAKE_TRANSCRIPT,
      usage: { type: 'tokens', input_tokens: 25, output_tokens: 11 },
    });
    // whisper-1 does not stream: its answer comes whole.
    const whole = await fetch(`${fake.url}/v1/audio/transcriptions`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk-fake-provider-key' },
      body: (() => {
        const form = new FormData();
        form.append('model', 'whisper-1');
        form.append('stream', 'true');
        form.append('file', new Blob([wav(1)]), 'a.wav');
        return form;
      })(),
    });
    expect(whole.headers.get('content-type')).toBe('application/json');
  });

  it('searches the web for a Responses request with web_search, whole and streamed with its search events', async () => {
    const whole = await client.responses.create({ model: 'gpt-4.1', input: 'Oslo news?', tools: [{ type: 'web_search' }] });
    expect(whole.output.map((item) => item.type)).toEqual(['web_search_call', 'message']);
    expect(whole.output[0]).toMatchObject({ status: 'completed', action: { type: 'search' } });
    const text = whole.output[1]?.type === 'message' ? whole.output[1].content[0] : undefined;
    expect(text).toMatchObject({ type: 'output_text', text: whole.output_text, annotations: [{ type: 'url_citation', start_index: 0 }] });
    expect(whole.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: expect.any(Number) });

    const types: string[] = [];
    const stream = client.responses.stream({ model: 'gpt-4.1', input: 'Oslo news?', tools: [{ type: 'web_search_preview' }] });
    stream.on('event', (event) => types.push(event.type));
    const streamed = await stream.finalResponse();
    expect(types.filter((type) => type.startsWith('response.web_search_call.'))).toEqual([
      'response.web_search_call.in_progress',
      'response.web_search_call.searching',
      'response.web_search_call.completed',
    ]);
    expect(types).toContain('response.output_text.annotation.added');
    expect(streamed.output.map((item) => item.type)).toEqual(['web_search_call', 'message']);
    expect(streamed.output_text).toBe(whole.output_text);
  });
  it('makes an image for a Responses request with image_generation, whole and streamed with its image events', async () => {
    const tools = [{ type: 'image_generation' as const, quality: 'low' as const }];
    const whole = await client.responses.create({ model: 'gpt-4.1', input: 'Draw a fjord', tools });
    expect(whole.output.map((item) => item.type)).toEqual(['image_generation_call', 'message']);
    expect(whole.output[0]).toMatchObject({ status: 'completed', quality: 'low', size: '1024x1024' });
    const png = whole.output[0]?.type === 'image_generation_call' ? Buffer.from(whole.output[0].result!, 'base64') : Buffer.alloc(0);
    expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');

    const types: string[] = [];
    const stream = client.responses.stream({ model: 'gpt-4.1', input: 'Draw a fjord', tools });
    stream.on('event', (event) => types.push(event.type));
    const streamed = await stream.finalResponse();
    expect(types.filter((type) => type.startsWith('response.image_generation_call.'))).toEqual([
      'response.image_generation_call.in_progress',
      'response.image_generation_call.generating',
      'response.image_generation_call.completed',
    ]);
    expect(streamed.output[0]).toMatchObject({ type: 'image_generation_call', result: expect.any(String) });
  });
});
