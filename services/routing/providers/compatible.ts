import { createHash } from 'node:crypto';
import { ANTHROPIC_ONLY_FIELDS, type ChatChunk, type ChatMessage, type ChatRequest, type ChatResponse, type OpenAIUsage } from '../canonical.js';
import { PROVIDER_TYPES } from './catalog.js';
import type { OpenAIPreset } from './openai.js';
import { GatewayError } from '../../kit/errors.js';
import type { Capabilities } from './types.js';

/**
 * How each OpenAI-compatible provider differs from OpenAI's Chat Completions API, as its own API docs publish it.
 * The OpenAI adapter applies these as data, on the way out (the request each provider accepts) and on the way back
 * (the answer in OpenAI's shape). A parameter a provider cannot serve is refused with a gateway error when leaving
 * it out would change the answer; one whose effect nothing in the answer depends on is left out.
 */
export interface Quirks {
  /** Parameters the provider refuses or ignores while the client relies on their effect. */
  cannot?: readonly Cannot[];
  /** Parameters the provider refuses though nothing in the answer depends on them: left out. */
  drops?: readonly string[];
  /** OpenAI's parameter name → the provider's (the provider refuses or ignores OpenAI's). */
  renames?: Readonly<Record<string, string>>;
  /** Fields of messages the provider refuses in a conversation; left out (they label, they do not instruct). */
  messageFields?: readonly string[];
  /** The provider refuses tool call ids of any other shape than 9 letters and digits (Mistral). */
  nineCharToolCallIds?: boolean;
  /** The provider refuses stream_options and sends usage with every stream anyway (Mistral). */
  noStreamOptions?: boolean;
  /** The provider's name for reasoning text on messages and deltas, answered as reasoning_content. */
  reasoningField?: 'reasoning';
  /** Some versions end a turn of tool calls with finish_reason "stop"; answered as "tool_calls" (Ollama). */
  toolCallsFinishAsStop?: boolean;
  /** Where the docs say it, for the README. */
  docs: string;
}

export interface Cannot {
  param: string;
  /** Models it applies to (named for the README, with one of them for its test); every model when absent. */
  models?: { pattern: RegExp; name: string; example: string };
  /** A value that asks for nothing (n: 1, logprobs: false): left out rather than refused. */
  neutral?: unknown;
  /** What the client is told. */
  why: string;
}

const NO_LOGPROBS: readonly Cannot[] = [
  { param: 'logprobs', neutral: false, why: 'it returns no log probabilities' },
  { param: 'top_logprobs', neutral: 0, why: 'it returns no log probabilities' },
];
const NO_LOGIT_BIAS: Cannot = { param: 'logit_bias', why: 'it has no logit bias' };
const ONE_CHOICE: Cannot = { param: 'n', neutral: 1, why: 'it answers with one choice (n must be 1)' };
/** Providers whose APIs know only max_tokens: OpenAI's newer name would leave the answer uncapped. */
const MAX_TOKENS = { max_completion_tokens: 'max_tokens' } as const;
/** xAI's reasoning models (https://docs.x.ai/docs/guides/reasoning). */
const GROK_REASONING = { pattern: /^grok-(?:3-mini|4|code)(?!.*non-reasoning)/, name: 'reasoning models', example: 'grok-4' };

/** Every OpenAI-compatible preset but OpenAI itself. */
export const QUIRKS: Readonly<Record<Exclude<OpenAIPreset, 'openai'>, Quirks>> = {
  mistral: {
    docs: 'https://docs.mistral.ai/api/#tag/chat',
    cannot: [...NO_LOGPROBS, NO_LOGIT_BIAS],
    drops: ['user'],
    renames: { seed: 'random_seed', ...MAX_TOKENS },
    messageFields: ['name', 'reasoning_content'],
    nineCharToolCallIds: true,
    noStreamOptions: true,
  },
  groq: {
    docs: 'https://console.groq.com/docs/openai',
    cannot: [...NO_LOGPROBS, NO_LOGIT_BIAS, ONE_CHOICE],
    messageFields: ['name'],
    reasoningField: 'reasoning',
  },
  deepseek: {
    docs: 'https://api-docs.deepseek.com/guides/reasoning_model',
    cannot: NO_LOGPROBS.map((rule) => ({ ...rule, models: { pattern: /^deepseek-reasoner/, name: 'deepseek-reasoner', example: 'deepseek-reasoner' } })),
    renames: MAX_TOKENS,
    messageFields: ['reasoning_content'],
  },
  xai: {
    docs: 'https://docs.x.ai/docs/guides/reasoning',
    cannot: ['presence_penalty', 'frequency_penalty', 'stop'].map((param) => ({ param, models: GROK_REASONING, why: "xAI's reasoning models refuse it" })),
  },
  openrouter: { docs: 'https://openrouter.ai/docs/api/reference/streaming', reasoningField: 'reasoning' },
  together: { docs: 'https://docs.together.ai/reference/chat-completions-1', renames: MAX_TOKENS },
  fireworks: { docs: 'https://docs.fireworks.ai/tools-sdks/openai-compatibility' },
  ollama: {
    docs: 'https://docs.ollama.com/api/openai-compatibility',
    cannot: [ONE_CHOICE, NO_LOGIT_BIAS],
    renames: MAX_TOKENS,
    reasoningField: 'reasoning',
    toolCallsFinishAsStop: true,
  },
  vllm: { docs: 'https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html' },
};

const NONE: Quirks = { docs: '' };

export function quirksOf(type: string): Quirks {
  return (QUIRKS as Record<string, Quirks>)[type] ?? NONE;
}

const isSet = (value: unknown, neutral: unknown) =>
  value !== undefined && value !== null && value !== neutral && !(typeof value === 'object' && Object.keys(value).length === 0);

/** The chat request as a provider of `type` takes it, or a GatewayError naming what it cannot do. */
export function requestFor(type: string, provider: string, request: ChatRequest): ChatRequest {
  const quirks = quirksOf(type);
  const out: Record<string, unknown> = { ...request };
  const capabilities = (PROVIDER_TYPES as Record<string, { capabilities: Capabilities } | undefined>)[type]?.capabilities;
  if (capabilities && !capabilities.jsonSchema && request.response_format?.type === 'json_schema') {
    throw cannot(provider, 'response_format', 'it takes json_object but not json_schema');
  }
  for (const rule of quirks.cannot ?? []) {
    if (rule.models && !rule.models.pattern.test(request.model)) continue;
    if (isSet(out[rule.param], rule.neutral)) throw cannot(provider, rule.param, rule.why);
    delete out[rule.param];
  }
  for (const param of quirks.drops ?? []) delete out[param];
  withoutAnthropicFields(out, request);
  for (const [from, to] of Object.entries(quirks.renames ?? {})) {
    if (out[from] === undefined) continue;
    out[to] ??= out[from];
    delete out[from];
  }
  const signed = request.messages.some((m) => m.role === 'assistant' && m.thinking_blocks);
  if (quirks.messageFields || quirks.nineCharToolCallIds || signed) out.messages = request.messages.map((m) => messageFor(quirks, m));
  return out as ChatRequest;
}

/** Anthropic's effort levels as reasoning_effort; OpenAI has no level above high. */
const EFFORT: Readonly<Record<string, string>> = { low: 'low', medium: 'medium', high: 'high', max: 'high' };

/**
 * Anthropic's thinking settings, which no OpenAI-shaped API takes (docs/routing.md#thinking): output_config's effort
 * becomes reasoning_effort unless the client set that; the rest is left out (reasoning models reason without it).
 */
function withoutAnthropicFields(out: Record<string, unknown>, request: ChatRequest): void {
  const effort = EFFORT[String(request.output_config?.effort)];
  if (effort && request.reasoning_effort == null) out.reasoning_effort = effort;
  for (const field of ANTHROPIC_ONLY_FIELDS) delete out[field];
}

/** The request's fault, as the client asked for what the provider cannot do: answered before any call. */
function cannot(provider: string, param: string, why: string): GatewayError {
  return new GatewayError('invalid_request', `Provider ${provider} cannot take '${param}': ${why}.`, { param });
}

function messageFor(quirks: Quirks, message: ChatMessage): ChatMessage {
  const out: Record<string, unknown> = { ...message };
  // Signed by an Anthropic model for Anthropic's API alone.
  delete out.thinking_blocks;
  for (const field of quirks.messageFields ?? []) delete out[field];
  if (quirks.nineCharToolCallIds) {
    if (message.role === 'tool') out.tool_call_id = nineChars(message.tool_call_id);
    if (message.role === 'assistant' && message.tool_calls) out.tool_calls = message.tool_calls.map((c) => ({ ...c, id: nineChars(c.id) }));
  }
  return out as unknown as ChatMessage;
}

/** The same id for a call and its result, in the only shape Mistral takes: 9 letters and digits. */
export function nineChars(id: string): string {
  if (/^[A-Za-z0-9]{9}$/.test(id)) return id;
  return createHash('sha256').update(id).digest('base64url').replace(/[-_]/g, '').slice(0, 9).padEnd(9, '0');
}

type Fields = Record<string, unknown>;

/**
 * Usage in OpenAI's fields, as clients and the ledger read it: Groq's stream usage (x_groq.usage) lifted out,
 * DeepSeek's cache hits as cached_tokens, and reasoning inside completion_tokens where the provider counted it
 * apart (xAI: total = prompt + completion + reasoning).
 */
export function openAIUsage(usage: OpenAIUsage): OpenAIUsage {
  const out = { ...usage };
  const hits = usage.prompt_cache_hit_tokens;
  if (typeof hits === 'number' && usage.prompt_tokens_details?.cached_tokens === undefined) {
    out.prompt_tokens_details = { ...usage.prompt_tokens_details, cached_tokens: hits };
  }
  const reasoning = usage.completion_tokens_details?.reasoning_tokens ?? 0;
  if (reasoning > 0 && usage.total_tokens === usage.prompt_tokens + usage.completion_tokens + reasoning) out.completion_tokens += reasoning;
  return out;
}

function renameReasoning(quirks: Quirks, holder: Fields): void {
  const field = quirks.reasoningField;
  if (!field || holder[field] === undefined) return;
  holder.reasoning_content ??= holder[field];
  delete holder[field];
}

/** A whole answer in OpenAI's shape. */
export function answerFrom(type: string, answer: ChatResponse): ChatResponse {
  const quirks = quirksOf(type);
  for (const choice of answer.choices) {
    renameReasoning(quirks, choice.message as unknown as Fields);
    if (quirks.toolCallsFinishAsStop && choice.finish_reason === 'stop' && choice.message.tool_calls?.length) choice.finish_reason = 'tool_calls';
  }
  if (answer.usage) answer.usage = openAIUsage(answer.usage);
  return answer;
}

/**
 * A stream's chunks in OpenAI's shape. Usage some providers send on the finishing chunk (or in x_groq) comes as
 * OpenAI sends it: a last chunk of its own with no choices, which the chat API shows only to clients that asked.
 */
export async function* chunksFrom(type: string, chunks: AsyncIterable<ChatChunk>): AsyncGenerator<ChatChunk> {
  const quirks = quirksOf(type);
  let calledTools = false;
  for await (const chunk of chunks) {
    const usage = chunk.usage ?? (chunk.x_groq as { usage?: OpenAIUsage } | undefined)?.usage;
    for (const choice of chunk.choices) {
      renameReasoning(quirks, choice.delta as Fields);
      if (choice.delta.tool_calls?.length) calledTools = true;
      if (quirks.toolCallsFinishAsStop && calledTools && choice.finish_reason === 'stop') choice.finish_reason = 'tool_calls';
    }
    if (!usage || chunk.choices.length === 0) {
      yield usage ? { ...chunk, usage: openAIUsage(usage) } : chunk;
      continue;
    }
    yield { ...chunk, usage: null };
    yield { ...chunk, choices: [], usage: openAIUsage(usage) };
  }
}

/** The README's table of what the gateway does about each provider's differences, in Markdown. */
export function compatibleTable(): string {
  const code = (names: readonly string[]) => names.map((name) => `\`${name}\``).join(', ') || '—';
  const rows = Object.entries(QUIRKS).map(([type, quirks]) => {
    const refused = (quirks.cannot ?? []).map(
      (rule) => `\`${rule.param}\`${rule.neutral === undefined ? '' : ` ≠ ${JSON.stringify(rule.neutral)}`}${rule.models ? ` (${rule.models.name})` : ''}`,
    );
    if (!PROVIDER_TYPES[type as OpenAIPreset].capabilities.jsonSchema) refused.push('`json_schema` response format');
    const renamed = Object.entries(quirks.renames ?? {}).map(([from, to]) => `\`${from}\` → \`${to}\``);
    const other = [
      ...(quirks.messageFields ? [`messages' ${code(quirks.messageFields)} left out`] : []),
      ...(quirks.nineCharToolCallIds ? ['tool call ids made 9 letters and digits'] : []),
      ...(quirks.noStreamOptions ? ['no `stream_options` (it refuses them; usage comes anyway)'] : []),
      ...(quirks.reasoningField ? [`\`${quirks.reasoningField}\` answered as \`reasoning_content\``] : []),
      ...(quirks.toolCallsFinishAsStop ? ['a tool turn ending `stop` answered `tool_calls`'] : []),
    ];
    return `| [${PROVIDER_TYPES[type as OpenAIPreset].label}](${quirks.docs}) | \`${type}\` | ${refused.join(', ') || '—'} | ${[...renamed, ...(quirks.drops ?? []).map((p) => `\`${p}\` left out`)].join(', ') || '—'} | ${other.join('; ') || '—'} |`;
  });
  return ['| provider | `type` | refused by the gateway (400 naming the parameter) | renamed or left out | also |', '|---|---|---|---|---|', ...rows].join(
    '\n',
  );
}
