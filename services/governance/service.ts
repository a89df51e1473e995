import { randomUUID } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type {
  AuthorizeBatch, AuthorizeRequest, AuthorizeResponse, AuthorizeResult, AuthorizeResults, AuthorizeToolCallRequest, AuthorizeToolCallResponse, AuthorizeToolsRequest, AuthorizeToolsResponse, GovernanceService, HeartbeatRequest, HeartbeatResponse, RoutingConfig, SettleBatch, SettleRequest, SettleResponse,
} from '../gen/gateway/v1/governance.js';
import { GatewayError } from '../kit/errors.js';
import { refusalOf, type Api } from '../kit/grpc.js';
import type { Logger } from '../kit/log.js';
import { readOnScrape } from '../kit/metrics.js';
import type { Pricing } from '../kit/pricing/index.js';
import { digestsEqual } from '../kit/secrets/keys.js';
import { matchesAny } from '../kit/glob.js';
import { plan, rateHeaders, refusal, toolCallCharge, type Planned } from './admission.js';
import type { GovernanceConfig } from './config.js';
import type { Holders } from './holders.js';
import type { QuotaBook, Taken } from './quota/book.js';
import type { Directory } from './store/directory.js';
import type { VirtualKey } from './store/entities.js';

interface Reservation {
  taken: { planned: Planned; taken: Taken }[];
  cost: number;
  tokens: number;
  /** The ingress process holding the admission; '' when ingress runs in this process. */
  holder: string;
  admittedAt: number;
}

/** Endpoints that call no model: authenticated, but charged nothing. */
const FREE_ENDPOINTS = new Set(['models']);

/**
 * Admission: authenticates the virtual key, checks its model allowlist, and
 * reserves the request's worst case against every budget and limit that
 * applies; settling replaces the reservation with what the request really used.
 */
export class Governance implements Api<typeof GovernanceService> {
  private readonly reservations = new Map<string, Reservation>();
  private readonly decisions: Counter<'outcome'>;
  private readonly released: Counter<'reason'>;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly directory: Directory,
    private readonly quotas: QuotaBook,
    private readonly holders: Holders,
    private readonly pricing: Pricing,
    private readonly config: GovernanceConfig,
    metrics: Registry,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.decisions = new Counter({
      name: 'gateway_governance_decisions_total',
      help: 'Authorization decisions, by outcome.',
      labelNames: ['outcome'],
      registers: [metrics],
    });
    this.released = new Counter({
      name: 'gateway_governance_reservations_released_total',
      help: 'Admissions released without a settle, by reason: holder_silent (their ingress process died) or timeout.',
      labelNames: ['reason'],
      registers: [metrics],
    });
    readOnScrape(metrics, 'gateway_governance_in_flight_requests', 'Requests admitted and not yet settled.', () => this.reservations.size);
  }

  /** Releases unsettled admissions from now on: a few looks per silence bound find a dead holder soon after it. */
  start(): void {
    this.sweeper = setInterval(() => void (this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined))), this.config.holderSilenceMs / 4);
    this.sweeper.unref();
  }

  /** The key with this hash if it may be used now; throws the client's error otherwise. */
  private async usableKey(keyHash: Buffer, now: Date): Promise<VirtualKey> {
    const key = this.directory.keyByHash(keyHash) ?? (await this.directory.findNewKey(keyHash));
    if (!key || !digestsEqual(key.keyHash, keyHash)) return this.reject('unknown', new GatewayError('invalid_api_key', 'Incorrect API key provided.'));
    if (key.revokedAt) return this.reject('revoked', new GatewayError('invalid_api_key', 'This API key has been revoked.'));
    if (key.expiresAt && key.expiresAt <= now) return this.reject('expired', new GatewayError('invalid_api_key', 'This API key has expired.'));
    return key;
  }

  async authorizeTools(request: AuthorizeToolsRequest): Promise<AuthorizeToolsResponse> {
    const key = await this.usableKey(request.keyHash, this.now());
    const customerId = this.directory.customerOf(key);
    return {
      actor: { keyId: key.id, keyName: key.name, teamId: key.teamId ?? '', customerId: customerId ?? '', admin: '' },
      allowedTools: key.allowedTools,
      contentLogging: key.contentLogging,
    };
  }

  async authorizeToolCall(request: AuthorizeToolCallRequest): Promise<AuthorizeToolCallResponse> {
    const now = this.now();
    const key = await this.usableKey(request.keyHash, now);
    if (!matchesAny(key.allowedTools, request.tool)) {
      return this.reject('tool_not_allowed', new GatewayError('tool_not_allowed', `This key may not use the tool \`${request.tool}\`.`, { param: 'name' }));
    }
    const charge = toolCallCharge(key, now);
    if (charge) {
      const result = await this.quotas.reserve([charge]);
      if ('refused' in result) return this.reject('tool_call_rate', refusal(charge, now, {}));
    }
    this.decisions.inc({ outcome: 'tool_call_allowed' });
    return {};
  }

  async authorize(request: AuthorizeRequest): Promise<AuthorizeResponse> {
    const now = this.now();
    const key = await this.usableKey(request.keyHash, now);
    if (request.model && !matchesAny(key.allowedModels, request.model)) {
      return this.reject('model_not_allowed', new GatewayError('model_not_allowed', `This key may not use the model \`${request.model}\`.`, { param: 'model' }));
    }

    const free = FREE_ENDPOINTS.has(request.endpoint);
    const outputTokens = request.endpoint === 'embeddings' ? 0 : request.maxOutputTokens || this.config.defaultMaxOutputTokens;
    const tokens = request.estimatedPromptTokens + outputTokens;
    const cost = free ? 0 : this.worstCase(request.model, request.estimatedPromptTokens, outputTokens);
    const planned = free ? [] : plan(this.directory, key, cost, tokens, now);
    const result = await this.quotas.reserve(planned);
    const headers = rateHeaders(planned, (charge) => this.quotas.remaining(charge), now);
    if ('refused' in result) {
      return this.reject(result.refused.quota.split(':')[0]!, refusal(result.refused as Planned, now, headers));
    }

    const reservationId = randomUUID();
    if (request.holder) this.holders.heard(request.holder);
    this.reservations.set(reservationId, {
      taken: result.taken.map((taken, i) => ({ planned: planned[i]!, taken })),
      cost,
      tokens,
      holder: request.holder,
      admittedAt: now.getTime(),
    });
    this.decisions.inc({ outcome: 'allowed' });
    const customerId = this.directory.customerOf(key);
    return {
      actor: { keyId: key.id, keyName: key.name, teamId: key.teamId ?? '', customerId: customerId ?? '', admin: '' },
      reservationId,
      cacheNamespace: cacheNamespace(key, customerId),
      contentLogging: key.contentLogging,
      headers,
      toolMode: key.toolMode,
    };
  }

  async settle(request: SettleRequest): Promise<SettleResponse> {
    this.settleNow(request);
    return {};
  }

  /** Synchronous, so a batch's settles all count before anything that arrived after them is admitted. */
  private settleNow(request: SettleRequest): void {
    const reservation = this.reservations.get(request.reservationId);
    if (!reservation) return;
    this.reservations.delete(request.reservationId);
    const usage = request.usage;
    const priced = request.cacheHit ? 0 : this.pricing.cost(request.served, usage);
    // A model without a price keeps its reservation as the charge: spend is never recorded as zero by accident.
    const cost = priced ?? (usage && usage.totalTokens > 0 ? reservation.cost : 0);
    const tokens = request.cacheHit ? 0 : (usage?.totalTokens ?? 0);
    for (const { planned, taken } of reservation.taken) {
      switch (planned.reason.kind) {
        case 'budget':
          this.quotas.adjust(taken, cost - reservation.cost);
          break;
        case 'tokens':
          this.quotas.adjust(taken, tokens - reservation.tokens);
          break;
        case 'concurrency':
          this.quotas.adjust(taken, -1);
          break;
        case 'requests':
          break;
      }
    }
  }

  async authorizeMany(batch: AuthorizeBatch): Promise<AuthorizeResults> {
    const results = await Promise.all(
      batch.requests.map((request) =>
        this.authorize(request).then(
          (admitted): AuthorizeResult => ({ result: { $case: 'admitted', admitted } }),
          (err: unknown): AuthorizeResult => ({ result: { $case: 'refused', refused: refusalOf(err) } }),
        ),
      ),
    );
    return { results };
  }

  async settleMany(batch: SettleBatch): Promise<SettleResponse> {
    for (const settle of batch.settles) this.settleNow(settle);
    return {};
  }

  async heartbeat(request: HeartbeatRequest): Promise<HeartbeatResponse> {
    this.holders.heard(request.holder);
    return {};
  }

  async getRoutingConfig(): Promise<RoutingConfig> {
    const { providers, models, mcpPins } = this.directory.routingConfig();
    return { providersJson: JSON.stringify(providers), modelsJson: JSON.stringify(models), mcpPinsJson: JSON.stringify(mcpPins) };
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.sweeping;
  }

  /** The most the request can cost; a model with no price is reserved at the configured rate. */
  private worstCase(model: string, promptTokens: number, outputTokens: number): number {
    const slash = model.indexOf('/');
    const [provider, name] = slash > 0 ? [model.slice(0, slash), model.slice(slash + 1)] : ['', model];
    return this.pricing.worstCase(provider, name, promptTokens, outputTokens) ?? ((promptTokens + outputTokens) * this.config.unknownModelCostPerMillion) / 1_000_000;
  }

  /**
   * Releases the admissions no one will settle: those of a holder no replica
   * has heard from within the silence bound (it died), and any older than
   * reservationTimeoutMs. Each keeps its reservation as its charge (it may have
   * been served, and ingress died before it could report the cost); its
   * concurrency slots are freed.
   */
  private async sweep(): Promise<void> {
    const startedAt = this.now().getTime();
    let silent = new Set<string>();
    try {
      await this.holders.record();
      silent = await this.holders.silent(new Set([...this.reservations.values()].map((r) => r.holder).filter(Boolean)));
    } catch (err) {
      // Unsure whether holders live, none is released: releasing a live one's slots would admit past its limits.
      this.log.warn({ err }, 'could not check the liveness of ingress processes holding admissions; retrying');
    }
    for (const [id, reservation] of this.reservations) {
      // Admitted during the check: its holder was heard just now.
      const holderSilent = silent.has(reservation.holder) && reservation.admittedAt < startedAt;
      const timedOut = startedAt - reservation.admittedAt >= this.config.reservationTimeoutMs;
      if (!holderSilent && !timedOut) continue;
      this.reservations.delete(id);
      this.released.inc({ reason: holderSilent ? 'holder_silent' : 'timeout' });
      for (const { planned, taken } of reservation.taken) if (planned.reason.kind === 'concurrency') this.quotas.adjust(taken, -1);
    }
    if (silent.size > 0) this.log.warn({ holders: [...silent] }, 'released the admissions of ingress processes no governance replica has heard from (they died)');
  }

  private reject(outcome: string, error: GatewayError): never {
    this.decisions.inc({ outcome });
    throw error;
  }
}

/**
 * The cache namespace of a key's requests, by its cache scope; a scope the key
 * does not have (no team, no customer) narrows to the next one down.
 */
export function cacheNamespace(key: Pick<VirtualKey, 'id' | 'teamId' | 'cacheScope'>, customerId: string | null): string {
  if (key.cacheScope === 'customer' && customerId) return `customer:${customerId}`;
  if (key.cacheScope !== 'key' && key.teamId) return `team:${key.teamId}`;
  return `key:${key.id}`;
}
