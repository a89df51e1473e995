import { trace } from '@opentelemetry/api';
import type { Event } from '../events.js';
import { endSpan, extractContext, SpanKind, startSpan, tracingOn, traceparentOf, type Span } from '../tracing.js';
import type { BatchHandler } from './types.js';

/**
 * An event's trace context, from its publish span to each consumer's span.
 * In one process (the in-process bus) the event object itself travels, so its
 * context is kept beside it; on JetStream it goes in the message's headers:
 * `traceparent` for a message of one event, `Gateway-Traceparents` (one per
 * event, in order, empty for one without) for a message of several.
 */
const traceparents = new WeakMap<Event, string>();

export const TRACEPARENTS_HEADER = 'Gateway-Traceparents';

/**
 * Records the hand-over of an event to the publisher as a producer span, a
 * child of the request that emitted it. An event emitted outside a traced
 * request (an admin change) starts no trace of its own.
 */
export function tracePublish(event: Event): void {
  if (!tracingOn() || !trace.getActiveSpan()) return;
  const span = startSpan(`publish ${event.type}`, SpanKind.PRODUCER, {
    'messaging.system': 'nats',
    'messaging.operation.type': 'send',
    'messaging.destination.name': event.type,
    'messaging.message.id': event.id,
  })!;
  traceparents.set(event, traceparentOf(span));
  span.end();
}

/** The NATS headers carrying a message's events' trace contexts; undefined when none has one. */
export function traceHeaders(events: readonly Event[]): Record<string, string> | undefined {
  if (!tracingOn()) return undefined;
  const parents = events.map((event) => traceparents.get(event) ?? '');
  if (!parents.some(Boolean)) return undefined;
  return events.length === 1 ? { traceparent: parents[0]! } : { [TRACEPARENTS_HEADER]: parents.join(',') };
}

/** Keeps the trace contexts a message's headers carried with its events, for the consumer's spans. */
export function readTraceHeaders(events: readonly Event[], get: (name: string) => string | undefined): void {
  if (!tracingOn()) return;
  const parents = events.length === 1 ? [get('traceparent')] : (get(TRACEPARENTS_HEADER)?.split(',') ?? []);
  events.forEach((event, i) => {
    if (parents[i]) traceparents.set(event, parents[i]);
  });
}

/**
 * A durable consumer's handler that records, for each event that carries a
 * trace context, a consumer span (`process <type>`) lasting the batch's handling.
 * The handler itself when tracing is off.
 */
export function tracedHandler(consumer: string, handler: BatchHandler): BatchHandler {
  if (!tracingOn()) return handler;
  return async (events) => {
    const spans: Span[] = [];
    for (const event of events) {
      const parent = traceparents.get(event);
      if (!parent) continue;
      const span = startSpan(
        `process ${event.type}`,
        SpanKind.CONSUMER,
        {
          'messaging.system': 'nats',
          'messaging.operation.type': 'process',
          'messaging.destination.name': event.type,
          'messaging.consumer.group.name': consumer,
          'messaging.message.id': event.id,
          'messaging.batch.message_count': events.length,
        },
        extractContext((key) => (key === 'traceparent' ? parent : undefined)),
      );
      if (span) spans.push(span);
    }
    try {
      await handler(events);
    } catch (err) {
      for (const span of spans) endSpan(span, err);
      throw err;
    }
    for (const span of spans) endSpan(span);
  };
}
