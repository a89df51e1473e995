import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Registry, type Counter } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, isolatedBus, requireInfra } from '../../../test/harness/infra.js';
import type { Attempt } from '../../gen/gateway/v1/common.js';
import { decodeEvent, encodeEvent, EventType, requestEvent, type Event } from '../events.js';
import { createLogger, type Logger } from '../log.js';
import { DeadLetterFile } from './dead-letter-file.js';
import { boundedEvent, reducedEvent } from './event-bounds.js';
import { JetStreamBus } from './jetstream.js';
import { MemoryBus } from './memory.js';
import { EventPublisher, type PublisherOptions } from './publisher.js';
import { Spool } from './spool.js';
import { PublishRefused, type EventBus } from './types.js';
import { answered } from '../../../test/harness/events.js';

const quiet = createLogger({ level: 'silent' });

const attempt = (n: number, errorMessage: string): Attempt => ({
  provider: 'openai',
  model: 'gpt-4o-mini',
  deployment: `openai-${n}`,
  credential: 0,
  outcome: 'server_error',
  upstreamStatus: 502,
  durationMs: 3,
  reason: 'retry',
  errorMessage,
});
function event(requestId: string, model = 'gpt-4o-mini', attempts: Attempt[] = []): Event {
  const context = { requestId, traceId: '', actor: undefined, sourceAddress: '' };
  return requestEvent(EventType.requestCompleted, { service: 'ingress', context }, answered({ model, attempts }));
}
/** A model name as in the finding: its event is larger than NATS's 1 MB message limit. */
const HUGE_MODEL = 'z'.repeat(1_200_000);
const modelOf = (e: Event | undefined) => (e?.payload?.$case === 'request' ? e.payload.request.model : undefined);

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-refused-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

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
  const settings = {
    url: infra.natsUrl,
    stream: names.stream,
    subjectPrefix: names.subjectPrefix,
    storage: 'file' as const,
    replicas: 1,
    maxAgeHours: 1,
    duplicateWindowSeconds: 60,
    ackWaitSeconds: 120,
  };
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

function publisher(bus: EventBus, { log = quiet, ...options }: PublisherOptions & { log?: Logger } = {}): { events: EventPublisher; metrics: Registry } {
  const metrics = new Registry();
  const events = new EventPublisher(bus, log, metrics, options);
  cleanups.push(() => events.flush(1_000));
  return { events, metrics };
}

async function counted(metrics: Registry, name: string): Promise<Record<string, number>> {
  const { values } = await (metrics.getSingleMetric(name) as Counter).get();
  return Object.fromEntries(values.map((v) => [Object.values(v.labels).join(','), v.value]));
}

const ids = (events: Event[]) => events.map((e) => e.requestId);

describe('an event larger than the bus takes', () => {
  const buses = {
    memory: async () => {
      const bus = new MemoryBus(quiet);
      cleanups.push(() => bus.close());
      return { bus, options: {} };
    },
    // As split mode runs it: with a spool, and the default 1 MB limit of NATS.
    jetstream: async () => ({ bus: await jetStream(), options: { spool: await Spool.open({ dir: tempDir(), maxBytes: 1 << 30, syncIntervalMs: 10 }, quiet) } }),
  };

  it.each(Object.keys(buses) as (keyof typeof buses)[])(
    'is stored cut to its bound, with its marker, and the events after it are stored too (%s bus)',
    async (kind) => {
      const { bus, options } = await buses[kind]();
      const seen = await stored(bus);
      const { events } = publisher(bus, options);
      const huge = event('req_huge', HUGE_MODEL);
      events.emit(event('req_1'));
      events.emit(huge);
      for (let n = 2; n <= 4; n++) {
        await nextTurn();
        events.emit(event(`req_${n}`));
      }
      await eventually('every event stored', async () => (seen.length >= 5 ? true : undefined), 10_000);
      expect(ids(seen)).toEqual(['req_1', 'req_huge', 'req_2', 'req_3', 'req_4']);
      // Both run modes store the same thing: the event as boundedEvent cuts it.
      expect(seen[1]).toEqual(boundedEvent(huge));
      expect(modelOf(seen[1])!.length).toBeLessThanOrEqual(16_384);
      expect(modelOf(seen[1])!.slice(-40)).toBe('z…[truncated: 1,183,655 more characters]');
    },
  );
});

describe('the JetStream bus', () => {
  it("refuses for good an event over the server's max_payload, saying which, and stores the ones around it", async () => {
    const bus = await jetStream();
    const seen = await stored(bus);
    const refusal = await bus.publish([event('req_1'), event('req_huge', HUGE_MODEL), event('req_2')]).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refusal).toBeInstanceOf(PublishRefused);
    expect((refusal as PublishRefused).at).toBe(1);
    expect((refusal as PublishRefused).message).toMatch(/max_payload/);
    await eventually('the events around it', async () => (seen.length >= 2 ? true : undefined), 10_000);
    expect(ids(seen)).toEqual(['req_1', 'req_2']);
  });

  it("packs events within the stream's max_msg_size, so events each within it are never refused together", async () => {
    const bus = await jetStream(1024);
    const seen = await stored(bus);
    const events = Array.from({ length: 20 }, (_, n) => event(`req_${n}`));
    expect(events.reduce((bytes, e) => bytes + encodeEvent(e).length, 0)).toBeGreaterThan(2 * 1024);
    await bus.publish(events);
    await eventually('every event', async () => (seen.length >= 20 ? true : undefined), 10_000);
    expect(ids(seen)).toEqual(ids(events));
  });
});

describe('the spool', () => {
  it('replays past an event too large for the bus, written by an older version, which is stored cut', async () => {
    const dir = tempDir();
    const older = await Spool.open({ dir, maxBytes: 1 << 30, syncIntervalMs: 10 }, quiet);
    const huge = event('req_huge', HUGE_MODEL);
    for (const spooled of [event('req_1'), huge, event('req_2'), event('req_3')]) older.append(spooled);
    await older.close();

    const bus = await jetStream();
    const seen = await stored(bus);
    publisher(bus, { spool: await Spool.open({ dir, maxBytes: 1 << 30, syncIntervalMs: 10 }, quiet) });
    await eventually('the spooled events', async () => (seen.length >= 4 ? true : undefined), 10_000);
    expect(ids(seen)).toEqual(['req_1', 'req_huge', 'req_2', 'req_3']);
    expect(seen[1]).toEqual(boundedEvent(huge));
  });
});

describe('an event the stream refuses for its size (its max_msg_size set low)', () => {
  const LIMIT = 1024;
  /** Cut to its bound, then still refused: goes reduced. */
  const refusedCut = () => event('req_too_long', HUGE_MODEL);
  /** Within every bound, but refused even reduced, which keeps 8 of its attempts. */
  const refusedEvenReduced = () =>
    event(
      'req_too_many',
      'gpt-4o-mini',
      Array.from({ length: 12 }, (_, n) => attempt(n, `upstream said: ${'e'.repeat(2_000)}`)),
    );

  /** What the tests below rest on: the stream takes ordinary events and the reduced form of one, refuses the rest. */
  function expectSizesAsNeeded(): void {
    const headers = 100;
    expect(encodeEvent(event('req_1')).length + headers).toBeLessThan(LIMIT);
    expect(encodeEvent(boundedEvent(refusedCut())).length).toBeGreaterThan(LIMIT);
    expect(encodeEvent(reducedEvent(refusedCut())).length + headers).toBeLessThan(LIMIT);
    const withinBounds = refusedEvenReduced();
    expect(boundedEvent(withinBounds)).toBe(withinBounds);
    expect(encodeEvent(reducedEvent(withinBounds)).length).toBeGreaterThan(LIMIT);
  }

  it('is published reduced, or else set aside in the dead-letter file, counted and logged without its content; the events after it are published', async () => {
    expectSizesAsNeeded();
    const bus = await jetStream(LIMIT);
    const seen = await stored(bus);
    const dir = tempDir();
    const logged: string[] = [];
    const log = createLogger({
      level: 'warn',
      destination: new Writable({
        write: (chunk, _encoding, done) => {
          logged.push(String(chunk));
          done();
        },
      }),
    });
    const deadLetters = await DeadLetterFile.open(join(dir, 'dead-letters.ndjson'), 1 << 20);
    const { events, metrics } = publisher(bus, { spool: await Spool.open({ dir, maxBytes: 1 << 30, syncIntervalMs: 10 }, quiet), deadLetters, log });
    const setAsideEvent = refusedEvenReduced();
    for (const emitted of [event('req_1'), refusedCut(), event('req_2'), setAsideEvent, event('req_3')]) events.emit(emitted);

    await eventually('the events after them, and the reduced one', async () => (seen.length >= 4 ? true : undefined), 10_000);
    // Published again after the refusal, the reduced event may be stored after the events published with it.
    expect(ids(seen).filter((id) => id !== 'req_too_long')).toEqual(['req_1', 'req_2', 'req_3']);
    const reduced = modelOf(seen.find((e) => e.requestId === 'req_too_long'));
    expect(reduced).toMatch(/^z+…\[truncated: 1,199,\d{3} more characters\]$/);
    expect(reduced!.length).toBeLessThanOrEqual(256);

    // The refusal of the set-aside event may come back after the events published with it.
    const written = await eventually('the dead letter', async () => readFileSync(deadLetters.path, 'utf8').trim() || undefined, 10_000);
    const letters = written.split('\n').map((line) => JSON.parse(line) as { eventId: string; requestId: string; reason: string; event: string });
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ eventId: setAsideEvent.id, requestId: 'req_too_many', reason: expect.stringMatching(/message size exceeds maximum/) });
    expect(decodeEvent(Buffer.from(letters[0]!.event, 'base64'))).toEqual(setAsideEvent);
    // Counted and logged once the file has it: the file may be read in between.
    const refusals = await eventually('the set-aside event counted', async () => {
      const outcomes = await counted(metrics, 'gateway_events_refused_total');
      return outcomes.set_aside ? outcomes : undefined;
    });
    expect(refusals).toEqual({ reduced: 1, set_aside: 1 });

    const setAside = logged.map((line) => JSON.parse(line) as { level: string; msg: string; file?: string }).find((line) => line.level === 'error');
    expect(setAside).toMatchObject({ file: deadLetters.path, msg: expect.stringMatching(/set aside in the dead-letter file/) });
    expect(logged.join('')).not.toMatch(/eeeeeeee|zzzzzzzz/);
  });

  it('in the spool, is set aside as the spool is replayed past it', async () => {
    expectSizesAsNeeded();
    const dir = tempDir();
    const earlier = await Spool.open({ dir, maxBytes: 1 << 30, syncIntervalMs: 10 }, quiet);
    const setAsideEvent = refusedEvenReduced();
    for (const spooled of [event('req_1'), setAsideEvent, event('req_2')]) earlier.append(spooled);
    await earlier.close();

    const bus = await jetStream(LIMIT);
    const seen = await stored(bus);
    const deadLetters = await DeadLetterFile.open(join(dir, 'dead-letters.ndjson'), 1 << 20);
    const { metrics } = publisher(bus, { spool: await Spool.open({ dir, maxBytes: 1 << 30, syncIntervalMs: 10 }, quiet), deadLetters });
    await eventually('the spooled events', async () => (seen.length >= 2 ? true : undefined), 10_000);
    expect(ids(seen)).toEqual(['req_1', 'req_2']);
    expect(readFileSync(deadLetters.path, 'utf8')).toContain(setAsideEvent.id);
    expect(await counted(metrics, 'gateway_events_refused_total')).toEqual({ reduced: 0, set_aside: 1 });
  });

  it('without a spool or a dead-letter file, is counted lost instead of being retried for ever', async () => {
    expectSizesAsNeeded();
    const bus = await jetStream(LIMIT);
    const seen = await stored(bus);
    const { events, metrics } = publisher(bus);
    for (const emitted of [event('req_1'), refusedEvenReduced(), event('req_2')]) events.emit(emitted);
    await eventually('the events around it', async () => (ids(seen).includes('req_2') ? true : undefined), 10_000);
    expect(ids(seen)).toEqual(['req_1', 'req_2']);
    expect(await counted(metrics, 'gateway_events_dropped_total')).toEqual({ spool_full: 0, shutdown: 0, refused: 1 });
  });
});
