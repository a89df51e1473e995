import { Writable } from 'node:stream';
import { type Counter, Registry } from 'prom-client';
import { request } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFakeSplunk, type FakeSplunk } from '../../../test/fakes/splunk.js';
import { deadLetterRecorder } from '../../../test/harness/dead-letters.js';
import { eventually } from '../../../test/harness/infra.js';
import { Event } from '../../gen/gateway/v1/events.js';
import { MemoryBus } from '../../kit/bus/memory.js';
import { adminEvent, EventType, requestEvent } from '../../kit/events.js';
import { createLogger } from '../../kit/log.js';
import { LITERAL_SECRETS } from '../../kit/secrets/store.js';
import { siemConfig, type SplunkSinkConfig } from './config.js';
import { formatEvent } from './formats.js';
import { startSinks } from './index.js';
import { RefusedByReceiver } from './refused.js';
import { SplunkSink } from './splunk.js';

const log = createLogger({ level: 'silent' });

function event(i: number, errorMessage = `multi\nline ${i}`): Event {
  if (i % 5 === 4) {
    return adminEvent(
      'admin.team.update',
      { service: 'governance' },
      { action: 'update', resource: 'team', resourceId: `team_${i}`, beforeJson: '{"n":1}', afterJson: '{"n":2}' },
    );
  }
  return requestEvent(
    EventType.requestCompleted,
    { service: 'ingress', context: { requestId: `req_${i}`, traceId: '', actor: undefined, sourceAddress: '10.0.0.1' } },
    {
      endpoint: 'chat.completions',
      model: 'gpt-4o',
      served: undefined,
      httpStatus: 200,
      usage: undefined,
      stream: false,
      cacheHit: false,
      durationMs: 12.5,
      errorCode: '',
      errorMessage,
      attempts: [],
    },
  );
}

function config(hec: FakeSplunk, overrides: Record<string, unknown> = {}): SplunkSinkConfig {
  const [parsed] = siemConfig.parse([{ type: 'splunk', name: 'splunk', url: `${hec.url}/`, token: hec.token, host: 'gw-host', ...overrides }]);
  return parsed as SplunkSinkConfig;
}

const deliveries = (format: 'native' | 'ocsf' | 'cef', events: Event[]) => events.map((e) => ({ event: e, record: formatEvent(format, e) }));

/** A logger whose output is kept, to check what reaches the logs. */
function capturingLogger(): { log: ReturnType<typeof createLogger>; text(): string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { log: createLogger({ level: 'debug', destination }), text: () => chunks.join('') };
}

describe('Splunk HEC sink', () => {
  let hec: FakeSplunk;
  beforeEach(async () => {
    hec = await startFakeSplunk();
  });
  afterEach(async () => {
    await hec.close();
  });

  it('sends a batch in one request of concatenated envelopes, with the token and the event as object or CEF line', async () => {
    const events = [event(0), event(1), event(4)];
    const native = new SplunkSink(config(hec, { index: 'audit', source: 'gateway-test' }), LITERAL_SECRETS);
    await native.deliver(deliveries('native', events));
    expect(hec.requests).toEqual([{ authorization: `Splunk ${hec.token}`, status: 200 }]);
    expect(hec.received).toHaveLength(3);
    hec.received.forEach((envelope, i) => {
      expect(envelope).toMatchObject({
        time: events[i]!.time!.getTime() / 1000,
        host: 'gw-host',
        source: 'gateway-test',
        sourcetype: 'ai-gateway:event',
        index: 'audit',
      });
      expect(Event.fromJSON(envelope.event)).toEqual(events[i]);
    });
    await native.close();

    const cef = new SplunkSink(config(hec, { format: 'cef', sourcetype: 'cef' }), LITERAL_SECRETS);
    const ocsf = new SplunkSink(config(hec, { format: 'ocsf' }), LITERAL_SECRETS);
    await cef.deliver(deliveries('cef', events));
    await ocsf.deliver(deliveries('ocsf', events));
    const [c, o] = [hec.received.slice(3, 6), hec.received.slice(6)];
    expect(c.map((e) => e.event)).toEqual(events.map((e) => formatEvent('cef', e)));
    expect(c[0]).not.toHaveProperty('index');
    expect(c[0]).not.toHaveProperty('source');
    expect(c[0]!.sourcetype).toBe('cef');
    expect(o.map((e) => (e.event as { class_uid: number; metadata: { uid: string } }).metadata.uid)).toEqual(events.map((e) => e.id));
    expect(hec.requests).toHaveLength(3);
    await cef.close();
    await ocsf.close();
  });

  it('throws on a refused token, while HEC is busy and when it is down, never showing the token', async () => {
    const wrong = 'wrong-token-0123456789abcdef';
    const refused = new SplunkSink(config(hec, { token: wrong }), LITERAL_SECRETS);
    const error = await refused.deliver(deliveries('native', [event(0)])).catch((err: Error) => err);
    expect(String(error)).toMatch(/Splunk HEC http:\/\/127\.0\.0\.1:\d+\/services\/collector\/event answered 403: Invalid token \(code 4\)/);
    expect(String(error)).not.toContain(wrong);
    await refused.close();

    const sink = new SplunkSink(config(hec), LITERAL_SECRETS);
    hec.busy = true;
    await expect(sink.deliver(deliveries('native', [event(1)]))).rejects.toThrow(/answered 503: Server is busy \(code 9\)/);
    hec.busy = false;
    await hec.close();
    await expect(sink.deliver(deliveries('native', [event(2)]))).rejects.toThrow(/cannot be reached/);
    expect(hec.received).toEqual([]);
    await sink.close();
  });

  it('logs the failures of a running sink without its token', async () => {
    const { log: captured, text } = capturingLogger();
    const bus = new MemoryBus(captured);
    const metrics = new Registry();
    const token = 'refused-token-fedcba9876543210';
    const sinks = await startSinks(bus, [config(hec, { token })], { log: captured, metrics, deadLetters: deadLetterRecorder() });
    try {
      await bus.publish([event(0)]);
      await eventually('two failed deliveries', async () => {
        const value = (await (metrics.getSingleMetric('gateway_consumer_batch_failures_total') as Counter).get()).values[0]?.value ?? 0;
        return value >= 2 ? true : undefined;
      });
      expect(text()).toContain('Invalid token');
      expect(text()).not.toContain(token);
    } finally {
      await bus.close();
      await sinks.stop();
    }
  });

  it('a sink that fails while HEC is busy delivers everything, in order and once, when it recovers', async () => {
    const bus = new MemoryBus(log);
    const metrics = new Registry();
    const sinks = await startSinks(bus, [config(hec, { maxBatch: 7 })], { log, metrics, deadLetters: deadLetterRecorder() });
    try {
      hec.busy = true;
      const sent = Array.from({ length: 50 }, (_, i) => event(i));
      await bus.publish(sent);
      await eventually('three busy answers', async () => (hec.requests.filter((r) => r.status === 503).length >= 3 ? true : undefined));
      expect(hec.received).toEqual([]);
      hec.busy = false;
      await eventually('all 50 events', async () => (hec.received.length >= 50 ? true : undefined));
      expect(hec.received.map((e) => (e.event as { id: string }).id)).toEqual(sent.map((e) => e.id));
      const delivered = await eventually('50 counted as delivered', async () => {
        const { values } = await (metrics.getSingleMetric('gateway_consumer_events_total') as Counter).get();
        return values[0]?.value === 50 ? values : undefined;
      });
      expect(delivered).toEqual([expect.objectContaining({ labels: { consumer: 'siem-splunk' }, value: 50 })]);
    } finally {
      await sinks.stop();
    }
  });

  it('sends a batch larger than HEC takes in parts, and sets aside an event too large on its own without holding up the rest', async () => {
    const bus = new MemoryBus(log);
    const metrics = new Registry();
    const deadLetters = deadLetterRecorder();
    const sent = Array.from({ length: 12 }, (_, i) => (i === 5 ? event(i, 'x'.repeat(4_000)) : event(i)));
    const huge = sent[5]!;
    const size = (e: Event) => Buffer.byteLength(new SplunkSink(config(hec), LITERAL_SECRETS).envelope({ event: e, record: formatEvent('native', e) }));
    // Room for three ordinary envelopes, never for the huge one.
    hec.maxContentLength = Math.max(...sent.filter((e) => e !== huge).map(size)) * 3 + 2;
    expect(size(huge)).toBeGreaterThan(hec.maxContentLength);
    const sinks = await startSinks(bus, [config(hec, { maxBatch: 12 })], { log, metrics, deadLetters });
    try {
      await bus.publish(sent);
      await eventually('the 11 others', async () => (hec.received.length >= 11 ? true : undefined));
      expect(hec.received.map((e) => (e.event as { id: string }).id)).toEqual(sent.filter((e) => e !== huge).map((e) => e.id));
      await eventually('the huge one set aside', async () => (deadLetters.kept.length > 0 ? true : undefined));
      expect(deadLetters.kept).toEqual([
        { consumer: 'siem-splunk', event: huge, reason: expect.stringMatching(/answered 413: .*Content-Length of \d+ too large/) },
      ]);
      expect(hec.requests.filter((r) => r.status === 413).length).toBeGreaterThan(1);
      // Counted once the sink has read each answer, a moment after HEC took the events.
      await eventually('11 counted as delivered', async () =>
        (await (metrics.getSingleMetric('gateway_consumer_events_total') as Counter).get()).values[0]?.value === 11 ? true : undefined,
      );
      // Nothing was retried as a failure: each refusal was handled by sending less.
      expect((await (metrics.getSingleMetric('gateway_consumer_batch_failures_total') as Counter).get()).values).toEqual([
        expect.objectContaining({ labels: { consumer: 'siem-splunk' }, value: 0 }),
      ]);
    } finally {
      await sinks.stop();
    }
  });

  it('reports the position of the event HEC refuses in a batch, and does not take a refused token for a refused event', async () => {
    const sink = new SplunkSink(config(hec, { format: 'cef' }), LITERAL_SECRETS);
    const events = [event(0), event(1), event(2)];
    const batch = deliveries('cef', events);
    batch[1] = { ...batch[1]!, record: '' };
    const refused = await sink.deliver(batch).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(RefusedByReceiver);
    expect(refused).toMatchObject({ at: 1, message: expect.stringContaining('Event field cannot be blank (code 13)') });
    await sink.close();
    const wrongToken = new SplunkSink(config(hec, { token: 'not-the-token-0123456789' }), LITERAL_SECRETS);
    const error = await wrongToken.deliver(deliveries('native', events)).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(RefusedByReceiver);
    await wrongToken.close();
  });

  it('the fake answers like HEC: missing or malformed authorization, no data, bad JSON, missing event', async () => {
    const post = async (body: string, authorization?: string) => {
      const response = await request(`${hec.url}/services/collector/event`, { method: 'POST', body, headers: authorization ? { authorization } : {} });
      return { status: response.statusCode, body: await response.body.json() };
    };
    const auth = `Splunk ${hec.token}`;
    expect(await post('{"event":"x"}')).toEqual({ status: 401, body: { text: 'Token is required', code: 2 } });
    expect(await post('{"event":"x"}', `Bearer ${hec.token}`)).toEqual({ status: 401, body: { text: 'Invalid authorization', code: 3 } });
    expect(await post('', auth)).toEqual({ status: 400, body: { text: 'No data', code: 5 } });
    expect(await post('{"event":"a"}{"event":', auth)).toEqual({ status: 400, body: { text: 'Invalid data format', code: 6, 'invalid-event-number': 1 } });
    expect(await post('{"event":"a"} {"time":1}', auth)).toEqual({
      status: 400,
      body: { text: 'Event field is required', code: 12, 'invalid-event-number': 1 },
    });
    expect(await post('{"event":""}', auth)).toEqual({ status: 400, body: { text: 'Event field cannot be blank', code: 13, 'invalid-event-number': 0 } });
    expect(await post('{"event":"a","time":1700000000.5}{"event":{"k":"}{"}}', auth)).toEqual({ status: 200, body: { text: 'Success', code: 0 } });
    expect(hec.received).toEqual([{ event: 'a', time: 1700000000.5 }, { event: { k: '}{' } }]);
  });
});
