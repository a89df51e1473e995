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
  type StreamInfo,
} from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Event } from '../events.js';
import { BATCH_HEADER, MAX_MESSAGE_BYTES, packEvents, unpackEvents } from './event-messages.js';
import { readTraceHeaders, traceHeaders, tracedHandler } from './event-traces.js';
import type { Logger } from '../log.js';
import { AckedPublisher } from './jetstream-publish.js';
import { withoutCredentials, type NatsAccess } from './nats-access.js';
import { Pause } from './pause.js';
import { PublishRefused, retryDelayMs, type BatchHandler, type ConsumeOptions, type Consumer, type DurableConsumer, type EventBus } from './types.js';

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
  /** Credentials, TLS and reply inbox (nats-access.ts); none: a NATS that takes anyone. */
  access?: NatsAccess;
  /**
   * Whether to bring an existing stream's settings to these (default); else
   * the stream is only created when missing, which is all a user without
   * $JS.API.STREAM.UPDATE may do (nats-permissions.ts).
   */
  updatesStream?: boolean;
}

/** A publish not acknowledged this fast is retried, then spooled. */
const PUBLISH_TIMEOUT_MS = 2_000;

// JetStream API error codes for a name another process took first (not in JetStreamApiCodes).
const STREAM_NAME_IN_USE = 10058;
const CONSUMER_NAME_IN_USE = 10013;

/**
 * The production bus. Events are protobuf-encoded on subjects
 * `<prefix>.events.<type>`, captured by one stream; the consecutive events of
 * one type in one publish travel as one message (an EventBatch, see
 * event-messages.ts). The message id comes from the event ids, so a
 * re-published message inside the duplicate window is stored once. Durable
 * consumers ack a message only after the handler resolved for all its events.
 */
export class JetStreamBus implements EventBus {
  readonly kind = 'jetstream';
  private readonly consumers = new Set<Consumer>();
  private online = true;
  private readonly publisher: AckedPublisher;
  /** The stream's max_msg_size, which an operator may set; -1: none. */
  private streamMaxMsgSize = -1;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly settings: JetStreamSettings,
    private readonly log: Logger,
  ) {
    this.publisher = new AckedPublisher(nc, PUBLISH_TIMEOUT_MS, settings.access?.inboxPrefix);
  }

  static async connect(settings: JetStreamSettings, name: string, log: Logger): Promise<JetStreamBus> {
    let nc: NatsConnection;
    try {
      // No async traces: the client would build two Error objects (with stacks) for every publish we make.
      nc = await connect({ servers: settings.url, name, maxReconnectAttempts: -1, reconnectTimeWait: 500, noAsyncTraces: true, ...settings.access });
    } catch (err) {
      throw new Error(`cannot connect to NATS at ${withoutCredentials(settings.url)} (nats.url): ${(err as Error).message}`, { cause: err });
    }
    const jsm = await jetstreamManager(nc);
    const bus = new JetStreamBus(nc, jetstream(nc), jsm, settings, log);
    void bus.watchStatus();
    await bus.ensureStream();
    return bus;
  }

  private async watchStatus(): Promise<void> {
    const server = withoutCredentials(this.settings.url);
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') {
        this.online = false;
        this.log.warn({ server }, 'NATS connection lost; reconnecting');
      } else if (status.type === 'reconnect') {
        this.online = true;
        this.log.info({ server }, 'NATS connection restored');
      } else if (status.type === 'error') {
        // A broadcast's consumer, replaced after a gap, asks to delete the old one, which no user may (it expires after 5 minutes).
        const expected = status.error.message.includes('$JS.API.CONSUMER.DELETE.');
        // Otherwise chiefly a refused permission: what this process does on the bus and what its NATS user may do have drifted apart.
        this.log[expected ? 'debug' : 'error']({ server, reason: status.error.message }, 'NATS refused an operation');
      }
    }
  }

  private subject(type: string): string {
    return `${this.settings.subjectPrefix}.events.${type}`;
  }

  /** Creates the stream, or brings its settings to ours (keeping others an operator set, such as max_msg_size). */
  private async ensureStream(): Promise<void> {
    const config = {
      name: this.settings.stream,
      subjects: [this.subject('>')],
      storage: this.settings.storage === 'memory' ? StorageType.Memory : StorageType.File,
      num_replicas: this.settings.replicas,
      max_age: nanos(this.settings.maxAgeHours * 3_600_000),
      duplicate_window: nanos(this.settings.duplicateWindowSeconds * 1000),
    };
    let stream: StreamInfo;
    try {
      const found = await this.jsm.streams.info(config.name);
      stream = this.settings.updatesStream === false ? found : await this.jsm.streams.update(config.name, config);
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== JetStreamApiCodes.StreamNotFound) throw err;
      try {
        stream = await this.jsm.streams.add(config);
      } catch (addErr) {
        // Another process created it between our info and add.
        if (!(addErr instanceof JetStreamApiError) || addErr.code !== STREAM_NAME_IN_USE) throw addErr;
        stream = await this.jsm.streams.info(config.name);
      }
    }
    this.streamMaxMsgSize = stream.config.max_msg_size ?? -1;
  }

  async publish(events: readonly Event[]): Promise<void> {
    // Half the server's max_payload or the stream's max_msg_size at most, leaving room for headers, should either be
    // set low: a batch of events each within the limit is then never refused as a whole.
    const maxPayload = this.nc.info?.max_payload ?? 1024 * 1024;
    const maxBytes = Math.min(MAX_MESSAGE_BYTES, (this.streamMaxMsgSize > 0 ? Math.min(maxPayload, this.streamMaxMsgSize) : maxPayload) / 2);
    const messages = packEvents(events, maxBytes);
    const outcomes = await Promise.allSettled(
      messages.map((message) => {
        const batch = message.count > 1 ? { [BATCH_HEADER]: String(message.count) } : undefined;
        const traced = traceHeaders(message.events);
        return this.publisher.publish(this.subject(message.type), message.data, message.id, traced ? { ...batch, ...traced } : batch);
      }),
    );
    // The first failure in publish order; a refusal says where, so the publisher can set aside just that event.
    let at = 0;
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i]!;
      if (outcome.status === 'rejected') throw outcome.reason instanceof PublishRefused ? new PublishRefused(outcome.reason.message, at) : outcome.reason;
      at += messages[i]!.count;
    }
  }

  async consume(options: ConsumeOptions, handler: BatchHandler): Promise<DurableConsumer> {
    await this.ensureDurable(options);
    const consumer = await this.js.consumers.get(this.settings.stream, options.name);
    const messages = await consumer.consume({ max_messages: options.maxBatch * 2 });
    const state = { stopping: false };
    const log = this.log.child({ consumer: options.name });
    const done = this.runBatches(messages, options.maxBatch, tracedHandler(options.name, handler), log, state);
    const handle: DurableConsumer = {
      stop: async () => {
        state.stopping = true;
        this.consumers.delete(handle);
        await messages.close();
        await done;
      },
      pending: async () => {
        const info = await this.jsm.consumers.info(this.settings.stream, options.name);
        return info.num_pending + info.num_ack_pending;
      },
    };
    this.consumers.add(handle);
    return handle;
  }

  /**
   * Creates the durable consumer unless it exists (made by another replica or
   * an earlier run, which then resumes where it stopped): only its creation
   * chooses where it starts.
   */
  private async ensureDurable(options: ConsumeOptions): Promise<void> {
    const config = {
      durable_name: options.name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: options.startAt === 'now' ? DeliverPolicy.New : DeliverPolicy.All,
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
   * durable's max_ack_pending) and hands the handler the oldest events, up to
   * maxBatch, as one batch: whatever arrived together, in stream order, one
   * batch at a time. Everything held is kept claimed (working()) while a
   * batch is retried, so nothing behind it is redelivered meanwhile and
   * delivered twice.
   */
  private async runBatches(messages: ConsumerMessages, maxBatch: number, handler: BatchHandler, log: Logger, state: { stopping: boolean }): Promise<void> {
    const held: Delivery[] = [];
    let heldEvents = 0;
    const pause = new Pause();
    let ended = false;
    const worker = (async () => {
      while (held.length > 0 || !ended) {
        if (held.length === 0) {
          await pause.for(1);
          continue;
        }
        // Unless a full batch is here: messages that arrived together make one batch (a turn), and a short
        // batch waits a moment for company (the linger), one transaction for many events instead of one each.
        if (heldEvents < maxBatch) await pause.for(maxBatch, this.settings.batchLingerMs || 'turn');
        const batch = held.slice(0, batchLength(held, maxBatch));
        const handled = await this.handleBatch(batch, held, maxBatch, handler, log, state);
        // Stopping: what is held is redelivered after ack_wait, in order. Not nak()ed: some
        // servers then deliver one message twice and skip another (nats-io/nats-server#5305).
        if (!handled) return;
        held.splice(0, batch.length);
        heldEvents -= eventsIn(batch);
      }
    })();
    for await (const msg of messages) {
      const events = this.unpack(msg, log);
      if (!events) continue;
      held.push({ msg, events });
      heldEvents += events.length;
      pause.reached(heldEvents);
    }
    ended = true;
    pause.wake();
    await worker;
  }

  /** A message's events; a message that is not events of its subject's type can never be handled: recorded and dropped. */
  private unpack(msg: JsMsg, log: Logger): Event[] | undefined {
    try {
      return this.eventsOf(msg);
    } catch (err) {
      log.error({ err, subject: msg.subject, seq: msg.seq }, "dropping a message that is not events of its subject's type");
      msg.term();
      return undefined;
    }
  }

  /**
   * The events a message holds, all of the type its subject names. NATS
   * grants publishing by subject, so an event whose type is not its subject's
   * (an admin change inside a request.completed message) came from a user
   * without the right to publish that type, and is refused.
   */
  private eventsOf(msg: JsMsg): Event[] {
    const events = unpackEvents(msg.data, msg.headers?.get(BATCH_HEADER));
    const type = msg.subject.slice(this.subject('').length);
    const forged = events.find((event) => event.type !== type);
    if (forged) throw new Error(`an event of type ${forged.type} arrived on ${msg.subject}`);
    readTraceHeaders(events, (name) => msg.headers?.get(name));
    return events;
  }

  /**
   * Hands the batch's events to the handler, maxBatch at a time (one message
   * may hold more), retrying until each part resolves, then acks the batch's
   * messages. Gives up (returns false, acking nothing) when stopping: the
   * server redelivers to another replica or to this consumer's next run.
   */
  private async handleBatch(
    batch: Delivery[],
    held: readonly Delivery[],
    maxBatch: number,
    handler: BatchHandler,
    log: Logger,
    state: { stopping: boolean },
  ): Promise<boolean> {
    const events = batch.flatMap((delivery) => delivery.events);
    let from = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        for (; from < events.length; from += maxBatch) await handler(events.slice(from, from + maxBatch));
        for (const delivery of batch) delivery.msg.ack();
        return true;
      } catch (err) {
        log.warn({ err, attempt, size: events.length }, 'event batch failed; retrying');
        if (!(await this.holdFor(held, retryDelayMs(attempt), state))) return false;
      }
    }
  }

  /** Waits `ms`, claiming `held` often enough that the server does not redeliver it; false if stopping. */
  private async holdFor(held: readonly Delivery[], ms: number, state: { stopping: boolean }): Promise<boolean> {
    const step = Math.max(100, Math.min(1_000, (this.settings.ackWaitSeconds * 1000) / 3));
    for (let waited = 0; ; waited += step) {
      if (state.stopping || this.nc.isClosed()) return false;
      for (const delivery of held) delivery.msg.working();
      if (waited >= ms) return true;
      await sleep(Math.min(step, ms - waited));
    }
  }

  /**
   * An ordered push consumer: the server sends new events to this process's
   * inbox. Pulled instead, its user would need to pull from any consumer of
   * the stream (its name is random), audit's and metering's durables included.
   */
  async subscribe(filter: string, handler: (event: Event) => void): Promise<Consumer> {
    const consumer = await this.js.consumers.getPushConsumer(this.settings.stream, {
      filter_subjects: this.subject(filter),
      deliver_policy: DeliverPolicy.New,
    });
    const messages = await consumer.consume();
    const done = (async () => {
      for await (const msg of messages) {
        let events: Event[];
        try {
          events = this.eventsOf(msg);
        } catch (err) {
          this.log.error({ err, subject: msg.subject }, "subscriber skipped a message that is not events of its subject's type");
          continue;
        }
        for (const event of events) {
          try {
            handler(event);
          } catch (err) {
            this.log.error({ err, subject: msg.subject }, 'subscriber failed on an event');
          }
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

/** A message delivered to a durable consumer, with its events. */
interface Delivery {
  msg: JsMsg;
  events: Event[];
}

function eventsIn(deliveries: readonly Delivery[]): number {
  let count = 0;
  for (const delivery of deliveries) count += delivery.events.length;
  return count;
}

/** How many of the first deliveries make one batch: as many as fit in maxBatch events, at least one. */
function batchLength(held: readonly Delivery[], maxBatch: number): number {
  let events = held[0]!.events.length;
  let length = 1;
  while (length < held.length && events + held[length]!.events.length <= maxBatch) events += held[length++]!.events.length;
  return length;
}
