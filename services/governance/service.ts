import { randomUUID } from 'node:crypto';
import { Counter, type Registry } from 'prom-client';
import type { AuthorizeRequest, AuthorizeResponse, GovernanceService, SettleRequest, SettleResponse } from '../gen/gateway/v1/governance.js';
import { GatewayError } from '../kit/errors.js';
import { readOnScrape } from '../kit/metrics.js';
import type { Api } from '../kit/grpc.js';
import { digestsEqual } from '../kit/secrets.js';
import type { KeyStore } from './keys.js';

/** Admission of requests: authenticates the virtual key and tracks the request until it is settled. */
export class Governance implements Api<typeof GovernanceService> {
  private readonly inFlight = new Map<string, string>();
  private readonly decisions: Counter<'outcome'>;

  constructor(
    private readonly keys: KeyStore,
    metrics: Registry,
  ) {
    this.decisions = new Counter({
      name: 'gateway_governance_decisions_total',
      help: 'Authorization decisions, by outcome.',
      labelNames: ['outcome'],
      registers: [metrics],
    });
    readOnScrape(metrics, 'gateway_governance_in_flight_requests', 'Requests admitted and not yet settled.', () => this.inFlight.size);
  }

  async authorize(request: AuthorizeRequest): Promise<AuthorizeResponse> {
    const key = this.keys.findByHash(request.keyHash);
    if (!key || !digestsEqual(key.keyHash, request.keyHash)) return this.reject('unknown', 'Incorrect API key provided.');
    if (key.revokedAt) return this.reject('revoked', 'This API key has been revoked.');
    if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) return this.reject('expired', 'This API key has expired.');

    const reservationId = randomUUID();
    this.inFlight.set(reservationId, key.id);
    this.decisions.inc({ outcome: 'allowed' });
    return {
      actor: { keyId: key.id, keyName: key.name, teamId: key.teamId, customerId: key.customerId, admin: '' },
      reservationId,
      cacheNamespace: key.teamId ? `team:${key.teamId}` : `key:${key.id}`,
    };
  }

  async settle(request: SettleRequest): Promise<SettleResponse> {
    this.inFlight.delete(request.reservationId);
    return {};
  }

  private reject(outcome: string, message: string): never {
    this.decisions.inc({ outcome });
    throw new GatewayError('invalid_api_key', message);
  }
}
