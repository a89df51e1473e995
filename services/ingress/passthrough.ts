import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CompletionRequest } from '../gen/gateway/v1/routing.js';
import { familyOf } from '../kit/api-errors.js';
import { GatewayError } from '../kit/errors.js';
import { headerValue, presentedKey } from '../kit/http.js';
import { PASSTHROUGH_APIS, passthroughEndpoint, passthroughRoute, passthroughStreams, type PassthroughApi } from '../kit/passthrough.js';
import { streamed, whole } from './api.js';
import { InboundRequest, type PipelineDeps } from './pipeline.js';

/** The request header naming which configured provider of the API's type a passthrough request goes to. */
const PROVIDER_HEADER = 'x-gateway-provider';
/** Where a key sent in the URL is put for admission: the header Gemini's own clients send it in. */
const KEY_FROM_QUERY = 'x-goog-api-key';

/**
 * Provider-native passthrough, `/<api>/<the provider's own path>` (docs/routing.md, "Provider-native passthrough"):
 * for what the unified API does not cover, with its authentication, admission, budgets, metering and audit. Only the
 * paths kit/passthrough.ts allows, each naming its model; every other path, and every other method, is 404.
 */
export function registerPassthrough(app: FastifyInstance, deps: PipelineDeps): void {
  for (const [api, spec] of Object.entries(PASSTHROUGH_APIS)) {
    const config = { family: familyOf(`/${api}/`), endpoint: `/${api}` };
    const handler = passthrough(deps, api, spec);
    // POST is what passes through; every other method gets the handler's 404 naming what does, and no place in the OpenAPI document.
    app.post(`/${api}/*`, { config }, handler);
    app.route({ method: app.supportedMethods.filter((method) => method !== 'POST'), url: `/${api}/*`, config, schema: { hide: true }, handler });
  }
}

function passthrough(deps: PipelineDeps, api: string, spec: PassthroughApi) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    // The path as the provider's API names it; of the query string only what the API lists is read.
    const [path = '', search = ''] = request.url.slice(api.length + 1).split('?', 2);
    const route = request.method === 'POST' ? passthroughRoute(api, path) : undefined;
    if (!route) {
      const allowed = Object.keys(spec.paths).map((p) => `POST /${api}${p}`);
      throw new GatewayError('not_found', `The gateway does not pass ${request.method} /${api}${path} through; it passes through ${allowed.join(', ')}.`);
    }
    refuseSigV4(request);
    const query = new URLSearchParams(search);
    if (spec.keyParam && query.get(spec.keyParam) && !presentedKey(request.headers)) {
      // The key in the URL, as the API's REST reference allows; read where every key is read, and never passed on.
      request.headers[KEY_FROM_QUERY] = query.get(spec.keyParam)!;
    }
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
    // No route around model allow-lists and budgets: every allowed path names its model, in the path or the body.
    const model = route.model ?? (body as { model?: unknown }).model;
    if (typeof model !== 'string' || model === '') throw new GatewayError('invalid_request', "Missing required parameter: 'model'.", { param: 'model' });
    if (spec.paths[route.listed]!.streams && spec.framing !== 'eventstream' && query.get('alt') !== 'sse') {
      throw new GatewayError('invalid_request', `The gateway streams /${api}${path} as server-sent events only: add ?alt=sse.`, { param: 'alt' });
    }
    const inbound = new InboundRequest(deps, request, reply, passthroughEndpoint(api, route.listed));
    const named = headerValue(request.headers[PROVIDER_HEADER]) ?? '';
    const streaming = passthroughStreams(api, route.listed, body as Record<string, unknown>);
    // Which provider serves it decides the name the key's allowed models and its budgets see; a key is checked
    // before the answer says whether a provider exists.
    const chosen = await deps.clients.routing.passthroughProvider({ api, provider: named }).then(
      ({ provider }) => ({ provider, refused: undefined }),
      (refused: unknown) => ({ provider: named || api, refused }),
    );
    const admitted = `${chosen.provider}/${model}`;
    let call: CompletionRequest;
    try {
      await inbound.admit(admitted, { raw: request.rawBody, parsed: body });
      if (chosen.refused) throw chosen.refused;
      call = {
        context: inbound.context,
        endpoint: inbound.endpoint,
        body: request.rawBody ?? Buffer.from(JSON.stringify(body)),
        hints: { strategy: '', deployment: '', noFallbacks: true, maxOutputTokens: inbound.outputCap, anthropicBeta: [] },
        replay: undefined,
        keepAnswer: false,
        cache: undefined,
        uploads: [],
        passthrough: { provider: chosen.provider, api, path, headers: forwarded(request, spec) },
      };
    } catch (err) {
      throw inbound.fail(err, admitted, streaming);
    }
    if (streaming) return streamed(deps, inbound, request, reply, call, admitted);
    return whole(deps, inbound, reply, call, admitted);
  };
}

/**
 * A request signed with AWS SigV4 carries an access key id and a signature, never a secret the gateway could check
 * (docs/routing.md, "Bedrock"): refused, saying how an AWS SDK sends the gateway key instead.
 */
function refuseSigV4(request: FastifyRequest): void {
  if (!/^AWS4-HMAC-SHA256\s/i.test(headerValue(request.headers.authorization) ?? '')) return;
  throw new GatewayError(
    'invalid_api_key',
    "The gateway does not take AWS SigV4 signatures: send your gateway key as a Bedrock API key (Authorization: Bearer <key>; the AWS SDK's `token` or AWS_BEARER_TOKEN_BEDROCK).",
  );
}

/** The client's headers the provider's API reads; its auth (a gateway key) and everything else stay behind. */
function forwarded(request: FastifyRequest, spec: PassthroughApi): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of spec.headers) {
    const value = headerValue(request.headers[name]);
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}
