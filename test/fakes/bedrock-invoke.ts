import { randomBytes } from 'node:crypto';

/**
 * InvokeModel and InvokeModelWithResponseStream for Anthropic's models on the fake Bedrock (bedrock.ts), as AWS's
 * reference and Anthropic's "Claude on Amazon Bedrock" describe them: the body is a Messages request with
 * `anthropic_version` (bedrock-2023-05-31) and `max_tokens`, and no `model` (the path names it); the answer is a
 * Messages response; a stream is `chunk` events, each carrying one Messages stream event base64-encoded in `bytes`,
 * the last with `amazon-bedrock-invocationMetrics`.
 */

export interface InvokeBody {
  anthropic_version?: string;
  max_tokens?: number;
  system?: string;
  messages?: { role: string; content: string | { type: string; text?: string }[] }[];
  [field: string]: unknown;
}

/** Why Bedrock would refuse the body (a ValidationException's message), or undefined. */
export function invalidInvoke(body: InvokeBody, modelId: string): string | undefined {
  if (!/^(?:[a-z-]+\.)?anthropic\./.test(modelId)) return 'The fake Bedrock invokes Anthropic models only.';
  if (body.anthropic_version !== 'bedrock-2023-05-31')
    return 'Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.';
  if (typeof body.max_tokens !== 'number') return 'Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again.';
  if ('model' in body) return 'Malformed input request: #: extraneous key [model] is not permitted, please reformat your input and try again.';
  if (!Array.isArray(body.messages) || body.messages.length === 0) return 'Malformed input request: #/messages: expected minimum item count: 1.';
  return undefined;
}

function reply(body: InvokeBody, modelId: string) {
  const last = body.messages!.at(-1)!;
  const said = typeof last.content === 'string' ? last.content : last.content.map((block) => block.text ?? '').join(' ');
  const text = `Fake Bedrock reply to: ${said}`;
  const usage = { input_tokens: Math.ceil(JSON.stringify(body.messages).length / 4), output_tokens: text.split(' ').length };
  return { id: `msg_bdrk_${randomBytes(12).toString('hex')}`, type: 'message', role: 'assistant', model: modelId, text, usage };
}

/** The Messages response of an invoke. */
export function invokeAnswer(body: InvokeBody, modelId: string): object {
  const { text, ...message } = reply(body, modelId);
  return { ...message, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null };
}

/** The Messages stream events of an invoke-with-response-stream, each to be sent as one `chunk`'s bytes. */
export function invokeStreamEvents(body: InvokeBody, modelId: string): object[] {
  const { text, usage, ...message } = reply(body, modelId);
  return [
    {
      type: 'message_start',
      message: { ...message, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } },
    },
    { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
    ...text.split(/(?<= )/).map((word) => ({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: word } })),
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } },
    {
      type: 'message_stop',
      'amazon-bedrock-invocationMetrics': {
        inputTokenCount: usage.input_tokens,
        outputTokenCount: usage.output_tokens,
        invocationLatency: 42,
        firstByteLatency: 7,
      },
    },
  ];
}
