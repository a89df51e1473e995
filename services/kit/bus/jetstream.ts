import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { decodeEvent, encodeEvent, type Event } from '../events.js';
import type { Logger } from '../log.js';
import { AckedPublisher } from './jetstream-publish.js';
import { retryDelayMs, type BatchHandler, type ConsumeOptions, type Consumer, type EventBus } from './types.js';

export interface JetStreamSettings {
  url: string;
  stream: string;
  subjectPrefix: string;
  storage: 'file' | 'memory';
  replicas: number;
  maxAgeHours: number;
  duplicateWindowSeconds: number;
  ackWaitSeconds: number;
  /** See nats.batchLingerMs (0 when a caller leaves it out). */
  batchLingerMs?: number;
}

/** A publish not acknowledged this fast is retried, then spooled. */
const PUBLISH_TIMEOUT_MS = 2_000;

// JetStream API error codes for a name another process took first (not in JetStreamApiCodes).
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_NAME_IN_USE = 10013;

/**
 * The production bus. Events are protobuf-encoded on subjects
 * `<prefix>.events.<type>`, captured by one stream. The event id is the
 * JetStream message id, so a re-published event inside the duplicate window is
 * stored once. Durable consumers ack a batch only after its handler resolved.
 */
export class JetStreamBus implements EventBus {
  readonly kind = 'jetstream';
  private readonly consumers = new Set<Consumer>();
  private online = true;
  private readonly publisher: AckedPublisher;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly settings: JetStreamSettings,
    private readonly log: Logger,
  ) {
    this.publisher = new AckedPublisher(nc, PUBLISH_TIMEOUT_MS);
  }

  static async connect(settings: JetStreamSettings, name: string, log: Logger): Promise<JetStreamBus> {
    let nc: NatsConnection;
    try {
      // No async traces: the client would build two Error objects (with stacks) for every publish we make.
      nc = await connect({ servers: settings.url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true });
    } catch (err) {
      throw new Error(`cannot connect to NATS at ${settings.url} (nats.url): ${(err as Error).message}`, { cause: err });
    }
    const jsm = await jetstreamManager(nc);
    const bus = new JetStreamBus(nc, jetstream(nc), jsm, settings, log);
    void bus.watchStatus();
    await bus.ensureStream();
    return bus;
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        this.online = false;
        this.log.warn({ server: this.settings.url }, 'NATS connection lost; reconnecting');
      } else if (status.type === 'reconnect') {
        this.online = true;
        this.log.info({ server: this.settings.url }, 'NATS connection restored');
      }
    }
  }

  private subject(type: string): string {
    return `${this.settings.subjectPrefix}.events.${type}`;
  }

  private async ensureStream(): Promise<void> {
    const config = {
      name: this.settings.stream,
      subjects: [this.subject('>')],
      storage: this.settings.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: this.settings.replicas,
      max_age: nanos(this.settings.maxAgeHours * 3_600_000),
      duplicate_window: nanos(this.settings.duplicateWindowSeconds * 1000),
    };
    try {
      await this.jsm.streams.info(config.name);
      await this.jsm.streams.update(config.name, config);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err;
      try {
        await this.jsm.streams.add(config);
      } catch (addErr) {
        // Another process created it between our info and add.
        if (!(addErr instanceof JetStreamApiError) || addErr.code !== STREAM_NAME_IN_USE) throw addErr;
      }
    }
  }

  async publish(event: Event): Promise<void> {
    await this.publisher.publish(this.subject(event.type), encodeEvent(event), event.id);
  }

  async consume(options: ConsumeOptions, handler: BatchHandler): Promise<Consumer> {
    await this.ensureDurable(options);
    const consumer = await this.js.consumers.get(this.settings.stream, options.name);
    const messages = await consumer.consume({ max_messages: options.maxBatch * 2 });
    const state = { stopping: false };
    const log = this.log.child({ consumer: options.name });
    const done = this.runBatches(messages, options.maxBatch, handler, log, state);
    const handle: Consumer = {
      stop: async () => {
        state.stopping = true;
        this.consumers.delete(handle);
        await messages.close();
        await done;
      },
    };
    this.consumers.add(handle);
    return handle;
  }

  /**
   * Creates the durable consumer unless it exists (made by another replica or
   * an earlier run, which then resumes where it stopped).
   */
  private async ensureDurable(options: ConsumeOptions): Promise<void> {
    const config = {
      durable_name: options.name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: this.subject(options.filter),
      ack_wait: nanos(this.settings.ackWaitSeconds * 1000),
      max_ack_pending: Math.max(1000, options.maxBatch * 4),
    };
    const existing = await this.jsm.consumers.info(this.settings.stream, options.name).catch((err: unknown) => {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.ConsumerNotFound) return undefined;
      throw err;
    });
    if (existing) {
      if (existing.config.filter_subject !== config.filter_subject) {
        throw new Error(
          `durable consumer ${options.name} on stream ${this.settings.stream} filters ${existing.config.filter_subject}, expected ${config.filter_subject}; delete it to let the gateway recreate it`,
        );
      }
      return;
    }
    try {
      await this.jsm.consumers.add(this.settings.stream, config);
    } catch (err) {
      // Another replica created it between our info and add.
      if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NAME_IN_USE) throw err;
    }
  }

  /**
   * Takes every message the server delivers into `held` (bounded by the
   * durable's max_ack_pending) and hands the handler the oldest, up to
   * maxBatch, as one batch: whatever arrived together, in stream order, one
   * batch at a time. Everything held is kept claimed (working()) while a
   * batch is retried, so nothing behind it is redelivered meanwhile and
   * delivered twice.
   */
  private async runBatches(
    messages: ConsumerMessages,
    maxBatch: number,
    handler: BatchHandler,
    log: Logger,
    state: { stopping: boolean },
  ): Promise<void> {
    const held: JsMsg[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const worker = (async () => {
      while (held.length > 0 || !ended) {
        if (held.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        // A short batch waits a moment for company: one transaction for many events instead of one each.
        if (held.length < maxBatch && this.settings.batchLingerMs) await sleep(this.settings.batchLingerMs);
        const batch = held.slice(0, maxBatch);
        const handled = await this.handleBatch(batch, held, handler, log, state);
        // Stopping: what is held is redelivered after ack_wait, in order. Not nak()ed:
        // some servers (2.9 here) then deliver one message twice and skip another
        // (nats-io/nats-server#5305), which the SIEM resume test caught on 2.9.
        if (!handled) return;
        held.splice(0, batch.length);
      }
    })();
    const release = () => {
      const resolve = wake;
      wake = undefined;
      resolve?.();
    };
    for await (const msg of messages) {
      held.push(msg);
      // On the next turn, so messages that arrived together make one batch.
      if (wake) setImmediate(release);
    }
    ended = true;
    release();
    await worker;
  }

  /**
   * Retries the batch until its handler resolves, then acks it. Gives up
   * (returns false, acking nothing) when stopping: the server redelivers to
   * another replica or to this consumer's next run.
   */
  private async handleBatch(batch: JsMsg[], held: readonly JsMsg[], handler: BatchHandler, log: Logger, state: { stopping: boolean }): Promise<boolean> {
    const events: Event[] = [];
    for (const msg of batch) {
      try {
        events.push(decodeEvent(msg.data));
      } catch (err) {
        // A message that is not an event can never be handled: record and drop it.
        log.error({ err, subject: msg.subject, seq: msg.seq }, 'dropping undecodable message');
        msg.term();
      }
    }
    for (let attempt = 0; ; attempt++) {
      try {
        if (events.length > 0) await handler(events);
        for (const msg of batch) msg.ack();
        return true;
      } catch (err) {
        log.warn({ err, attempt, size: events.length }, 'event batch failed; retrying');
        if (!(await this.holdFor(held, retryDelayMs(attempt), state))) return false;
      }
    }
  }

  /** Waits `ms`, claiming `held` often enough that the server does not redeliver it; false if stopping. */
  private async holdFor(held: readonly JsMsg[], ms: number, state: { stopping: boolean }): Promise<boolean> {
    const step = Math.max(100, Math.min(1_000, (this.settings.ackWaitSeconds * 1000) / 3));
    for (let waited = 0; ; waited += step) {
      if (state.stopping || this.nc.isClosed()) return false;
      for (const msg of held) msg.working();
      if (waited >= ms) return true;
      await sleep(Math.min(step, ms - waited));
    }
  }

  async subscribe(filter: string, handler: (event: Event) => void): Promise<Consumer> {
    const consumer = await this.js.consumers.get(this.settings.stream, {
      filter_subjects: this.subject(filter),
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    const done = (async () => {
      for await (const msg of messages) {
        try {
          handler(decodeEvent(msg.data));
        } catch (err) {
          this.log.error({ err, subject: msg.subject }, 'subscriber failed on an event');
        }
      }
    })();
    return {
      stop: async () => {
        await messages.close();
        await done;
      },
    };
  }

  connected(): boolean {
    return this.online && !this.nc.isClosed();
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    await this.nc.drain();
    this.publisher.close();
  }
}
