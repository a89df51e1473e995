import { randomBytes } from 'node:crypto';
import type { UsageDialect } from './openai-usage.js';
import { jinaRerank } from './rerank.js';

/**
 * How each OpenAI-compatible provider's API differs from OpenAI's, as its docs publish it, for the fake in
 * openai.ts to follow: where its API lives, whether it wants a key, what it refuses and in which error body,
 * how it counts usage and streams it, how it streams tool calls and reasoning. compatible.test.ts checks every
 * profile with the openai SDK, which each of these providers documents as its client.
 */
export interface FakeProfile {
  /** In the fake's replies: "Fake <label> reply to: …". */
  label: string;
  /** The path of the API's base URL. */
  basePath: string;
  /** Whether requests need the Bearer key (Ollama ignores keys; vLLM needs one only when started with --api-key). */
  keyRequired: boolean;
  dialect: UsageDialect;
  /** What the provider refuses in a chat request, answered with its error body. */
  refuse(body: Record<string, unknown>): Refusal | undefined;
  /** Its error body. */
  errorBody(status: number, error: ErrorFields): unknown;
  /** Where a stream's usage goes: a last chunk of its own when asked (OpenAI), on the finishing chunk always, or in x_groq there. */
  streamUsage: 'asked' | 'finish' | 'x_groq';
  /** Tool calls streamed whole in one delta rather than their arguments in pieces. */
  wholeToolCalls: boolean;
  /** A tool turn's finish_reason. */
  toolFinish: 'tool_calls' | 'stop';
  toolCallId(): string;
  /** Reasoning text on messages and deltas of the models matching `models`. */
  reasoning?: { field: 'reasoning_content' | 'reasoning'; models: RegExp };
  /** An SSE comment sent first, as the provider does to keep a connection open. */
  keepAlive?: string;
  /** The output cap it reads: longer answers are cut, finish_reason length (a parameter it does not know caps nothing). */
  capParam?: 'max_tokens' | 'max_completion_tokens';
  /** An answer an extra parameter decides (vLLM's guided_choice). */
  reply?(body: Record<string, unknown>): string | undefined;
  /** APIs of its own beyond chat, completions and embeddings, by path under /v1 (vLLM's /v1/rerank), each answered whole. */
  ownApis?: Record<string, (body: Record<string, unknown>) => { status: number; body: unknown }>;
}

export interface ErrorFields {
  message: string;
  type: string;
  code: string | null;
  param?: string | null;
  /** Validation details, where the provider answers them (Mistral's 422). */
  detail?: unknown[];
}

export interface Refusal extends ErrorFields {
  status: number;
}

const openAIError = (_status: number, error: ErrorFields) => ({ error: { ...error, param: error.param ?? null } });
const callId = () => `call_${randomBytes(12).toString('base64url')}`;
const badRequest = (message: string, param: string | null = null): Refusal => ({ status: 400, message, type: 'invalid_request_error', code: null, param });
const messages = (body: Record<string, unknown>) => (body.messages ?? []) as Record<string, unknown>[];

export const OPENAI_PROFILE: FakeProfile = {
  label: 'OpenAI',
  basePath: '/v1',
  keyRequired: true,
  dialect: 'openai',
  refuse: () => undefined,
  errorBody: openAIError,
  streamUsage: 'asked',
  wholeToolCalls: false,
  toolFinish: 'tool_calls',
  toolCallId: callId,
};

/** Mistral's request schema forbids fields it does not list (https://docs.mistral.ai/api/#tag/chat). */
const MISTRAL_FIELDS = new Set([
  ...['model', 'messages', 'temperature', 'top_p', 'max_tokens', 'stream', 'stop', 'random_seed', 'response_format', 'tools'],
  ...['tool_choice', 'presence_penalty', 'frequency_penalty', 'n', 'prediction', 'parallel_tool_calls', 'prompt_mode', 'safe_prompt'],
]);

function mistralRefusal(body: Record<string, unknown>): Refusal | undefined {
  const extra = Object.keys(body)
    .filter((field) => !MISTRAL_FIELDS.has(field))
    .map((field) => ['body', field]);
  messages(body).forEach((m, i) => {
    for (const field of ['name', 'reasoning_content']) if (field in m) extra.push(['body', 'messages', String(i), String(m.role), field]);
  });
  if (extra.length > 0) {
    const detail = extra.map((loc) => ({ type: 'extra_forbidden', loc, msg: 'Extra inputs are not permitted', input: null }));
    return { status: 422, message: 'Extra inputs are not permitted', detail, type: 'invalid_request_error', code: null };
  }
  const ids = messages(body).flatMap((m) => [
    ...((m.tool_calls ?? []) as { id: string }[]).map((c) => c.id),
    ...(m.role === 'tool' ? [String(m.tool_call_id)] : []),
  ]);
  const bad = ids.find((id) => !/^[A-Za-z0-9]{9}$/.test(id));
  return bad === undefined ? undefined : badRequest(`Tool call id was ${bad} but must be a-z, A-Z, 0-9, with a length of 9.`);
}

const GROK_REASONING = /^grok-(?:3-mini|4|code)(?!.*non-reasoning)/;

/** The nine OpenAI-compatible providers of the README's table. */
export const COMPATIBLE_PROFILES = {
  mistral: {
    ...OPENAI_PROFILE,
    label: 'Mistral',
    refuse: mistralRefusal,
    // {"object":"error","message":…}; a 422's message is the validation details (an object), not text.
    errorBody: (_status, { detail, ...error }) => ({ object: 'error', ...error, message: detail ? { detail } : error.message, param: null }),
    streamUsage: 'finish',
    wholeToolCalls: true,
    toolCallId: () => randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').slice(0, 9),
    capParam: 'max_tokens',
  },
  groq: {
    ...OPENAI_PROFILE,
    label: 'Groq',
    basePath: '/openai/v1',
    // "The following fields are currently not supported and will result in a 400 error": https://console.groq.com/docs/openai
    refuse: (body) => {
      for (const field of ['logprobs', 'logit_bias', 'top_logprobs']) if (field in body) return badRequest(`'${field}' is not supported`, field);
      if (body.n !== undefined && body.n !== 1) return badRequest("'n' : number must be at most 1", 'n');
      if (messages(body).some((m) => 'name' in m)) return badRequest("'messages.0.name' : property 'name' is unsupported", 'messages');
      return undefined;
    },
    streamUsage: 'x_groq',
    wholeToolCalls: true,
  },
  deepseek: {
    ...OPENAI_PROFILE,
    label: 'DeepSeek',
    dialect: 'deepseek',
    // https://api-docs.deepseek.com/guides/reasoning_model, .../guides/json_mode
    refuse: (body) => {
      if ((body.response_format as { type?: string } | undefined)?.type === 'json_schema') return badRequest('This response_format type is unavailable now');
      if (String(body.model).startsWith('deepseek-reasoner') && ('logprobs' in body || 'top_logprobs' in body))
        return badRequest('deepseek-reasoner does not support logprobs');
      if (messages(body).some((m) => 'reasoning_content' in m)) return badRequest('reasoning_content is not allowed in input messages');
      return undefined;
    },
    reasoning: { field: 'reasoning_content', models: /^deepseek-reasoner/ },
    keepAlive: ': keep-alive',
    capParam: 'max_tokens',
  },
  xai: {
    ...OPENAI_PROFILE,
    label: 'xAI',
    dialect: 'xai',
    // "presencePenalty, frequencyPenalty and stop … not supported by reasoning models": https://docs.x.ai/docs/guides/reasoning
    refuse: (body) => {
      if (!GROK_REASONING.test(String(body.model))) return undefined;
      const field = ['presence_penalty', 'frequency_penalty', 'stop'].find((f) => f in body);
      const camel = field?.replace(/_(\w)/g, (_, c: string) => c.toUpperCase());
      return field
        ? { status: 400, message: `Argument not supported on this model: ${camel}`, type: '', code: 'Client specified an invalid argument' }
        : undefined;
    },
    errorBody: (_status, error) => ({ code: error.code ?? 'Client specified an invalid argument', error: error.message }),
    reasoning: { field: 'reasoning_content', models: /^grok-3-mini/ },
  },
  openrouter: {
    ...OPENAI_PROFILE,
    label: 'OpenRouter',
    basePath: '/api/v1',
    dialect: 'openrouter',
    // {"error": {"code": <the HTTP status>, "message", "metadata"}}: https://openrouter.ai/docs/api/reference/errors-and-debugging
    errorBody: (status, error) => ({ error: { code: status, message: error.message, metadata: { provider_name: 'Fake' } } }),
    streamUsage: 'finish',
    reasoning: { field: 'reasoning', models: /^(?:deepseek|anthropic)\// },
    keepAlive: ': OPENROUTER PROCESSING',
  },
  together: {
    ...OPENAI_PROFILE,
    label: 'Together',
    errorBody: (status, error) => ({ id: `o${randomBytes(8).toString('hex')}`, ...openAIError(status, error) }),
    streamUsage: 'finish',
    capParam: 'max_tokens',
  },
  fireworks: {
    ...OPENAI_PROFILE,
    label: 'Fireworks',
    basePath: '/inference/v1',
    errorBody: (_status, error) => ({ error: { object: 'error', type: error.type, code: error.code ?? error.type, message: error.message } }),
    // "Usage stats are returned for streaming responses too, in the final chunk": https://docs.fireworks.ai/tools-sdks/openai-compatibility
    streamUsage: 'finish',
  },
  ollama: {
    ...OPENAI_PROFILE,
    label: 'Ollama',
    keyRequired: false,
    wholeToolCalls: true,
    toolFinish: 'stop',
    reasoning: { field: 'reasoning', models: /^(?:qwen3|deepseek-r1|gpt-oss)/ },
    capParam: 'max_tokens',
  },
  vllm: {
    ...OPENAI_PROFILE,
    label: 'vLLM',
    keyRequired: false,
    // vLLM's ErrorResponse before 0.10.1: {"object":"error","message","type","param","code": <status>}.
    errorBody: (status, error) => ({ object: 'error', message: error.message, type: 'BadRequestError', param: error.param ?? null, code: status }),
    reasoning: { field: 'reasoning_content', models: /^(?:Qwen\/Qwen3|deepseek-ai\/DeepSeek-R1)/ },
    reply: (body) => (Array.isArray(body.guided_choice) ? String(body.guided_choice[0]) : undefined),
    ownApis: { '/v1/rerank': jinaRerank },
  },
} as const satisfies Record<string, FakeProfile>;

export type CompatibleType = keyof typeof COMPATIBLE_PROFILES;
