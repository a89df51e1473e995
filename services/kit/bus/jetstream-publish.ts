import { createInbox, headers, InvalidArgumentError, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { PublishRefused } from './types.js';

interface Waiting {
  resolve(): void;
  reject(err: Error): void;
  deadline: number;
}

/**
 * JetStream's answers refusing a message for what it is: larger than the
 * stream's max_msg_size (or, clustered, the server's max_payload), or headers
 * over 64 KiB. Others (a full stream, no leader, storage trouble) pass.
 */
const REFUSED_FOR_GOOD = new Set([10054, 10097]);

/**
 * Acknowledged JetStream publishes without the client's request machinery:
 * one wildcard inbox takes every ack, one timer fails those overdue, where
 * js.publish makes a request, a timer and an Error with a stack per message.
 */
export class AckedPublisher {
  private readonly inbox: string;
  private readonly waiting = new Map<string, Waiting>();
  private readonly subscription: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private sequence = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
    inboxPrefix?: string,
  ) {
    this.inbox = createInbox(inboxPrefix);
    this.subscription = nc.subscribe(`${this.inbox}.*`, { callback: (_err, msg) => this.answer(msg) });
    this.sweeper = setInterval(() => this.expire(), Math.max(50, Math.min(250, timeoutMs / 4)));
    this.sweeper.unref();
  }

  /**
   * Resolves when the stream stored the message (or already had its id);
   * rejects on an error answer or after the timeout, with PublishRefused when
   * the message can never be taken.
   */
  publish(subject: string, data: Uint8Array, msgId: string, extraHeaders?: Record<string, string>): Promise<void> {
    const token = (this.sequence++).toString(36);
    const msgHeaders = headers();
    msgHeaders.set('Nats-Msg-Id', msgId);
    for (const name in extraHeaders) msgHeaders.set(name, extraHeaders[name]!);
    return new Promise<void>((resolve, reject) => {
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, headers: msgHeaders });
      } catch (err) {
        // The client checks the server's max_payload itself, and throws this for a message over it.
        reject(err instanceof InvalidArgumentError ? new PublishRefused(`NATS refused the message: ${err.message}`) : (err as Error));
        return;
      }
      this.waiting.set(token, { resolve, reject, deadline: performance.now() + this.timeoutMs });
    });
  }

  private answer(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const waiting = this.waiting.get(token);
    if (!waiting) return; // answered after its timeout: the publisher has retried it under the same id
    this.waiting.delete(token);
    if (msg.headers?.code === 503) return waiting.reject(new Error('no JetStream stream answered the publish (503 no responders)'));
    try {
      const ack = msg.json<{ stream?: string; error?: { code: number; err_code?: number; description: string } }>();
      if (ack.error) waiting.reject(refusal(ack.error));
      else if (!ack.stream) waiting.reject(new Error('JetStream answered the publish without a stream'));
      else waiting.resolve();
    } catch (err) {
      waiting.reject(new Error(`unreadable JetStream publish ack: ${(err as Error).message}`));
    }
  }

  private expire(): void {
    const now = performance.now();
    // In insertion order, which is deadline order: stop at the first still in time.
    for (const [token, waiting] of this.waiting) {
      if (waiting.deadline > now) break;
      this.waiting.delete(token);
      waiting.reject(new Error(`JetStream did not acknowledge the publish within ${this.timeoutMs} ms`));
    }
  }

  /** Fails what is still waiting; call after the connection drained. */
  close(): void {
    clearInterval(this.sweeper);
    if (!this.subscription.isClosed()) this.subscription.unsubscribe();
    for (const waiting of this.waiting.values()) waiting.reject(new Error('the NATS connection closed before JetStream acknowledged the publish'));
    this.waiting.clear();
  }
}

/** JetStream's error answer to a publish, as PublishRefused when no retry can cure it. */
function refusal(error: { code: number; err_code?: number; description: string }): Error {
  const message = `JetStream refused the publish: ${error.description} (${error.err_code ?? error.code})`;
  return REFUSED_FOR_GOOD.has(error.err_code ?? 0) ? new PublishRefused(message) : new Error(message);
}
