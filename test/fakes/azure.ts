import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocally, readBody, writeJson } from './local-server.js';
import { audioCall, sendAudio } from './openai-audio.js';
import { imageUploadCall, images } from './openai-images.js';
import { responses } from './openai-responses.js';
import { wordVector } from './vectors.js';

/**
 * A local stand-in for the Azure OpenAI data plane, built from its REST
 * reference (https://learn.microsoft.com/azure/ai-services/openai/reference)
 * and content filtering docs:
 *   POST /openai/deployments/{deployment}/chat/completions?api-version=…
 *   POST /openai/deployments/{deployment}/embeddings?api-version=…
 *   POST /openai/deployments/{deployment}/audio/{speech,transcriptions,translations}?api-version=… (as OpenAI's)
 *   POST /openai/deployments/{deployment}/images/{generations,edits}?api-version=… (as OpenAI's; no variations)
 *   POST /openai/v1/responses (Azure's v1 API: no api-version, the deployment as `model`; answered as OpenAI's
 *        Responses API, openai-responses.ts, web search included, as Azure's web search docs describe:
 *        https://learn.microsoft.com/azure/foundry/openai/how-to/web-search)
 * authenticated by the `api-key` header. Without api-version the resource is
 * not found (404); an unknown deployment is 404 DeploymentNotFound; a wrong key
 * is 401 with Azure's body. Answers are OpenAI-shaped plus Azure's
 * prompt_filter_results / content_filter_results; a stream starts, as Azure's
 * do, with a chunk that has empty choices, empty id/object and the prompt
 * filter results, and honours stream_options.include_usage.
 * azure.test.ts checks it with `AzureOpenAI` from the `openai` SDK.
 *
 * Triggers:
 *   "forbidden" in the deployment name or the last user message
 *                   400 with code content_filter (Azure's content management policy)
 *   fail-<status>   deployment answering with that HTTP status and an Azure error body
 *   stall           deployment that never answers
 *   break-stream    deployment that sends two chunks, then drops the connection
 */
export interface FakeAzure {
  readonly url: string;
  /** Every request to a deployment route, with the deployment, api-version and api-key it carried. */
  readonly requests: {
    deployment: string;
    operation: Operation;
    apiVersion: string | null;
    apiKey: string | undefined;
    body: Record<string, unknown>;
  }[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

const CHAT_MODEL = 'gpt-4o-2024-08-06';
const EMBEDDING_MODEL = 'text-embedding-3-small';
type Operation =
  | 'responses'
  | 'chat/completions'
  | 'embeddings'
  | 'audio/speech'
  | 'audio/transcriptions'
  | 'audio/translations'
  | 'images/generations'
  | 'images/edits';

const ROUTE =
  /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings|audio\/speech|audio\/transcriptions|audio\/translations|images\/generations|images\/edits)$/;

const SAFE = {
  hate: { filtered: false, severity: 'safe' },
  self_harm: { filtered: false, severity: 'safe' },
  sexual: { filtered: false, severity: 'safe' },
  violence: { filtered: false, severity: 'safe' },
};
const PROMPT_FILTER = [{ prompt_index: 0, content_filter_results: { ...SAFE, jailbreak: { filtered: false, detected: false } } }];

const CONTENT_FILTER_ERROR = {
  message:
    "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
  type: null,
  param: 'prompt',
  code: 'content_filter',
  status: 400,
  innererror: {
    code: 'ResponsibleAIPolicyViolation',
    content_filter_result: { ...SAFE, violence: { filtered: true, severity: 'medium' }, jailbreak: { filtered: false, detected: false } },
  },
};

function errorBody(status: number, operation: string, apiVersion: string): Json {
  switch (status) {
    case 400:
      return {
        message: "Invalid value for 'temperature': must be between 0 and 2.",
        type: 'invalid_request_error',
        param: 'temperature',
        code: 'invalid_value',
      };
    case 401:
      return {
        code: '401',
        message:
          'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
      };
    case 429:
      return {
        code: '429',
        message: `Requests to the ${operation === 'embeddings' ? 'Embeddings_Create' : 'ChatCompletions_Create'} Operation under Azure OpenAI API version ${apiVersion} have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 2 seconds. Please go here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit.`,
      };
    case 503:
      return { code: 'ServiceUnavailable', message: 'The service is temporarily unable to process your request. Please try again later.' };
    default:
      return {
        code: status >= 500 ? 'InternalServerError' : String(status),
        message: 'The server had an error while processing your request. Sorry about that!',
      };
  }
}

export async function startFakeAzure(options: { apiKey: string; deployments: string[] }): Promise<FakeAzure> {
  const requests: FakeAzure['requests'] = [];
  const server = createServer((req, res) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://fake');
    if (req.method === 'POST' && url.pathname === '/openai/v1/responses') return v1Responses(req, res, raw);
    const route = ROUTE.exec(url.pathname);
    const apiVersion = url.searchParams.get('api-version');
    // Azure routes on the api-version: without one, nothing is found.
    if (req.method !== 'POST' || !route || !apiVersion) return sendError(res, 404, { code: '404', message: 'Resource not found' });
    const deployment = decodeURIComponent(route[1]!);
    const operation = route[2] as Operation;
    // The audio APIs as OpenAI's own (openai-audio.ts), a form's file recorded by name, type and size.
    const audio = operation.startsWith('audio/') ? await audioCall(`/v1/${operation}`, raw, req.headers['content-type'] ?? '') : undefined;
    // The images APIs likewise (openai-images.ts), an edit's form recorded as its audio's is.
    const edit = operation === 'images/edits' ? await imageUploadCall('/v1/images/edits', raw, req.headers['content-type'] ?? '') : undefined;
    let body: Json = audio?.recorded ?? edit?.recorded ?? {};
    try {
      if (!audio && !edit) body = JSON.parse(raw.toString('utf8') || '{}') as Json;
    } catch {
      body = {};
    }
    const apiKey = typeof req.headers['api-key'] === 'string' ? req.headers['api-key'] : undefined;
    requests.push({ deployment, operation, apiVersion, apiKey, body });
    if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion)) return sendError(res, 400, { code: 'BadRequest', message: 'API version not supported' });
    if (apiKey !== options.apiKey) return sendError(res, 401, errorBody(401, operation, apiVersion));
    const failure = /^fail-(\d{3})/.exec(deployment);
    if (failure) {
      const status = Number(failure[1]);
      if (status === 429) {
        res.setHeader('retry-after', '2');
        res.setHeader('retry-after-ms', '2000');
      }
      return sendError(res, status, errorBody(status, operation, apiVersion));
    }
    if (deployment === 'stall') return; // never answers
    const known = options.deployments.includes(deployment) || deployment === 'break-stream' || deployment.includes('forbidden');
    if (!known) {
      return sendError(res, 404, {
        code: 'DeploymentNotFound',
        message:
          'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
      });
    }
    if (operation === 'embeddings') return embeddings(res, body);
    if (edit) return writeJson(res, edit.answer.status, edit.answer.body);
    if (operation === 'images/generations') {
      const answer = images(body);
      return writeJson(res, answer.status, answer.body);
    }
    if (audio) {
      return sendAudio(res, audio.answer, { 'apim-request-id': randomBytes(16).toString('hex') });
    }
    const messages = Array.isArray(body.messages) ? (body.messages as Json[]) : [];
    if (messages.length === 0)
      return sendError(res, 400, { message: "'messages' is a required property", type: 'invalid_request_error', param: null, code: null });
    if (body.stream_options != null && body.stream !== true) {
      return sendError(res, 400, {
        message: "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
        type: 'invalid_request_error',
        param: 'stream_options',
        code: null,
      });
    }
    if (deployment.includes('forbidden') || /forbidden/i.test(lastUserText(messages))) return sendError(res, 400, CONTENT_FILTER_ERROR);
    if (body.stream === true) return stream(res, body, deployment);
    return sendJson(res, 200, completion(body));
  }

  /** The v1 Responses API: api-key checked, the body's model a known deployment. */
  function v1Responses(req: IncomingMessage, res: ServerResponse, raw: Buffer): void {
    const body = JSON.parse(raw.toString('utf8') || '{}') as Json;
    const apiKey = typeof req.headers['api-key'] === 'string' ? req.headers['api-key'] : undefined;
    const deployment = String(body.model ?? '');
    requests.push({ deployment, operation: 'responses', apiVersion: null, apiKey, body });
    if (apiKey !== options.apiKey) return sendError(res, 401, errorBody(401, 'responses', 'v1'));
    if (!options.deployments.includes(deployment)) {
      return sendError(res, 404, { code: 'DeploymentNotFound', message: 'The API deployment for this resource does not exist.' });
    }
    responses(res, '/v1/responses', body);
  }

  const { url, close } = await listenLocally(server);
  return { url, requests, close };
}

function lastUserText(messages: Json[]): string {
  const content = [...messages].reverse().find((m) => m.role === 'user')?.content;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part: Json) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
}

function usageFor(body: Json, text: string) {
  const prompt = lastUserText(body.messages as Json[]).split(/\s+/).length + 8;
  const completion = text.split(' ').length;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
  };
}

/** The tool call made when tools are offered and the user asks about the weather. */
function toolCall(body: Json): { id: string; type: 'function'; function: { name: string; arguments: string } } | undefined {
  const tools = body.tools as { function: { name: string } }[] | undefined;
  if (
    !tools?.length ||
    !lastUserText(body.messages as Json[])
      .toLowerCase()
      .includes('weather')
  )
    return undefined;
  return { id: `call_${randomBytes(8).toString('hex')}`, type: 'function', function: { name: tools[0]!.function.name, arguments: '{"city":"Paris"}' } };
}

function completion(body: Json) {
  const text = `Fake Azure OpenAI reply to: ${lastUserText(body.messages as Json[])}`;
  const call = toolCall(body);
  if (call) {
    return {
      id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: CHAT_MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: null, refusal: null, tool_calls: [call] },
          logprobs: null,
          finish_reason: 'tool_calls',
          content_filter_results: {},
        },
      ],
      prompt_filter_results: PROMPT_FILTER,
      usage: usageFor(body, ''),
      system_fingerprint: 'fp_fake_azure',
    };
  }
  return {
    id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: CHAT_MODEL,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, refusal: null, annotations: [] },
        logprobs: null,
        finish_reason: 'stop',
        content_filter_results: SAFE,
      },
    ],
    prompt_filter_results: PROMPT_FILTER,
    usage: usageFor(body, text),
    system_fingerprint: 'fp_fake_azure',
  };
}

function stream(res: ServerResponse, body: Json, deployment: string): void {
  const includeUsage = (body.stream_options as { include_usage?: boolean } | null | undefined)?.include_usage === true;
  const text = `Fake Azure OpenAI reply to: ${lastUserText(body.messages as Json[])}`;
  const base = {
    id: `chatcmpl-${randomBytes(12).toString('base64url')}`,
    object: 'chat.completion.chunk',
    created: Math.floor(Date.now() / 1000),
    model: CHAT_MODEL,
    system_fingerprint: 'fp_fake_azure',
  };
  const withUsage = includeUsage ? { usage: null } : {};
  const chunk = (delta: object, finish: string | null, filter: object) => ({
    ...base,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish, content_filter_results: filter }],
    ...withUsage,
  });
  // Azure's first event: the prompt's filter results, with empty choices and no id, object or model.
  const events: object[] = [{ choices: [], created: 0, id: '', model: '', object: '', prompt_filter_results: PROMPT_FILTER }];
  events.push(chunk({ role: 'assistant', content: '', refusal: null }, null, {}));
  const call = toolCall(body);
  if (call) {
    events.push(chunk({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }, null, {}));
    events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: call.function.arguments } }] }, null, {}));
    events.push(chunk({}, 'tool_calls', {}));
  } else {
    for (const word of text.split(/(?<= )/)) events.push(chunk({ content: word }, null, SAFE));
    events.push(chunk({}, 'stop', {}));
  }
  if (includeUsage) events.push({ ...base, choices: [], usage: usageFor(body, text) });
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'apim-request-id': randomBytes(16).toString('hex') });
  if (deployment === 'break-stream') {
    for (const event of events.slice(0, 3)) res.write(`data: ${JSON.stringify(event)}\n\n`);
    setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  for (const event of events) res.write(`data: ${JSON.stringify(event)}\n\n`);
  res.end('data: [DONE]\n\n');
}

function embeddings(res: ServerResponse, body: Json): void {
  const input = typeof body.input === 'string' ? [body.input] : body.input;
  if (!Array.isArray(input) || input.length === 0 || !input.every((item) => typeof item === 'string')) {
    return sendError(res, 400, { message: "'input' is a required property", type: 'invalid_request_error', param: null, code: null });
  }
  const dimensions = typeof body.dimensions === 'number' ? body.dimensions : 1536;
  const base64 = body.encoding_format === 'base64';
  const tokens = input.reduce((sum: number, text: string) => sum + text.split(/\s+/).length, 0);
  sendJson(res, 200, {
    object: 'list',
    data: input.map((text: string, index) => {
      const values = wordVector(text, dimensions);
      return { object: 'embedding', index, embedding: base64 ? Buffer.from(new Float32Array(values).buffer).toString('base64') : values };
    }),
    model: EMBEDDING_MODEL,
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  writeJson(res, status, body, { 'apim-request-id': randomBytes(16).toString('hex') });
}

function sendError(res: ServerResponse, status: number, error: Json): void {
  sendJson(res, status, { error });
}
