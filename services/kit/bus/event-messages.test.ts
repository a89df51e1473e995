import { describe, expect, it } from 'vitest';
import { adminEvent, EventType, requestEvent, type Event } from '../events.js';
import { packEvents, unpackEvents } from './event-messages.js';
import { answered } from '../../../test/harness/events.js';

const context = { requestId: 'req_1', traceId: '', actor: undefined, sourceAddress: '' };
const outcome = answered();
const completed = (): Event => requestEvent(EventType.requestCompleted, { service: 'test', context }, outcome);
const failed = (): Event => requestEvent(EventType.requestFailed, { service: 'test', context }, { ...outcome, httpStatus: 502 });
const admin = (after: string): Event =>
  adminEvent(
    'admin.virtual_key.update',
    { service: 'test' },
    { action: 'update', resource: 'virtual_key', resourceId: 'k1', beforeJson: '', afterJson: after },
  );

const roundTrip = (events: Event[], maxBytes?: number) =>
  packEvents(events, maxBytes).flatMap((m) => unpackEvents(m.data, m.count > 1 ? String(m.count) : undefined));

describe('event messages', () => {
  it('packs each run of one type into one message, in order, and unpacks the same events', () => {
    const events = [completed(), completed(), completed(), failed(), completed(), completed()];
    const messages = packEvents(events);
    expect(messages.map((m) => [m.type, m.count])).toEqual([
      ['request.completed', 3],
      ['request.failed', 1],
      ['request.completed', 2],
    ]);
    expect(roundTrip(events)).toEqual(events);
  });

  it('sends a lone event as a plain Event under its own id, and a batch under its first and last ids', () => {
    const [lone, a, b, c] = [failed(), completed(), completed(), completed()];
    const [plain, batch] = packEvents([lone!, a!, b!, c!]);
    expect(plain!.id).toBe(lone!.id);
    expect(unpackEvents(plain!.data, undefined)).toEqual([lone]);
    expect(batch!.id).toBe(`${a!.id}..${c!.id}`);
    // The same events make the same message again (a retried publish is deduplicated by its id).
    expect(packEvents([a!, b!, c!])[0]!.data).toEqual(batch!.data);
  });

  it('splits a run at the byte limit, and sends an event larger than it alone', () => {
    const big = admin('x'.repeat(5_000));
    const events = [admin('a'), admin('b'), big, admin('c'), admin('d'), admin('e')];
    const messages = packEvents(events, 1_000);
    expect(messages.map((m) => m.count)).toEqual([2, 1, 3]);
    for (const message of messages.filter((m) => m.count > 1)) expect(message.data.length).toBeLessThanOrEqual(1_000);
    expect(roundTrip(events, 1_000)).toEqual(events);
  });

  it('refuses bytes that are not events', () => {
    expect(() => unpackEvents(new TextEncoder().encode('not an event'), '2')).toThrow();
  });
});
