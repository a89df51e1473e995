import type { APIError } from 'openai';
import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { FAKE_TRANSCRIPT, fakeSpeech, wav } from '../fakes/openai-audio.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';
import { keyRecords } from '../harness/records.js';

type SpeechEvent = { type: string; audio?: string; usage?: unknown; error?: { message: string } };

/** Reads server-sent events from a response body as they arrive, each `data:` payload parsed. */
async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SpeechEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let end = buffer.indexOf('\n\n'); end !== -1; end = buffer.indexOf('\n\n')) {
      const data = buffer
        .slice(0, end)
        .split('\n')
        .filter((line) => line.startsWith('data: '))
        .map((line) => line.slice(6))
        .join('\n');
      buffer = buffer.slice(end + 2);
      if (data) yield JSON.parse(data) as SpeechEvent;
    }
  }
}

// Streamed speech (stream_format "sse") and streamed transcriptions (stream: true) with the openai SDK's own methods:
// the provider's events passed on as they arrive, billed from the done event's usage, and recorded once whether the
// stream ends, breaks or is cut by the client.
describe('streamed audio through the gateway', () => {
  let openaiFake: FakeOpenAI;
  let anthropicFake: FakeAnthropic;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    gateway = await startInProcess({
      routing: {
        providers: {
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' },
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' },
        },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await openaiFake?.close();
    await anthropicFake?.close();
  });

  async function client() {
    const { id, key } = await gateway.createKey({ name: 'listener' });
    return { id, openai: gateway.client(key) };
  }

  it('streams speech as the provider sends it, billed by the tokens of its done event, recorded once', async () => {
    const { id, openai } = await client();
    const input = 'Streamed speech, through the gateway.';
    const response = await openai.audio.speech.create({ model: 'openai/gpt-4o-mini-tts', voice: 'alloy', input, stream_format: 'sse' });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    expect(response.headers.get('x-gateway-provider')).toBe('openai');
    const events: SpeechEvent[] = [];
    for await (const event of sseEvents(response.body!)) events.push(event);
    const audio = Buffer.concat(events.filter((e) => e.type === 'speech.audio.delta').map((e) => Buffer.from(e.audio!, 'base64')));
    expect(audio.equals(fakeSpeech(input))).toBe(true);
    expect(events.at(-1)).toEqual({ type: 'speech.audio.done', usage: { input_tokens: 10, output_tokens: 30, total_tokens: 40 } });
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/audio/speech', body: { model: 'gpt-4o-mini-tts', stream_format: 'sse' } });

    const { usage, audit } = await keyRecords(gateway.adminUrl, id, 1, [response.headers.get('x-request-id')!]);
    expect(audit[0]).toEqual(['request.completed']);
    // 10 tokens in at $0.60 a million, 30 out at $12 a million.
    expect(usage[0]).toMatchObject({ endpoint: 'audio.speech', stream: true, prompt_tokens: 10, completion_tokens: 30, cost_usd: '0.000366000000' });
  });

  it('passes each event on as it arrives; a stream the client cuts is recorded, billed the characters reserved', async () => {
    const { id, openai } = await client();
    const input = 'x'.repeat(40);
    const response = await openai.audio.speech.create({ model: 'openai/stall-stream-tts', voice: 'alloy', input, stream_format: 'sse' });
    // The provider sent one delta and holds the stream open: the client has it all the same.
    const reader = sseEvents(response.body!);
    const first = await reader.next();
    expect(first.value).toMatchObject({ type: 'speech.audio.delta' });
    await reader.return(undefined);
    const { usage, audit } = await keyRecords(gateway.adminUrl, id, 1, [response.headers.get('x-request-id')!]);
    expect(audit[0]).toEqual(['request.failed']);
    expect(usage[0]).toMatchObject({ endpoint: 'audio.speech', stream: true, billed_unit: 'input_character', billed_quantity: 40 });
  });

  it('ends a stream the provider breaks with an error event, recorded as failed and billed what was reserved', async () => {
    const { id, openai } = await client();
    const response = await openai.audio.speech.create({ model: 'openai/break-stream-tts', voice: 'alloy', input: 'broken', stream_format: 'sse' });
    const events: SpeechEvent[] = [];
    for await (const event of sseEvents(response.body!)) events.push(event);
    expect(events.map((e) => e.type ?? 'error')).toEqual(['speech.audio.delta', 'speech.audio.delta', 'error']);
    expect(events.at(-1)?.error?.message).toContain('openai');
    const { usage, audit } = await keyRecords(gateway.adminUrl, id, 1, [response.headers.get('x-request-id')!]);
    expect(audit[0]).toEqual(['request.failed']);
    expect(usage[0]).toMatchObject({ endpoint: 'audio.speech', stream: true, billed_unit: 'input_character', billed_quantity: 6 });
  });

  it('streams a transcription the SDK reads event by event, billed by the tokens its done event reports', async () => {
    const { id, openai } = await client();
    const stream = await openai.audio.transcriptions.create({ file: await toFile(wav(2), 'a.wav'), model: 'openai/gpt-4o-transcribe', stream: true });
    const events = [];
    for await (const event of stream) events.push(event);
    const text = events.map((e) => (e.type === 'transcript.text.delta' ? e.delta : '')).join('');
    expect(text).toBe(FAKE_TRANSCRIPT);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', text: FAKE_TRANSCRIPT, usage: { input_tokens: 25, output_tokens: 11 } });
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/audio/transcriptions', body: { model: 'gpt-4o-transcribe', stream: 'true' } });
    const { usage } = await keyRecords(gateway.adminUrl, id, 1);
    // 25 tokens in at $2.50 a million, 11 out at $10 a million.
    expect(usage[0]).toMatchObject({ endpoint: 'audio.transcriptions', stream: true, prompt_tokens: 25, completion_tokens: 11, cost_usd: '0.000172500000' });
  });

  it('refuses clearly: a model that does not stream, a provider without audio', async () => {
    const { openai } = await client();
    const whisper = await openai.audio.transcriptions
      .create({ file: await toFile(wav(1), 'a.wav'), model: 'openai/whisper-1', stream: true })
      .then(async (stream) => {
        for await (const _ of stream);
      })
      .catch((e: unknown) => e);
    expect(whisper).toMatchObject({ status: 400 });
    expect((whisper as APIError).message).toContain('whisper-1 may not stream');
    const tts1 = await openai.audio.speech.create({ model: 'openai/tts-1', voice: 'alloy', input: 'x', stream_format: 'sse' }).catch((e: unknown) => e);
    expect(tts1).toMatchObject({ status: 400 });
    expect((tts1 as APIError).message).toContain("stream_format 'sse' is not supported for tts-1");
    const anthropic = await openai.audio.speech
      .create({ model: 'anthropic/claude-haiku-4-5', voice: 'alloy', input: 'hi', stream_format: 'sse' })
      .catch((e: unknown) => e);
    expect((anthropic as APIError).message).toContain('has no speech endpoint');
  });
});
