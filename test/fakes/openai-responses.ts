import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { FAKE_PNG } from './openai-images.js';

/**
 * OpenAI's own POST /v1/responses, from its reference (https://platform.openai.com/docs/api-reference/responses),
 * as far as the gateway's passthrough tests need it: the Response object with its output items and usage
 * (input_tokens, output_tokens and their details), its input token count, and streamed as the typed events response.created,
 * response.output_text.delta… and response.completed (which carries the whole response and its usage). A web search
 * tool (`web_search`, `web_search_preview`, dated versions too; OpenAI runs it on its servers) adds a web_search_call
 * item before the message and a `url_citation` annotation on its text, as OpenAI does
 * (https://platform.openai.com/docs/guides/tools-web-search), streamed with the web_search_call's own events. An
 * `image_generation` tool adds an image_generation_call item, its `result` a base64 PNG and its quality and size the
 * tool's ("auto" made medium and 1024x1024), as OpenAI's image generation tool guide shows
 * (https://platform.openai.com/docs/guides/tools-image-generation), streamed with response.image_generation_call.* events.
 */

type Item = { type?: string; role?: string; content?: unknown };
type Tool = { type: string; quality?: string; size?: string };

/** The tool call an answer makes before its message: a web search, or an image made, as the request's tools offer. */
function toolCall(tools: Tool[], said: string): Record<string, unknown> | undefined {
  if (tools.some((tool) => /^web_search/.test(tool.type))) {
    return { type: 'web_search_call', id: `ws_${randomBytes(8).toString('hex')}`, status: 'completed', action: { type: 'search', query: said } };
  }
  const image = tools.find((tool) => tool.type === 'image_generation');
  if (!image) return undefined;
  return {
    type: 'image_generation_call',
    id: `ig_${randomBytes(8).toString('hex')}`,
    status: 'completed',
    background: 'opaque',
    output_format: 'png',
    quality: !image.quality || image.quality === 'auto' ? 'medium' : image.quality,
    size: !image.size || image.size === 'auto' ? '1024x1024' : image.size,
    revised_prompt: said,
    result: FAKE_PNG,
  };
}

/** The text of the input's last user turn: the string itself, or a message's text or input_text parts. */
function lastUserText(input: unknown): string {
  if (typeof input === 'string') return input;
  const user = (Array.isArray(input) ? (input as Item[]) : []).filter((item) => item.role === 'user').at(-1);
  if (typeof user?.content === 'string') return user.content;
  const parts = Array.isArray(user?.content) ? (user.content as { type: string; text?: string }[]) : [];
  return parts
    .filter((part) => part.type === 'input_text')
    .map((part) => part.text)
    .join(' ');
}

function response(body: Record<string, unknown>): Record<string, unknown> {
  const text = `Fake OpenAI response to: ${lastUserText(body.input)}`;
  const cap = typeof body.max_output_tokens === 'number' ? body.max_output_tokens : Infinity;
  const words = text.split(/(?<= )/);
  const said = words.slice(0, cap).join('');
  const inputTokens = inputTokensOf(body);
  const outputTokens = Math.min(words.length, cap);
  const call = toolCall(Array.isArray(body.tools) ? (body.tools as Tool[]) : [], said);
  const searches = call?.type === 'web_search_call';
  return {
    id: `resp_${randomBytes(12).toString('hex')}`,
    object: 'response',
    created_at: Math.floor(Date.now() / 1000),
    status: words.length > cap ? 'incomplete' : 'completed',
    incomplete_details: words.length > cap ? { reason: 'max_output_tokens' } : null,
    model: body.model,
    max_output_tokens: body.max_output_tokens ?? null,
    output: [
      ...(call ? [call] : []),
      {
        type: 'message',
        id: `msg_${randomBytes(8).toString('hex')}`,
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', text: said, annotations: searches ? [citation(said)] : [] }],
      },
    ],
    tools: body.tools ?? [],
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
  };
}

/** The source a searched answer cites: its whole text, from a page named after it. */
const citation = (text: string) => ({
  type: 'url_citation',
  start_index: 0,
  end_index: text.length,
  url: `https://example.com/search?q=${encodeURIComponent(text)}`,
  title: `About ${text}`,
});

/** What the fake bills for a Responses API prompt: a token per four characters of its instructions, input and tools. */
const inputTokensOf = (body: Record<string, unknown>) => Math.ceil(JSON.stringify([body.instructions ?? '', body.input ?? '', body.tools ?? []]).length / 4);

export const RESPONSES_PATHS = new Set(['/v1/responses', '/v1/responses/input_tokens']);

/** Answers a Responses API request, whole or streamed, or counts its input tokens (POST /v1/responses/input_tokens). */
export function responses(res: ServerResponse, path: string, body: Record<string, unknown>): void {
  const send = (answer: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_${randomBytes(12).toString('hex')}` });
    res.end(JSON.stringify(answer));
  };
  if (path === '/v1/responses/input_tokens') return send({ object: 'response.input_tokens', input_tokens: inputTokensOf(body) });
  const whole = response(body);
  if (body.stream !== true) return send(whole);
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
  let sequence = 0;
  const event = (fields: Record<string, unknown>) =>
    res.write(`event: ${String(fields.type)}\ndata: ${JSON.stringify({ ...fields, sequence_number: sequence++ })}\n\n`);
  const { usage: _usage, ...inProgress } = whole;
  event({ type: 'response.created', response: { ...inProgress, status: 'in_progress', output: [], usage: null } });
  event({ type: 'response.in_progress', response: { ...inProgress, status: 'in_progress', output: [], usage: null } });
  const output = whole.output as Record<string, unknown>[];
  const call = output.length > 1 ? output[0]! : undefined;
  if (call) {
    const at = { output_index: 0, item_id: call.id };
    const image = call.type === 'image_generation_call';
    event({ type: 'response.output_item.added', output_index: 0, item: { ...call, status: 'in_progress', ...(image ? { result: null } : {}) } });
    const steps = image ? ['in_progress', 'generating', 'completed'] : ['in_progress', 'searching', 'completed'];
    for (const step of steps) event({ type: `response.${String(call.type)}.${step}`, ...at });
    event({ type: 'response.output_item.done', output_index: 0, item: call });
  }
  const message = output.at(-1) as { id: string; content: { text: string; annotations: unknown[] }[] };
  const at = { item_id: message.id, output_index: output.length - 1, content_index: 0 };
  const part = message.content[0]!;
  event({ type: 'response.output_item.added', output_index: at.output_index, item: { ...message, status: 'in_progress', content: [] } });
  event({ type: 'response.content_part.added', ...at, part: { type: 'output_text', text: '', annotations: [] } });
  for (const delta of part.text.split(/(?<= )/)) event({ type: 'response.output_text.delta', ...at, delta, logprobs: [] });
  part.annotations.forEach((annotation, i) => event({ type: 'response.output_text.annotation.added', ...at, annotation_index: i, annotation }));
  event({ type: 'response.output_text.done', ...at, text: part.text, logprobs: [] });
  event({ type: 'response.content_part.done', ...at, part });
  event({ type: 'response.output_item.done', output_index: at.output_index, item: message });
  event({ type: whole.status === 'completed' ? 'response.completed' : 'response.incomplete', response: whole });
  res.end();
}
