import { Counter, Histogram, type Registry } from 'prom-client';
import type { DeadLetters, Guarded } from '../../kit/bus/dead-letters.js';
import type { Consumer, EventBus } from '../../kit/bus/types.js';
import type { Event } from '../../kit/events.js';
import type { Logger } from '../../kit/log.js';
import { LATENCY_BUCKETS, sharedMetric } from '../../kit/metrics.js';
import { LITERAL_SECRETS, type SecretLookup } from '../../kit/secrets/store.js';
import { consumerName, type SinkConfig } from './config.js';
import { formatEvent } from './formats.js';
import { refusedByReceiver } from './refused.js';
import { SplunkSink } from './splunk.js';
import { SyslogSink } from './syslog.js';
import { WebhookSink } from './webhook.js';

export { consumerName, siemConfig, sinkConfig, type SinkConfig } from './config.js';

/** One event and its formatted record. */
export interface Delivery {
  event: Event;
  record: string;
}

/**
 * A SIEM transport: deliver() resolves only once the whole batch was sent,
 * else throws: RefusedByReceiver when the receiver refused what the batch
 * holds, anything else when it could not take it now.
 */
export interface Sink {
  deliver(batch: readonly Delivery[]): Promise<void>;
  close(): Promise<void>;
}

export function createSink(config: SinkConfig, secrets: SecretLookup, log: Logger): Sink {
  switch (config.type) {
    case 'syslog':
      return new SyslogSink(config, secrets, log);
    case 'splunk':
      return new SplunkSink(config, secrets);
    case 'webhook':
      return new WebhookSink(config, secrets);
  }
}

export interface SinkOptions {
  log: Logger;
  metrics: Registry;
  /** Where an event the receiver refuses on its own goes, to be tried again now and then. */
  deadLetters: DeadLetters;
  secrets?: SecretLookup;
}

/**
 * Starts one durable consumer per sink. Each batch is formatted and delivered;
 * a failed delivery throws, so the bus retries the same batch, in order, with
 * backoff, while other sinks and the gateway go on. A batch the receiver
 * refuses for what it holds (too large, an event it cannot take) is sent in
 * parts instead, and an event it refuses on its own is set aside, so it never
 * holds up the events behind it. Secret values (tokens, HMAC keys) are read
 * through `secrets` at each delivery, so rotated ones are used without a
 * restart; they never appear in logs or errors.
 */
export async function startSinks(bus: EventBus, sinks: readonly SinkConfig[], options: SinkOptions): Promise<{ stop(): Promise<void> }> {
  const { log, metrics, deadLetters, secrets = LITERAL_SECRETS } = options;
  const names = new Set(sinks.map((s) => s.name));
  if (names.size !== sinks.length) throw new Error('SIEM sink names must be unique');
  const m = sinkMetrics(metrics);
  const started: Array<{ sink: Sink; guarded: Guarded; consumer?: Consumer }> = [];
  const stop = async () => {
    // In parallel: a sink stuck retrying does not hold up the others' shutdown.
    await Promise.all(
      started.splice(0).map(async ({ consumer, sink, guarded }) => {
        await Promise.all([consumer?.stop(), guarded.stop()]);
        await sink.close();
      }),
    );
  };
  try {
    for (const config of sinks) {
      const sinkLog = log.child({ sink: config.name });
      const sink = createSink(config, secrets, sinkLog);
      const labels = { sink: config.name };
      const name = consumerName(config);
      const deliver = async (events: Event[]) => {
        try {
          await sink.deliver(events.map((event) => ({ event, record: formatEvent(config.format, event) })));
        } catch (err) {
          if (events.length > 1 && refusedByReceiver(err)) sinkLog.warn({ events: events.length, reason: (err as Error).message }, 'SIEM refused a batch for what it holds; sending it in parts (if it is too large, lower maxBatch)');
          throw err;
        }
        m.delivered.inc(labels, events.length);
      };
      const entry: (typeof started)[number] = { sink, guarded: deadLetters.guard(name, config.maxBatch, deliver, refusedByReceiver) };
      started.push(entry);
      entry.consumer = await bus.consume({ name, filter: config.filter, maxBatch: config.maxBatch }, async (events) => {
        const timer = m.duration.startTimer(labels);
        try {
          await entry.guarded.write(events);
        } catch (err) {
          m.failures.inc(labels);
          throw err;
        } finally {
          timer();
        }
      });
      sinkLog.info({ type: config.type, format: config.format, filter: config.filter }, 'SIEM sink started');
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

interface SinkMetrics {
  delivered: Counter<'sink'>;
  failures: Counter<'sink'>;
  duration: Histogram<'sink'>;
}

/** One set per registry, shared when sinks are started more than once (tests, reloads). */
function sinkMetrics(metrics: Registry): SinkMetrics {
  return {
    delivered: sharedMetric(metrics, 'gateway_siem_delivered_total', () => new Counter({ name: 'gateway_siem_delivered_total', help: 'Events delivered to a SIEM sink, by sink.', labelNames: ['sink'], registers: [metrics] })),
    failures: sharedMetric(metrics, 'gateway_siem_failures_total', () => new Counter({ name: 'gateway_siem_failures_total', help: 'Batches a SIEM sink failed to deliver (they are retried), by sink.', labelNames: ['sink'], registers: [metrics] })),
    duration: sharedMetric(
      metrics,
      'gateway_siem_delivery_duration_seconds',
      () => new Histogram({ name: 'gateway_siem_delivery_duration_seconds', help: 'Time to deliver one batch to a SIEM sink, by sink.', labelNames: ['sink'], buckets: LATENCY_BUCKETS, registers: [metrics] }),
    ),
  };
}
