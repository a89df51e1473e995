import type { Registry } from 'prom-client';
import type { Logger } from '../kit/log.js';
import { isSecretReference, stringsIn, type SecretStore } from '../kit/secrets/store.js';
import { routingConfig, type RoutingConfig } from './config.js';
import { createAdapter, type ProviderConfig } from './providers/registry.js';
import type { ProviderAdapter } from './providers/types.js';
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

function literalSecrets(tree: unknown, path: string, found: string[]): void {
  if (Array.isArray(tree)) tree.forEach((item, i) => literalSecrets(item, `${path}[${i}]`, found));
  else if (tree && typeof tree === 'object') {
    for (const [key, value] of Object.entries(tree)) {
      const at = `${path}.${key}`;
      const values = SECRET_FIELDS.has(key) ? (Array.isArray(value) ? value : [value]) : [];
      if (values.some((v) => typeof v === 'string' && v !== '' && !isSecretReference(v))) found.push(at);
      else literalSecrets(value, at, found);
    }
  }
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

  constructor(
    private readonly file: RoutingConfig,
    private readonly secrets: SecretStore,
    registry: Registry,
    private readonly log: Logger,
  ) {
    this.metrics = new RouterMetrics(registry, () => this.current.catalog.allDeployments(), (id) => this.current.catalog.isConfigured(id));
    this.current = this.build(file);
  }

  get router(): Router {
    return this.current;
  }

  /** What is wrong with the admin entries together with the config file; empty when they can be applied. */
  async check(entries: AdminEntries): Promise<string[]> {
    const problems: string[] = [];
    for (const [kind, names] of [['providers', entries.providers], ['models', entries.models]] as const) {
      for (const name of Object.keys(names)) {
        if (name in this.file[kind]) problems.push(`routing.${kind}.${name} is defined in the config file; change it there`);
      }
    }
    const literal: string[] = [];
    literalSecrets(entries.providers, 'routing.providers', literal);
    for (const at of literal) problems.push(`${at}: give a secret reference (env:NAME, file:/path or vault:<mount>/<path>#<field>), not the secret itself`);
    const parsed = routingConfig.safeParse(this.merge(entries));
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`routing.${issue.path.map(String).join('.')}: ${issue.message}`);
    }
    if (problems.length === 0) {
      try {
        await this.secrets.prepare(stringsIn(entries.providers));
      } catch (err) {
        problems.push((err as Error).message);
      }
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
    for (const [name, providerConfig] of Object.entries(config.providers)) {
      const entry = JSON.stringify(providerConfig);
      const kept = this.adapters.get(name);
      next.set(name, kept && kept.entry === entry ? kept : { entry, adapter: createAdapter(name, providerConfig as ProviderConfig, config.timeouts, this.secrets) });
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
