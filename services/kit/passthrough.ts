/**
 * Provider-native passthrough (docs/routing.md, "Provider-native passthrough"): the provider APIs served under
 * `/<api>/...`, and per API the paths allowed, the provider types that serve it and the client headers its provider
 * reads. Ingress admits by it and routing calls by it, so the two agree on one list.
 */

export interface PassthroughPath {
  /** Whether the call writes output tokens (false: embeddings, token counts), so whether an output cap is reserved. */
  output: boolean;
  /** Where the API's paths decide streaming (`streamedBy: 'path'`): whether this one streams. */
  streams?: boolean;
}

export interface PassthroughApi {
  /** Provider types whose configured providers serve it. */
  types: readonly string[];
  /**
   * Paths as the provider's own API names them (POST only), each naming a model: in its JSON body, or where the path
   * holds `{model}` (Gemini's), in the path.
   */
  paths: Readonly<Record<string, PassthroughPath>>;
  /** Client headers passed on to the provider (lower case); every other header, its auth above all, stays behind. */
  headers: readonly string[];
  /** What asks for a stream: the body's `stream: true` (OpenAI, Anthropic) or the path (Gemini's `:streamGenerateContent`). */
  streamedBy: 'body' | 'path';
  /** A query parameter the API's clients may send their key in (Gemini's `key`): read as the gateway key, never passed on. */
  keyParam?: string;
  /** What a path's `{model}` may be once percent-decoded; default one segment of letters, digits, `.`, `_` and `-`. */
  pathModel?: RegExp;
  /** How a stream is framed: server-sent events, or AWS's binary event stream (Bedrock's). */
  framing?: 'sse' | 'eventstream';
}

/**
 * Provider types whose own Responses API serves the unified /v1/responses natively (routing/responses-native.ts):
 * OpenAI's, and Azure OpenAI's v1 API, which takes the same requests with a deployment as the model.
 */
export const NATIVE_RESPONSES_TYPES: readonly string[] = ['openai', 'azure'];

export const PASSTHROUGH_APIS: Readonly<Record<string, PassthroughApi>> = {
  openai: {
    types: ['openai'],
    paths: {
      '/v1/chat/completions': { output: true },
      '/v1/completions': { output: true },
      '/v1/responses': { output: true },
      '/v1/responses/input_tokens': { output: false },
      '/v1/embeddings': { output: false },
    },
    headers: ['openai-beta'],
    streamedBy: 'body',
  },
  anthropic: {
    types: ['anthropic'],
    paths: {
      '/v1/messages': { output: true },
      '/v1/messages/count_tokens': { output: false },
    },
    headers: ['anthropic-version', 'anthropic-beta'],
    streamedBy: 'body',
  },
  gemini: {
    types: ['gemini'],
    paths: {
      '/v1beta/models/{model}:generateContent': { output: true },
      '/v1beta/models/{model}:streamGenerateContent': { output: true, streams: true },
      '/v1beta/models/{model}:countTokens': { output: false },
      '/v1beta/models/{model}:embedContent': { output: false },
      '/v1beta/models/{model}:batchEmbedContents': { output: false },
    },
    headers: [],
    streamedBy: 'path',
    keyParam: 'key',
  },
  bedrock: {
    types: ['bedrock'],
    paths: {
      '/model/{model}/converse': { output: true },
      '/model/{model}/converse-stream': { output: true, streams: true },
      '/model/{model}/invoke': { output: true },
      '/model/{model}/invoke-with-response-stream': { output: true, streams: true },
    },
    // Read only to refuse them (routing/passthrough-bedrock.ts): AWS applies and bills guardrails outside the gateway.
    headers: ['x-amzn-bedrock-guardrailidentifier', 'x-amzn-bedrock-guardrailversion'],
    streamedBy: 'path',
    // Foundation model and inference profile ids (`us.anthropic.claude-…-v1:0`); ARNs, which name account resources, are not.
    pathModel: /^[A-Za-z0-9][A-Za-z0-9._:-]*$/,
    framing: 'eventstream',
  },
};

/** A model named in a path: one segment of letters, digits, `.`, `_` and `-`, not starting with a dot (no `..`, no `/`, no escapes). */
const PATH_MODEL = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Which listed path a request's path is (its key in `paths`), and the model it names, if it names one; undefined when none. */
export function passthroughRoute(api: string, path: string): { listed: string; model: string | undefined } | undefined {
  const paths = PASSTHROUGH_APIS[api]?.paths ?? {};
  if (paths[path] && !path.includes('{model}')) return { listed: path, model: undefined };
  for (const listed of Object.keys(paths)) {
    const [before, after] = listed.split('{model}');
    if (after === undefined || !path.startsWith(before!) || !path.endsWith(after) || path.length <= before!.length + after.length) continue;
    const model = decoded(path.slice(before!.length, path.length - after.length));
    if (model !== undefined && (PASSTHROUGH_APIS[api]!.pathModel ?? PATH_MODEL).test(model)) return { listed, model };
  }
  return undefined;
}

/** A path segment percent-decoded (the AWS SDK escapes the `:` of model ids); undefined when its escapes are malformed. */
function decoded(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * The endpoint name a passthrough request is recorded under: its listed gateway path, e.g. `/anthropic/v1/messages`
 * or `/gemini/v1beta/models/{model}:generateContent` (the model is the request's, recorded apart).
 */
export const passthroughEndpoint = (api: string, path: string) => `/${api}${path}`;

/** Whether an endpoint name is a passthrough one, and of which API. */
export function passthroughApiOf(endpoint: string): string | undefined {
  const api = /^\/([a-z]+)\//.exec(endpoint)?.[1];
  return api && PASSTHROUGH_APIS[api] ? api : undefined;
}

/** Whether a passthrough request (its listed path) is answered as a stream: a streaming path, or `stream: true` on one that writes output. */
export function passthroughStreams(api: string, listed: string, body: Record<string, unknown>): boolean {
  const spec = PASSTHROUGH_APIS[api];
  const path = spec?.paths[listed];
  return spec?.streamedBy === 'path' ? path?.streams === true : body.stream === true && path?.output === true;
}

/** How an endpoint's streams are framed: AWS's event stream for Bedrock's, server-sent events for every other. */
export function streamFraming(endpoint: string): 'sse' | 'eventstream' {
  return PASSTHROUGH_APIS[passthroughApiOf(endpoint) ?? '']?.framing ?? 'sse';
}

/** Whether a passthrough endpoint writes no output tokens (governance reserves no output for it). */
export function passthroughWithoutOutput(endpoint: string): boolean {
  const api = passthroughApiOf(endpoint);
  return api !== undefined && PASSTHROUGH_APIS[api]!.paths[endpoint.slice(api.length + 1)]?.output === false;
}
