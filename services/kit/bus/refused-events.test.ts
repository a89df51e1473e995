import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, isolatedBus, requireInfra } from '../../../test/harness/infra.js';
import { encodeEvent, EventType, requestEvent, type Event } from '../events.js';
import { createLogger } from '../log.js';
import { JetStreamBus } from './jetstream.js';
import { PublishRefused, type EventBus } from './types.js';

const quiet = createLogger({ level: 'silent' });

function event(requestId: string, model = 'gpt-4o-mini'): Event {
  const context = { requestId, traceId: '', actor: undefined, sourceAddress: '' };
  return requestEvent(EventType.requestCompleted, { service: 'ingress', context }, {
    endpoint: 'chat.completions', model, served: undefined, httpStatus: 200, usage: undefined, stream: false, cacheHit: false, durationMs: 1, errorCode: '', errorMessage: '', attempts: [],
  });
}
/** A model name as in the finding: its event is larger than NATS's 1 MB message limit. */
const HUGE_MODEL = 'z'.repeat(1_200_000);

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A JetStream bus on a stream of its own; `maxMsgSize` sets the stream's limit, as an operator may. */
async function jetStream(maxMsgSize?: number): Promise<JetStreamBus> {
  const infra = requireInfra();
  const names = isolatedBus(infra.natsUrl);
  cleanups.push(() => names.cleanup());
  if (maxMsgSize !== undefined) {
    const nc = await connect({ servers: infra.natsUrl });
    await (await jetstreamManager(nc)).streams.add({ name: names.stream, subjects: [`${names.subjectPrefix}.events.>`], max_msg_size: maxMsgSize });
    await nc.close();
  }
  const settings = { url: infra.natsUrl, stream: names.stream, subjectPrefix: names.subjectPrefix, storage: 'file' as const, replicas: 1, maxAgeHours: 1, duplicateWindowSeconds: 60, ackWaitSeconds: 120 };
  const bus = await JetStreamBus.connect(settings, 'refused-test', quiet);
  cleanups.push(() => bus.close());
  return bus;
}

/** What a durable consumer of every event receives, in order. */
async function stored(bus: EventBus): Promise<Event[]> {
  const seen: Event[] = [];
  await bus.consume({ name: 'audit', filter: '>', maxBatch: 100 }, async (events) => void seen.push(...events));
  return seen;
}

const ids = (events: Event[]) => events.map((e) => e.requestId);

describe('the JetStream bus', () => {
  it('refuses for good an event over the server\'s max_payload, saying which, and stores the ones around it', async () => {
    const bus = await jetStream();
    const seen = await stored(bus);
    const refusal = await bus.publish([event('req_1'), event('req_huge', HUGE_MODEL), event('req_2')]).then(() => undefined, (err: unknown) => err);
    expect(refusal).toBeInstanceOf(PublishRefused);
    expect((refusal as PublishRefused).at).toBe(1);
    expect((refusal as PublishRefused).message).toMatch(/max_payload/);
    await eventually('the events around it', async () => (seen.length >= 2 ? true : undefined), 10_000);
    expect(ids(seen)).toEqual(['req_1', 'req_2']);
  });

  it('packs events within the stream\'s max_msg_size, so events each within it are never refused together', async () => {
    const bus = await jetStream(1024);
    const seen = await stored(bus);
    const events = Array.from({ length: 20 }, (_, n) => event(`req_${n}`));
    expect(events.reduce((bytes, e) => bytes + encodeEvent(e).length, 0)).toBeGreaterThan(2 * 1024);
    await bus.publish(events);
    await eventually('every event', async () => (seen.length >= 20 ? true : undefined), 10_000);
    expect(ids(seen)).toEqual(ids(events));
  });
});
