import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';

const MODEL = 'openai/gpt-4o-mini';
const TOOLS = [{ type: 'function' as const, name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false }];
type Sent = {
  messages: { role: string; content: unknown; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string }[];
};

// item_reference input items, resolved from the stored responses of the caller's tenant, with the official client.
describe('item references of the Responses API', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let alpha: OpenAI;
  let alphaOther: OpenAI;
  let beta: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
    gateway = await startInProcess({ routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-provider' } } } });
    alpha = gateway.client((await gateway.createKey({ name: 'alpha-1', team: 'alpha' })).key);
    alphaOther = gateway.client((await gateway.createKey({ name: 'alpha-2', team: 'alpha' })).key);
    beta = gateway.client((await gateway.createKey({ name: 'beta', team: 'beta' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  /** A stored response whose output is a function call: the call, and the id of the user message it recorded as input. */
  async function storedCall(client: OpenAI) {
    const response = await client.responses.create({ model: MODEL, input: 'get_weather with {"city":"Oslo"}', tools: TOOLS });
    const call = response.output[0];
    if (call?.type !== 'function_call') throw new Error(`expected a function call, got ${call?.type}`);
    const [question] = (await client.responses.inputItems.list(response.id)).data;
    return { call, questionId: question!.id };
  }

  it('sends the stored items a reference names, to any key of the same team, without previous_response_id', async () => {
    const { call, questionId } = await storedCall(alpha);
    const next = await alphaOther.responses.create({
      model: MODEL,
      tools: TOOLS,
      input: [
        { type: 'item_reference', id: questionId },
        { type: 'item_reference', id: call.id! },
        { type: 'function_call_output', call_id: call.call_id, output: 'rainy' },
      ],
    });
    expect(next.output_text).toBe('Fake OpenAI reply to: get_weather with {"city":"Oslo"} (tools said: rainy)');
    const sent = (fake.requests.at(-1)!.body as Sent).messages;
    expect(sent.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(sent[1]?.tool_calls).toEqual([{ id: call.call_id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }]);
    // The referenced items are recorded as the new response's input, as the provider was sent them.
    const items = await alpha.responses.inputItems.list(next.id, { order: 'asc' });
    expect(items.data.map((item) => item.type)).toEqual(['message', 'function_call', 'function_call_output']);
  });

  it("refuses another team's item and an unknown id alike: 404 naming the id, nothing sent to the provider", async () => {
    const { call } = await storedCall(alpha);
    const calls = fake.requests.length;
    for (const id of [call.id!, 'fc_never_stored']) {
      const error = await beta.responses.create({ model: MODEL, tools: TOOLS, input: [{ type: 'item_reference', id }] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as InstanceType<typeof OpenAI.NotFoundError>).param).toBe('input');
      expect((error as Error).message).toContain(`Item with id '${id}' not found.`);
      expect((error as Error).message).not.toContain('Oslo');
    }
    expect(fake.requests.length).toBe(calls);
    // The item is still its own team's to use.
    const mine = await alpha.responses.create({ model: MODEL, input: [{ type: 'item_reference', id: call.id! }], tools: TOOLS });
    expect(mine.status).toBe('completed');
  });

  it('refuses a reference without an id as a bad request', async () => {
    const error = await alpha.responses
      .create({ model: MODEL, input: [{ type: 'item_reference' } as unknown as { type: 'item_reference'; id: string }] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as Error).message).toContain('id');
  });
});

describe('item references with stored responses turned off', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let openai: OpenAI;

  beforeAll(async () => {
    gateway = await startInProcess({ routing: { responses: { store: false } } });
    openai = gateway.client((await gateway.createKey({ name: 'no-store' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('refuses an item_reference with a clear error naming the item', async () => {
    const error = await openai.responses.create({ model: 'mock/echo', input: [{ type: 'item_reference', id: 'msg_123' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('input');
    expect((error as Error).message).toContain("routing.responses.store is off); send item 'msg_123' itself");
  });
});
