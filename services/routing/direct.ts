import type { RoutingHints } from '../gen/gateway/v1/routing.js';
import { measurePrompt } from '../kit/prompt-size.js';
import { invalid, requireModel } from './formats/chat.js';
import { ProviderError, type ProviderAdapter } from './providers/types.js';
import type { Router, Routed, Target } from './router/router.js';

/**
 * Endpoints answered by one call with no chat translation: the client's body
 * goes to the deployment's provider as it came (model renamed), or is
 * answered by the gateway itself. Both are free at the providers, so their
 * answers carry no usage.
 */
export type DirectEndpoint = (router: Router, body: Record<string, unknown>, hints: RoutingHints | undefined, signal: AbortSignal) => Promise<Routed<unknown>>;

/**
 * Anthropic's /v1/messages/count_tokens: the provider's own count where its
 * adapter has one (Anthropic), else o200k_base over the prompt with the
 * per-message framing governance reserves for, an estimate of what another
 * tokenizer bills.
 */
const countTokens: DirectEndpoint = (router, body, hints, signal) =>
  router.route(requireModel(body), hints, signal, ({ deployment: { provider, model }, credential, signal }: Target) => {
    if (provider.countTokens) return provider.countTokens({ request: { ...body, model }, credential, signal });
    return Promise.resolve({ input_tokens: measurePrompt(Buffer.from(JSON.stringify(body)), body, true).o200kTokens });
  });

const moderates = (provider: ProviderAdapter) => provider.capabilities.moderations && provider.moderations !== undefined;

/** OpenAI's /v1/moderations, on the model's deployments whose provider serves it; refused at once where none does. */
const moderations: DirectEndpoint = (router, body, hints, signal) => {
  const model = requireModel(body);
  const providers = router.catalog.resolve(model).members.map((member) => member.deployment.provider);
  if (!providers.some(moderates)) {
    const names = [...new Set(providers.map((p) => `${p.name} (${p.type})`))].join(', ');
    throw invalid(`The model \`${model}\` has no moderation endpoint: none of its providers (${names}) offers /v1/moderations.`, 'model');
  }
  return router.route(model, hints, signal, ({ deployment: { provider, model }, credential, signal }: Target) => {
    // A fallback may lead to a provider without it: the client's request cannot be served there.
    if (!moderates(provider)) throw new ProviderError('bad_request', provider.name, `Provider ${provider.name} has no moderation endpoint.`);
    return provider.moderations!({ request: { ...body, model }, credential, signal });
  });
};

export const DIRECT_ENDPOINTS: Record<string, DirectEndpoint> = { 'messages.count_tokens': countTokens, moderations };
