import type { Registry } from 'prom-client';
import type { Logger } from '../kit/log.js';
import { isSecretReference, type SecretStore } from '../kit/secrets/store.js';
import { AdminProviderPolicy, type CredentialField } from './admin-providers.js';
import { routingConfig, type RoutingConfig } from './config.js';
import { createAdapter, type ProviderConfig } from './providers/registry.js';
import type { Connection, ProviderAdapter } from './providers/types.js';
import { ModelCatalog } from './router/catalog.js';
import { RouterMetrics } from './router/metrics.js';
import { Router } from './router/router.js';

/** Providers and models added through the admin API (JSON objects keyed by name). */
export interface AdminEntries {
  providers: Record<string, unknown>;
  models: Record<string, unknown>;
}

/** Fields of provider entries that hold credentials: from the admin API they must be references, never values. */
const SECRET_FIELDS = new Set(['apiKey', 'apiKeys', 'serviceAccount', 'accessKeyId', 'secretAccessKey', 'sessionToken']);

/** The credentials in a provider entry (empty ones are none), each with where it is. */
function credentialFields(tree: unknown, path: string, found: CredentialField[] = []): CredentialField[] {
  if (Array.isArray(tree)) tree.forEach((item, i) => credentialFields(item, `${path}[${i}]`, found));
  else if (tree && typeof tree === 'object') {
    for (const [key, value] of Object.entries(tree)) {
      const at = `${path}.${key}`;
      if (!SECRET_FIELDS.has(key)) credentialFields(value, at, found);
      else if (typeof value === 'string' && value !== '') found.push({ at, value });
      else if (Array.isArray(value)) value.forEach((v, i) => typeof v === 'string' && v !== '' && found.push({ at: `${at}[${i}]`, value: v }));
    }
  }
  return found;
}

function partition<T>(items: T[], test: (item: T) => boolean): [T[], T[]] {
  return [items.filter(test), items.filter((item) => !test(item))];
}

/**
 * The routing table in use: the config file's providers and models, plus those
 * added through the admin API, swapped as one when either changes. Adapters
 * of unchanged providers, and the health of unchanged deployments, carry over.
 */
export class LiveRouting {
  private adapters = new Map<string, { entry: string; adapter: ProviderAdapter }>();
  private current: Router;
  private readonly metrics: RouterMetrics;
  private readonly policy: AdminProviderPolicy;

  constructor(
    private readonly file: RoutingConfig,
    private readonly secrets: SecretStore,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.policy = new AdminProviderPolicy(file.adminProviders);
    this.metrics = new RouterMetrics(
      registry,
      () => this.current.catalog.allDeployments(),
      (id) => this.current.catalog.isConfigured(id),
    );
    this.current = this.build(file);
  }

  get router(): Router {
    return this.current;
  }

  /** What is wrong with the admin entries together with the config file; empty when they can be applied. */
  async check(entries: AdminEntries): Promise<string[]> {
    const problems: string[] = [];
    for (const [kind, names] of [
      ['providers', entries.providers],
      ['models', entries.models],
    ] as const) {
      for (const name of Object.keys(names)) {
        if (name in this.file[kind]) problems.push(`routing.${kind}.${name} is defined in the config file; change it there`);
      }
    }
    const references = new Map<string, CredentialField[]>();
    for (const [name, entry] of Object.entries(entries.providers)) {
      const [given, literal] = partition(credentialFields(entry, `routing.providers.${name}`), (field) => isSecretReference(field.value));
      for (const { at } of literal)
        problems.push(`${at}: give a secret reference (env:NAME, file:/path or vault:<mount>/<path>#<field>), not the secret itself`);
      references.set(name, given);
    }
    const parsed = routingConfig.safeParse(this.merge(entries));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`routing.${issue.path.map(String).join('.')}: ${issue.message}`);
      return problems;
    }
    for (const [name, given] of references) {
      if (!(name in this.file.providers)) problems.push(...this.policy.problems(`routing.providers.${name}`, parsed.data.providers[name]!, given));
    }
    if (problems.length > 0) return problems;
    // Read only now that the operator's policy allows every one of them: a refused reference is never read.
    try {
      await this.secrets.prepare([...references.values()].flat().map((field) => field.value));
    } catch (err) {
      problems.push((err as Error).message);
    }
    return problems;
  }

  /** Makes the admin entries part of the routing table (after check() found no problem). */
  async apply(entries: AdminEntries): Promise<void> {
    const problems = await this.check(entries);
    if (problems.length > 0) throw new Error(`admin-managed routing entries were not applied: ${problems.join('; ')}`);
    this.current = this.build(routingConfig.parse(this.merge(entries)));
    this.log.info({ providers: Object.keys(entries.providers), models: Object.keys(entries.models) }, 'applied providers and models from the admin API');
  }

  async close(): Promise<void> {
    await Promise.all([...this.adapters.values()].map(({ adapter }) => adapter.close()));
  }

  private merge(entries: AdminEntries) {
    return { ...this.file, providers: { ...entries.providers, ...this.file.providers }, models: { ...entries.models, ...this.file.models } };
  }

  private build(config: RoutingConfig): Router {
    const next = new Map<string, { entry: string; adapter: ProviderAdapter }>();
    // The config file's providers are the operator's and connect as Node does; those from the admin API check addresses.
    const adminConnection: Connection = { ...config.timeouts, lookup: this.policy.lookup };
    for (const [name, providerConfig] of Object.entries(config.providers)) {
      const entry = JSON.stringify(providerConfig);
      const kept = this.adapters.get(name);
      const connection = name in this.file.providers ? config.timeouts : adminConnection;
      next.set(name, kept && kept.entry === entry ? kept : { entry, adapter: createAdapter(name, providerConfig as ProviderConfig, connection, this.secrets) });
    }
    for (const [name, { adapter }] of this.adapters) {
      // Closed once calls still in flight on the old table have had time to finish.
      if (next.get(name)?.adapter !== adapter) setTimeout(() => void adapter.close(), config.timeouts.totalMs).unref();
    }
    this.adapters = next;
    const providers = new Map([...next].map(([name, { adapter }]) => [name, adapter]));
    const catalog = new ModelCatalog(config, providers, Date.now, this.current?.catalog);
    return new Router(catalog, config.retry, this.metrics);
  }
}
