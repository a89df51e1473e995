import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { CompletionRequest } from '../gen/gateway/v1/routing.js';
import { familyOf } from '../kit/api-errors.js';
import { GatewayError } from '../kit/errors.js';
import { headerValue } from '../kit/http.js';
import { PASSTHROUGH_APIS, PASSTHROUGH_LATER, passthroughEndpoint, passthroughStreams, type PassthroughApi } from '../kit/passthrough.js';
import { streamed, whole } from './api.js';
import { InboundRequest, type PipelineDeps } from './pipeline.js';

/** The request header naming which configured provider of the API's type a passthrough request goes to. */
const PROVIDER_HEADER = 'x-gateway-provider';

/**
 * Provider-native passthrough, `/<api>/<the provider's own path>` (docs/routing.md, "Provider-native passthrough"):
 * for what the unified API does not cover, with its authentication, admission, budgets, metering and audit. Only the
 * paths kit/passthrough.ts allows, each with its model in the body; every other path, and every other method, is 404.
 */
export function registerPassthrough(app: FastifyInstance, deps: PipelineDeps): void {
  for (const [api, spec] of Object.entries(PASSTHROUGH_APIS)) {
    const config = { family: familyOf(`/${api}/`), endpoint: `/${api}` };
    app.all(`/${api}/*`, { config }, passthrough(deps, api, spec));
  }
  const served = Object.entries(PASSTHROUGH_APIS).flatMap(([api, spec]) => Object.keys(spec.paths).map((path) => `/${api}${path}`));
  for (const api of PASSTHROUGH_LATER) {
    app.all(`/${api}/*`, { config: { endpoint: `/${api}` } }, async () => {
      throw new GatewayError('not_found', `The gateway does not pass requests through to the ${api} API yet; it passes through ${served.join(', ')}.`);
    });
  }
}

function passthrough(deps: PipelineDeps, api: string, spec: PassthroughApi) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    // The path as the provider's API names it; no query string is passed on (none of the allowed paths takes one).
    const path = request.url.slice(api.length + 1).split('?')[0]!;
    if (request.method !== 'POST' || !spec.paths[path]) {
      const allowed = Object.keys(spec.paths).map((p) => `POST /${api}${p}`);
      throw new GatewayError('not_found', `The gateway does not pass ${request.method} /${api}${path} through; it passes through ${allowed.join(', ')}.`);
    }
    const body = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
    const { model } = body as { model?: unknown };
    // No route around model allow-lists and budgets: every allowed path names its model.
    if (typeof model !== 'string' || model === '') throw new GatewayError('invalid_request', "Missing required parameter: 'model'.", { param: 'model' });
    const inbound = new InboundRequest(deps, request, reply, passthroughEndpoint(api, path));
    const named = headerValue(request.headers[PROVIDER_HEADER]) ?? '';
    const streaming = passthroughStreams(api, path, body as Record<string, unknown>);
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
        hints: { strategy: '', deployment: '', noFallbacks: true, maxOutputTokens: inbound.outputCap },
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

/** The client's headers the provider's API reads; its auth (a gateway key) and everything else stay behind. */
function forwarded(request: FastifyRequest, spec: PassthroughApi): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of spec.headers) {
    const value = headerValue(request.headers[name]);
    if (value !== undefined) headers[name] = value;
  }
  return headers;
}
