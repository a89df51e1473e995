import type { AuthorizeRequest, AuthorizeResponse, SettleRequest } from '../gen/gateway/v1/governance.js';
import { GatewayError } from '../kit/errors.js';
import { errorOfRefusal } from '../kit/grpc.js';
import type { Logger } from '../kit/log.js';
import { TurnBatch } from '../kit/turn-batch.js';
import type { IngressClients } from './pipeline.js';

/**
 * How long a settle waits for company when governance runs in another
 * process. Below saturation requests end one per turn, and each settle would
 * wake governance on its own; the next admission takes them along anyway.
 */
const SETTLE_LINGER_MS = 20;

/** Waits between tries of a settle that failed: a governance restart or a blip on the network, not a long outage. */
export const SETTLE_RETRY_DELAYS_MS = [250, 1_000, 4_000, 15_000];

/**
 * Settles ended requests with governance, many in one call (SettleMany): one
 * gRPC call fewer per request in split mode. Settles wait to the end of the
 * turn (in another process: up to SETTLE_LINGER_MS) or until the next
 * admission, which they go ahead of, so governance counts the requests that
 * ended before it admits the next (a concurrency limit sees its slot free
 * again). A settle that fails is tried again (governance settles a reservation
 * once, so a call that did land but whose answer was lost is harmless); after
 * the last try governance expires its reservation, keeping it as the charge.
 */
export class Settlements {
  private readonly batch: TurnBatch<SettleRequest>;

  constructor(
    private readonly clients: IngressClients,
    private readonly log: Logger,
    private readonly retryDelaysMs = SETTLE_RETRY_DELAYS_MS,
  ) {
    const lingerMs = clients.inProcess('governance') ? 0 : SETTLE_LINGER_MS;
    this.batch = new TurnBatch((settles) => this.send(settles, 0), { lingerMs });
  }

  add(settle: SettleRequest): void {
    this.batch.add(settle);
  }

  /** Sends the waiting settles now, ahead of what is sent next. */
  flush(): void {
    this.batch.flush();
  }

  private send(settles: SettleRequest[], tries: number): void {
    this.clients.governance.settleMany({ settles }).catch((err: unknown) => {
      const requests = settles.map((s) => s.context?.requestId);
      const delay = this.retryDelaysMs[tries];
      if (delay === undefined) {
        this.log.warn({ err, requests }, 'settling requests with governance failed; it releases their reservations when they expire');
        return;
      }
      this.log.warn({ err, requests, retryInMs: delay }, 'settling requests with governance failed; trying again');
      setTimeout(() => this.send(settles, tries + 1), delay).unref();
    });
  }
}

interface Waiting {
  request: AuthorizeRequest;
  resolve(granted: AuthorizeResponse): void;
  reject(err: unknown): void;
}

/**
 * Asks governance to admit requests. When governance runs in another process,
 * the requests that arrive in one turn of the event loop go in one
 * AuthorizeMany call, each answered on its own: under load one gRPC call
 * admits many requests. In one process each is asked directly.
 */
export class Authorizations {
  private readonly batch = new TurnBatch<Waiting>((waiting) => this.send(waiting));
  private readonly batched: boolean;

  constructor(
    private readonly clients: IngressClients,
    private readonly settlements: Settlements,
  ) {
    this.batched = !clients.inProcess('governance');
  }

  authorize(request: AuthorizeRequest): Promise<AuthorizeResponse> {
    if (!this.batched) {
      this.settlements.flush();
      return this.clients.governance.authorize(request);
    }
    return new Promise((resolve, reject) => this.batch.add({ request, resolve, reject }));
  }

  private send(waiting: Waiting[]): void {
    this.settlements.flush();
    this.clients.governance.authorizeMany({ requests: waiting.map((w) => w.request) }).then(
      ({ results }) =>
        waiting.forEach((w, i) => {
          const result = results[i]?.result;
          if (result?.$case === 'admitted') w.resolve(result.admitted);
          else if (result?.$case === 'refused') w.reject(errorOfRefusal(result.refused));
          else w.reject(new GatewayError('internal_error', 'governance answered a batch of admissions without this one'));
        }),
      (err: unknown) => waiting.forEach((w) => w.reject(err)),
    );
  }
}
