import { describe, expect, it } from 'vitest';
import type { Attempt } from '../../gen/gateway/v1/common.js';
import { adminEvent, encodeEvent, EventType, requestEvent, type Event } from '../events.js';
import { boundedEvent, reducedEvent } from './event-bounds.js';

const context = {
  requestId: 'req_1',
  traceId: '',
  actor: { keyId: 'vk_1', keyName: 'ci', teamId: '', customerId: '', admin: '' },
  sourceAddress: '203.0.113.9',
};
const attempt = (n: number, errorMessage = ''): Attempt => ({
  provider: 'openai',
  model: 'gpt-4o-mini',
  deployment: `openai-${n}`,
  credential: 0,
  outcome: errorMessage ? 'server_error' : 'ok',
  upstreamStatus: errorMessage ? 502 : 200,
  durationMs: n,
  reason: n === 0 ? 'initial' : 'retry',
  errorMessage,
});
const completed = (model: string, attempts: Attempt[] = [attempt(0)], errorMessage = ''): Event =>
  requestEvent(
    EventType.requestFailed,
    { service: 'ingress', context },
    {
      endpoint: 'chat.completions',
      model,
      served: undefined,
      httpStatus: 502,
      usage: undefined,
      stream: false,
      cacheHit: false,
      durationMs: 12,
      errorCode: 'provider_error',
      errorMessage,
      attempts,
    },
  );
const modelOf = (event: Event) => (event.payload?.$case === 'request' ? event.payload.request.model : undefined);
const attemptsOf = (event: Event) => (event.payload?.$case === 'request' ? event.payload.request.attempts : []);

/** The kept text and the count its marker gives, checked to add up to the original length. */
function cutOf(text: string): { kept: string; leftOut: number } {
  const match = /^([\s\S]*)…\[truncated: ([\d,]+) more characters\]$/.exec(text);
  if (!match) throw new Error(`no marker at the end of ${text.slice(-80)}`);
  return { kept: match[1]!, leftOut: Number(match[2]!.replaceAll(',', '')) };
}

describe('event bounds', () => {
  it('leaves an ordinary event as it is, the same object', () => {
    const event = completed('gpt-4o-mini', [attempt(0, 'upstream timed out'), attempt(1)]);
    expect(boundedEvent(event)).toBe(event);
  });

  it('cuts a long field to its bound with a marker saying how much was left out, leaving the rest of the event as it was', () => {
    const model = 'x'.repeat(500_000);
    const event = completed(model);
    const bounded = boundedEvent(event);
    const cut = modelOf(bounded)!;
    expect(cut.length).toBeLessThanOrEqual(16_384);
    expect(cut.endsWith('…[truncated: 483,653 more characters]')).toBe(true);
    const { kept, leftOut } = cutOf(cut);
    expect(kept).toBe(model.slice(0, kept.length));
    expect(kept.length + leftOut).toBe(model.length);
    expect({ ...bounded, payload: undefined }).toEqual({ ...event, payload: undefined });
    expect(attemptsOf(bounded)).toEqual(attemptsOf(event));
    expect(modelOf(event)).toBe(model);
  });

  it('never splits a surrogate pair', () => {
    for (const start of ['', 'a']) {
      const model = start + '😀'.repeat(300_000);
      const cut = modelOf(boundedEvent(completed(model)))!;
      const { kept, leftOut } = cutOf(cut);
      expect(kept).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
      expect(kept.length + leftOut).toBe(model.length);
    }
  });

  it('is stable: a bounded event is bounded already, and cutting it shorter still counts everything left out', () => {
    const model = 'y'.repeat(700_000);
    const bounded = boundedEvent(completed(model));
    expect(boundedEvent(bounded)).toBe(bounded);
    const reduced = modelOf(reducedEvent(bounded))!;
    expect(reduced.length).toBeLessThanOrEqual(256);
    const { kept, leftOut } = cutOf(reduced);
    expect(kept.length + leftOut).toBe(model.length);
  });

  it('reduces an event whose fields, each within bounds, are too many together', () => {
    const page = '<html>502 Bad Gateway</html>'.padEnd(12_000, ' ');
    const event = completed(
      'gpt-4o-mini',
      Array.from({ length: 6 }, (_, n) => attempt(n, page)),
    );
    const attempts = attemptsOf(boundedEvent(event));
    expect(attempts).toHaveLength(6);
    for (const a of attempts) {
      expect(a.errorMessage.length).toBeLessThanOrEqual(256);
      expect(a.errorMessage.startsWith('<html>502 Bad Gateway</html>')).toBe(true);
      expect(cutOf(a.errorMessage).leftOut).toBeGreaterThan(11_000);
    }
  });

  it('keeps a reduced list to its first items, a placeholder saying how many were left out, and its last item', () => {
    const attempts = Array.from({ length: 2_550 }, (_, n) => attempt(n, 'rate limited'));
    const reduced = attemptsOf(boundedEvent(completed('gpt-4o-mini', attempts)));
    expect(reduced).toHaveLength(8);
    expect(reduced.slice(0, 6)).toEqual(attempts.slice(0, 6));
    expect(reduced[6]).toMatchObject({
      provider: '…[truncated: 2,543 more items]',
      outcome: '…[truncated: 2,543 more items]',
      durationMs: 0,
      upstreamStatus: 0,
    });
    expect(reduced[7]).toEqual(attempts.at(-1));
  });

  it('keeps an event of only the longest text within what any bus takes: 96 KiB bounded, 64 KiB reduced', () => {
    const huge = '中'.repeat(1_000_000);
    const allHuge = completed(
      huge,
      Array.from({ length: 100 }, (_, n) => ({ ...attempt(n, huge), provider: huge, model: huge, deployment: huge, reason: huge })),
      huge,
    );
    expect(encodeEvent(boundedEvent(allHuge)).length).toBeLessThanOrEqual(64 * 1024);
    // Just within the total: one field cut to its bound, the other kept whole.
    const after = '中'.repeat(16_000);
    const admin = adminEvent(
      'admin.routing_provider.update',
      { service: 'governance' },
      { action: 'update', resource: 'routing_provider', resourceId: 'p1', beforeJson: huge, afterJson: after },
    );
    const bounded = boundedEvent(admin);
    expect(bounded.payload?.$case === 'admin' && bounded.payload.admin).toMatchObject({ resource: 'routing_provider', resourceId: 'p1', afterJson: after });
    expect(encodeEvent(bounded).length).toBeLessThanOrEqual(96 * 1024 + 1024);
    expect(encodeEvent(reducedEvent(admin)).length).toBeLessThanOrEqual(2 * 1024);
  });
});
