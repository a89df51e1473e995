import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { afterEach, describe, expect, it } from 'vitest';
import { isolatedBus, requireInfra } from '../../../test/harness/infra.js';
import { AckedPublisher } from './jetstream-publish.js';
import { PublishRefused } from './types.js';

describe('acked JetStream publish', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(timeoutMs = 2_000): Promise<{ nc: NatsConnection; publisher: AckedPublisher; stream: string; prefix: string }> {
    const infra = requireInfra();
    const names = isolatedBus(infra.natsUrl);
    cleanups.push(() => names.cleanup());
    const nc = await connect({ servers: infra.natsUrl });
    cleanups.push(() => nc.close());
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: names.stream, subjects: [`${names.subjectPrefix}.stored.>`], duplicate_window: 60_000_000_000 });
    const publisher = new AckedPublisher(nc, timeoutMs);
    cleanups.push(async () => publisher.close());
    return { nc, publisher, stream: names.stream, prefix: names.subjectPrefix };
  }

  it('resolves once the stream stored the message, and stores a repeated id once', async () => {
    const { nc, publisher, stream, prefix } = await setup();
    await Promise.all([
      publisher.publish(`${prefix}.stored.a`, new TextEncoder().encode('one'), 'id-1'),
      publisher.publish(`${prefix}.stored.b`, new TextEncoder().encode('two'), 'id-2'),
    ]);
    await publisher.publish(`${prefix}.stored.a`, new TextEncoder().encode('one again'), 'id-1');
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(2);
  });

  it('rejects, naming why, when no stream takes the subject', async () => {
    const { publisher, prefix } = await setup();
    const unanswered = publisher.publish(`${prefix}.nowhere`, new Uint8Array(), 'id-x');
    await expect(unanswered).rejects.toThrow(/no responders/);
    // A stream may come: retried, not refused for good.
    await expect(unanswered).rejects.not.toBeInstanceOf(PublishRefused);
  });

  it('rejects after the timeout when the answer never comes', async () => {
    const { nc, publisher, prefix } = await setup(200);
    // A plain subscriber takes the message and never answers, as a stream that lost its leader would not.
    nc.subscribe(`${prefix}.silent`);
    await nc.flush();
    await expect(publisher.publish(`${prefix}.silent`, new Uint8Array(), 'id-y')).rejects.toThrow(/did not acknowledge the publish within 200 ms/);
  });
});
