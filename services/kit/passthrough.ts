/**
 * Provider-native passthrough (docs/routing.md, "Provider-native passthrough"): the provider APIs served under
 * `/<api>/...`, and per API the paths allowed, the provider types that serve it and the client headers its provider
 * reads. Ingress admits by it and routing calls by it, so the two agree on one list.
 */

export interface PassthroughPath {
  /** Whether the call writes output tokens (false: embeddings, token counts), so whether an output cap is reserved. */
  output: boolean;
}

export interface PassthroughApi {
  /** Provider types whose configured providers serve it. */
  types: readonly string[];
  /** Paths as the provider's own API names them (POST only), each with a model in its JSON body. */
  paths: Readonly<Record<string, PassthroughPath>>;
  /** Client headers passed on to the provider (lower case); every other header, its auth above all, stays behind. */
  headers: readonly string[];
}

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
  },
  anthropic: {
    types: ['anthropic'],
    paths: {
      '/v1/messages': { output: true },
      '/v1/messages/count_tokens': { output: false },
    },
    headers: ['anthropic-version', 'anthropic-beta'],
  },
};

/** Provider APIs whose passthrough is not served yet: refused with 404, naming what is. */
export const PASSTHROUGH_LATER = ['gemini', 'bedrock'] as const;

/** The endpoint name a passthrough request is recorded under: its gateway path, e.g. `/anthropic/v1/messages`. */
export const passthroughEndpoint = (api: string, path: string) => `/${api}${path}`;

/** Whether an endpoint name is a passthrough one, and of which API. */
export function passthroughApiOf(endpoint: string): string | undefined {
  const api = /^\/([a-z]+)\//.exec(endpoint)?.[1];
  return api && PASSTHROUGH_APIS[api] ? api : undefined;
}

/** Whether a passthrough request is answered as a stream: it asks (`stream: true`) on a path that writes output. */
export function passthroughStreams(api: string, path: string, body: Record<string, unknown>): boolean {
  return body.stream === true && PASSTHROUGH_APIS[api]?.paths[path]?.output === true;
}

/** Whether a passthrough endpoint writes no output tokens (governance reserves no output for it). */
export function passthroughWithoutOutput(endpoint: string): boolean {
  const api = passthroughApiOf(endpoint);
  return api !== undefined && PASSTHROUGH_APIS[api]!.paths[endpoint.slice(api.length + 1)]?.output === false;
}
