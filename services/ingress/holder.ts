import type { GovernanceService } from '../gen/gateway/v1/governance.js';
import type { Api } from '../kit/grpc.js';
import { processInstanceId } from '../kit/ids.js';
import type { Logger } from '../kit/log.js';

/** Governance's holderSilenceMs (at least 5 s) leaves room for several of these to be late or lost. */
const HEARTBEAT_MS = 1_000;

/**
 * This ingress process as the holder of its admissions when governance runs
 * in another process: its id goes with every admission, and while it holds
 * any (admitted, not yet settled) it shows governance every second that it is
 * alive. When it dies, governance frees their slots within seconds instead of
 * after reservationTimeoutMs; when it holds none, it sends nothing.
 */
export class Holder {
  readonly id = processInstanceId();
  private held = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly governance: Api<typeof GovernanceService>,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.heartbeat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  admitted(): void {
    this.held++;
  }

  settled(): void {
    this.held--;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private heartbeat(): void {
    if (this.held === 0) return;
    this.governance
      .heartbeat({ holder: this.id })
      .catch((err: unknown) =>
        this.log.warn({ err, held: this.held }, 'could not show governance this process is alive; it frees the admissions of a holder it does not hear from'),
      );
  }
}
