import OpenAI from 'openai';
import type { ResponseInputItem, ResponseItem } from 'openai/resources/responses/responses';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startInProcess } from '../harness/gateway.js';

const MODEL = 'openai/gpt-4o-mini';
type Sent = {
  messages: { role: string; content: unknown; tool_calls?: { id: string; function: { name: string; arguments: string } }[]; tool_call_id?: string }[];
};

/** The Response's `store` (in OpenAI's answer, not in the SDK's type). */
const storeOf = (response: object) => (response as { store?: unknown }).store;

const textOf = (item: ResponseItem) => (item.type === 'message' ? item.content.map((part) => ('text' in part ? part.text : '')).join('') : `${item.type}`);

// Stored responses (previous_response_id, retrieve, delete, input items), with the official client, in embedded mode.
describe('stored responses of the Responses API', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let alpha: OpenAI;
  let alphaOther: OpenAI;
  let beta: OpenAI;
  let redacted: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: 'sk-provider' });
    gateway = await startInProcess({
      routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: 'sk-provider' } } },
      guardrails: {
        policies: { contacts: { rules: [{ name: 'emails', detectors: ['email'], direction: 'request', action: 'redact' }] } },
        attach: { teams: { privacy: ['contacts'] } },
      },
    });
    alpha = gateway.client((await gateway.createKey({ name: 'alpha-1', team: 'alpha' })).key);
    alphaOther = gateway.client((await gateway.createKey({ name: 'alpha-2', team: 'alpha' })).key);
    beta = gateway.client((await gateway.createKey({ name: 'beta', team: 'beta' })).key);
    redacted = gateway.client((await gateway.createKey({ name: 'privacy', team: 'privacy' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  it('continues a conversation from previous_response_id for any key of the same team, and retrieves it', async () => {
    const first = await alpha.responses.create({ model: MODEL, instructions: 'Be brief.', input: 'My name is Ada.' });
    expect(storeOf(first)).toBe(true);

    const second = await alphaOther.responses.create({ model: MODEL, previous_response_id: first.id, input: 'What is my name?' });
    expect(second.previous_response_id).toBe(first.id);
    // The provider was sent the earlier turn and its answer; instructions are not carried over, as at OpenAI.
    expect((fake.requests.at(-1)!.body as Sent).messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'My name is Ada.' }] },
      { role: 'assistant', content: 'Fake OpenAI reply to: My name is Ada.' },
      { role: 'user', content: 'What is my name?' },
    ]);

    const retrieved = await alpha.responses.retrieve(first.id);
    expect({ id: retrieved.id, text: retrieved.output_text, usage: retrieved.usage, created_at: retrieved.created_at, model: retrieved.model }).toEqual({
      id: first.id,
      text: first.output_text,
      usage: first.usage,
      created_at: first.created_at,
      model: first.model,
    });

    // Input items: the whole conversation before the answer, newest first, paged by the client's own cursor.
    const items: ResponseItem[] = [];
    for await (const item of alpha.responses.inputItems.list(second.id, { limit: 2 })) items.push(item);
    expect(items.map(textOf)).toEqual(['What is my name?', 'Fake OpenAI reply to: My name is Ada.', 'My name is Ada.']);
    expect(new Set(items.map((item) => item.id)).size).toBe(3);
    const ascending = await alpha.responses.inputItems.list(second.id, { order: 'asc' });
    expect(ascending.data.map(textOf)).toEqual(['My name is Ada.', 'Fake OpenAI reply to: My name is Ada.', 'What is my name?']);
  });

  it("hides a team's responses from another team's key: retrieve, continue, list and delete all answer 404", async () => {
    const mine = await alpha.responses.create({ model: MODEL, input: 'A secret plan.' });
    const calls = fake.requests.length;
    for (const attempt of [
      () => beta.responses.retrieve(mine.id),
      () => beta.responses.create({ model: MODEL, previous_response_id: mine.id, input: 'Tell me the plan.' }),
      () => beta.responses.inputItems.list(mine.id),
      () => beta.responses.delete(mine.id),
    ]) {
      const error = await attempt().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      expect((error as Error).message).not.toContain('secret');
    }
    expect(fake.requests.length).toBe(calls);
    // Still there for its own team.
    expect((await alphaOther.responses.retrieve(mine.id)).output_text).toBe('Fake OpenAI reply to: A secret plan.');
  });

  it('keeps nothing for store: false, and forgets a deleted response', async () => {
    const unstored = await alpha.responses.create({ model: MODEL, input: 'Ephemeral.', store: false });
    expect(storeOf(unstored)).toBe(false);
    await expect(alpha.responses.retrieve(unstored.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);

    const kept = await alpha.responses.create({ model: MODEL, input: 'Keep me a while.' });
    await alpha.responses.delete(kept.id);
    await expect(alpha.responses.retrieve(kept.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const again = await alpha.responses.create({ model: MODEL, previous_response_id: kept.id, input: 'Still there?' }).catch((e: unknown) => e);
    expect(again).toBeInstanceOf(OpenAI.NotFoundError);
    expect((again as InstanceType<typeof OpenAI.NotFoundError>).param).toBe('previous_response_id');
  });

  it('stores a streamed response, and continues tool calls of every type from it', async () => {
    const tools = [
      { type: 'custom' as const, name: 'apply_patch', description: 'Edit files.' },
      { type: 'function' as const, name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: false },
    ];
    const streamed = await alpha.responses.stream({ model: MODEL, input: 'apply_patch with {"input":"*** Begin Patch"}', tools }).finalResponse();
    const call = streamed.output[0];
    expect(call).toMatchObject({ type: 'custom_tool_call', name: 'apply_patch', input: '*** Begin Patch' });
    if (call?.type !== 'custom_tool_call') throw new Error('no custom tool call');

    const output: ResponseInputItem = { type: 'custom_tool_call_output', call_id: call.call_id, output: 'patched' };
    const next = await alpha.responses.create({ model: MODEL, previous_response_id: streamed.id, input: [output], tools });
    expect(next.output_text).toBe('Fake OpenAI reply to: apply_patch with {"input":"*** Begin Patch"} (tools said: patched)');
    const sent = (fake.requests.at(-1)!.body as Sent).messages;
    expect(sent.map((m) => m.role)).toEqual(['user', 'assistant', 'tool']);
    expect(sent[1]?.tool_calls?.[0]?.function).toEqual({ name: 'apply_patch', arguments: '{"input":"*** Begin Patch"}' });
    expect(sent[2]?.tool_call_id).toBe(call.call_id);

    const items = await alpha.responses.inputItems.list(next.id, { order: 'asc' });
    expect(items.data.map((item) => item.type)).toEqual(['message', 'custom_tool_call', 'custom_tool_call_output']);
  });

  it('stores the conversation as the provider saw it, redactions made', async () => {
    const first = await redacted.responses.create({ model: MODEL, input: 'Write to ada@example.com please.' });
    const items = await redacted.responses.inputItems.list(first.id);
    expect(JSON.stringify(items.data)).not.toContain('ada@example.com');
    expect(textOf(items.data[0]!)).toBe('Write to [EMAIL_1] please.');
  });
});

describe('with stored responses turned off', () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let openai: OpenAI;

  beforeAll(async () => {
    gateway = await startInProcess({ routing: { responses: { store: false } } });
    openai = gateway.client((await gateway.createKey({ name: 'no-store' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('answers store: false, keeps nothing, and refuses previous_response_id with a clear error', async () => {
    const response = await openai.responses.create({ model: 'mock/echo', input: 'Hello' });
    expect(storeOf(response)).toBe(false);
    await expect(openai.responses.retrieve(response.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const error = await openai.responses.create({ model: 'mock/echo', previous_response_id: response.id, input: 'Again' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('previous_response_id');
    expect((error as Error).message).toContain('routing.responses.store is off');
  });
});
