import { createServer, type Server } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../kit/errors.js';
import type { ChatChunk, ChatResponse } from '../canonical.js';
import { anthropicErrorBody, anthropicErrorType } from '../../kit/api-errors.js';
import { messagesFormat } from './messages.js';
import type { OutEvent } from './types.js';

const base = { model: 'claude-test', max_tokens: 100 };

function invalid(body: unknown): GatewayError {
  try {
    messagesFormat.parse(body);
  } catch (err) {
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe('invalid_request');
    return err as GatewayError;
  }
  throw new Error('parse accepted an invalid body');
}

async function* from<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

async function collect(events: AsyncIterable<OutEvent>): Promise<OutEvent[]> {
  const out: OutEvent[] = [];
  for await (const e of events) out.push(e);
  return out;
}

const chunkBase = { id: 'chatcmpl-abc', object: 'chat.completion.chunk' as const, created: 1, model: 'gpt-4o' };
const chunk = (delta: ChatChunk['choices'][number]['delta'], finish: ChatChunk['choices'][number]['finish_reason'] = null): ChatChunk => ({
  ...chunkBase,
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const usage = { prompt_tokens: 150, completion_tokens: 9, total_tokens: 159, prompt_tokens_details: { cached_tokens: 100 }, cache_creation_input_tokens: 20 };
const toolStream: ChatChunk[] = [
  chunk({ role: 'assistant', content: '' }),
  chunk({ content: 'Let me ' }),
  chunk({ content: 'check.' }),
  chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] }),
  chunk({ tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }),
  chunk({}, 'tool_calls'),
  { ...chunkBase, choices: [], usage },
];
const chatResult: ChatResponse = {
  id: 'chatcmpl-xyz',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o',
  choices: [
    {
      index: 0,
      message: {
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      finish_reason: 'tool_calls',
      logprobs: null,
    },
  ],
  usage,
};

describe('messages format: parse', () => {
  it('rejects invalid bodies with a clear message and param', () => {
    expect(invalid('nope').param).toBe('body');
    expect(invalid({ messages: [{ role: 'user', content: 'x' }], max_tokens: 5 }).param).toBe('model');
    expect(invalid({ ...base, messages: [] }).param).toBe('messages');
    const noMax = invalid({ model: 'm', messages: [{ role: 'user', content: 'x' }] });
    expect(noMax.param).toBe('max_tokens');
    expect(noMax.message).toMatch(/max_tokens.*required/);
    expect(invalid({ ...base, max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }).param).toBe('max_tokens');
    expect(invalid({ ...base, max_tokens: 1.5, messages: [{ role: 'user', content: 'x' }] }).param).toBe('max_tokens');
    expect(invalid({ ...base, messages: [{ role: 'robot', content: 'x' }] }).param).toBe('messages.0.role');
    expect(invalid({ ...base, messages: [{ role: 'user', content: [{ type: 'audio' }] }] }).param).toBe('messages.0.content.0.type');
    expect(invalid({ ...base, messages: [{ role: 'user', content: 'x' }], temperature: 1.5 }).param).toBe('temperature');
    expect(invalid({ ...base, messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] }).param).toBe(
      'tools.0.type',
    );
    expect(invalid({ ...base, messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'tool' } }).param).toBe('tool_choice');
  });

  it('translates system, text, images, documents and sampling fields, keeping cache_control', () => {
    const { chat } = messagesFormat.parse({
      ...base,
      system: [{ type: 'text', text: 'Long reference.', cache_control: { type: 'ephemeral' } }],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look:', cache_control: { type: 'ephemeral', ttl: '1h' } },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
            { type: 'document', title: 'a.pdf', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBERi0=' } },
          ],
        },
      ],
      temperature: 0.5,
      top_p: 0.9,
      top_k: 40,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
    });
    expect(chat).toEqual({
      model: 'claude-test',
      max_tokens: 100,
      temperature: 0.5,
      top_p: 0.9,
      stop: ['END'],
      user: 'u-1',
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Long reference.', cache_control: { type: 'ephemeral' } }] },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look:', cache_control: { type: 'ephemeral', ttl: '1h' } },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=' } },
            { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
            { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0=' } },
          ],
        },
      ],
    });
  });

  it('translates tool use and tool results, tools and tool_choice, and asks for usage on streams', () => {
    const { chat } = messagesFormat.parse({
      ...base,
      system: 'Be brief.',
      stream: true,
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      output_config: { format: { type: 'json_schema', schema: { type: 'object' } } },
      messages: [
        { role: 'user', content: 'weather?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'hmm', signature: 'sig' },
            { type: 'text', text: 'Checking.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'Sunny' },
            {
              type: 'tool_result',
              tool_use_id: 'toolu_2',
              is_error: true,
              content: [
                { type: 'text', text: 'unknown city' },
                { type: 'image', source: { type: 'url', url: 'https://x/y.png' } },
              ],
            },
            { type: 'text', text: 'Thanks' },
          ],
        },
      ],
    });
    expect(chat.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'weather?' },
      {
        role: 'assistant',
        content: 'Checking.',
        thinking_blocks: [{ type: 'thinking', thinking: 'hmm', signature: 'sig' }],
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
          { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'Sunny' },
      { role: 'tool', tool_call_id: 'toolu_2', content: 'Error: unknown city' },
      {
        role: 'user',
        content: [
          { type: 'image_url', image_url: { url: 'https://x/y.png' } },
          { type: 'text', text: 'Thanks' },
        ],
      },
    ]);
    expect(chat.tools).toEqual([
      { type: 'function', function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
    ]);
    expect(chat).toMatchObject({ tool_choice: 'required', parallel_tool_calls: false, stream: true, stream_options: { include_usage: true } });
    expect(chat.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'output', schema: { type: 'object' }, strict: true } });
    expect(messagesFormat.parse({ ...base, messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'tool', name: 'f' } }).chat.tool_choice).toEqual({
      type: 'function',
      function: { name: 'f' },
    });
    expect(messagesFormat.parse({ ...base, messages: [{ role: 'user', content: 'x' }], tool_choice: { type: 'none' } }).chat.tool_choice).toBe('none');
  });
});

describe('messages format: response, stream and errors', () => {
  const translation = messagesFormat.parse({ ...base, messages: [{ role: 'user', content: 'x' }] });

  it('builds an Anthropic message from a chat response', () => {
    expect(translation.response(chatResult)).toEqual({
      id: 'msg_xyz',
      type: 'message',
      role: 'assistant',
      model: 'claude-test', // as the client named it, not as the provider answered (docs/routing.md#thinking)
      content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
      ],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 30, output_tokens: 9, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 },
    });
    const finish = (finish_reason: 'stop' | 'length' | 'content_filter') =>
      (
        translation.response({ ...chatResult, choices: [{ index: 0, message: { role: 'assistant', content: 'x' }, finish_reason, logprobs: null }] }) as {
          stop_reason: string;
        }
      ).stop_reason;
    expect([finish('stop'), finish('length'), finish('content_filter')]).toEqual(['end_turn', 'max_tokens', 'refusal']);
  });

  it('passes on the cache writes by TTL and the thinking count a provider reported', () => {
    const detailed = {
      ...usage,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 20 },
      completion_tokens_details: { reasoning_tokens: 4 },
    };
    expect((translation.response({ ...chatResult, usage: detailed }) as { usage: unknown }).usage).toEqual({
      input_tokens: 30,
      output_tokens: 9,
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 20,
      cache_creation: { ephemeral_5m_input_tokens: 0, ephemeral_1h_input_tokens: 20 },
      output_tokens_details: { thinking_tokens: 4 },
    });
  });

  it('streams the exact Anthropic event sequence for text, a tool call and usage', async () => {
    const events = await collect(translation.stream(from(toolStream)));
    const parsed = events.map((e) => ({ event: e.event, data: JSON.parse(e.data) as Record<string, unknown> }));
    expect(parsed.every((e) => e.event === e.data.type)).toBe(true);
    expect(parsed.map((e) => e.data)).toEqual([
      {
        type: 'message_start',
        message: {
          id: 'msg_abc',
          type: 'message',
          role: 'assistant',
          model: 'claude-test',
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        },
      },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Let me ' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'check.' } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'call_1', name: 'get_weather', input: {} } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city":' } },
      { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '"Paris"}' } },
      { type: 'content_block_stop', index: 1 },
      {
        type: 'message_delta',
        delta: { stop_reason: 'tool_use', stop_sequence: null },
        usage: { input_tokens: 30, output_tokens: 9, cache_creation_input_tokens: 20, cache_read_input_tokens: 100 },
      },
      { type: 'message_stop' },
    ]);
    const deltas = parsed.map((e) => e.data.delta as { text?: string; partial_json?: string } | undefined);
    expect(deltas.map((d) => d?.text ?? '').join('')).toBe('Let me check.');
    expect(JSON.parse(deltas.map((d) => d?.partial_json ?? '').join(''))).toEqual({ city: 'Paris' });
  });

  it('still frames an empty stream as a whole message', async () => {
    const events = await collect(translation.stream(from<ChatChunk>([])));
    expect(events.map((e) => e.event)).toEqual(['message_start', 'message_delta', 'message_stop']);
  });

  it('maps gateway errors to Anthropic error types and bodies', () => {
    const statuses = [400, 401, 402, 403, 404, 413, 415, 429, 500, 502, 504, 529];
    expect(statuses.map(anthropicErrorType)).toEqual([
      'invalid_request_error',
      'authentication_error',
      'billing_error',
      'permission_error',
      'not_found_error',
      'request_too_large',
      'invalid_request_error',
      'rate_limit_error',
      'api_error',
      'api_error',
      'timeout_error',
      'overloaded_error',
    ]);
    const err = new GatewayError('rate_limit_exceeded', 'Slow down.');
    expect(anthropicErrorBody(err)).toEqual({ type: 'error', error: { type: 'rate_limit_error', message: 'Slow down.' } });
    expect(messagesFormat.errorEvent(new GatewayError('upstream_error', 'Provider failed.'))).toEqual({
      event: 'error',
      data: JSON.stringify({ type: 'error', error: { type: 'api_error', message: 'Provider failed.' } }),
    });
  });
});

// What the format produces must be something the official SDK parses, streaming included.
describe('messages format output, read by the official @anthropic-ai/sdk', () => {
  let server: Server;
  let client: Anthropic;

  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        void (async () => {
          const translation = messagesFormat.parse({ ...base, messages: [{ role: 'user', content: 'x' }] });
          if (req.headers['x-stream'] === '1') {
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            for await (const e of translation.stream(from(toolStream))) res.write(`event: ${e.event}\ndata: ${e.data}\n\n`);
            res.end();
          } else if (req.headers['x-stream'] === 'error') {
            res.writeHead(200, { 'content-type': 'text/event-stream' });
            const error = messagesFormat.errorEvent(new GatewayError('upstream_error', 'Provider failed.'));
            res.end(`event: ${error.event}\ndata: ${error.data}\n\n`);
          } else {
            res.writeHead(200, { 'content-type': 'application/json' });
            res.end(JSON.stringify(translation.response(chatResult)));
          }
        })();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    client = new Anthropic({ baseURL: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`, apiKey: 'k', maxRetries: 0 });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const params = { ...base, messages: [{ role: 'user' as const, content: 'x' }] };

  it('parses the response and assembles the stream into the same message', async () => {
    const message = await client.messages.create(params);
    expect(message.content[1]).toMatchObject({ type: 'tool_use', input: { city: 'Paris' } });
    const streamed = await client.messages.stream(params, { headers: { 'x-stream': '1' } }).finalMessage();
    expect(streamed.content).toEqual([
      { type: 'text', text: 'Let me check.' },
      { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Paris' } },
    ]);
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.usage).toMatchObject({ input_tokens: 30, output_tokens: 9, cache_read_input_tokens: 100 });
  });

  it('surfaces the error event as an SDK APIError', async () => {
    const err = await client.messages
      .stream(params, { headers: { 'x-stream': 'error' } })
      .finalMessage()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect((err as Error).message).toContain('Provider failed.');
  });
});
