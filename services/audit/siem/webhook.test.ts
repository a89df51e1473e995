import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { type Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { listenLocally, readBody, writeJson } from '../../../test/fakes/local-server.js';
import { deadLetterRecorder } from '../../../test/harness/dead-letters.js';
import { eventually, isolatedBus, requireInfra } from '../../../test/harness/infra.js';
import { Event } from '../../gen/gateway/v1/events.js';
import { JetStreamBus } from '../../kit/bus/jetstream.js';
import { MemoryBus } from '../../kit/bus/memory.js';
import type { EventBus } from '../../kit/bus/types.js';
import { EventType, requestEvent } from '../../kit/events.js';
import { createLogger } from '../../kit/log.js';
import type { SecretLookup } from '../../kit/secrets/store.js';
import { siemConfig, type WebhookSinkConfig } from './config.js';
import { formatEvent } from './formats.js';
import { startSinks } from './index.js';
import { RefusedByReceiver } from './refused.js';
import { WebhookSink, webhookBody } from './webhook.js';

const log = createLogger({ level: 'silent' });
const SECRET = 'whsec-test-0123456789abcdef';

function event(i: number): Event {
  return requestEvent(
    EventType.requestFailed,
    { service: 'ingress', context: { requestId: `req_${i}`, traceId: '', actor: undefined, sourceAddress: '' } },
    {
      endpoint: 'embeddings',
      model: 'text-embedding-3-small',
      served: undefined,
      httpStatus: 504,
      usage: undefined,
      stream: false,
      cacheHit: false,
      durationMs: 3,
      errorCode: 'upstream_timeout',
      errorMessage: `no answer\nfor ${i}`,
      attempts: [],
    },
  );
}

/**
 * A webhook receiver as the docs in webhook.ts tell one to write it: verify
 * the HMAC of "<timestamp>.<raw body>" in constant time and refuse stale
 * timestamps; answer 503 while `down`. Keeps what it accepted, in order.
 * Optionally, like many web frameworks, it refuses bodies over `maxBody`
 * bytes with 413, and refuses with 422 a batch holding an event `rejects`.
 */
async function startReceiver(secret = SECRET, limits: { maxBody?: number; rejects?: (event: { id: string }) => boolean } = {}) {
  const state = { down: false, accepted: [] as unknown[], refused: 0, unavailable: 0, tooLarge: 0, headers: [] as IncomingHttpHeaders[] };
  const server = createServer(async (req, res) => {
    const raw = (await readBody(req)).toString('utf8');
    if (state.down) {
      state.unavailable++;
      return writeJson(res, 503, { error: 'down for maintenance' });
    }
    if (limits.maxBody !== undefined && Buffer.byteLength(raw) > limits.maxBody) {
      state.tooLarge++;
      return writeJson(res, 413, { error: 'request entity too large' });
    }
    const timestamp = Number(req.headers['x-gateway-timestamp']);
    const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(`${timestamp}.${raw}`).digest('hex')}`);
    const given = Buffer.from(String(req.headers['x-gateway-signature'] ?? ''));
    const fresh = Math.abs(Date.now() / 1000 - timestamp) <= 300;
    if (!fresh || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      state.refused++;
      return writeJson(res, 401, { error: 'bad signature' });
    }
    const { events } = JSON.parse(raw) as { events: Array<{ id: string }> };
    const rejected = events.find((e) => limits.rejects?.(e));
    if (rejected) return writeJson(res, 422, { error: `event ${rejected.id} has no place in our schema` });
    state.headers.push(req.headers);
    state.accepted.push(...events);
    writeJson(res, 200, { ok: true });
  });
  const local = await listenLocally(server);
  return Object.assign(state, { url: `${local.url}/hooks/audit?tenant=t1`, close: () => local.close() });
}

function config(name: string, url: string, overrides: Record<string, unknown> = {}): WebhookSinkConfig {
  const [parsed] = siemConfig.parse([{ type: 'webhook', name, url, secret: SECRET, ...overrides }]);
  return parsed as WebhookSinkConfig;
}

function busSettings(names: { stream: string; subjectPrefix: string }) {
  return {
    url: requireInfra().natsUrl,
    stream: names.stream,
    subjectPrefix: names.subjectPrefix,
    storage: 'file' as const,
    replicas: 1,
    maxAgeHours: 1,
    duplicateWindowSeconds: 60,
    // Short, so a batch held by a consumer stopped mid-retry comes back soon after the restart.
    ackWaitSeconds: 3,
  };
}

const ids = (accepted: unknown[]) => accepted.map((e) => (e as { id: string }).id);
const failures = async (metrics: Registry, sink: string) =>
  (await (metrics.getSingleMetric('gateway_consumer_batch_failures_total') as Counter).get()).values.find((v) => v.labels.consumer === `siem-${sink}`)?.value ??
  0;

describe('webhook sink', () => {
  it('signs each batch so the receiver can verify it, with the configured headers (secret references resolved)', async () => {
    const receiver = await startReceiver();
    const secrets: SecretLookup = { get: (v) => ({ value: v === 'env:HOOK_AUTH' ? 'Bearer hook-token-abcdef123456' : v === 'env:HOOK_SECRET' ? SECRET : v }) };
    const sink = new WebhookSink(
      config('hook', receiver.url, { secret: 'env:HOOK_SECRET', headers: { Authorization: 'env:HOOK_AUTH', 'x-tenant': 'acme' } }),
      secrets,
    );
    const cef = new WebhookSink(config('hook-cef', receiver.url, { format: 'cef' }), secrets);
    const forged = new WebhookSink(config('forged', receiver.url, { secret: 'not-the-shared-secret' }), secrets);
    try {
      const events = [event(0), event(1)];
      await sink.deliver(events.map((e) => ({ event: e, record: formatEvent('native', e) })));
      expect(receiver.accepted.map((e) => Event.fromJSON(e))).toEqual(events);
      expect(receiver.headers[0]).toMatchObject({ 'content-type': 'application/json', authorization: 'Bearer hook-token-abcdef123456', 'x-tenant': 'acme' });
      expect(receiver.headers[0]!['x-gateway-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);

      await cef.deliver(events.map((e) => ({ event: e, record: formatEvent('cef', e) })));
      expect(receiver.accepted.slice(2)).toEqual(events.map((e) => formatEvent('cef', e)));

      const error = await forged.deliver([{ event: events[0]!, record: formatEvent('native', events[0]!) }]).catch((err: Error) => err);
      expect(String(error)).toMatch(/webhook http:\/\/127\.0\.0\.1:\d+\/hooks\/audit answered 401/);
      // Neither the query string (where tokens hide) nor the secret shows in errors.
      expect(String(error)).not.toMatch(/tenant=t1|not-the-shared-secret/);
      expect(receiver.refused).toBe(1);
      expect(receiver.accepted).toHaveLength(4);
    } finally {
      await Promise.all([sink.close(), cef.close(), forged.close(), receiver.close()]);
    }
  });

  it('a receiver down for a while receives everything in order, once, when it is back', async () => {
    const receiver = await startReceiver();
    const bus = new MemoryBus(log);
    const metrics = new Registry();
    const sinks = await startSinks(bus, [config('hook', receiver.url, { maxBatch: 5 })], { log, metrics, deadLetters: deadLetterRecorder() });
    try {
      receiver.down = true;
      const sent = Array.from({ length: 40 }, (_, i) => event(i));
      await bus.publish(sent);
      await eventually('three 503 answers', async () => (receiver.unavailable >= 3 ? true : undefined));
      // Counted once the sink has read each answer, a moment after the receiver sent it.
      await eventually('three failures counted', async () => ((await failures(metrics, 'hook')) >= 3 ? true : undefined));
      receiver.down = false;
      await eventually('all 40 events', async () => (receiver.accepted.length >= 40 ? true : undefined));
      expect(ids(receiver.accepted)).toEqual(sent.map((e) => e.id));
    } finally {
      await sinks.stop();
      await receiver.close();
    }
  });

  it('sends a batch the receiver finds too large in parts, and sets aside the one event it refuses, holding up nothing', async () => {
    const sent = Array.from({ length: 10 }, (_, i) => event(i));
    const poison = sent[6]!;
    const recordSize = Math.max(...sent.map((e) => webhookBody('native', [{ event: e, record: formatEvent('native', e) }]).length));
    const receiver = await startReceiver(SECRET, { maxBody: recordSize * 3, rejects: (e) => e.id === poison.id });
    const bus = new MemoryBus(log);
    const metrics = new Registry();
    const deadLetters = deadLetterRecorder();
    const sinks = await startSinks(bus, [config('picky', receiver.url, { maxBatch: 10 })], { log, metrics, deadLetters });
    try {
      await bus.publish(sent);
      await eventually('the 9 others and the poison set aside', async () => (receiver.accepted.length >= 9 && deadLetters.kept.length > 0 ? true : undefined));
      expect(ids(receiver.accepted)).toEqual(sent.filter((e) => e !== poison).map((e) => e.id));
      expect(deadLetters.kept).toEqual([
        { consumer: 'siem-picky', event: poison, reason: expect.stringContaining(`answered 422: {"error":"event ${poison.id} has no place in our schema"}`) },
      ]);
      expect(receiver.tooLarge).toBeGreaterThan(0);
      expect(await failures(metrics, 'picky')).toBe(0);
    } finally {
      await sinks.stop();
      await receiver.close();
    }
  });

  it('never sets aside what a receiver refuses for who sent it (a bad signature): it retries until the sink is fixed', async () => {
    const receiver = await startReceiver();
    const bus = new MemoryBus(log);
    const metrics = new Registry();
    const deadLetters = deadLetterRecorder();
    const sink = new WebhookSink(config('forged', receiver.url, { secret: 'not-the-shared-secret' }), { get: (v) => ({ value: v }) });
    const refusal = await sink.deliver([{ event: event(0), record: formatEvent('native', event(0)) }]).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(Error);
    expect(refusal).not.toBeInstanceOf(RefusedByReceiver);
    await sink.close();
    const sinks = await startSinks(bus, [config('forged', receiver.url, { secret: 'not-the-shared-secret' })], { log, metrics, deadLetters });
    try {
      await bus.publish([event(1), event(2)]);
      await eventually('three failed deliveries', async () => ((await failures(metrics, 'forged')) >= 3 ? true : undefined));
      expect(deadLetters.kept).toEqual([]);
      expect(receiver.accepted).toEqual([]);
    } finally {
      await sinks.stop();
      await receiver.close();
    }
  });

  it('two sinks on one bus: one whose receiver is down does not hold up the other', async () => {
    const [up, down] = [await startReceiver(), await startReceiver()];
    down.down = true;
    const bus = new MemoryBus(log);
    const metrics = new Registry();
    const sinks = await startSinks(bus, [config('up', up.url, { maxBatch: 4 }), config('down', down.url, { maxBatch: 4 })], {
      log,
      metrics,
      deadLetters: deadLetterRecorder(),
    });
    try {
      const sent = Array.from({ length: 30 }, (_, i) => event(i));
      await bus.publish(sent);
      await eventually('the healthy sink to deliver all 30', async () => (up.accepted.length >= 30 ? true : undefined), 10_000);
      expect(ids(up.accepted)).toEqual(sent.map((e) => e.id));
      expect(down.accepted).toEqual([]);
      expect(await failures(metrics, 'down')).toBeGreaterThan(0);
      expect(await failures(metrics, 'up')).toBe(0);
      // The one that was down catches up on its own.
      down.down = false;
      await eventually('the other sink to catch up', async () => (down.accepted.length >= 30 ? true : undefined));
      expect(ids(down.accepted)).toEqual(sent.map((e) => e.id));
    } finally {
      await sinks.stop();
      await Promise.all([up.close(), down.close()]);
    }
  });

  it('on JetStream, a new sink starts from now unless it replays; one that ran before resumes where it stopped', async () => {
    const names = isolatedBus(requireInfra().natsUrl);
    const [fresh, history] = [await startReceiver(), await startReceiver()];
    const bus = await JetStreamBus.connect(busSettings(names), 'siem-test', log);
    const sinks = (replayed: boolean) => [config('fresh', fresh.url), ...(replayed ? [config('history', history.url, { replay: true })] : [])];
    const sent = Array.from({ length: 9 }, (_, i) => event(i));
    try {
      // Retained in the stream before either sink existed.
      await bus.publish(sent.slice(0, 4));
      const first = await startSinks(bus, sinks(true), { log, metrics: new Registry(), deadLetters: deadLetterRecorder() });
      await bus.publish(sent.slice(4, 6));
      await eventually('the replaying sink to get all six', async () => (history.accepted.length >= 6 && fresh.accepted.length >= 2 ? true : undefined));
      await first.stop();
      expect(ids(history.accepted)).toEqual(sent.slice(0, 6).map((e) => e.id));
      expect(ids(fresh.accepted)).toEqual(sent.slice(4, 6).map((e) => e.id));

      // Published while stopped: the sink, no longer new, gets them, and nothing it had before.
      await bus.publish(sent.slice(6));
      const second = await startSinks(bus, sinks(false), { log, metrics: new Registry(), deadLetters: deadLetterRecorder() });
      await eventually('the three published while stopped', async () => (fresh.accepted.length >= 5 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 300)); // room for a repeat to show up
      await second.stop();
      expect(ids(fresh.accepted)).toEqual(sent.slice(4).map((e) => e.id));
    } finally {
      await bus.close();
      await names.cleanup();
      await Promise.all([fresh.close(), history.close()]);
    }
  });

  it('on JetStream, a sink stopped and started again resumes where it stopped, losing and repeating nothing', async () => {
    const names = isolatedBus(requireInfra().natsUrl);
    const settings = busSettings(names);
    const receiver = await startReceiver();
    const buses: EventBus[] = [];
    const running: Array<{ stop(): Promise<void> }> = [];
    // Each start is a new connection, as a restarted process would make.
    const start = async (metrics = new Registry()) => {
      const bus = await JetStreamBus.connect(settings, 'siem-test', log);
      buses.push(bus);
      const sinks = await startSinks(bus, [config('resume', receiver.url, { maxBatch: 10 })], { log, metrics, deadLetters: deadLetterRecorder() });
      running.push(sinks);
      return { bus, metrics, sinks };
    };
    try {
      const sent = Array.from({ length: 45 }, (_, i) => event(i));
      const first = await start();
      await first.bus.publish(sent.slice(0, 10));
      await eventually('the first 10', async () => (receiver.accepted.length >= 10 ? true : undefined));
      await first.sinks.stop();
      // Published while no sink runs.
      await first.bus.publish(sent.slice(10, 35));
      const second = await start();
      await eventually('the 25 published while stopped', async () => (receiver.accepted.length >= 35 ? true : undefined));
      expect(ids(receiver.accepted)).toEqual(sent.slice(0, 35).map((e) => e.id));

      // Stopped while its receiver is down: the batch in hand is not acknowledged, so the next run gets it.
      receiver.down = true;
      await second.bus.publish(sent.slice(35));
      await eventually('a failed delivery', async () => ((await failures(second.metrics, 'resume')) > 0 ? true : undefined));
      await second.sinks.stop();
      receiver.down = false;
      await start();
      await eventually('the 10 held when it stopped', async () => (receiver.accepted.length >= 45 ? true : undefined));
      await new Promise((resolve) => setTimeout(resolve, 500)); // room for a repeat to show up
      const got = ids(receiver.accepted);
      expect(got).toHaveLength(45);
      expect(got.slice(0, 35)).toEqual(sent.slice(0, 35).map((e) => e.id));
      // Each held event exactly once. Compared as sets: they come back as their ack
      // deadlines pass, which JetStream does not promise to do in stream order.
      expect([...got.slice(35)].sort()).toEqual(
        sent
          .slice(35)
          .map((e) => e.id)
          .sort(),
      );
    } finally {
      for (const sinks of running) await sinks.stop();
      for (const bus of buses) await bus.close();
      await names.cleanup();
      await receiver.close();
    }
  });
});
