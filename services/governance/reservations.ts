import type { BilledUnits } from '../gen/gateway/v1/common.js';
import type { ResolveModelsResponse } from '../gen/gateway/v1/routing.js';
import type { Logger } from '../kit/log.js';
import type { Money, Pricing } from '../kit/pricing/index.js';
import { picoPerToken } from '../kit/pricing/money.js';

/** A deployment a request may reach. */
export interface Target {
  provider: string;
  model: string;
}

/**
 * A request's prompt as ingress measured it: a bound no tokenizer exceeds, and OpenAI's o200k count (0: not counted);
 * for an API billed by unit (images), the most units it can be billed, which count as part of its prompt's cost.
 */
export interface PromptSize {
  boundTokens: number;
  o200kTokens: number;
  billed?: BilledUnits | undefined;
  /** A line of a batch sent to the provider's batch API: priced at the batch share (kit/pricing). */
  batch?: boolean;
}

/** What one model call may cost at most: its prompt, and each output token, exactly. */
export interface Rates {
  promptTokens: number;
  prompt: Money;
  outputPerToken: Money;
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
  /** What a token of a model without a price is reserved at (config allows only exact prices). */
  private readonly unknownPerToken: Money;
  private resolved = new Map<string, Target[]>();
  private loading: Promise<void> | undefined;
  /** When to ask routing next. */
  private nextLoadAt = 0;

  constructor(
    private readonly pricing: Pricing,
    unknownUsdPerMillion: number,
    private readonly resolve: () => Promise<ResolveModelsResponse>,
    private readonly log: Logger,
  ) {
    this.unknownPerToken = picoPerToken(unknownUsdPerMillion)!;
  }

  /** The worst prompt and output prices over every deployment the model name may reach. */
  async rates(model: string, prompt: PromptSize): Promise<Rates> {
    const targets = await this.targetsOf(model);
    const rates: Rates = { promptTokens: 0, prompt: 0n, outputPerToken: 0n };
    for (const target of targets.length ? targets : [{ provider: '', model }]) {
      const tokens = prompt.o200kTokens > 0 && O200K_MODEL.test(target.model.toLowerCase()) ? prompt.o200kTokens : prompt.boundTokens;
      const worst = (target.provider ? this.pricing.worstRates(target.provider, target.model, prompt.batch) : undefined) ?? {
        prompt: this.unknownPerToken,
        output: this.unknownPerToken,
      };
      // Units at a deployment without a price for them reserve nothing: its ledger row says unpriced (docs/pricing.md).
      const units = prompt.billed && target.provider ? (this.pricing.unitsCost(target.provider, target.model, prompt.billed) ?? 0n) : 0n;
      const promptCost = BigInt(tokens) * worst.prompt + units;
      rates.promptTokens = Math.max(rates.promptTokens, tokens);
      if (promptCost > rates.prompt) rates.prompt = promptCost;
      if (worst.output > rates.outputPerToken) rates.outputPerToken = worst.output;
    }
    return rates;
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
