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

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly settings: JetStreamSettings,
    private readonly log: Logger,
  ) {}

  static async connect(settings: JetStreamSettings, name: string, log: Logger): Promise<JetStreamBus> {
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: settings.url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500 });
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
    await this.js.publish(this.subject(event.type), encodeEvent(event), { msgID: event.id, timeout: PUBLISH_TIMEOUT_MS });
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
   * Hands the handler whatever has arrived, up to maxBatch, as one batch: a
   * batch closes when it is full or when the messages already received have
   * all been taken (setImmediate runs once the iterator has nothing buffered).
   * Batches are handled one after another, in stream order.
   */
  private async runBatches(
    messages: ConsumerMessages,
    maxBatch: number,
    handler: BatchHandler,
    log: Logger,
    state: { stopping: boolean },
  ): Promise<void> {
    let batch: JsMsg[] = [];
    let handled = Promise.resolve();
    let scheduled = false;
    const close = () => {
      scheduled = false;
      if (batch.length === 0) return;
      const current = batch;
      batch = [];
      handled = handled.then(() => this.handleBatch(current, handler, log, state));
    };
    for await (const msg of messages) {
      batch.push(msg);
      if (batch.length >= maxBatch) {
        close();
        // Full batches wait their turn, so a slow handler slows the pull instead of piling up.
        await handled;
      } else if (!scheduled) {
        scheduled = true;
        setImmediate(close);
      }
    }
    close();
    await handled;
  }

  /**
   * Retries the batch until its handler resolves, keeping the messages claimed
   * meanwhile. When stopping, it gives up without acking: the server redelivers
   * the batch to another replica or to this consumer's next run.
   */
  private async handleBatch(batch: JsMsg[], handler: BatchHandler, log: Logger, state: { stopping: boolean }): Promise<void> {
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
        return;
      } catch (err) {
        log.warn({ err, attempt, size: events.length }, 'event batch failed; retrying');
        if (state.stopping || this.nc.isClosed()) return;
        for (const msg of batch) msg.working();
        await sleep(retryDelayMs(attempt));
      }
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
  }
}
