import Anthropic from '@anthropic-ai/sdk';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeAnthropic } from '../fakes/anthropic.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

type Schema = Record<string, unknown>;
type Responses = Record<string, { content?: Record<string, { schema: Schema }> }>;
type Document = { paths: Record<string, Record<string, { responses: Responses }>> };
/** One answer the gateway gave an SDK, as it went over the wire. */
type Exchange = { method: string; path: string; status: number; mediaType: string; body: Promise<string> };

/** The answer of the routes documented with their responses (schemas/responses.ts), that this test must see. */
const DESCRIBED = [
  'POST /v1/chat/completions',
  'POST /v1/completions',
  'POST /v1/embeddings',
  'POST /v1/responses',
  'POST /v1/messages',
  'GET /v1/models',
  'POST /v1/files',
  'GET /v1/files',
  'GET /v1/files/{id}',
  'GET /v1/files/{id}/content',
  'DELETE /v1/files/{id}',
  'POST /v1/batches',
  'GET /v1/batches',
  'GET /v1/batches/{id}',
  'POST /v1/batches/{id}/cancel',
];

/** The routes this test streams from, and those it has refused. */
const STREAMED = ['POST /v1/chat/completions', 'POST /v1/completions', 'POST /v1/responses', 'POST /v1/messages'];
const REFUSED = [
  'POST /v1/chat/completions',
  'POST /v1/responses',
  'POST /v1/messages',
  'POST /v1/embeddings',
  'GET /v1/models',
  'GET /v1/files/{id}',
  'GET /v1/batches/{id}',
];

// The OpenAPI document's responses checked against what the gateway serves: the official openai and Anthropic SDKs
// call it (fake providers behind), every answer is recorded off the wire, and each must be one the document describes
// for its route and status, its JSON valid against the documented schema (docs/routing.md, "The client API's OpenAPI
// document").
describe('the OpenAPI document’s responses, against real answers', () => {
  let openaiFake: FakeOpenAI;
  let anthropicFake: FakeAnthropic;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let openai: OpenAI;
  let anthropic: Anthropic;
  let key: string;
  const exchanges: Exchange[] = [];

  const recording: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    // The openai SDK fetches a data: URL to learn whether fetch takes forms; only the gateway's answers are kept.
    if (!url.protocol.startsWith('http')) return response;
    const mediaType = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
    exchanges.push({ method: (init?.method ?? 'GET').toUpperCase(), path: url.pathname, status: response.status, mediaType, body: response.clone().text() });
    return response;
  };

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
      ingress: { batches: { concurrency: 1, pollIntervalMs: 200 } },
    });
    key = (await gateway.createKey({ name: 'documented', team: 'documented' })).key;
    openai = new OpenAI({ baseURL: gateway.baseURL, apiKey: key, maxRetries: 0, fetch: recording });
    anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0, fetch: recording });
  });
  afterAll(async () => {
    await gateway?.stop();
    await openaiFake?.close();
    await anthropicFake?.close();
  });

  const question = [{ role: 'user' as const, content: 'What is in the document?' }];
  const refused = (call: Promise<unknown>) =>
    call.then(
      () => expect.fail('expected a refusal'),
      (err: unknown) => err,
    );

  it('answers every described route as documented, success and error, in each API’s shape', async () => {
    for (const model of ['openai/gpt-4o-mini', 'anthropic/claude-sonnet-4-5']) {
      await openai.chat.completions.create({ model, messages: question });
      for await (const _ of await openai.chat.completions.create({ model, messages: question, stream: true }));
      await openai.responses.create({ model, input: 'What is in the document?' });
      for await (const _ of await openai.responses.create({ model, input: 'What is in the document?', stream: true }));
      await anthropic.messages.create({ model, max_tokens: 100, messages: question });
      for await (const _ of await anthropic.messages.create({ model, max_tokens: 100, messages: question, stream: true }));
    }
    await openai.chat.completions.create({
      model: 'openai/gpt-4o-mini',
      messages: [{ role: 'user', content: 'What is the weather in Paris?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    await openai.completions.create({ model: 'openai/gpt-3.5-turbo-instruct', prompt: 'Once' });
    for await (const _ of await openai.completions.create({ model: 'openai/gpt-3.5-turbo-instruct', prompt: 'Once', stream: true }));
    await openai.embeddings.create({ model: 'openai/text-embedding-3-small', input: ['a', 'b'] });
    await openai.embeddings.create({ model: 'openai/text-embedding-3-small', input: 'a', encoding_format: 'base64' });
    await openai.models.list();

    const line = (id: string) =>
      JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body: { model: 'openai/gpt-4o-mini', messages: question } });
    const input = await openai.files.create({ file: await toFile(Buffer.from(`${line('a')}\n${line('b')}`), 'in.jsonl'), purpose: 'batch' });
    for await (const _ of openai.files.list());
    await openai.files.retrieve(input.id);
    await (await openai.files.content(input.id)).text();
    const done = await openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await eventually('the batch completed', async () => ((await openai.batches.retrieve(done.id)).status === 'completed' ? true : undefined));
    const release = openaiFake.holdAnswers();
    const held = await openai.batches.create({ input_file_id: input.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
    await openai.batches.cancel(held.id);
    release();
    for await (const _ of openai.batches.list());
    await openai.files.delete(input.id);

    // Errors: the gateway's own (validation, not found, no key) and a provider's relayed, on both families.
    await refused(openai.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: question, temperature: 5 }));
    await refused(openai.responses.create({ model: 'openai/fail-500', input: 'x' }));
    await refused(openai.embeddings.create({ model: 'openai/text-embedding-3-small', input: [] as string[], dimensions: -1 }));
    await refused(openai.files.retrieve('file_missing'));
    await refused(openai.batches.retrieve('batch_missing'));
    await refused(new OpenAI({ baseURL: gateway.baseURL, apiKey: 'sk-gw-unknown', maxRetries: 0, fetch: recording }).models.list());
    await refused(anthropic.messages.create({ model: 'anthropic/claude-sonnet-4-5', max_tokens: -1, messages: question }));
    await refused(anthropic.messages.create({ model: 'anthropic/fail-529', max_tokens: 10, messages: question }));

    const doc = (await (await fetch(gateway.baseURL.replace(/\/v1$/, '/openapi.json'))).json()) as Document;
    const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, validateFormats: false, allErrors: true });
    const compiled = new Map<Schema, ValidateFunction>();
    const seen = new Set<string>();
    for (const exchange of exchanges) {
      const [template, item] = Object.entries(doc.paths).find(([path]) => new RegExp(`^${path.replace(/\{\w+\}/g, '[^/]+')}$`).test(exchange.path)) ?? [];
      const route = `${exchange.method} ${template}`;
      const responses = item?.[exchange.method.toLowerCase()]?.responses;
      expect(responses, route).toBeDefined();
      const documented = responses![String(exchange.status)] ?? (exchange.status >= 400 ? responses!.default : undefined);
      const schema = documented?.content?.[exchange.mediaType]?.schema;
      expect(schema, `${route} ${exchange.status} ${exchange.mediaType}`).toBeDefined();
      if (exchange.mediaType === 'application/json') {
        const validate = compiled.get(schema!) ?? ajv.compile(schema!);
        compiled.set(schema!, validate);
        const body = JSON.parse(await exchange.body) as unknown;
        expect(validate(body), `${route} ${exchange.status}: ${ajv.errorsText(validate.errors)} in ${JSON.stringify(body)}`).toBe(true);
      }
      seen.add(`${route} ${exchange.status >= 400 ? 'error' : exchange.mediaType}`);
    }
    // Every route the document describes an answer for is one this test called, and the other way round.
    const documented = Object.entries(doc.paths).flatMap(([path, item]) =>
      Object.entries(item)
        .filter(([, op]) => op.responses['200']?.content)
        .map(([method]) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual([...DESCRIBED].sort());
    const successes = [...seen].filter((answer) => !answer.endsWith(' error'));
    for (const route of DESCRIBED)
      expect(
        successes.some((answer) => answer.startsWith(`${route} `)),
        route,
      ).toBe(true);
    for (const route of STREAMED) expect(seen).toContain(`${route} text/event-stream`);
    for (const route of REFUSED) expect(seen).toContain(`${route} error`);
  });
});
