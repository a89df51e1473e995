import { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_TRANSCRIPT, fakeSpeech, wav } from '../fakes/openai-audio.js';
import { FAKE_PNG } from '../fakes/openai-images.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { ADMIN_TOKEN, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

/** ingress.maxUploadBytes's default: OpenAI's 25 MB limit. */
const DEFAULT_MAX_UPLOAD = 25 * 1024 * 1024;

// Each service its own process: the upload and the audio answer cross gRPC between ingress and routing (messages
// up to 64 MiB each way), at the size the default upload cap allows.
describe('audio and image uploads across the services', () => {
  let fake: FakeOpenAI;
  let gateway: SplitGateway;
  let infra: Awaited<ReturnType<typeof isolatedInfra>>;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    infra = await isolatedInfra();
    gateway = await startSplit({
      nats: infra.nats,
      database: infra.database,
      routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-openai' } } },
    });
  }, 120_000);
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    await infra?.drop();
  });

  it('carries a 24 MiB upload and the speech bytes whole; an upload over the default cap gets 413', async () => {
    const { id, key } = await gateway.createKey({ name: 'listener' });
    const openai = gateway.client(key);
    // 786 seconds of 16 kHz 16-bit mono: 25,152,044 bytes, under the cap.
    const audio = wav(786);
    expect(audio.length).toBeLessThan(DEFAULT_MAX_UPLOAD);
    const transcript = await openai.audio.transcriptions.create({ file: await toFile(audio, 'long.wav'), model: 'openai/whisper-1', response_format: 'text' });
    expect(transcript).toBe(`${FAKE_TRANSCRIPT}\n`);
    expect(fake.requests.at(-1)).toMatchObject({ path: '/v1/audio/transcriptions', body: { file: { size: audio.length } } });

    const input = 'x'.repeat(4096);
    const speech = await openai.audio.speech.create({ model: 'openai/tts-1', voice: 'alloy', input, response_format: 'flac' });
    expect(speech.headers.get('content-type')).toBe('audio/flac');
    expect(Buffer.from(await speech.arrayBuffer()).equals(fakeSpeech(input, 'flac'))).toBe(true);

    const over = await openai.audio.transcriptions.create({ file: await toFile(wav(820), 'over.wav'), model: 'openai/whisper-1' }).catch((e: unknown) => e);
    expect(over).toMatchObject({ status: 413 });

    const rows = await eventually('the usage rows', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const lines = (await response.text()).trim().split('\n').filter(Boolean);
      return lines.length >= 2 ? lines.map((line) => JSON.parse(line) as Record<string, unknown>) : undefined;
    });
    // The text answer reports no seconds: the WAV's own 786, from its header; at $0.0001 a second.
    expect(rows.find((row) => row.endpoint === 'audio.transcriptions')).toMatchObject({ billed_quantity: 786, cost_usd: '0.078600000000' });
    expect(rows.find((row) => row.endpoint === 'audio.speech')).toMatchObject({ billed_quantity: 4096 });
  });
  it("streams a transcription over gRPC event by event, and carries an edit's several images and mask", async () => {
    const { key } = await gateway.createKey({ name: 'streamer' });
    const openai = gateway.client(key);
    const stream = await openai.audio.transcriptions.create({ file: await toFile(wav(2), 'a.wav'), model: 'openai/gpt-4o-transcribe', stream: true });
    const events = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => (e.type === 'transcript.text.delta' ? e.delta : '')).join('')).toBe(FAKE_TRANSCRIPT);
    expect(events.at(-1)).toMatchObject({ type: 'transcript.text.done', usage: { input_tokens: 25 } });

    const png = (name: string) => toFile(Buffer.from(FAKE_PNG, 'base64'), name, { type: 'image/png' });
    const edited = await openai.images.edit({
      model: 'openai/gpt-image-1',
      prompt: 'x',
      image: [await png('a.png'), await png('b.png')],
      mask: await png('m.png'),
    });
    expect(edited.data?.[0]?.b64_json).toBe(FAKE_PNG);
    expect(fake.requests.at(-1)).toMatchObject({
      path: '/v1/images/edits',
      body: { 'image[]': [{ filename: 'a.png' }, { filename: 'b.png' }], mask: { filename: 'm.png' } },
    });
  });
});
