import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeOtlp, type FakeOtlp, type ReceivedSpan } from '../fakes/otlp.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-traces-embedded-secret-5120';
const SERVER = 2;
const CONSUMER = 5;

// Embedded mode: the services call each other in-process (no gRPC spans) and the in-process bus carries the event,
// its trace context beside it. With includeContent on, the provider span carries the prompt and the answer, unless
// the caller's storage policies withhold them.
describe('traces: embedded mode, content included', () => {
  let fake: FakeOpenAI;
  let otlp: FakeOtlp;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let client: OpenAI;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    otlp = await startFakeOtlp();
    gateway = await startInProcess({
      routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } } },
      telemetry: { traces: { endpoint: otlp.endpoint, includeContent: true } },
      guardrails: { storage: { policies: { withheld: { prompt: 'drop', completion: 'drop' } }, attach: { teams: { 'team-withheld': ['withheld'] } } } },
    });
    const { key } = await gateway.createKey({ name: 'traced', team: 'team-traced' });
    client = gateway.client(key);
  });

  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
    await otlp?.close();
  });

  it('traces a streamed answer from ingress to the provider and to audit and metering, with its text', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'embedded stream' }], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('Fake OpenAI reply to: embedded stream');
    const requestId = response.headers.get('x-request-id')!;

    const row = await eventually('the audit row', async () => {
      const { data } = await admin<{ data: { trace_id: string; event_type: string }[] }>(
        gateway.adminUrl,
        'GET',
        `/admin/audit/events?request_id=${requestId}`,
      );
      return data.find((e) => e.event_type === 'request.completed');
    });
    const spans = await eventually('the spans of the trace', async () => {
      const found = otlp.spans.filter((s) => s.traceId === row.trace_id);
      // One process, but spans are exported as they end, in batches: wait for the last of each kind.
      const names = new Set(found.map((s) => s.name));
      const all =
        found.filter((s) => s.kind === CONSUMER).length === 2 &&
        ['POST /v1/chat/completions', 'chat gpt-4o-mini', 'publish request.completed'].every((n) => names.has(n));
      return all ? found : undefined;
    });
    const byName = (name: string): ReceivedSpan => {
      const found = spans.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0]!;
    };
    const ingress = byName('POST /v1/chat/completions');
    expect(ingress).toMatchObject({ service: 'gateway', kind: SERVER, parentSpanId: '' });
    // In one process no gRPC call is made, so no span for one.
    expect(spans.filter((s) => s.attributes['rpc.system'])).toEqual([]);

    const provider = byName('chat gpt-4o-mini');
    expect(provider.parentSpanId).toBe(ingress.spanId);
    expect(provider.attributes).toMatchObject({ 'gen_ai.system': 'openai', 'gen_ai.request.model': 'gpt-4o-mini', 'gen_ai.response.model': 'gpt-4o-mini' });
    expect(String(provider.attributes['gen_ai.input.messages'])).toContain('embedded stream');
    expect(String(provider.attributes['gen_ai.output.messages'])).toContain('Fake OpenAI reply to: embedded stream');

    const publish = byName('publish request.completed');
    expect(publish.parentSpanId).toBe(ingress.spanId);
    const consumers = spans.filter((s) => s.kind === CONSUMER).map((s) => [s.attributes['messaging.consumer.group.name'], s.parentSpanId]);
    expect(consumers.sort()).toEqual([
      ['audit', publish.spanId],
      ['metering', publish.spanId],
    ]);
  });

  it('puts no prompt or answer in the span of a caller whose storage policies withhold them', async () => {
    const withheld = gateway.client((await gateway.createKey({ name: 'withheld', team: 'team-withheld' })).key);
    await withheld.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'withheld question' }] });
    await withheld.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'withheld stream' }], stream: true });
    const spans = await eventually('both provider spans', async () => {
      const found = otlp.spans.filter((s) => s.name === 'chat gpt-4o-mini' && s.attributes['gen_ai.usage.input_tokens'] !== undefined);
      const mine = found.filter((s) => !String(s.attributes['gen_ai.input.messages'] ?? '').includes('embedded stream'));
      return mine.length >= 2 ? mine : undefined;
    });
    expect(JSON.stringify(otlp.spans)).not.toContain('withheld question');
    expect(JSON.stringify(otlp.spans)).not.toContain('withheld stream');
    for (const span of spans) expect(span.attributes).not.toHaveProperty('gen_ai.input.messages');
  });
});
