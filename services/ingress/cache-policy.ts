import { Counter, type Registry } from 'prom-client';
import type { CachePolicy } from '../gen/gateway/v1/caching.js';

/** How long a policy learned from caching is trusted before the next request asks caching again. */
const POLICY_TRUST_MS = 10_000;

/**
 * What caching never caches, as its last answer said: requests it would skip
 * are not sent to it at all for a while (one call fewer per request in split
 * mode, most requests not being cacheable), then one is, to hear of a change.
 */
export class CachePolicyMemo {
  private policy: CachePolicy | undefined;
  private learnedAt = 0;
  private readonly skipped: Counter;

  constructor(
    metrics: Registry,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.skipped = new Counter({
      name: 'gateway_cache_skipped_by_ingress_total',
      help: "Requests ingress did not ask caching about because caching's policy skips them (caching off, or a generation without temperature 0 while caching.cacheNonDeterministic is off); not in gateway_cache_lookups_total.",
      registers: [metrics],
    });
  }

  learn(policy: CachePolicy | undefined): void {
    this.policy = policy;
    this.learnedAt = this.now();
  }

  /** True when caching, as last heard, skips this request whatever else it holds; counts it. */
  skipsRequest(endpoint: string, body: Record<string, unknown>): boolean {
    const policy = this.policy;
    if (!policy || this.now() - this.learnedAt > POLICY_TRUST_MS) return false;
    const skips = policy.disabled || (policy.deterministicOnly && endpoint !== 'embeddings' && body.temperature !== 0);
    if (skips) this.skipped.inc();
    return skips;
  }
}
