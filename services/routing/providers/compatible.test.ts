import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../kit/errors.js';
import type { ChatChunk, ChatRequest } from '../canonical.js';
import { chunksFrom, nineChars, QUIRKS, requestFor } from './compatible.js';
import { openAIErrorClassifier } from './http.js';

const ask = (fields: Partial<ChatRequest> = {}): ChatRequest => ({ model: 'some-model', messages: [{ role: 'user', content: 'hi' }], ...fields });

const refusal = (type: string, request: ChatRequest) => {
  try {
    requestFor(type, type, request);
  } catch (err) {
    return err as GatewayError;
  }
  return undefined;
};

// Every row of the README's table of differences (compatibleTable) is one of these rules; each is checked here.
describe.each(Object.entries(QUIRKS))('the request %s gets', (type, quirks) => {
  it.each(quirks.cannot ?? [])("refuses '$param' when set, and leaves out a value that asks for nothing", (rule) => {
    const model = rule.models?.example ?? 'some-model';
    const error = refusal(type, ask({ model, [rule.param]: rule.param === 'stop' ? ['x'] : rule.param === 'logit_bias' ? { 50256: -100 } : 2 }));
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({
      code: 'invalid_request',
      status: 400,
      param: rule.param,
      message: `Provider ${type} cannot take '${rule.param}': ${rule.why}.`,
    });
    if (rule.neutral !== undefined) expect(requestFor(type, type, ask({ model, [rule.param]: rule.neutral }))).not.toHaveProperty(rule.param);
    if (rule.models) expect(refusal(type, ask({ model: 'other-model', [rule.param]: 2 }))).toBeUndefined();
  });

  it('renames, leaves out and strips what the provider names otherwise or refuses', () => {
    const sent = requestFor(type, type, {
      ...ask(Object.fromEntries([...Object.keys(quirks.renames ?? {}), ...(quirks.drops ?? [])].map((param) => [param, 3]))),
      messages: [
        { role: 'user', content: 'hi', name: 'ann' },
        { role: 'assistant', content: 'ok', reasoning_content: 'hmm' } as ChatRequest['messages'][number],
      ],
    });
    for (const to of Object.values(quirks.renames ?? {})) expect(sent).toMatchObject({ [to]: 3 });
    for (const param of [...Object.keys(quirks.renames ?? {}), ...(quirks.drops ?? [])]) expect(sent).not.toHaveProperty(param);
    for (const field of quirks.messageFields ?? []) for (const message of sent.messages) expect(message).not.toHaveProperty(field);
  });
});

describe('OpenAI-compatible quirks', () => {
  it("gives Mistral a call's id and its result's the same 9 letters and digits", () => {
    const id = 'call_Zx81QmT4v0bLr5Yd2GcN';
    const sent = requestFor('mistral', 'mistral', {
      ...ask(),
      messages: [
        { role: 'assistant', content: null, tool_calls: [{ id, type: 'function', function: { name: 'f', arguments: '{}' } }] },
        { role: 'tool', tool_call_id: id, content: 'done' },
      ],
    });
    const [call, result] = sent.messages as unknown as [{ tool_calls: { id: string }[] }, { tool_call_id: string }];
    expect(call.tool_calls[0]?.id).toMatch(/^[A-Za-z0-9]{9}$/);
    expect(result.tool_call_id).toBe(call.tool_calls[0]?.id);
    expect(nineChars('abcDEF123')).toBe('abcDEF123');
  });

  it('moves usage on the finishing chunk (or in x_groq) to a last chunk of its own, in OpenAI fields', async () => {
    const usage = { prompt_tokens: 10, completion_tokens: 2, total_tokens: 16, completion_tokens_details: { reasoning_tokens: 4 }, prompt_cache_hit_tokens: 8 };
    async function* provider(): AsyncGenerator<ChatChunk> {
      yield { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] };
      yield { id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }], x_groq: { usage } };
    }
    const chunks: ChatChunk[] = [];
    for await (const chunk of chunksFrom('groq', provider())) chunks.push(chunk);
    expect(chunks.map((c) => [c.choices.length, c.usage ?? null])).toEqual([
      [1, null],
      [1, null],
      [0, { ...usage, completion_tokens: 6, prompt_tokens_details: { cached_tokens: 8 } }],
    ]);
  });

  it("reads each provider's error body", () => {
    const classify = openAIErrorClassifier('p');
    const bodies: [number, unknown, string][] = [
      [
        422,
        { object: 'error', message: { detail: [{ loc: ['body', 'seed'], msg: 'Extra inputs are not permitted' }] }, type: 'invalid_request_error' },
        'body.seed: Extra inputs are not permitted',
      ],
      [
        400,
        { object: 'error', message: 'Tool call id was x but must be a-z', type: 'invalid_request_error', param: null, code: null },
        'Tool call id was x but must be a-z',
      ],
      [400, { object: 'error', message: 'bad guided_json', type: 'BadRequestError', param: null, code: 400 }, 'bad guided_json'],
      [
        400,
        { code: 'Client specified an invalid argument', error: 'Argument not supported on this model: stop' },
        'Argument not supported on this model: stop',
      ],
      [400, { error: { code: 400, message: 'No endpoints found', metadata: {} } }, 'No endpoints found'],
    ];
    for (const [status, body, said] of bodies) {
      const error = classify(status, JSON.stringify(body), {});
      expect(error).toMatchObject({ kind: 'bad_request', status });
      expect(error.message).toBe(`Provider p rejected the request (HTTP ${status}): ${said}`);
    }
  });
});
