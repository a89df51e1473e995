import type { Strategy } from '../../routing/config.js';
import { MIN_TOKEN_LENGTH } from '../../kit/token-strength.js';
import type { Report } from './report.js';

type Tree = Record<string, unknown>;

export const FALLBACK_KINDS = {
  fallbacks: 'fallbacks',
  context_window_fallbacks: 'contextWindowFallbacks',
  content_policy_fallbacks: 'contentPolicyFallbacks',
} as const;

type FallbackKind = (typeof FALLBACK_KINDS)[keyof typeof FALLBACK_KINDS];

/** router_settings, litellm_settings and general_settings, as this gateway's routing and log settings. */
export interface Settings {
  strategy: Strategy;
  fallbacks: Record<FallbackKind, Map<string, string[]>>;
  aliases: Record<string, string>;
  retry: { maxAttempts?: number; baseDelayMs?: number };
  circuitBreaker: { failureThreshold?: number; windowMs?: number; openMs?: number };
  timeouts: { totalMs?: number; firstByteMs?: number };
  logLevel: 'debug' | undefined;
}

const STRATEGIES: Record<string, Strategy> = {
  'simple-shuffle': 'weighted',
  'least-busy': 'least-in-flight',
  'latency-based-routing': 'lowest-latency',
  'cost-based-routing': 'lowest-cost',
  'usage-based-routing': 'weighted',
  'usage-based-routing-v2': 'weighted',
};

const REDIS = 'no Redis here; docs/scaling.md says what replicas share and how';
const CALLBACKS = 'no callbacks here: every request is an event; send them to a SIEM with audit.sinks, read the usage ledger, scrape /metrics (docs/audit.md)';
const BUDGETS = 'budgets belong to keys, teams and customers here (docs/governance.md); `gateway import litellm --database` (coming) carries them over';

/** Why a setting has no equivalent, where there is more to say than that. */
const REASONS: Record<string, Record<string, string>> = {
  router_settings: {
    redis_host: REDIS,
    redis_port: REDIS,
    redis_password: REDIS,
    redis_url: REDIS,
    stream_timeout: 'no separate timeout for streams: routing.timeouts.firstByteMs and idleMs bound a stream',
    enable_pre_call_checks: "no check before the call: a prompt too long for a model goes to its group's contextWindowFallbacks",
    retry_policy: 'no retries by error type: docs/routing.md says what each failure does',
    allowed_fails_policy: 'no cooldowns by error type: docs/routing.md says what each failure does',
    disable_cooldowns: 'circuit breakers cannot be switched off; raise routing.circuitBreaker.failureThreshold instead',
    provider_budget_config: BUDGETS,
  },
  litellm_settings: {
    callbacks: CALLBACKS,
    success_callback: CALLBACKS,
    failure_callback: CALLBACKS,
    service_callback: CALLBACKS,
    cache: 'the response cache is on by default (caching.enabled; docs/caching.md); LiteLLM cache backends do not carry over',
    cache_params: 'the response cache is configured in the caching section (docs/caching.md)',
    json_logs: "not needed: the gateway's logs are JSON lines",
    drop_params: 'no switch: each provider adapter leaves out what its API does not accept (README, "Providers")',
    max_budget: BUDGETS,
    budget_duration: BUDGETS,
  },
  general_settings: {
    master_key: `not carried over: the owner's admin token is governance.adminToken (at least ${MIN_TOKEN_LENGTH} characters) and calls no models; applications use virtual keys (gateway keys create; \`--database\`, coming, keeps LiteLLM's)`,
    database_url:
      'not carried over: the gateway keeps its own tables, so give database.url a database of its own; `gateway import litellm --database` (coming) reads keys, teams and budgets from this one',
    alerting: 'no alerting here: alert on /metrics (docs/metrics.md ships Prometheus rules)',
    store_model_in_db: 'providers added while the gateway runs go through the admin API (routing.adminProviders)',
  },
};

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A count or a duration in seconds as LiteLLM writes it; anything else is reported and left out. */
function numberAt(value: unknown, path: string, report: Report): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number' && value >= 0) return value;
  report.dropped(path, 'left out: expected a number of 0 or more');
  return undefined;
}

const milliseconds = (seconds: number | undefined) => (seconds ? Math.round(seconds * 1000) : undefined);

/** `groups`: the model groups of the output; `leftOut`: model_names whose every model_list entry was left out. */
export function convertSettings(doc: Tree, groups: ReadonlySet<string>, leftOut: ReadonlySet<string>, report: Report): Settings {
  const router = isTree(doc.router_settings) ? doc.router_settings : {};
  const litellm = isTree(doc.litellm_settings) ? doc.litellm_settings : {};
  // The keys read from each section; every other key is reported.
  const read = { router_settings: new Set<string>(), litellm_settings: new Set<string>() };
  const take = (key: string): { value: unknown; path: string } | undefined => {
    read.router_settings.add(key);
    read.litellm_settings.add(key);
    if (key in router) {
      if (key in litellm) report.dropped(`litellm_settings.${key}`, `router_settings.${key} is used, as LiteLLM's router does`);
      return { value: router[key], path: `router_settings.${key}` };
    }
    return key in litellm ? { value: litellm[key], path: `litellm_settings.${key}` } : undefined;
  };

  const settings: Settings = {
    strategy: 'weighted',
    fallbacks: { fallbacks: new Map(), contextWindowFallbacks: new Map(), contentPolicyFallbacks: new Map() },
    aliases: {},
    retry: {},
    circuitBreaker: {},
    timeouts: {},
    logLevel: undefined,
  };

  const strategy = take('routing_strategy');
  if (strategy) {
    const name = String(strategy.value);
    const mapped = STRATEGIES[name];
    if (!mapped) report.dropped(strategy.path, `"${name}" has no equivalent; groups use the weighted strategy (docs/routing.md)`);
    else settings.strategy = mapped;
    if (name.startsWith('usage-based-routing'))
      report.changed(strategy.path, "no usage-based strategy here: groups are weighted by their deployments' rpm (else tpm), the shares LiteLLM aims for");
  }

  const missing = (name: unknown) =>
    typeof name === 'string' && leftOut.has(name) ? `every model_list entry of "${name}" was left out` : `"${String(name)}" is not a model_name of model_list`;
  const aliases = take('model_group_alias');
  if (aliases && isTree(aliases.value))
    for (const [alias, target] of Object.entries(aliases.value)) {
      const group = isTree(target) ? target.model : target;
      if (typeof group === 'string' && groups.has(group)) settings.aliases[alias] = group;
      else report.dropped(`${aliases.path}.${alias}`, `left out: ${missing(group)}`);
    }

  const known = (name: string) => groups.has(name) || name in settings.aliases;
  const targets = (value: unknown, path: string, source: string): string[] => {
    const list = Array.isArray(value) ? value : [value];
    return list.filter((target, i) => {
      const ok = typeof target === 'string' && known(target) && target !== source;
      if (!ok) report.dropped(`${path}[${i}]`, `left out of the fallbacks: ${target === source ? 'the group itself' : missing(target)}`);
      return ok;
    }) as string[];
  };
  const defaults = take('default_fallbacks');
  for (const [litellmKey, kind] of Object.entries(FALLBACK_KINDS)) {
    const found = take(litellmKey);
    if (!found) continue;
    if (!Array.isArray(found.value)) {
      report.dropped(found.path, 'expected a list of {model_name: [fallbacks]}');
      continue;
    }
    found.value.forEach((rule: unknown, i) => {
      for (const [source, list] of Object.entries(isTree(rule) ? rule : {})) {
        const path = `${found.path}[${i}].${source}`;
        // "*" is LiteLLM's rule for every group that has none of its own.
        const sources = source === '*' ? [...groups] : [source];
        if (source !== '*' && !groups.has(source)) report.dropped(path, `left out: ${missing(source)}`);
        else
          for (const group of sources)
            if (source !== '*' || !settings.fallbacks[kind].has(group)) settings.fallbacks[kind].set(group, targets(list, path, group));
      }
    });
  }
  if (defaults)
    for (const group of groups)
      if (!settings.fallbacks.fallbacks.has(group)) settings.fallbacks.fallbacks.set(group, targets(defaults.value, defaults.path, group));

  const retriesAt = take('num_retries');
  const retries = retriesAt && numberAt(retriesAt.value, retriesAt.path, report);
  if (retriesAt && retries !== undefined) {
    // LiteLLM gives each group it tries (the requested one, then each fallback) num_retries + 1 calls.
    const longest = Math.max(0, ...[...settings.fallbacks.fallbacks.values()].map((list) => list.length));
    settings.retry.maxAttempts = Math.min(50, Math.floor(retries + 1) * (longest + 1));
    report.changed(
      retriesAt.path,
      `routing.retry.maxAttempts: ${settings.retry.maxAttempts}, calls per request in all; each deployment is tried routing.retry.attemptsPerDeployment times before the next (docs/routing.md)`,
    );
  }
  for (const key of ['retry_after', 'allowed_fails', 'cooldown_time', 'timeout']) read.router_settings.add(key);
  for (const key of ['request_timeout', 'set_verbose']) read.litellm_settings.add(key);
  const retryAfter = milliseconds(numberAt(router.retry_after, 'router_settings.retry_after', report));
  if (retryAfter !== undefined) settings.retry.baseDelayMs = retryAfter;

  const allowedFails = numberAt(router.allowed_fails, 'router_settings.allowed_fails', report);
  if (allowedFails !== undefined) {
    // LiteLLM cools a deployment down once it fails more than allowed_fails times in a minute.
    settings.circuitBreaker = { failureThreshold: Math.floor(allowedFails) + 1, windowMs: 60_000 };
    report.changed(
      'router_settings.allowed_fails',
      "counts 5xx, network errors and timeouts; a 429 leaves only its credential out, for the provider's Retry-After",
    );
  }
  const cooldown = milliseconds(numberAt(router.cooldown_time, 'router_settings.cooldown_time', report));
  if (cooldown !== undefined) settings.circuitBreaker.openMs = cooldown;

  const total = milliseconds(
    numberAt(router.timeout, 'router_settings.timeout', report) ?? numberAt(litellm.request_timeout, 'litellm_settings.request_timeout', report),
  );
  if (total !== undefined) settings.timeouts = { totalMs: total, firstByteMs: Math.min(total, 60_000) };
  if (router.timeout !== undefined && litellm.request_timeout !== undefined)
    report.dropped('litellm_settings.request_timeout', "router_settings.timeout is used, as LiteLLM's router does");

  if (litellm.set_verbose === true) settings.logLevel = 'debug';

  for (const [section, tree] of [
    ['router_settings', router],
    ['litellm_settings', litellm],
    ['general_settings', isTree(doc.general_settings) ? doc.general_settings : {}],
  ] as const)
    for (const key of Object.keys(tree))
      if (section === 'general_settings' || !read[section].has(key)) report.dropped(`${section}.${key}`, REASONS[section]?.[key] ?? 'no equivalent here');
  return settings;
}
