import OpenAI, { AzureOpenAI, toFile } from 'openai';
import { FAKE_PNG } from './openai-images.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAzure, type FakeAzure } from './azure.js';

const KEY = 'azure-fake-key';
const API_VERSION = '2024-10-21';

// The fake must be something the official SDK can call and parse, streaming included;
// otherwise tests that use it prove nothing.
describe('fake Azure OpenAI, checked with AzureOpenAI from the openai SDK', () => {
  let fake: FakeAzure;
  const client = (deployment: string, apiKey = KEY) => new AzureOpenAI({ endpoint: fake.url, apiKey, apiVersion: API_VERSION, deployment, maxRetries: 0 });

  beforeAll(async () => {
    fake = await startFakeAzure({ apiKey: KEY, deployments: ['my-gpt4o', 'my-embeddings', 'my-image'] });
  });
  afterAll(() => fake.close());

  it('answers a chat completion on the deployment route', async () => {
    const completion = await client('my-gpt4o').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'ping' }] });
    expect(completion.object).toBe('chat.completion');
    expect(completion.choices[0]?.message.content).toBe('Fake Azure OpenAI reply to: ping');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);
    expect(fake.requests.at(-1)).toMatchObject({ deployment: 'my-gpt4o', operation: 'chat/completions', apiVersion: API_VERSION, apiKey: KEY });
  });

  it('streams chunks the SDK parses, prompt filter results first and usage last', async () => {
    const stream = await client('my-gpt4o').chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks[0]).toMatchObject({ choices: [], object: '', prompt_filter_results: [{ prompt_index: 0 }] });
    expect(chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('')).toBe('Fake Azure OpenAI reply to: stream please');
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(7);
  });

  it("embeds, as floats and in the SDK's default base64", async () => {
    const azure = client('my-embeddings');
    const floats = await azure.embeddings.create({ model: 'text-embedding-3-small', input: ['hello world', 'bye'], dimensions: 64, encoding_format: 'float' });
    expect(floats.data).toHaveLength(2);
    expect(floats.data[0]?.embedding).toHaveLength(64);
    // Without encoding_format the SDK asks for base64 and decodes it.
    const decoded = await azure.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world', dimensions: 64 });
    expect(fake.requests.at(-1)?.body.encoding_format).toBe('base64');
    expect(decoded.data[0]?.embedding.map((x) => x.toFixed(5))).toEqual(floats.data[0]?.embedding.map((x) => x.toFixed(5)));
  });

  it('refuses a prompt with a content filter error the SDK exposes', async () => {
    const err = await client('my-gpt4o')
      .chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'something forbidden' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const error = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(error.code).toBe('content_filter');
    expect(error.error).toMatchObject({ innererror: { code: 'ResponsibleAIPolicyViolation', content_filter_result: { violence: { filtered: true } } } });
    await expect(client('forbidden-deployment').chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject(
      {
        status: 400,
        code: 'content_filter',
      },
    );
  });

  it('fails in the shapes the SDK maps to its error classes', async () => {
    const chat = (deployment: string, apiKey = KEY) =>
      client(deployment, apiKey).chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    await expect(chat('my-gpt4o', 'wrong-key')).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    await expect(chat('no-such-deployment')).rejects.toMatchObject({ status: 404, code: 'DeploymentNotFound' });
    const limited = await chat('fail-429').catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(OpenAI.RateLimitError);
    expect((limited as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after-ms')).toBe('2000');
    await expect(chat('fail-500')).rejects.toBeInstanceOf(OpenAI.InternalServerError);
  });

  it('is not found without an api-version, as Azure routes on it', async () => {
    const response = await fetch(`${fake.url}/openai/deployments/my-gpt4o/chat/completions`, {
      method: 'POST',
      headers: { 'api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'x' }] }),
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({ error: { code: '404', message: 'Resource not found' } });
  });
  it("makes and edits images at the deployment's images paths, as the SDK sends and parses them", async () => {
    const made = await client('my-image').images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse' });
    expect(made).toMatchObject({ quality: 'medium', size: '1024x1024' });
    expect(fake.requests.at(-1)).toMatchObject({ deployment: 'my-image', operation: 'images/generations', body: { prompt: 'a lighthouse' } });
    const png = await toFile(Buffer.from(FAKE_PNG, 'base64'), 'a.png', { type: 'image/png' });
    const edited = await client('my-image').images.edit({ model: 'gpt-image-1', prompt: 'add a hat', image: [png, png] });
    expect(edited.data?.[0]?.b64_json).toBe(FAKE_PNG);
    expect(fake.requests.at(-1)).toMatchObject({
      operation: 'images/edits',
      body: { prompt: 'add a hat', 'image[]': [{ filename: 'a.png' }, { filename: 'a.png' }] },
    });
  });
  it("answers the v1 Responses API with a web search, as the SDK reads it pointed at Azure's /openai/v1/", async () => {
    const v1 = new OpenAI({ baseURL: `${fake.url}/openai/v1/`, apiKey: 'unused', defaultHeaders: { 'api-key': KEY }, maxRetries: 0 });
    const response = await v1.responses.create({ model: 'my-gpt4o', input: 'Oslo news?', tools: [{ type: 'web_search' }] });
    expect(response.output.map((item) => item.type)).toEqual(['web_search_call', 'message']);
    expect(fake.requests.at(-1)).toMatchObject({ deployment: 'my-gpt4o', operation: 'responses', apiKey: KEY });
    const unknown = await v1.responses.create({ model: 'nope', input: 'hi' }).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
  });
});
