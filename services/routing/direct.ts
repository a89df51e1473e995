import type { Usage } from '../gen/gateway/v1/common.js';
import type { RoutingHints } from '../gen/gateway/v1/routing.js';
import { billedImages } from '../kit/pricing/units.js';
import { measurePrompt } from '../kit/prompt-size.js';
import { invalid, requireModel } from './formats/chat.js';
import { EMPTY_USAGE, ProviderError, type ProviderAdapter, type ProviderCall } from './providers/types.js';
import type { Router, Routed, Target } from './router/router.js';

/**
 * Endpoints answered by one call with no chat translation: the client's body
 * goes to the deployment's provider as it came (model renamed), or is
 * answered by the gateway itself. Token counting and moderations are free at
 * the providers; images and rerank are billed by unit, which their usage says.
 */
export type DirectEndpoint = (
  router: Router,
  body: Record<string, unknown>,
  hints: RoutingHints | undefined,
  signal: AbortSignal,
) => Promise<Routed<unknown> & { usage: Usage }>;

/**
 * Anthropic's /v1/messages/count_tokens: the provider's own count where its
 * adapter has one (Anthropic), else o200k_base over the prompt with the
 * per-message framing governance reserves for, an estimate of what another
 * tokenizer bills.
 */
const countTokens: DirectEndpoint = async (router, body, hints, signal) => {
  const routed = await router.route(requireModel(body), hints, signal, ({ deployment: { provider, model }, credential, signal }: Target) => {
    if (provider.countTokens) return provider.countTokens({ request: { ...body, model }, credential, signal });
    return Promise.resolve({ input_tokens: measurePrompt(Buffer.from(JSON.stringify(body)), body, true).o200kTokens });
  });
  return { ...routed, usage: EMPTY_USAGE };
};

type PassThrough = (provider: ProviderAdapter) => ((call: ProviderCall<Record<string, unknown>>) => Promise<Record<string, unknown>>) | undefined;

/**
 * Routes the client's body as it came to the model's deployments whose provider offers the API at `path` (its
 * capability and its adapter's method); refused at once, naming the API and the model, where none does.
 */
function passThrough(what: string, path: string, method: PassThrough, capable: (provider: ProviderAdapter) => boolean) {
  const offers = (provider: ProviderAdapter) => capable(provider) && method(provider) !== undefined;
  return (router: Router, body: Record<string, unknown>, hints: RoutingHints | undefined, signal: AbortSignal) => {
    const model = requireModel(body);
    const providers = router.catalog.resolve(model).members.map((member) => member.deployment.provider);
    if (!providers.some(offers)) {
      const names = [...new Set(providers.map((p) => `${p.name} (${p.type})`))].join(', ');
      throw invalid(`The model \`${model}\` has no ${what} endpoint: none of its providers (${names}) offers ${path}.`, 'model');
    }
    return router.route(model, hints, signal, ({ deployment: { provider, model }, credential, signal }: Target) => {
      // A fallback may lead to a provider without it: the client's request cannot be served there.
      if (!offers(provider)) throw new ProviderError('bad_request', provider.name, `Provider ${provider.name} has no ${what} endpoint.`);
      return method(provider)!.call(provider, { request: { ...body, model }, credential, signal });
    });
  };
}

const moderate = passThrough(
  'moderation',
  '/v1/moderations',
  (p) => p.moderations,
  (p) => p.capabilities.moderations,
);

/** OpenAI's /v1/moderations, free at OpenAI. */
const moderations: DirectEndpoint = async (...args) => ({ ...(await moderate(...args)), usage: EMPTY_USAGE });

const generate = passThrough(
  'image generation',
  '/v1/images/generations',
  (p) => p.images,
  (p) => p.capabilities.images,
);

/** OpenAI's /v1/images/generations, billed per image made at its quality and size. */
const images: DirectEndpoint = async (router, body, hints, signal) => {
  const routed = await generate(router, body, hints, signal);
  const answer = routed.value as { data: unknown[]; quality?: unknown; size?: unknown };
  const billed = billedImages(body, { made: answer.data.length, quality: answer.quality, size: answer.size });
  return { ...routed, usage: { ...EMPTY_USAGE, billed } };
};

const ranks = passThrough(
  'rerank',
  '/v1/rerank',
  (p) => p.rerank,
  (p) => p.capabilities.rerank,
);

/** Reranking in Cohere's shape (Cohere, vLLM), billed per search unit as the answer's meta says (providers/rerank.ts). */
const rerank: DirectEndpoint = async (router, body, hints, signal) => {
  const routed = await ranks(router, body, hints, signal);
  const { meta } = routed.value as { meta: { billed_units: { search_units: number } } };
  return { ...routed, usage: { ...EMPTY_USAGE, billed: { unit: 'search_unit', quantity: meta.billed_units.search_units, variant: '' } } };
};

export const DIRECT_ENDPOINTS: Record<string, DirectEndpoint> = {
  'messages.count_tokens': countTokens,
  moderations,
  'images.generations': images,
  rerank,
};
