import type { Served } from '../../gen/gateway/v1/common.js';
import type { ProviderAdapter } from '../providers/types.js';
import { CircuitBreaker, type CircuitSettings } from './circuit.js';
import type { Strategy } from '../config.js';
import { type Cap, Slots } from './slots.js';

/**
 * One place requests can go: a provider and a model there, with its live
 * health. Shared by every group that names the same deployment id, so a
 * failing deployment is seen as failing everywhere.
 */
export class Deployment {
  /** Its calls in flight (streams until they end), and those waiting under its cap. */
  readonly slots: Slots;
  /** Moving average of successful call latency (to first chunk when streaming); undefined until measured. */
  latencyMs: number | undefined;
  readonly breaker: CircuitBreaker;

  constructor(
    readonly id: string,
    readonly provider: ProviderAdapter,
    readonly model: string,
    /** USD per million tokens, prompt + completion; undefined when not configured. */
    readonly costPerMillion: number | undefined,
    circuit: CircuitSettings,
    cap?: Cap,
    now: () => number = Date.now,
  ) {
    this.breaker = new CircuitBreaker(circuit, now);
    this.slots = new Slots(cap);
  }

  /** Who served a request, as its records name it. */
  get served(): Served {
    return { provider: this.provider.name, model: this.model, deployment: this.id };
  }

  get inFlight(): number {
    return this.slots.inFlight;
  }

  /** Exponentially weighted: recent calls count most, one slow call does not swing it. */
  observeLatency(ms: number): void {
    this.latencyMs = this.latencyMs === undefined ? ms : this.latencyMs * 0.8 + ms * 0.2;
  }
}

export interface Member {
  readonly deployment: Deployment;
  readonly weight: number;
}

export interface ModelGroup {
  /** The name clients use. */
  readonly name: string;
  readonly members: readonly Member[];
  readonly strategy: Strategy;
  readonly fallbacks: readonly string[];
  readonly contextWindowFallbacks: readonly string[];
  readonly contentPolicyFallbacks: readonly string[];
}
