import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startFakeOtlp, type FakeOtlp } from '../../test/fakes/otlp.js';
import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './log.js';
import { endSpan, extractContext, SpanKind, startSpan, startTracing, traceIdOf, tracesConfig, tracingOn, type Tracing } from './tracing.js';

const SAMPLED_PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

/** A logger whose lines are kept in `lines`. */
function capturing() {
  const lines: string[] = [];
  const log = createLogger({
    level: 'warn',
    destination: new Writable({
      write: (chunk, _encoding, done) => {
        lines.push(String(chunk));
        done();
      },
    }),
  });
  return { log, lines };
}

describe('tracing', () => {
  let receiver: FakeOtlp | undefined;
  let tracing: Tracing | undefined;

  afterEach(async () => {
    await tracing?.stop();
    tracing = undefined;
    await receiver?.close();
  });

  const traced = async (sampleRatio: number) => {
    receiver = await startFakeOtlp();
    tracing = startTracing(tracesConfig.parse({ endpoint: receiver.endpoint, sampleRatio }), 'unit', capturing().log);
    return receiver;
  };

  it('is off without an endpoint: no exporter, no spans, the helpers do nothing', () => {
    tracing = startTracing(tracesConfig.parse({}), 'unit', capturing().log);
    expect(tracing).toBeUndefined();
    expect(tracingOn()).toBe(false);
    expect(startSpan('nothing', SpanKind.INTERNAL)).toBeUndefined();
  });

  it('exports a span over OTLP/HTTP JSON, with the configured headers', async () => {
    receiver = await startFakeOtlp();
    tracing = startTracing(tracesConfig.parse({ endpoint: receiver.endpoint, headers: { 'x-collector-key': 'k-123' } }), 'unit', capturing().log);
    const span = startSpan('work', SpanKind.INTERNAL, { answer: 42 });
    endSpan(span);
    await tracing!.stop();
    tracing = undefined;
    expect(receiver.spans).toEqual([expect.objectContaining({ service: 'unit', name: 'work', traceId: traceIdOf(span), attributes: { answer: 42 } })]);
    expect(receiver.requests[0]?.['x-collector-key']).toBe('k-123');
  });

  it('records no span with sampleRatio 0, yet keeps the decision of a sampled caller (parent-based)', async () => {
    const otlp = await traced(0);
    const unsampled = startSpan('dropped', SpanKind.SERVER);
    // Not recorded, but still a trace id: the audit row names it whatever the sampling.
    expect(traceIdOf(unsampled)).toMatch(/^[0-9a-f]{32}$/);
    expect(unsampled!.isRecording()).toBe(false);
    endSpan(unsampled);
    endSpan(
      startSpan(
        'joined',
        SpanKind.SERVER,
        {},
        extractContext((key) => (key === 'traceparent' ? SAMPLED_PARENT : undefined)),
      ),
    );
    await tracing!.stop();
    tracing = undefined;
    expect(otlp.spans.map((s) => [s.name, s.traceId, s.parentSpanId])).toEqual([['joined', '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7']]);
  });

  it('records nothing of a caller that says not sampled, even at sampleRatio 1', async () => {
    const otlp = await traced(1);
    const notSampled = SAMPLED_PARENT.replace(/-01$/, '-00');
    const span = startSpan(
      'declined',
      SpanKind.SERVER,
      {},
      extractContext((key) => (key === 'traceparent' ? notSampled : undefined)),
    );
    // The caller's trace id is kept, for the events and the audit row.
    expect(traceIdOf(span)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    endSpan(span);
    endSpan(startSpan('recorded', SpanKind.SERVER));
    await tracing!.stop();
    tracing = undefined;
    expect(otlp.spans.map((s) => s.name)).toEqual(['recorded']);
  });

  it('logs an export the endpoint refuses, without the headers it was sent with', async () => {
    receiver = await startFakeOtlp();
    const { log, lines } = capturing();
    const secret = 'collector-secret-9f8e7d';
    tracing = startTracing(tracesConfig.parse({ endpoint: `${receiver.endpoint}/nowhere`, headers: { authorization: secret } }), 'unit', log);
    endSpan(startSpan('lost', SpanKind.INTERNAL));
    await tracing!.stop();
    tracing = undefined;
    expect(receiver.spans).toEqual([]);
    expect(lines.join('')).toMatch(/"level":"warn".*traces: /);
    expect(lines.join('')).not.toContain(secret);
  });

  it('refuses a bad value at start-up, naming the key', () => {
    const schema = z.strictObject({ telemetry: z.strictObject({ traces: tracesConfig }).prefault({}) });
    const load = (traces: Record<string, unknown>) => () => loadConfig(schema, { env: {}, overrides: { telemetry: { traces } } });
    expect(load({ sampleRatio: 1.5 })).toThrow(ConfigError);
    expect(load({ sampleRatio: 1.5 })).toThrow(/telemetry\.traces\.sampleRatio/);
    expect(load({ endpoint: 'collector:4318' })).toThrow(/telemetry\.traces\.endpoint.*http\(s\) URL/);
    expect(load({ endpoint: 'http://collector:4318/v1/traces', sampleRatio: 0.25 })().telemetry.traces).toMatchObject({ sampleRatio: 0.25 });
  });
});
