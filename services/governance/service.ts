import { passthroughWithoutOutput } from '../kit/passthrough.js';
import { randomUUID } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type {
  AuthorizeBatch,
  AuthorizeRequest,
  AuthorizeResponse,
  AuthorizeResult,
  AuthorizeResults,
  AuthorizeToolCallRequest,
  AuthorizeToolCallResponse,
  AuthorizeToolsRequest,
  AuthorizeToolsResponse,
  ExtendReservationRequest,
  ExtendReservationResponse,
  GovernanceService,
  HeartbeatRequest,
  HeartbeatResponse,
  SettleBatch,
  SettleRequest,
  SettleResponse,
} from '../gen/gateway/v1/governance.js';
import { GatewayError } from '../kit/errors.js';
import { refusalOf, type Api } from '../kit/grpc.js';
import type { Logger } from '../kit/log.js';
import { readOnScrape } from '../kit/metrics.js';
import type { Money, Pricing } from '../kit/pricing/index.js';
import { microsUp, usdNumber, usdText } from '../kit/pricing/money.js';
import { digestsEqual } from '../kit/secrets/keys.js';
import { matchesAny } from '../kit/glob.js';
import { affordableOutput, plan, rateHeaders, refusal, toolCallCharge, type Planned } from './admission.js';
import type { GovernanceConfig } from './config.js';
import type { Holders } from './holders.js';
import type { PromptSize, ReservationPricer } from './reservations.js';
import type { QuotaBook, Taken } from './quota/book.js';
import type { Directory } from './store/directory.js';
import type { VirtualKey } from './store/entities.js';

interface Reservation {
  taken: { planned: Planned; taken: Taken }[];
  /** The worst case reserved, exactly (the sum over its model calls). */
  cost: Money;
  tokens: number;
  /** Whom and what for, to reserve a further model call under it (ExtendReservation). */
  keyId: string;
  model: string;
  /** The ingress process holding the admission; '' when ingress runs in this process. */
  holder: string;
  admittedAt: number;
  /** A line of a batch at a provider's batch API: held until its result comes, up to BATCH_HOLD_MS. */
  batch: boolean;
}

/** How long a provider-native batch line's reservation is held: the 24-hour completion window, and an hour to collect results. */
const BATCH_HOLD_MS = 25 * 3_600_000;

/** Endpoints that call no model: authenticated, but charged nothing. */
const FREE_ENDPOINTS = new Set([
  'models',
  'responses.retrieve',
  'responses.delete',
  'responses.input_items',
  // The Batch API's files and batches; a batch's lines are requests of their own, each admitted as such.
  ...['files.create', 'files.list', 'files.retrieve', 'files.content', 'files.delete'],
  ...['batches.create', 'batches.retrieve', 'batches.list', 'batches.cancel'],
]);
/** Endpoints whose calls produce no output tokens: only their prompt (none for the free ones ingress sends none of) and billed units are reserved. */
const NO_OUTPUT_ENDPOINTS = new Set([
  'embeddings',
  'messages.count_tokens',
  'moderations',
  'images.generations',
  'images.edits',
  'images.variations',
  'rerank',
  'audio.speech',
  'audio.transcriptions',
  'audio.translations',
]);

/** A model call's reservation: the charges it took, its worst case, and the output cap that worst case covers. */
interface Reserved {
  planned: Planned[];
  taken: Taken[];
  cost: Money;
  tokens: number;
  cap: number;
  /** Whether a budget or a token limit charged it: then the cap is sent to the provider, and prompts are worth counting exactly. */
  byTokens: boolean;
}

const chargedByTokens = (charge: Planned) => charge.reason.kind === 'budget' || charge.reason.kind === 'tokens';

/**
 * Admission: authenticates the virtual key, checks its model allowlist, and
 * reserves the request's worst case against every budget and limit that
 * applies; settling replaces the reservation with what the request really used.
 */
export class Governance implements Api<typeof GovernanceService> {
  private readonly reservations = new Map<string, Reservation>();
  private readonly decisions: Counter<'outcome'>;
  private readonly released: Counter<'reason'>;
  private readonly overruns: Counter;
  private sweeper: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly directory: Directory,
    private readonly quotas: QuotaBook,
    private readonly holders: Holders,
    private readonly pricing: Pricing,
    private readonly pricer: ReservationPricer,
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
    this.overruns = new Counter({
      name: 'gateway_governance_overrun_usd_total',
      help: 'USD requests cost beyond what their reservation covered (a provider that ignored the output cap, or a price missing when reserving); alert on any.',
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
      toolMode: key.toolMode,
      codeLimits: {
        timeMs: key.codeLimits.timeMs ?? 0,
        memoryMb: key.codeLimits.memoryMb ?? 0,
        maxToolCalls: key.codeLimits.maxToolCalls ?? 0,
        maxResultBytes: key.codeLimits.maxResultBytes ?? 0,
      },
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
      return this.reject(
        'model_not_allowed',
        new GatewayError('model_not_allowed', `This key may not use the model \`${request.model}\`.`, { param: 'model' }),
      );
    }
    const prompt = { boundTokens: request.promptBoundTokens, o200kTokens: request.promptO200kTokens, billed: request.billed, batch: request.batch };
    const reserved = FREE_ENDPOINTS.has(request.endpoint)
      ? { planned: [], taken: [], cost: 0n, tokens: 0, cap: 0, byTokens: false }
      : await this.reserveCall(
          key,
          request.model,
          prompt,
          NO_OUTPUT_ENDPOINTS.has(request.endpoint) || passthroughWithoutOutput(request.endpoint) ? 0 : this.outputCap(request.maxOutputTokens),
          request.choices || 1,
          now,
          // A line at a provider's batch API is not the gateway's live traffic: the provider paces it, so only budgets count it.
          request.batch ? (charge) => charge.reason.kind === 'budget' : () => true,
        );
    const headers = rateHeaders(reserved.planned, (charge) => this.quotas.remaining(charge), now);
    if ('refused' in reserved) return this.reject(reserved.refused.quota.split(':')[0]!, refusal(reserved.refused, now, headers));

    const reservationId = randomUUID();
    if (request.holder) this.holders.heard(request.holder);
    this.reservations.set(reservationId, {
      taken: reserved.taken.map((taken, i) => ({ planned: reserved.planned[i]!, taken })),
      cost: reserved.cost,
      tokens: reserved.tokens,
      keyId: key.id,
      model: request.model,
      holder: request.holder,
      admittedAt: now.getTime(),
      batch: request.batch ?? false,
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
      maxOutputTokens: reserved.byTokens ? reserved.cap : request.maxOutputTokens,
      countsPromptTokens: reserved.byTokens,
      allowedModels: key.allowedModels,
    };
  }

  async extendReservation(request: ExtendReservationRequest): Promise<ExtendReservationResponse> {
    const reservation = this.reservations.get(request.reservationId);
    const key = reservation ? this.directory.keys.get(reservation.keyId) : undefined;
    if (!reservation || !key) throw new GatewayError('invalid_request', 'There is no admitted request to reserve a further model call under.');
    const now = this.now();
    const prompt = { boundTokens: request.promptBoundTokens, o200kTokens: request.promptO200kTokens };
    // The request already counts as one request and holds its concurrency slot: a further call is charged only what it may cost.
    const reserved = await this.reserveCall(
      key,
      reservation.model,
      prompt,
      request.promptOnly ? 0 : this.outputCap(request.maxOutputTokens),
      1,
      now,
      chargedByTokens,
    );
    if ('refused' in reserved) return this.reject(reserved.refused.quota.split(':')[0]!, refusal(reserved.refused, now, {}));
    reservation.taken.push(...reserved.taken.map((taken, i) => ({ planned: reserved.planned[i]!, taken })));
    reservation.cost += reserved.cost;
    reservation.tokens += reserved.tokens;
    return { maxOutputTokens: reserved.byTokens ? reserved.cap : request.maxOutputTokens };
  }

  /** The output a call may produce: what it asked for, else the configured default. */
  private outputCap(requested: number): number {
    return requested || this.config.defaultMaxOutputTokens;
  }

  /**
   * Reserves one model call's worst case, priced on the deployments its model
   * may reach: its prompt, and its output up to `requested` tokens for each of
   * its `choices` answers or, where a budget or token limit covers less, up to
   * what that covers; refused when not even one output token fits (or, for a
   * prompt alone, when the prompt does not).
   */
  private async reserveCall(
    key: VirtualKey,
    model: string,
    prompt: PromptSize,
    requested: number,
    choices: number,
    now: Date,
    kinds: (charge: Planned) => boolean,
  ): Promise<Reserved | { refused: Planned; planned: Planned[] }> {
    const rates = await this.pricer.rates(model, prompt);
    let cap = requested;
    for (let tries = 1; ; tries++) {
      const cost = rates.prompt + BigInt(cap * choices) * rates.outputPerToken;
      const tokens = rates.promptTokens + cap * choices;
      const planned = plan(this.directory, key, microsUp(cost), tokens, now).filter(kinds);
      const result = await this.quotas.reserve(planned);
      if (!('refused' in result)) return { planned, taken: result.taken, cost, tokens, cap, byTokens: planned.some(chargedByTokens) };
      const refused = result.refused as Planned;
      const left = affordableOutput(refused, result.remaining, rates);
      const fits = left === undefined ? undefined : Math.floor(left / choices);
      // Another replica may take what was left meanwhile: a few tries, each with what the refusal said is left.
      if (tries >= 3 || fits === undefined || fits < 1 || fits >= cap) return { refused, planned };
      cap = fits;
    }
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
    const priced = request.cacheHit ? 0n : this.pricing.price(request.served, usage)?.total;
    // A model without a price keeps its reservation as the charge: spend is never recorded as zero by accident.
    const cost = priced ?? (usage && usage.totalTokens > 0 ? reservation.cost : 0n);
    const tokens = request.cacheHit ? 0 : (usage?.totalTokens ?? 0);
    if (cost > reservation.cost) {
      // The caps sent to providers make this a provider's fault (or a price missing from the reservation); it is spend all the same.
      this.overruns.inc(usdNumber(cost - reservation.cost));
      this.log.warn(
        { requestId: request.context?.requestId, reservedUsd: usdText(reservation.cost), costUsd: usdText(cost) },
        'a request cost more than its reservation covered',
      );
    }
    // A reservation extended for further model calls holds several charges on one budget: the real use replaces their sum, once.
    const settled = new Set<Taken['entry']>();
    for (const { planned, taken } of reservation.taken) {
      const kind = planned.reason.kind;
      if (kind === 'concurrency') this.quotas.adjust(taken, -1);
      if ((kind !== 'budget' && kind !== 'tokens') || settled.has(taken.entry)) continue;
      settled.add(taken.entry);
      const reserved = reservation.taken.filter((t) => t.taken.entry === taken.entry).reduce((sum, t) => sum + t.taken.amount, 0);
      this.quotas.adjust(taken, (kind === 'budget' ? microsUp(cost) : tokens) - reserved);
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

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.sweeping;
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
      const timedOut = startedAt - reservation.admittedAt >= (reservation.batch ? BATCH_HOLD_MS : this.config.reservationTimeoutMs);
      if (!holderSilent && !timedOut) continue;
      this.reservations.delete(id);
      this.released.inc({ reason: holderSilent ? 'holder_silent' : 'timeout' });
      for (const { planned, taken } of reservation.taken) if (planned.reason.kind === 'concurrency') this.quotas.adjust(taken, -1);
    }
    if (silent.size > 0)
      this.log.warn({ holders: [...silent] }, 'released the admissions of ingress processes no governance replica has heard from (they died)');
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
