import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import type { Attempt } from '../../gen/gateway/v1/common.js';
import type { RoutingHints } from '../../gen/gateway/v1/routing.js';
import { GatewayError } from '../../kit/errors.js';
import { STRATEGIES, type RoutingConfig, type Strategy } from '../config.js';
import { ProviderError } from '../providers/types.js';
import type { ModelCatalog } from './catalog.js';
import type { Deployment, ModelGroup } from './deployment.js';
import { RouterMetrics } from './metrics.js';
import { orderDeployments, roomFirst } from './strategy.js';

export type Reason = 'initial' | 'retry' | 'credential_rotation' | 'fallback' | 'context_window_fallback' | 'content_policy_fallback';

export interface Target {
  deployment: Deployment;
  credential: number;
  signal: AbortSignal;
  /** Set by a call whose work goes on after it returns (a stream, read later): the deployment's slot is held until it aborts. */
  heldUntil?: AbortSignal;
}

export interface Routed<T> {
  value: T;
  deployment: Deployment;
  attempts: Attempt[];
  /** Time the request's calls waited for a slot of a deployment at its maxInFlight; undefined when none waited. */
  queuedMs: number | undefined;
}

/** What a request's provider calls add up to while it is routed. */
interface Tally {
  readonly attempts: Attempt[];
  queuedMs: number;
}

/** What a call returned that should count as a refusal (e.g. finish_reason content_filter). */
export type Inspect<T> = (value: T, deployment: Deployment) => ProviderError | undefined;

type DeploymentOutcome<T> =
  | { kind: 'ok'; value: T }
  | { kind: 'next'; error?: GatewayError; noCredential?: boolean }
  | { kind: 'redirect'; to: readonly string[]; reason: Reason; error: GatewayError }
  | { kind: 'fatal'; error: GatewayError };

/**
 * Runs one request against a model group: deployments in strategy order (or
 * the pinned one first), retries with exponential backoff and jitter
 * (honouring Retry-After), another credential of the same provider on 401,
 * 402 and 429, circuit breakers that count provider faults only, then the
 * group's fallbacks; a prompt too long or a content-policy refusal jumps to
 * the fallbacks configured for it. Every provider call is recorded as an
 * Attempt. docs/routing.md tells how these combine.
 */
export class Router {
  private readonly metrics: RouterMetrics;

  constructor(
    readonly catalog: ModelCatalog,
    private readonly retry: RoutingConfig['retry'],
    metrics: Registry | RouterMetrics,
    /** How the router waits before a retry; tests pass a recorder. */
    private readonly wait: (ms: number, signal: AbortSignal) => Promise<unknown> = (ms, signal) => sleep(ms, undefined, { signal }),
  ) {
    this.metrics =
      metrics instanceof RouterMetrics
        ? metrics
        : new RouterMetrics(
            metrics,
            () => catalog.allDeployments(),
            (id) => catalog.isConfigured(id),
          );
  }

  async route<T>(
    model: string,
    hints: RoutingHints | undefined,
    signal: AbortSignal,
    call: (target: Target) => Promise<T>,
    inspect?: Inspect<T>,
  ): Promise<Routed<T>> {
    const tally: Tally = { attempts: [], queuedMs: 0 };
    try {
      return await this.run(model, hints, signal, tally, call, inspect);
    } catch (err) {
      // Whatever ends the request, the provider calls made before it stay on the record.
      if (err instanceof GatewayError) err.attempts = tally.attempts;
      throw err;
    }
  }

  private async run<T>(
    model: string,
    hints: RoutingHints | undefined,
    signal: AbortSignal,
    tally: Tally,
    call: (target: Target) => Promise<T>,
    inspect?: Inspect<T>,
  ): Promise<Routed<T>> {
    const { attempts } = tally;
    const primary = this.catalog.resolve(model);
    const strategy = parseStrategy(hints?.strategy);
    // A pin narrows the first choice only: checked before any call, and the group's fallbacks still follow it.
    const pinned = hints?.deployment ? pinnedDeployment(primary, hints.deployment) : undefined;
    const single = hints?.noFallbacks === true;
    const queue: { group: ModelGroup; reason: Reason }[] = [{ group: primary, reason: 'initial' }];
    if (!single) for (const name of primary.fallbacks) queue.push({ group: this.catalog.resolve(name), reason: 'fallback' });
    const visited = new Set<string>();
    let lastError: GatewayError | undefined;
    let refusedByCircuit = false;
    let noCredential = false;

    while (queue.length > 0) {
      const { group, reason: groupReason } = queue.shift()!;
      if (visited.has(group.name)) continue;
      visited.add(group.name);
      let reason = groupReason;
      const candidates = group === primary && pinned ? [pinned] : roomFirst(orderDeployments(group.members, strategy ?? group.strategy));
      for (const deployment of candidates) {
        if (attempts.length >= this.retry.maxAttempts) break;
        if (!deployment.breaker.tryAcquire()) {
          refusedByCircuit = true;
          continue;
        }
        const outcome = await this.tryDeployment(deployment, group, reason, tally, signal, single, call, inspect);
        if (outcome.kind === 'ok') return { value: outcome.value, deployment, attempts, queuedMs: tally.queuedMs || undefined };
        if (outcome.kind === 'next' && outcome.noCredential) noCredential = true;
        if (outcome.kind === 'fatal') throw outcome.error;
        lastError = outcome.error ?? lastError;
        if (outcome.kind === 'redirect') {
          if (single) break;
          queue.unshift(...outcome.to.map((name) => ({ group: this.catalog.resolve(name), reason: outcome.reason })));
          break;
        }
        reason = 'fallback';
        if (single) break;
      }
      if (single) break;
    }
    if (lastError) throw lastError;
    throw new GatewayError(
      'service_unavailable',
      refusedByCircuit
        ? `Every deployment for model \`${model}\` is failing and paused (circuit open); try again shortly.`
        : noCredential
          ? `Every credential of the providers for model \`${model}\` is paused after being refused (401, 402) or rate limited (429); an admin must fix the provider keys, or retry later.`
          : `No deployment for model \`${model}\` could be tried.`,
    );
  }

  /** Tries one deployment: its credentials in turn, and retries on transient failures. */
  private async tryDeployment<T>(
    deployment: Deployment,
    group: ModelGroup,
    firstReason: Reason,
    tally: Tally,
    signal: AbortSignal,
    single: boolean,
    call: (target: Target) => Promise<T>,
    inspect: Inspect<T> | undefined,
  ): Promise<DeploymentOutcome<T>> {
    const { attempts } = tally;
    const pool = this.catalog.credentials(deployment.provider.name);
    const refused = new Set<number>();
    let reason = firstReason;
    let tries = 0;
    // The wait a 429 asked for (or a short default): the next try on this credential waits at least this long.
    let rateLimitWaitMs: number | undefined;
    let lastError: GatewayError | undefined;
    while (tries < this.retry.attemptsPerDeployment && attempts.length < this.retry.maxAttempts) {
      signal.throwIfAborted();
      const credential = pool.pick(refused);
      if (credential === undefined) {
        deployment.breaker.release();
        return { kind: 'next', error: lastError, noCredential: lastError === undefined };
      }
      // Deployments at their cap come after those with room (roomFirst): a call waits here when all were full, or it was pinned.
      if (!deployment.slots.tryTake()) {
        const queued = performance.now();
        if (!(await this.queue(deployment, signal, tally))) {
          const { maxInFlight, queueTimeoutMs } = deployment.slots.cap!;
          const error = new GatewayError(
            'overloaded',
            `Deployment ${deployment.id} has its most calls in flight (maxInFlight ${maxInFlight}) and none ended within ${queueTimeoutMs} ms; retry later.`,
          );
          this.record(attempts, deployment, credential, reason, queued, error);
          deployment.breaker.release();
          return { kind: 'next', error };
        }
      }
      const stamp = pool.stampOf(credential);
      const started = performance.now();
      const target: Target = { deployment, credential, signal };
      let error: ProviderError | GatewayError;
      try {
        const value = await call(target);
        const refusal = inspect?.(value, deployment);
        if (!refusal || group.contentPolicyFallbacks.length === 0) {
          deployment.breaker.success();
          deployment.observeLatency(performance.now() - started);
          this.record(attempts, deployment, credential, reason, started, undefined);
          return { kind: 'ok', value };
        }
        error = refusal;
      } catch (err) {
        if (signal.aborted) {
          // The client went away: its cancellation says nothing about the provider.
          deployment.breaker.release();
          throw err;
        }
        error = err instanceof GatewayError ? err : unbuildable(err, deployment.provider.name);
      } finally {
        if (target.heldUntil) deployment.slots.releaseWhen(target.heldUntil);
        else deployment.slots.release();
      }
      this.record(attempts, deployment, credential, reason, started, error);
      lastError = error;
      // Anything but a ProviderError is the request's fault or the gateway's: answered at once, never counted.
      const kind = error instanceof ProviderError ? error.kind : 'bad_request';
      switch (kind) {
        case 'bad_request':
          deployment.breaker.release();
          return { kind: 'fatal', error };
        case 'context_window':
        case 'content_policy': {
          deployment.breaker.release();
          const to = kind === 'context_window' ? group.contextWindowFallbacks : group.contentPolicyFallbacks;
          if (to.length === 0) return { kind: 'fatal', error };
          return { kind: 'redirect', to, reason: kind === 'context_window' ? 'context_window_fallback' : 'content_policy_fallback', error };
        }
        case 'auth':
        case 'payment':
          deployment.breaker.release();
          pool.cooldown(credential, this.retry.credentialCooldownMs, stamp);
          refused.add(credential);
          reason = 'credential_rotation';
          continue;
        case 'rate_limit': {
          // A quota, not a fault: the credential waits out its Retry-After, the deployment's circuit is not touched.
          rateLimitWaitMs = (error as ProviderError).retryAfterMs ?? this.retry.baseDelayMs;
          pool.cooldown(credential, rateLimitWaitMs, stamp);
          refused.add(credential);
          if (pool.available(refused)) {
            reason = 'credential_rotation';
            continue;
          }
          // Every credential is limited: wait for the first to be free again (below), or move on.
          deployment.breaker.release();
          refused.clear();
          break;
        }
        default:
          // server, network, timeout: the provider's faults, the only ones a circuit counts.
          deployment.breaker.failure();
      }
      tries++;
      const done = single || tries >= this.retry.attemptsPerDeployment || attempts.length >= this.retry.maxAttempts || deployment.breaker.state === 'open';
      if (done) return { kind: 'next', error };
      const delay = this.backoff(tries, rateLimitWaitMs ?? (error instanceof ProviderError ? error.retryAfterMs : undefined));
      rateLimitWaitMs = undefined;
      if (delay === undefined) return { kind: 'next', error };
      await this.wait(delay, signal);
      if (!deployment.breaker.tryAcquire()) return { kind: 'next', error };
      reason = 'retry';
    }
    deployment.breaker.release();
    return { kind: 'next', error: lastError };
  }

  /** Waits in the deployment's queue: true with a slot, false when its queueTimeoutMs passed; throws when the client went away. */
  private async queue(deployment: Deployment, signal: AbortSignal, tally: Tally): Promise<boolean> {
    const started = performance.now();
    try {
      return await deployment.slots.wait(signal);
    } catch (err) {
      deployment.breaker.release();
      throw err;
    } finally {
      const ms = performance.now() - started;
      tally.queuedMs += ms;
      this.metrics.queued(deployment, ms);
    }
  }

  /** Exponential backoff with jitter; a Retry-After longer than maxDelayMs means move on (undefined). */
  private backoff(tries: number, retryAfterMs: number | undefined): number | undefined {
    const exponential = Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (tries - 1));
    const jittered = exponential / 2 + Math.random() * (exponential / 2);
    if (retryAfterMs === undefined) return jittered;
    return retryAfterMs > this.retry.maxDelayMs ? undefined : Math.max(jittered, retryAfterMs);
  }

  private record(attempts: Attempt[], deployment: Deployment, credential: number, reason: Reason, started: number, error: GatewayError | undefined): void {
    const attempt: Attempt = {
      provider: deployment.provider.name,
      model: deployment.model,
      deployment: deployment.id,
      credential,
      outcome: error ? error.code : 'ok',
      upstreamStatus: error instanceof ProviderError ? (error.upstreamStatus ?? 0) : error ? 0 : 200,
      durationMs: performance.now() - started,
      reason,
      // The record gets what the client was not told too (the address a provider was unreachable at).
      errorMessage: error ? (error.detail ? `${error.message} (${error.detail})` : error.message) : '',
    };
    attempts.push(attempt);
    this.metrics.attempt(attempt);
  }
}

function parseStrategy(value: string | undefined): Strategy | undefined {
  if (!value) return undefined;
  if ((STRATEGIES as readonly string[]).includes(value)) return value as Strategy;
  throw new GatewayError('invalid_request', `Unknown routing strategy \`${value}\`; expected one of ${STRATEGIES.join(', ')}.`, {
    param: 'x-gateway-strategy',
  });
}

/** The group's deployment a request pinned with x-gateway-deployment; a pin the group does not have is the request's mistake. */
function pinnedDeployment(group: ModelGroup, id: string): Deployment {
  const member = group.members.find((m) => m.deployment.id === id);
  if (member) return member.deployment;
  throw new GatewayError(
    'invalid_request',
    `Model \`${group.name}\` has no deployment \`${id}\`; its deployments: ${group.members.map((m) => m.deployment.id).join(', ')}.`,
    {
      param: 'x-gateway-deployment',
    },
  );
}

/**
 * What a call threw that is not a GatewayError. Adapters read every answer through Upstream, which makes
 * whatever a provider sent a ProviderError, so this was thrown building the provider's request: the
 * request's fault (a RangeError: nested too deeply to serialize, or too large) or the gateway's.
 */
function unbuildable(err: unknown, provider: string): GatewayError {
  if (err instanceof RangeError) {
    return new GatewayError('invalid_request', `The request could not be made into a request for provider ${provider}: it is nested too deeply or too large.`, {
      cause: err,
    });
  }
  return new GatewayError('internal_error', `The gateway could not make this request into a request for provider ${provider}.`, { cause: err });
}
