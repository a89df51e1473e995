import { afterEach, describe, expect, it } from 'vitest';
import { eventually, isolatedBus, requireInfra } from '../../../test/harness/infra.js';
import { EventType, requestEvent, type Event } from '../events.js';
import { createLogger } from '../log.js';
import { JetStreamBus } from './jetstream.js';
import { MemoryBus } from './memory.js';
import type { EventBus } from './types.js';

const log = createLogger({ level: 'silent' });

function event(n: number, type: string = EventType.requestCompleted): Event {
  const e = requestEvent(EventType.requestCompleted, { service: 'test', context: { requestId: `req_${n}`, traceId: '', actor: undefined, sourceAddress: '' } }, {
    endpoint: 'chat.completions',
    model: `m${n}`,
    served: undefined,
    httpStatus: 200,
    usage: undefined,
    stream: false,
    cacheHit: false,
    durationMs: 1,
    errorCode: '',
    errorMessage: '',
    attempts: [],
  });
  return { ...e, type };
}

interface Fixture {
  bus: EventBus;
  /** A second connection to the same bus, as another process would have. */
  reopen(): Promise<EventBus>;
  cleanup(): Promise<void>;
}

const fixtures: Record<string, () => Promise<Fixture>> = {
  memory: async () => {
    const bus = new MemoryBus(log);
    return { bus, reopen: async () => bus, cleanup: () => bus.close() };
  },
  jetstream: async () => {
    const infra = requireInfra();
    const names = isolatedBus(infra.natsUrl);
    const settings = {
      url: infra.natsUrl,
      stream: names.stream,
      subjectPrefix: names.subjectPrefix,
      storage: 'file' as const,
      replicas: 1,
      maxAgeHours: 1,
      duplicateWindowSeconds: 60,
      // Far longer than any wait below: a delivery that needs a redelivery to happen is a bug.
      ackWaitSeconds: 120,
    };
    const opened: EventBus[] = [];
    const open = async () => {
      const bus = await JetStreamBus.connect(settings, 'bus-test', log);
      opened.push(bus);
      return bus;
    };
    const bus = await open();
    return {
      bus,
      reopen: open,
      cleanup: async () => {
        for (const b of opened) await b.close();
        await names.cleanup();
      },
    };
  },
};

describe.each(Object.keys(fixtures))('%s event bus', (kind) => {
  let fixture: Fixture | undefined;
  const setup = async () => (fixture = await fixtures[kind]!());
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  it('delivers every event to each named consumer, in publish order', async () => {
    const { bus } = await setup();
    const seen: Record<string, string[]> = { audit: [], metering: [] };
    for (const name of ['audit', 'metering']) {
      await bus.consume({ name, filter: '>', maxBatch: 7 }, async (events) => {
        seen[name]!.push(...events.map((e) => e.requestId));
      });
    }
    const expected = Array.from({ length: 50 }, (_, i) => `req_${i}`);
    for (let i = 0; i < 50; i++) await bus.publish(event(i));
    for (const name of ['audit', 'metering']) {
      await eventually(`${name} to see 50 events`, async () => (seen[name]!.length >= 50 ? true : undefined));
      expect(seen[name]).toEqual(expected);
    }
  });

  it('hands a lone event to the handler without waiting for more', async () => {
    const { bus } = await setup();
    const seen: string[] = [];
    await bus.consume({ name: 'lone', filter: '>', maxBatch: 100 }, async (events) => void seen.push(...events.map((e) => e.requestId)));
    await bus.publish(event(1));
    await eventually('the lone event', async () => (seen.length === 1 ? true : undefined), 10_000);
    await bus.publish(event(2));
    await eventually('the second lone event', async () => (seen.length === 2 ? true : undefined), 10_000);
  });

  it('retries a failing batch with the same events, in order, until it succeeds', async () => {
    const { bus } = await setup();
    let failuresLeft = 2;
    const committed: string[] = [];
    await bus.consume({ name: 'flaky', filter: '>', maxBatch: 100 }, async (events) => {
      if (failuresLeft-- > 0) throw new Error('database down');
      committed.push(...events.map((e) => e.requestId));
    });
    for (let i = 0; i < 5; i++) await bus.publish(event(i));
    await eventually('the batch to be committed after retries', async () => (committed.length >= 5 ? true : undefined));
    expect(committed).toEqual(['req_0', 'req_1', 'req_2', 'req_3', 'req_4']);
  });

  it('delivers an event published twice with the same id once', async () => {
    const { bus } = await setup();
    const seen: string[] = [];
    await bus.consume({ name: 'dedupe', filter: '>', maxBatch: 10 }, async (events) => void seen.push(...events.map((e) => e.id)));
    const once = event(1);
    await bus.publish(once);
    await bus.publish(once);
    const marker = event(2);
    await bus.publish(marker);
    await eventually('the marker event', async () => (seen.includes(marker.id) ? true : undefined));
    expect(seen.filter((id) => id === once.id)).toHaveLength(1);
  });

  it('gives a consumer only the event types its filter names', async () => {
    const { bus } = await setup();
    const seen: string[] = [];
    await bus.consume({ name: 'filtered', filter: 'request.*', maxBatch: 10 }, async (events) => void seen.push(...events.map((e) => e.type)));
    await bus.publish(event(1, 'admin.virtual_key.created'));
    await bus.publish(event(2, 'request.failed'));
    await eventually('the request event', async () => (seen.length >= 1 ? true : undefined));
    expect(seen).toEqual(['request.failed']);
  });

  it('broadcasts new events to every subscriber, in every process', async () => {
    const { bus, reopen } = await setup();
    const other = await reopen();
    const a: string[] = [];
    const b: string[] = [];
    await bus.subscribe('admin.>', (e) => a.push(e.requestId));
    await other.subscribe('admin.>', (e) => b.push(e.requestId));
    await bus.publish(event(7, 'admin.virtual_key.revoked'));
    await bus.publish(event(8, 'request.completed'));
    await eventually('both subscribers to see the admin event', async () => (a.length && b.length ? true : undefined));
    expect(a).toEqual(['req_7']);
    expect(b).toEqual(['req_7']);
  });
});

describe('jetstream durable consumer', () => {
  it('resumes where it stopped, and two replicas share the work without duplicates', async () => {
    const fixture = await fixtures.jetstream!();
    try {
      const seen: string[] = [];
      const handler = async (events: Event[]) => void seen.push(...events.map((e) => e.requestId));
      const first = await fixture.bus.consume({ name: 'resume', filter: '>', maxBatch: 10 }, handler);
      await fixture.bus.publish(event(0));
      await eventually('the first event', async () => (seen.length === 1 ? true : undefined));
      await first.stop();
      for (let i = 1; i <= 20; i++) await fixture.bus.publish(event(i));
      // Two processes attach to the same durable consumer.
      const other = await fixture.reopen();
      await fixture.bus.consume({ name: 'resume', filter: '>', maxBatch: 10 }, handler);
      await other.consume({ name: 'resume', filter: '>', maxBatch: 10 }, handler);
      await eventually('the events published while stopped', async () => (seen.length >= 21 ? true : undefined));
      expect([...seen].sort()).toEqual(Array.from({ length: 21 }, (_, i) => `req_${i}`).sort());
    } finally {
      await fixture.cleanup();
    }
  });
});
