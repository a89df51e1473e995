import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { adminEvent, EventType, requestEvent } from '../events.js';
import { createLogger } from '../log.js';
import { MemoryBus } from './memory.js';
import { natsPermissions } from './nats-permissions.js';
import { EventPublisher } from './publisher.js';
import { answered } from '../../../test/harness/events.js';

const log = createLogger({ level: 'silent' });
const outcome = answered();
const change = { action: 'revoke', resource: 'virtual_key', resourceId: 'vk_1', beforeJson: '', afterJson: '' };

describe('what each service does on the bus', () => {
  it('is all its publisher lets it emit, in every mode, so what NATS would refuse fails in embedded tests too', async () => {
    const bus = new MemoryBus(log);
    const publisher = new EventPublisher(bus, log, new Registry());
    try {
      publisher.emit(requestEvent(EventType.requestCompleted, { service: 'ingress' }, outcome));
      publisher.emit(adminEvent('admin.virtual_key.revoke', { service: 'governance' }, change));
      expect(() => publisher.emit(adminEvent('admin.virtual_key.revoke', { service: 'ingress' }, change))).toThrow(
        'ingress emitted admin.virtual_key.revoke, which it may not publish',
      );
      expect(() => publisher.emit(requestEvent(EventType.requestCompleted, { service: 'governance' }, outcome))).toThrow('may not publish');
    } finally {
      await publisher.flush(1_000);
      await bus.close();
    }
  });

  it('gives a broadcast listener no right to pull from a durable, nor a publisher any to read', () => {
    const names = { stream: 'S', subjectPrefix: 'gw' };
    const routing = natsPermissions(['routing'], names).publish;
    expect(routing.filter((subject) => subject.includes('MSG.NEXT') || subject.startsWith('$JS.ACK'))).toEqual([]);
    // Routing publishes only the records of the semantic cache's embedding calls.
    expect(routing.filter((subject) => subject.startsWith('gw.events'))).toEqual(['gw.events.request.completed', 'gw.events.request.failed']);
    // Ingress hears the changes of storage policies alone: no other admin event, no durable.
    const ingress = natsPermissions(['ingress'], names).publish;
    expect(ingress.filter((subject) => subject.includes('CONSUMER') || subject.startsWith('$JS.ACK'))).toEqual([
      '$JS.API.CONSUMER.CREATE.S.*.gw.events.admin.guardrail_storage_policy.*',
      '$JS.API.CONSUMER.CREATE.S.*.gw.events.admin.guardrail_storage_attachment.*',
    ]);
  });
});
