import { GatewayError } from '../../kit/errors.js';
import type { DeploymentConfig, ModelGroupConfig, RoutingConfig } from '../config.js';
import type { ProviderAdapter } from '../providers/types.js';
import { CredentialPool } from './credentials.js';
import { Deployment, type ModelGroup } from './deployment.js';

/**
 * Groups for `<provider>/<model>` names kept at once: a client can name any
 * model, so the least recently used is forgotten past this (with its health,
 * which only matters for a model in use).
 */
const AD_HOC_GROUPS = 1_000;

/**
 * Every name a client may put in `model`: configured groups and aliases, and
 * `<provider>/<model>` for any configured provider (a one-deployment group,
 * made on first use).
 */
export class ModelCatalog {
  private readonly groups = new Map<string, ModelGroup>();
  /** One-deployment groups of `<provider>/<model>` names, least recently used first. */
  private readonly adHoc = new Map<string, ModelGroup>();
  private readonly deployments = new Map<string, Deployment>();
  /** Ids of the deployments configured groups name. */
  private readonly configured = new Set<string>();
  private readonly pools = new Map<string, CredentialPool>();
  private readonly earlier = new Map<string, Deployment>();

  constructor(
    private readonly config: RoutingConfig,
    private readonly providers: ReadonlyMap<string, ProviderAdapter>,
    /** Time source of circuit breakers and credential cooldowns; tests pass their own. */
    private readonly now: () => number = Date.now,
    /** The catalog this one replaces: deployments that did not change keep their health. */
    previous?: ModelCatalog,
  ) {
    for (const d of previous?.allDeployments() ?? []) this.earlier.set(d.id, d);
    for (const provider of providers.values()) {
      this.pools.set(provider.name, new CredentialPool(provider.credentialCount, now, (i) => provider.credentialStamp?.(i)));
    }
    for (const [name, entry] of Object.entries(config.models)) {
      if (typeof entry !== 'string') this.groups.set(name, this.group(name, entry));
    }
    for (const id of this.deployments.keys()) this.configured.add(id);
  }

  /** The group a model name stands for; throws model_not_found naming what would work. */
  resolve(name: string, seen: ReadonlySet<string> = new Set()): ModelGroup {
    const entry = this.config.models[name];
    if (typeof entry === 'string' && !seen.has(name)) return this.resolve(entry, new Set([...seen, name]));
    const known = this.groups.get(name);
    if (known) return known;
    const recent = this.adHoc.get(name);
    if (recent) {
      this.adHoc.delete(name);
      this.adHoc.set(name, recent);
      return recent;
    }
    const slash = name.indexOf('/');
    const provider = slash > 0 ? this.providers.get(name.slice(0, slash)) : undefined;
    if (!provider || slash === name.length - 1) {
      const groups = Object.keys(this.config.models);
      throw new GatewayError(
        'model_not_found',
        `The model \`${name}\` does not exist. Use a configured model${groups.length ? ` (${groups.join(', ')})` : ''} or <provider>/<model> with a configured provider (${[...this.providers.keys()].join(', ')}).`,
        { param: 'model' },
      );
    }
    const group = this.group(name, {
      deployments: [{ provider: provider.name, model: name.slice(slash + 1), weight: 1 }],
      strategy: 'weighted',
      fallbacks: [],
      contextWindowFallbacks: [],
      contentPolicyFallbacks: [],
    });
    this.adHoc.set(name, group);
    if (this.adHoc.size > AD_HOC_GROUPS) this.forget(this.adHoc.keys().next().value!);
    return group;
  }

  /**
   * Every deployment a request for a configured name may reach: the group's
   * own and those of its fallbacks of every kind, transitively, aliases
   * followed. Governance prices reservations on these.
   */
  configuredTargets(): Map<string, { provider: string; model: string }[]> {
    const targets = new Map<string, { provider: string; model: string }[]>();
    for (const name of Object.keys(this.config.models)) targets.set(name, [...this.reachable(name, new Set()).values()]);
    return targets;
  }

  /** Every deployment a request for `name` may reach (configured or `<provider>/<model>`), its fallbacks' included. */
  targetsOf(name: string): { provider: string; model: string }[] {
    return [...this.reachable(name, new Set()).values()];
  }

  private reachable(
    name: string,
    seen: Set<string>,
    found = new Map<string, { provider: string; model: string }>(),
  ): Map<string, { provider: string; model: string }> {
    if (seen.has(name)) return found;
    seen.add(name);
    const entry = this.config.models[name];
    if (typeof entry === 'string') return this.reachable(entry, seen, found);
    if (entry) {
      for (const d of entry.deployments) found.set(`${d.provider}/${d.model}`, { provider: d.provider, model: d.model });
      for (const next of [...entry.fallbacks, ...entry.contextWindowFallbacks, ...entry.contentPolicyFallbacks]) this.reachable(next, seen, found);
      return found;
    }
    const slash = name.indexOf('/');
    if (slash > 0 && this.providers.has(name.slice(0, slash))) found.set(name, { provider: name.slice(0, slash), model: name.slice(slash + 1) });
    return found;
  }

  /** Whether a configured group names the deployment (else a client made it up as `<provider>/<model>`). */
  isConfigured(id: string): boolean {
    return this.configured.has(id);
  }

  private forget(name: string): void {
    const group = this.adHoc.get(name)!;
    this.adHoc.delete(name);
    for (const { deployment } of group.members) if (!this.configured.has(deployment.id)) this.deployments.delete(deployment.id);
  }

  credentials(provider: string): CredentialPool {
    return this.pools.get(provider)!;
  }

  /** The configured providers, in the order configured (passthrough picks the first of a type). */
  allProviders(): ProviderAdapter[] {
    return [...this.providers.values()];
  }

  allDeployments(): Deployment[] {
    return [...this.deployments.values()];
  }

  /** What /v1/models lists: configured model names, then each provider's listed models. */
  listModels(): { id: string; ownedBy: string }[] {
    const models = Object.keys(this.config.models).map((id) => ({ id, ownedBy: 'gateway' }));
    for (const provider of this.providers.values()) {
      for (const model of provider.models) models.push({ id: `${provider.name}/${model}`, ownedBy: provider.name });
    }
    return models;
  }

  private group(name: string, config: ModelGroupConfig): ModelGroup {
    return {
      name,
      strategy: config.strategy,
      fallbacks: config.fallbacks,
      contextWindowFallbacks: config.contextWindowFallbacks,
      contentPolicyFallbacks: config.contentPolicyFallbacks,
      members: config.deployments.map((d) => ({ deployment: this.deployment(d), weight: d.weight })),
    };
  }

  private deployment(config: DeploymentConfig): Deployment {
    const id = config.id ?? `${config.provider}/${config.model}`;
    let deployment = this.deployments.get(id);
    const before = this.earlier.get(id);
    // A deployment whose provider and model are unchanged keeps its circuit, latency, calls in flight and queue.
    // The first group to name an id sets its cap, as its costs: one deployment, one cap.
    const cap =
      config.maxInFlight === undefined ? undefined : { maxInFlight: config.maxInFlight, queueTimeoutMs: config.queueTimeoutMs ?? this.config.queueTimeoutMs };
    if (!deployment && before && before.provider === this.providers.get(config.provider) && before.model === config.model) {
      deployment = before;
      deployment.slots.setCap(cap);
      this.deployments.set(id, deployment);
    }
    if (!deployment) {
      const cost =
        config.inputCostPerMillion !== undefined || config.outputCostPerMillion !== undefined
          ? (config.inputCostPerMillion ?? 0) + (config.outputCostPerMillion ?? 0)
          : undefined;
      deployment = new Deployment(id, this.providers.get(config.provider)!, config.model, cost, this.config.circuitBreaker, cap, this.now);
      this.deployments.set(id, deployment);
    }
    return deployment;
  }
}
