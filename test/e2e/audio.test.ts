import OpenAI, { type APIError, toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { FAKE_TRANSCRIPT, FAKE_TRANSLATION, fakeSpeech, wav } from '../fakes/openai-audio.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { keyRecords } from '../harness/records.js';

const OPENAI_KEY = `sk-proj-${'Q7fK2mZp9xLw3RtY8vBn4cHd6JsGa1Ue'}`;
const MAX_UPLOAD = 200_000;

// POST /v1/audio/speech, /transcriptions and /translations with the openai SDK's own methods: admitted and reserved
// against budgets before the provider call, the audio passed through byte for byte, billed per character spoken or
// per second heard (or per token where the provider bills tokens), audited and recorded once.
describe('audio through the gateway', () => {
  let openaiFake: FakeOpenAI;
  let anthropicFake: FakeAnthropic;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;

  beforeAll(async () => {
    openaiFake = await startFakeOpenAI({ apiKey: 'sk-openai' });
    anthropicFake = await startFakeAnthropic({ apiKey: 'sk-ant' });
    gateway = await startInProcess({
      ingress: { maxUploadBytes: MAX_UPLOAD },
      routing: {
        providers: {
          openai: { type: 'openai', baseUrl: `${openaiFake.url}/v1`, apiKey: 'sk-openai' },
          anthropic: { type: 'anthropic', baseUrl: anthropicFake.url, apiKey: 'sk-ant' },
        },
      },
      guardrails: {
        policies: { baseline: { rules: [{ name: 'no-provider-keys', detectors: ['secret.openai_key'], direction: 'request', action: 'block' }] } },
        attach: { global: ['baseline'] },
      },
    });
  });
  afterAll(async () => {
    await gateway?.stop();
    await openaiFake?.close();
    await anthropicFake?.close();
  });

  async function client(budgetUsd?: number) {
    const { id, key } = await gateway.createKey({ name: 'speaker' });
    if (budgetUsd !== undefined) await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: budgetUsd, period: 'day' });
    return { id, openai: gateway.client(key) };
  }

  it('speaks: the exact bytes and media type the provider sent, billed per character, audited once', async () => {
    const { id, openai } = await client();
    const input = 'Hello from the gateway, spoken by tts-1.';
    const { data, response } = await openai.audio.speech.create({ model: 'openai/tts-1', voice: 'alloy', input }).withResponse();
    expect(Buffer.from(await data.arrayBuffer()).equals(fakeSpeech(input))).toBe(true);
    expect(response.headers.get('content-type')).toBe('audio/mpeg');
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/audio/speech', body: { model: 'tts-1', voice: 'alloy', input } });
    const wavAnswer = await openai.audio.speech.create({ model: 'openai/tts-1-hd', voice: 'nova', input: 'Zwölf Boxkämpfer', response_format: 'wav' });
    expect(wavAnswer.headers.get('content-type')).toBe('audio/wav');
    expect(Buffer.from(await wavAnswer.arrayBuffer()).equals(fakeSpeech('Zwölf Boxkämpfer', 'wav'))).toBe(true);

    const { usage, audit } = await keyRecords(gateway.adminUrl, id, 2, [response.headers.get('x-request-id')!]);
    expect(audit).toEqual([['request.completed']]);
    const byModel = Object.fromEntries(usage.map((row) => [row.provider_model, row]));
    // 40 characters at $15 a million; 16 characters (ö and ä are one each) at $30 a million.
    expect(byModel['tts-1']).toMatchObject({ endpoint: 'audio.speech', billed_unit: 'input_character', billed_quantity: 40, cost_usd: '0.000600000000' });
    expect(byModel['tts-1-hd']).toMatchObject({ billed_unit: 'input_character', billed_quantity: 16, cost_usd: '0.000480000000' });
  });

  it('transcribes a WAV as json, text and verbose_json with whisper-1, billed per second the provider reports', async () => {
    const { id, openai } = await client();
    const file = async () => toFile(wav(2.5), 'a.wav', { type: 'audio/wav' });
    const { data: asJson, response } = await openai.audio.transcriptions
      .create({ file: await file(), model: 'openai/whisper-1', language: 'en', temperature: 0.2 })
      .withResponse();
    expect(asJson.text).toBe(FAKE_TRANSCRIPT);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(openaiFake.requests.at(-1)).toMatchObject({
      path: '/v1/audio/transcriptions',
      body: { model: 'whisper-1', language: 'en', temperature: '0.2', file: { filename: 'a.wav', type: 'audio/wav', size: 80_044 } },
    });
    const asText = await openai.audio.transcriptions.create({ file: await file(), model: 'openai/whisper-1', response_format: 'text' });
    expect(asText).toBe(`${FAKE_TRANSCRIPT}\n`);
    const verbose = await openai.audio.transcriptions.create({
      file: await file(),
      model: 'openai/whisper-1',
      response_format: 'verbose_json',
      timestamp_granularities: ['word', 'segment'],
    });
    expect(verbose).toMatchObject({ task: 'transcribe', duration: 2.5, text: FAKE_TRANSCRIPT });
    expect(verbose.words).toHaveLength(FAKE_TRANSCRIPT.split(' ').length);
    expect(verbose.segments).toHaveLength(1);

    const { usage, audit } = await keyRecords(gateway.adminUrl, id, 3, [response.headers.get('x-request-id')!]);
    expect(audit).toEqual([['request.completed']]);
    // json and verbose_json: the usage's 3 (whole) seconds, as OpenAI reports; text: no usage, the WAV's 2.5 s from its header.
    expect(usage.map((row) => row.billed_quantity).sort()).toEqual([2.5, 3, 3]);
    for (const row of usage) expect(row).toMatchObject({ endpoint: 'audio.transcriptions', provider_model: 'whisper-1', billed_unit: 'audio_second' });
    // whisper-1 at $0.006 a minute, a started second billed whole: 3 s each.
    expect(usage.map((row) => row.cost_usd)).toEqual(['0.000300000000', '0.000300000000', '0.000300000000']);
  });

  it('bills gpt-4o-transcribe by the tokens it reports, and translates', async () => {
    const { id, openai } = await client();
    const transcript = await openai.audio.transcriptions.create({ file: await toFile(wav(1), 'b.wav'), model: 'openai/gpt-4o-transcribe' });
    expect(transcript.text).toBe(FAKE_TRANSCRIPT);
    const translation = await openai.audio.translations.create({ file: await toFile(wav(4), 'c.wav'), model: 'openai/whisper-1', prompt: 'a fox' });
    expect(translation.text).toBe(FAKE_TRANSLATION);
    expect(openaiFake.requests.at(-1)).toMatchObject({ path: '/v1/audio/translations', body: { model: 'whisper-1', prompt: 'a fox' } });
    // A format the provider refuses for the model: its 400 and its reason.
    const refused = await openai.audio.transcriptions
      .create({ file: await toFile(wav(1), 'b.wav'), model: 'openai/gpt-4o-transcribe', response_format: 'srt' })
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 400 });
    expect((refused as APIError).message).toContain("response_format 'srt' is not compatible with model 'gpt-4o-transcribe'");
    const { usage } = await keyRecords(gateway.adminUrl, id, 2);
    const byEndpoint = Object.fromEntries(usage.map((row) => [row.endpoint, row]));
    // 15 input and 11 output tokens at $2.50 and $10 a million.
    expect(byEndpoint['audio.transcriptions']).toMatchObject({ prompt_tokens: 15, completion_tokens: 11, cost_usd: '0.000147500000' });
    expect(byEndpoint['audio.translations']).toMatchObject({ billed_unit: 'audio_second', billed_quantity: 4, cost_usd: '0.000400000000' });
  });

  it('refuses before the provider: an exhausted budget, an upload over the limit, bad forms, a provider without audio, guarded text', async () => {
    const calls = openaiFake.requests.length;
    const poor = await client(0.0001);
    // 100 characters at $15 a million is $0.0015, over the $0.0001 budget.
    const dear = await poor.openai.audio.speech.create({ model: 'openai/tts-1', voice: 'alloy', input: 'x'.repeat(100) }).catch((e: unknown) => e);
    expect(dear).toMatchObject({ status: 402, code: 'budget_exceeded' });

    const { openai } = await client();
    const big = await openai.audio.transcriptions.create({ file: await toFile(wav(7), 'big.wav'), model: 'openai/whisper-1' }).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(OpenAI.APIError);
    expect(big).toMatchObject({ status: 413, type: 'invalid_request_error' });
    expect((big as APIError).message).toContain(`larger than this gateway accepts (${MAX_UPLOAD} bytes)`);
    // Refused before the key was looked at, yet recorded once.
    const { audit } = await keyRecords(gateway.adminUrl, '', 0, [(big as APIError).requestID!]);
    expect(audit).toEqual([['request.rejected']]);

    const key = (await gateway.createKey({ name: 'raw' })).key;
    const post = (body: string | FormData, headers: Record<string, string> = {}) =>
      fetch(`${gateway.baseURL}/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, ...headers }, body });
    const malformed = await post('--x\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper', { 'content-type': 'multipart/form-data; boundary=x' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { type: 'invalid_request_error', message: expect.stringContaining('multipart form') } });
    const noFile = new FormData();
    noFile.append('model', 'openai/whisper-1');
    expect(await (await post(noFile)).json()).toMatchObject({ error: { param: 'file', message: "Missing required parameter: 'file'." } });
    const badFormat = new FormData();
    badFormat.append('model', 'openai/whisper-1');
    badFormat.append('response_format', 'mp3');
    badFormat.append('file', new Blob([wav(1)]), 'a.wav');
    const refusedFormat = await post(badFormat);
    expect(refusedFormat.status).toBe(400);
    expect(await refusedFormat.json()).toMatchObject({ error: { param: 'response_format' } });
    badFormat.set('response_format', 'json');
    badFormat.set('temperature', 'warm');
    expect(await (await post(badFormat)).json()).toMatchObject({ error: { type: 'invalid_request_error', param: 'temperature' } });
    const asJson = await post(JSON.stringify({ model: 'openai/whisper-1' }), { 'content-type': 'application/json' });
    expect(asJson.status).toBe(400);
    expect(await asJson.json()).toMatchObject({ error: { message: expect.stringContaining('multipart/form-data') } });

    const anthropic = await openai.audio.speech.create({ model: 'anthropic/claude-haiku-4-5', voice: 'alloy', input: 'hi' }).catch((e: unknown) => e);
    expect(anthropic).toMatchObject({ status: 400 });
    expect((anthropic as APIError).message).toContain('has no speech endpoint');
    expect((anthropic as APIError).message).toContain('/v1/audio/speech');

    const guarded = await openai.audio.speech.create({ model: 'openai/tts-1', voice: 'alloy', input: `read ${OPENAI_KEY}` }).catch((e: unknown) => e);
    expect(guarded).toMatchObject({ status: 400, code: 'content_policy_violation' });
    expect((guarded as APIError).message).toContain('input holds secret.openai_key');
    const prompted = await openai.audio.transcriptions
      .create({ file: await toFile(wav(1), 'd.wav'), model: 'openai/whisper-1', prompt: `key ${OPENAI_KEY}` })
      .catch((e: unknown) => e);
    expect((prompted as APIError).message).toContain('prompt holds secret.openai_key');
    expect(openaiFake.requests.length).toBe(calls);
  });
});
