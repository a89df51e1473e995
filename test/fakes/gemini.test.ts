import { createPrivateKey, sign } from 'node:crypto';
import { ApiError, GoogleGenAI, Type, type GoogleGenAIOptions } from '@google/genai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestServiceAccount, startFakeGemini, type FakeGemini, type TestServiceAccount } from './gemini.js';

// The fake must be something the official SDK can call and parse, streaming included;
// otherwise tests that use it prove nothing.
describe('fake Gemini provider, checked with the official @google/genai SDK', () => {
  const apiKey = 'fake-gemini-key';
  let account: TestServiceAccount;
  let fake: FakeGemini;
  let client: GoogleGenAI;

  beforeAll(async () => {
    account = createTestServiceAccount();
    fake = await startFakeGemini({ apiKey, serviceAccountPublicKey: account.publicKey });
    client = new GoogleGenAI({ apiKey, httpOptions: { baseUrl: fake.url } });
  });
  afterAll(() => fake.close());

  it('answers generateContent the SDK parses', async () => {
    const response = await client.models.generateContent({ model: 'gemini-2.5-flash', contents: 'ping', config: { systemInstruction: 'Be brief.' } });
    expect(response.text).toBe('Fake Gemini reply to: ping');
    expect(response.candidates?.[0]?.finishReason).toBe('STOP');
    expect(response.usageMetadata?.totalTokenCount).toBeGreaterThan(0);
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1beta/models/gemini-2.5-flash:generateContent');
    expect(sent.headers['x-goog-api-key']).toBe(apiKey);
    // The key may also come as ?key=, as the REST reference allows.
    const byQuery = await fetch(`${fake.url}/v1beta/models/gemini-2.5-flash:generateContent?key=${apiKey}`, {
      method: 'POST',
      body: JSON.stringify({ contents: [{ parts: [{ text: 'q' }] }] }),
    });
    expect(byQuery.status).toBe(200);
  });

  it('sends thought summaries asked for with thinkingConfig, and refuses a budget out of the model range', async () => {
    const ask = (thinkingConfig: { thinkingBudget: number; includeThoughts?: boolean }) =>
      client.models.generateContent({ model: 'gemini-2.5-flash', contents: 'ping', config: { thinkingConfig } });
    const thought = await ask({ thinkingBudget: 2048, includeThoughts: true });
    expect(thought.candidates?.[0]?.content?.parts?.[0]).toEqual({ text: 'Considering the question.', thought: true });
    expect(thought.usageMetadata?.thoughtsTokenCount).toBe(7);
    const silent = await ask({ thinkingBudget: 0 });
    expect(silent.candidates?.[0]?.content?.parts).toEqual([{ text: 'Fake Gemini reply to: ping' }]);
    const refused = await ask({ thinkingBudget: 30_000 }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApiError);
    expect((refused as ApiError).message).toContain('thinking budget 30000 is invalid');
  });

  it('streams with alt=sse, events the SDK assembles', async () => {
    const stream = await client.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'stream please' });
    let text = '';
    let finish: string | undefined;
    let total: number | undefined;
    for await (const chunk of stream) {
      text += chunk.text ?? '';
      finish = chunk.candidates?.[0]?.finishReason ?? finish;
      total = chunk.usageMetadata?.totalTokenCount ?? total;
    }
    expect(text).toBe('Fake Gemini reply to: stream please');
    expect(finish).toBe('STOP');
    expect(total).toBeGreaterThan(0);
    expect(fake.requests.at(-1)?.query.alt).toBe('sse');
  });

  it('calls a declared function when asked about the weather', async () => {
    const response = await client.models.generateContent({
      model: 'gemini-2.5-flash',
      contents: 'What is the weather in Paris?',
      config: {
        tools: [
          {
            functionDeclarations: [
              {
                name: 'get_weather',
                description: 'Weather by city',
                parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] },
              },
            ],
          },
        ],
      },
    });
    expect(response.functionCalls).toEqual([expect.objectContaining({ name: 'get_weather', args: { city: 'Paris' } })]);
  });

  it('embeds text (the SDK uses batchEmbedContents)', async () => {
    const response = await client.models.embedContent({ model: 'gemini-embedding-001', contents: ['one', 'two'], config: { outputDimensionality: 8 } });
    expect(response.embeddings).toHaveLength(2);
    expect(response.embeddings?.[0]?.values).toHaveLength(8);
    expect(fake.requests.at(-1)?.path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
  });

  it('counts tokens as generateContent would report its prompt', async () => {
    const counted = await client.models.countTokens({ model: 'gemini-2.5-flash', contents: 'count me' });
    const answered = await client.models.generateContent({ model: 'gemini-2.5-flash', contents: 'count me' });
    expect(counted.totalTokens).toBe(answered.usageMetadata?.promptTokenCount);
    expect(fake.requests.at(-2)?.path).toBe('/v1beta/models/gemini-2.5-flash:countTokens');
  });

  it('fails with Google error bodies the SDK turns into ApiError', async () => {
    const failed = (model: string, c = client) =>
      c.models.generateContent({ model, contents: 'x' }).then(
        () => undefined,
        (err: unknown) => err,
      );
    const rateLimited = await failed('fail-429');
    expect(rateLimited).toBeInstanceOf(ApiError);
    expect((rateLimited as ApiError).status).toBe(429);
    expect(JSON.parse((rateLimited as ApiError).message)).toMatchObject({ error: { code: 429, status: 'RESOURCE_EXHAUSTED' } });
    expect(((await failed('fail-500')) as ApiError).status).toBe(500);
    expect(((await failed('too-long')) as ApiError).message).toContain('exceeds the maximum number of tokens');
    const wrongKey = new GoogleGenAI({ apiKey: 'wrong', httpOptions: { baseUrl: fake.url } });
    const refused = await failed('gemini-2.5-flash', wrongKey);
    expect((refused as ApiError).status).toBe(400);
    expect((refused as ApiError).message).toContain('API_KEY_INVALID');
  });

  it('serves the Vertex AI path to the SDK in Vertex mode, with a token from its JWT bearer endpoint', async () => {
    // An RS256 assertion made here, independently of the gateway's own code.
    const key = JSON.parse(account.keyJson(fake.tokenUrl)) as { client_email: string; private_key: string };
    const now = Math.floor(Date.now() / 1000);
    const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode({ iss: key.client_email, scope: 'https://www.googleapis.com/auth/cloud-platform', aud: fake.tokenUrl, iat: now, exp: now + 3600 })}`;
    const assertion = `${input}.${sign('sha256', Buffer.from(input), createPrivateKey(key.private_key)).toString('base64url')}`;
    const answer = await fetch(fake.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }),
    });
    const { access_token: token } = (await answer.json()) as { access_token: string };
    const forged = await fetch(fake.tokenUrl, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: `${input}.AAAA` }),
    });
    expect(forged.status).toBe(400);

    // The SDK asks its auth client for headers; this one hands over the token the fake issued.
    const authClient = { getRequestHeaders: async () => new Headers({ authorization: `Bearer ${token}` }) };
    type AuthClient = NonNullable<GoogleGenAIOptions['googleAuthOptions']>['authClient'];
    const vertex = new GoogleGenAI({
      vertexai: true,
      project: 'fake-project',
      location: 'us-central1',
      googleAuthOptions: { authClient: authClient as unknown as AuthClient },
      httpOptions: { baseUrl: fake.url, apiVersion: 'v1' },
    });
    const response = await vertex.models.generateContent({ model: 'gemini-2.5-flash', contents: 'hello vertex' });
    expect(response.text).toBe('Fake Gemini reply to: hello vertex');
    expect(fake.requests.at(-1)?.path).toBe('/v1/projects/fake-project/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent');
    let streamed = '';
    for await (const chunk of await vertex.models.generateContentStream({ model: 'gemini-2.5-flash', contents: 'stream vertex' })) streamed += chunk.text ?? '';
    expect(streamed).toBe('Fake Gemini reply to: stream vertex');
  });
});
