import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, isolatedBus, requireInfra } from '../../../test/harness/infra.js';
import { encodeEvent, EventType, requestEvent, type Event } from '../events.js';
import { createLogger } from '../log.js';
import { JetStreamBus } from './jetstream.js';
import { MemoryBus } from './memory.js';
import { EventPublisher } from './publisher.js';
import type { EventBus } from './types.js';
import { answered } from '../../../test/harness/events.js';

const log = createLogger({ level: 'silent' });

function event(n: number, type: string = EventType.requestCompleted): Event {
  const e = requestEvent(
    EventType.requestCompleted,
    { service: 'ingress', context: { requestId: `req_${n}`, traceId: '', actor: undefined, sourceAddress: '' } },
    answered({ model: `m${n}` }),
  );
  return { ...e, type };
}

interface Fixture {
  bus: EventBus;
  /** A second connection to the same bus, as another process would have. */
  reopen(): Promise<EventBus>;
  /** JetStream: a plain client, to put messages on the stream as some other publisher would. */
  raw?(): Promise<{ js: JetStreamClient; subject(type: string): string; storedMessages(): Promise<number> }>;
  cleanup(): Promise<void>;
}

const fixtures: Record<string, (options?: { batchLingerMs?: number }) => Promise<Fixture>> = {
  memory: async (options) => {
    const bus = new MemoryBus(log, options);
    return { bus, reopen: async () => bus, cleanup: () => bus.close() };
  },
  jetstream: async (options) => {
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
      ...options,
    };
    const opened: (EventBus | NatsConnection)[] = [];
    const open = async () => {
      const bus = await JetStreamBus.connect(settings, 'bus-test', log);
      opened.push(bus);
      return bus;
    };
    const bus = await open();
    return {
      bus,
      reopen: open,
      raw: async () => {
        const nc = await connect({ servers: infra.natsUrl });
        opened.push(nc);
        const jsm = await jetstreamManager(nc);
        return {
          js: jetstream(nc),
          subject: (type: string) => `${names.subjectPrefix}.events.${type}`,
          storedMessages: async () => (await jsm.streams.info(names.stream)).state.messages,
        };
      },
      cleanup: async () => {
        for (const b of opened) await b.close();
        await names.cleanup();
      },
    };
  },
};

describe.each(Object.keys(fixtures))('%s event bus', (kind) => {
  let fixture: Fixture | undefined;
  const setup = async (options?: { batchLingerMs?: number }) => (fixture = await fixtures[kind]!(options));
  afterEach(async () => {
    await fixture?.cleanup();
    fixture = undefined;
  });

  it('delivers every event to each named consumer, in publish order', async () => {
    const { bus } = await setup();
    const seen: Record<string, string[]> = { audit: [], metering: [] };
    const batchSizes: number[] = [];
    for (const name of ['audit', 'metering']) {
      await bus.consume({ name, filter: '>', maxBatch: 7 }, async (events) => {
        batchSizes.push(events.length);
        seen[name]!.push(...events.map((e) => e.requestId));
      });
    }
    // Published alone and in publishes of many, with runs of one type broken by another (on JetStream: messages of 1 to 20 events).
    const sent = Array.from({ length: 50 }, (_, i) => event(i, i % 10 === 9 ? EventType.requestFailed : EventType.requestCompleted));
    for (const [from, to] of [
      [0, 1],
      [1, 21],
      [21, 24],
      [24, 50],
    ] as const)
      await bus.publish(sent.slice(from, to));
    const expected = sent.map((e) => e.requestId);
    for (const name of ['audit', 'metering']) {
      await eventually(`${name} to see 50 events`, async () => (seen[name]!.length >= 50 ? true : undefined));
      expect(seen[name]).toEqual(expected);
    }
    expect(Math.max(...batchSizes)).toBeLessThanOrEqual(7);
  });

  it('hands a lone event to the handler without waiting for more', async () => {
    const { bus } = await setup();
    const seen: string[] = [];
    await bus.consume({ name: 'lone', filter: '>', maxBatch: 100 }, async (events) => void seen.push(...events.map((e) => e.requestId)));
    await bus.publish([event(1)]);
    await eventually('the lone event', async () => (seen.length === 1 ? true : undefined), 10_000);
    await bus.publish([event(2)]);
    await eventually('the second lone event', async () => (seen.length === 2 ? true : undefined), 10_000);
  });

  it('writes a full batch at once, without waiting out its linger', async () => {
    const { bus } = await setup({ batchLingerMs: 60_000 });
    const batches: string[][] = [];
    await bus.consume({ name: 'full', filter: '>', maxBatch: 5 }, async (events) => void batches.push(events.map((e) => e.requestId)));
    for (let n = 1; n <= 5; n++) await bus.publish([event(n)]);
    await eventually('the full batch', async () => (batches.length > 0 ? true : undefined));
    expect(batches[0]).toEqual(['req_1', 'req_2', 'req_3', 'req_4', 'req_5']);
  });

  it('retries a failing batch with the same events, in order, until it succeeds', async () => {
    const { bus } = await setup();
    let failuresLeft = 2;
    const committed: string[] = [];
    await bus.consume({ name: 'flaky', filter: '>', maxBatch: 100 }, async (events) => {
      if (failuresLeft-- > 0) throw new Error('database down');
      committed.push(...events.map((e) => e.requestId));
    });
    await bus.publish(Array.from({ length: 5 }, (_, i) => event(i)));
    await eventually('the batch to be committed after retries', async () => (committed.length >= 5 ? true : undefined));
    expect(committed).toEqual(['req_0', 'req_1', 'req_2', 'req_3', 'req_4']);
  });

  it("tells how many messages a durable consumer has not yet handled, the batch in hand included, as Prometheus's consumer lag", async () => {
    const { bus } = await setup();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const consumer = await bus.consume({ name: 'lagging', filter: '>', maxBatch: 2 }, () => held);
    expect(await consumer.pending()).toBe(0);
    for (let n = 0; n < 3; n++) await bus.publish([event(n)]);
    await eventually('three pending', async () => ((await consumer.pending()) === 3 ? true : undefined));
    release();
    await eventually('none pending', async () => ((await consumer.pending()) === 0 ? true : undefined));
  });

  it('delivers events published twice (a retried publish) once', async () => {
    const { bus } = await setup();
    const seen: string[] = [];
    await bus.consume({ name: 'dedupe', filter: '>', maxBatch: 10 }, async (events) => void seen.push(...events.map((e) => e.id)));
    const once = event(1);
    await bus.publish([once]);
    await bus.publish([once]);
    const several = [event(2), event(3), event(4)];
    await bus.publish(several);
    await bus.publish(several);
    const marker = event(5);
    await bus.publish([marker]);
    await eventually('the marker event', async () => (seen.includes(marker.id) ? true : undefined));
    expect(seen).toEqual([once, ...several, marker].map((e) => e.id));
  });

  it('gives a consumer only the event types its filter names', async () => {
    const { bus } = await setup();
    const seen: string[] = [];
    await bus.consume({ name: 'filtered', filter: 'request.*', maxBatch: 10 }, async (events) => void seen.push(...events.map((e) => e.type)));
    await bus.publish([event(1, 'admin.virtual_key.created'), event(2, 'request.failed'), event(3, 'admin.virtual_key.revoked')]);
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
    await bus.publish([event(7, 'admin.virtual_key.revoked'), event(8, 'request.completed'), event(9, 'admin.virtual_key.created')]);
    await eventually('both subscribers to see both admin events', async () => (a.length >= 2 && b.length >= 2 ? true : undefined));
    expect(a).toEqual(['req_7', 'req_9']);
    expect(b).toEqual(['req_7', 'req_9']);
  });
});

describe('jetstream durable consumer', () => {
  it('resumes where it stopped, and two replicas share the work without duplicates', async () => {
    const fixture = await fixtures.jetstream!();
    try {
      const seen: string[] = [];
      const handler = async (events: Event[]) => void seen.push(...events.map((e) => e.requestId));
      const first = await fixture.bus.consume({ name: 'resume', filter: '>', maxBatch: 10 }, handler);
      await fixture.bus.publish([event(0)]);
      await eventually('the first event', async () => (seen.length === 1 ? true : undefined));
      await first.stop();
      for (let from = 1; from <= 20; from += 5) await fixture.bus.publish(Array.from({ length: 5 }, (_, i) => event(from + i)));
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

  it("reads a message of one plain event, as gateways before batching published them, and drops one that is not an event of its subject's type", async () => {
    const fixture = await fixtures.jetstream!();
    try {
      const seen: string[] = [];
      const heard: string[] = [];
      await fixture.bus.consume({ name: 'mixed', filter: '>', maxBatch: 10 }, async (events) => void seen.push(...events.map((e) => e.requestId)));
      await fixture.bus.subscribe('admin.>', (e) => heard.push(e.requestId));
      const { js, subject } = await fixture.raw!();
      const plain = event(1);
      await js.publish(subject(plain.type), encodeEvent(plain), { msgID: plain.id });
      await js.publish(subject(EventType.requestCompleted), new TextEncoder().encode('not an event'), { msgID: 'garbage' });
      // NATS grants publishing by subject: an admin change inside a message on another subject (or admin one of another) is forged.
      const smuggled = event(8, 'admin.virtual_key.revoked');
      await js.publish(subject(EventType.requestCompleted), encodeEvent(smuggled), { msgID: smuggled.id });
      const misnamed = event(9, 'admin.virtual_key.revoked');
      await js.publish(subject('admin.virtual_key.created'), encodeEvent(misnamed), { msgID: misnamed.id });
      await fixture.bus.publish([event(2), event(3), event(4, 'admin.virtual_key.created')]);
      await eventually('the events after the bad messages', async () => (seen.length >= 4 && heard.length >= 1 ? true : undefined));
      expect(seen).toEqual(['req_1', 'req_2', 'req_3', 'req_4']);
      expect(heard).toEqual(['req_4']);
    } finally {
      await fixture.cleanup();
    }
  });

  it('publishes the events a process emits within its linger as one message, in order', async () => {
    const fixture = await fixtures.jetstream!();
    const publisher = new EventPublisher(fixture.bus, log, new Registry(), { lingerMs: 200 });
    try {
      const seen: string[] = [];
      await fixture.bus.consume({ name: 'lingered', filter: '>', maxBatch: 10 }, async (events) => void seen.push(...events.map((e) => e.requestId)));
      // Three turns of the event loop, as three requests ending one after another below saturation.
      for (let n = 1; n <= 3; n++) {
        publisher.emit(event(n));
        await nextTurn();
      }
      await eventually('the lingered events', async () => (seen.length >= 3 ? true : undefined));
      expect(seen).toEqual(['req_1', 'req_2', 'req_3']);
      expect(await (await fixture.raw!()).storedMessages()).toBe(1);
    } finally {
      await publisher.flush(1_000);
      await fixture.cleanup();
    }
  });

  it('in one process, a consumer with a linger takes events published apart within it as one batch', async () => {
    const bus = new MemoryBus(log, { batchLingerMs: 200 });
    try {
      const batches: string[][] = [];
      await bus.consume({ name: 'lingering', filter: '>', maxBatch: 10 }, async (events) => void batches.push(events.map((e) => e.requestId)));
      for (let n = 1; n <= 3; n++) {
        await bus.publish([event(n)]);
        await nextTurn();
      }
      await eventually('the lingered batch', async () => (batches.length > 0 ? true : undefined));
      expect(batches).toEqual([['req_1', 'req_2', 'req_3']]);
    } finally {
      await bus.close();
    }
  });

  it('in one process, a publish resolves once the consumers that keep events wrote them: an urgent one without their linger; a sink holds nothing up', async () => {
    const bus = new MemoryBus(log, { batchLingerMs: 60_000 });
    let releaseSink!: () => void;
    const sinkAnswers = new Promise<void>((resolve) => (releaseSink = resolve));
    try {
      const written: string[] = [];
      await bus.consume(
        { name: 'ledger', filter: '>', maxBatch: 10, keepsEvents: true },
        async (events) => void written.push(...events.map((e) => e.requestId)),
      );
      // A delivery elsewhere (a SIEM sink) that does not answer: what it has not delivered is still accepted.
      await bus.consume({ name: 'sink', filter: '>', maxBatch: 10 }, () => sinkAnswers);
      let accepted = false;
      const lingering = bus.publish([event(1)]).then(() => (accepted = true));
      await nextTurn();
      await nextTurn();
      expect(accepted).toBe(false);
      expect(written).toEqual([]);
      // An answer waits for this one: the ledger writes it (and the one before) at once, not after its 60 s linger.
      await bus.publish([event(2)], { urgent: true });
      expect(written).toEqual(['req_1', 'req_2']);
      await lingering;
      expect(accepted).toBe(true);
    } finally {
      releaseSink();
      await bus.close();
    }
  });

  /** Publishes `count` events at once to a consumer whose handler settles without a turn of the event loop, as one on PGlite does. */
  async function drainBacklog(count: number, maxBatch: number): Promise<{ handledWhenLoopTurned: number | undefined }> {
    const bus = new MemoryBus(log);
    try {
      let handled = 0;
      await bus.consume({ name: 'backlog', filter: '>', maxBatch }, async (events) => void (handled += events.length));
      let handledWhenLoopTurned: number | undefined;
      setImmediate(() => (handledWhenLoopTurned = handled));
      await bus.publish(Array.from({ length: count }, (_, n) => event(n)));
      await eventually('the backlog written', async () => (handled === count ? true : undefined));
      return { handledWhenLoopTurned };
    } finally {
      await bus.close();
    }
  }

  it('in one process, a consumer writing a backlog lets the event loop turn between batches, so requests are not held up', async () => {
    const { handledWhenLoopTurned } = await drainBacklog(50, 10);
    expect(handledWhenLoopTurned).toBeLessThan(50);
  });

  it('in one process, a consumer past ten batches behind writes first, so its queue in memory stays bounded', async () => {
    const { handledWhenLoopTurned } = await drainBacklog(250, 10);
    // It wrote until fewer than ten batches (100 events) waited, then let the loop turn.
    expect(handledWhenLoopTurned).toBeGreaterThanOrEqual(150);
    expect(handledWhenLoopTurned).toBeLessThan(250);
  });

  it('in one process, a consumer keeps up while the event loop does not turn, as under a flood of connections, without waiting out its linger', async () => {
    const bus = new MemoryBus(log, { batchLingerMs: 60_000 });
    try {
      let handled = 0;
      await bus.consume({ name: 'flood', filter: '>', maxBatch: 10 }, async (events) => void (handled += events.length));
      // Each publish settles in microtasks: no timer and no immediate runs until this loop ends.
      for (let n = 0; n < 250; n++) await bus.publish([event(n)]);
      expect(handled).toBeGreaterThanOrEqual(240);
    } finally {
      await bus.close();
    }
  });

  it('in one process, a publisher hands a flood of events to the bus a thousand at a time, without waiting for a turn or its linger', async () => {
    const bus = new MemoryBus(log);
    const publisher = new EventPublisher(bus, log, new Registry(), { lingerMs: 60_000 });
    try {
      let handled = 0;
      await bus.consume({ name: 'emitted', filter: '>', maxBatch: 100 }, async (events) => void (handled += events.length));
      // Microtasks only between emits: no timer and no immediate runs until this loop ends.
      for (let n = 0; n < 2_500; n++) {
        publisher.emit(event(n));
        await Promise.resolve();
      }
      expect(handled).toBeGreaterThanOrEqual(1_000);
    } finally {
      await publisher.flush(1_000);
      await bus.close();
    }
  });
});
