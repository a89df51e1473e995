import type { Registry } from 'prom-client';
import type { DeadLetters } from '../../kit/bus/dead-letters.js';
import { startGuardedConsumer } from '../../kit/bus/guarded-consumer.js';
import type { Consumer, EventBus } from '../../kit/bus/types.js';
import type { Event } from '../../kit/events.js';
import type { Logger } from '../../kit/log.js';
import { LITERAL_SECRETS, type SecretLookup } from '../../kit/secrets/store.js';
import { consumerName, type SinkConfig } from './config.js';
import { formatEvent } from './formats.js';
import { refusedByReceiver } from './refused.js';
import type { Sink } from './sink.js';
import { SplunkSink } from './splunk.js';
import { SyslogSink } from './syslog.js';
import { WebhookSink } from './webhook.js';

export { consumerName, siemConfig, sinkConfig, type SinkConfig } from './config.js';

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
 * Starts one durable consumer per sink (a new one from now on, or from the
 * oldest retained event with `replay`). Each batch is formatted and delivered;
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
  const started: Array<{ sink: Sink; consumer?: Consumer }> = [];
  const stop = async () => {
    // In parallel: a sink stuck retrying does not hold up the others' shutdown.
    await Promise.all(
      started.splice(0).map(async ({ consumer, sink }) => {
        await consumer?.stop();
        await sink.close();
      }),
    );
  };
  try {
    for (const config of sinks) {
      const sinkLog = log.child({ sink: config.name });
      const sink = createSink(config, secrets, sinkLog);
      const entry: (typeof started)[number] = { sink };
      started.push(entry);
      const write = async (events: Event[]) => {
        try {
          await sink.deliver(events.map((event) => ({ event, record: formatEvent(config.format, event) })));
        } catch (err) {
          if (events.length > 1 && refusedByReceiver(err))
            sinkLog.warn(
              { events: events.length, reason: (err as Error).message },
              'SIEM refused a batch for what it holds; sending it in parts (if it is too large, lower maxBatch)',
            );
          throw err;
        }
      };
      entry.consumer = await startGuardedConsumer(bus, {
        name: consumerName(config),
        filter: config.filter,
        maxBatch: config.maxBatch,
        startAt: config.replay ? 'oldest' : 'now',
        write,
        refusalOf: refusedByReceiver,
        deadLetters,
        metrics,
      });
      sinkLog.info({ type: config.type, format: config.format, filter: config.filter }, 'SIEM sink started');
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}
