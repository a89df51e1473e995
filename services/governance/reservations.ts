import type { ResolveModelsResponse } from '../gen/gateway/v1/routing.js';
import type { Logger } from '../kit/log.js';
import type { Pricing } from '../kit/pricing/index.js';

/** A deployment a request may reach. */
export interface Target {
  provider: string;
  model: string;
}

/** A request's prompt as ingress measured it: a bound no tokenizer exceeds, and OpenAI's o200k count (0: not counted). */
export interface PromptSize {
  boundTokens: number;
  o200kTokens: number;
}

/** What one model call may cost at most: its prompt, and each output token. */
export interface Rates {
  promptTokens: number;
  promptUsd: number;
  outputUsdPerToken: number;
}

/** OpenAI's models that count in o200k_base (gpt-4o and later, the o-series): their prompt is counted exactly. */
const O200K_MODEL = /^(?:gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|chatgpt-4o|o1|o3|o4|codex)(?:[-.:@]|$)/;

/** How long what routing answered is used before it is asked again (admin-managed models change at run time). */
const FRESH_MS = 30_000;
/** How soon routing is asked again after it did not answer. */
const RETRY_MS = 5_000;

/**
 * Prices reservations on the deployments a request may reach rather than on
 * the name it sent: an alias or group is every deployment of it and of its
 * fallbacks (routing resolves them: ResolveModels), and the worst of them is
 * what is reserved. A model with no price is reserved at
 * unknownModelCostPerMillion.
 */
export class ReservationPricer {
  private resolved = new Map<string, Target[]>();
  private loading: Promise<void> | undefined;
  /** When to ask routing next. */
  private nextLoadAt = 0;

  constructor(
    private readonly pricing: Pricing,
    private readonly unknownUsdPerMillion: number,
    private readonly resolve: () => Promise<ResolveModelsResponse>,
    private readonly log: Logger,
  ) {}

  /** The worst prompt and output prices over every deployment the model name may reach. */
  async rates(model: string, prompt: PromptSize): Promise<Rates> {
    const targets = await this.targetsOf(model);
    let promptTokens = 0;
    let promptUsd = 0;
    let outputUsdPerToken = 0;
    for (const target of targets.length ? targets : [{ provider: '', model }]) {
      const tokens = prompt.o200kTokens > 0 && O200K_MODEL.test(target.model.toLowerCase()) ? prompt.o200kTokens : prompt.boundTokens;
      const price = target.provider ? this.pricing.priceOf(target.provider, target.model) : undefined;
      // Writing to a prompt cache costs more than plain input on some providers: the worst is reserved.
      const inputPerToken = (price ? Math.max(price.input, price.cacheWrite ?? 0) : this.unknownUsdPerMillion) / 1_000_000;
      const outputPerToken = (price ? price.output : this.unknownUsdPerMillion) / 1_000_000;
      promptTokens = Math.max(promptTokens, tokens);
      promptUsd = Math.max(promptUsd, tokens * inputPerToken);
      outputUsdPerToken = Math.max(outputUsdPerToken, outputPerToken);
    }
    return { promptTokens, promptUsd, outputUsdPerToken };
  }

  private async targetsOf(model: string): Promise<Target[]> {
    await this.load();
    const configured = this.resolved.get(model);
    if (configured) return configured;
    const slash = model.indexOf('/');
    return slash > 0 ? [{ provider: model.slice(0, slash), model: model.slice(slash + 1) }] : [];
  }

  /**
   * Asks routing at the first request and every FRESH_MS after; requests wait
   * only for the first answer. Until routing has answered, names are priced as
   * sent (a configured name at unknownModelCostPerMillion).
   */
  private load(): Promise<void> {
    const now = performance.now();
    if (now < this.nextLoadAt) return Promise.resolve();
    const first = this.nextLoadAt === 0;
    this.nextLoadAt = now + FRESH_MS;
    this.loading ??= this.resolve()
      .then(({ models }) => void (this.resolved = new Map(models.map((m) => [m.name, m.targets]))))
      .catch((err: unknown) => {
        this.nextLoadAt = performance.now() + RETRY_MS;
        this.log.warn({ err }, 'cannot ask routing what its model names resolve to; pricing reservations by the name sent');
      })
      .finally(() => (this.loading = undefined));
    return first ? this.loading : Promise.resolve();
  }
}
