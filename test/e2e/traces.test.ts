import pg from 'pg';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeOtlp, type FakeOtlp, type ReceivedSpan } from '../fakes/otlp.js';
import { migratedInfra, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-traces-provider-secret-7731';
const PROMPT = 'trace me through every hop';
const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;

// One request in split mode, each service its own process over gRPC (mutual TLS) and JetStream, sends its spans
// to an OTLP receiver: the test follows the trace from the HTTP ingress to the provider and to audit's and metering's writes.
describe('traces: one request across six processes', () => {
  let fake: FakeOpenAI;
  let otlp: FakeOtlp;
  let gateway: SplitGateway;
  let db: pg.Client;
  let client: OpenAI;
  let cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const infra = await isolatedInfra();
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    otlp = await startFakeOtlp();
    cleanup = [infra.drop, () => fake.close(), () => otlp.close()];
    gateway = await startSplit({
      ...(await migratedInfra(infra)),
      routing: { providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY } } },
      telemetry: { traces: { endpoint: otlp.endpoint } },
    });
    db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
    const { key } = await gateway.createKey({ name: 'traced', team: 'team-traced' });
    client = gateway.client(key);
  });

  afterAll(async () => {
    await gateway?.stop();
    await db?.end();
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  /** Sends one chat completion (cacheable: temperature 0) and returns its request id. */
  const complete = async (headers: Record<string, string> = {}) => {
    const { response } = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', temperature: 0, messages: [{ role: 'user', content: `${PROMPT} ${Math.random()}` }] }, { headers })
      .withResponse();
    return response.headers.get('x-request-id')!;
  };

  const auditTraceId = async (requestId: string) =>
    eventually('the audit row of the request', async () => {
      const { rows } = await db.query<{ trace_id: string }>(`SELECT trace_id FROM audit_events WHERE request_id = $1 AND event_type = 'request.completed'`, [
        requestId,
      ]);
      return rows[0]?.trace_id;
    });

  /**
   * The spans of a trace once every process has sent its part: each of `expected` ("<service> <span name>") is
   * there. Each process exports on its own, at least every second, so one part may come well after another.
   */
  const traceOf = (traceId: string, expected: string[]) =>
    eventually(`the spans of trace ${traceId}: ${expected.join(', ')}`, async () => {
      const spans = otlp.spans.filter((s) => s.traceId === traceId);
      const have = new Set(spans.map((s) => `${s.service} ${s.name}`));
      return expected.every((name) => have.has(name)) ? spans : undefined;
    });

  const one = (spans: ReceivedSpan[], where: Partial<ReceivedSpan>) => {
    const found = spans.filter((s) => Object.entries(where).every(([k, v]) => s[k as keyof ReceivedSpan] === v));
    expect(found, `one span matching ${JSON.stringify(where)} among ${spans.map((s) => `${s.service}:${s.name}`).join(', ')}`).toHaveLength(1);
    return found[0]!;
  };

  it('links every hop in one trace: ingress, gRPC calls, the provider call, the event and its consumers', async () => {
    const requestId = await complete();
    const traceId = await auditTraceId(requestId);
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const spans = await traceOf(traceId, [
      'ingress POST /v1/chat/completions',
      'ingress publish request.completed',
      'governance gateway.v1.Governance/AuthorizeMany',
      'routing chat gpt-4o-mini',
      'caching gateway.v1.Caching/Lookup',
      'audit process request.completed',
      'metering process request.completed',
    ]);

    const ingress = one(spans, { service: 'ingress', kind: SERVER, name: 'POST /v1/chat/completions' });
    expect(ingress.parentSpanId).toBe('');
    expect(ingress.attributes['http.response.status_code']).toBe(200);

    // Each gRPC call: a client span under its caller's span, the server span in the callee's process under it.
    const call = (caller: ReceivedSpan, callee: string, method: string) => {
      const clientSpan = one(spans, { kind: CLIENT, name: `gateway.v1.${method}`, parentSpanId: caller.spanId });
      expect(clientSpan.service).toBe(caller.service);
      expect(clientSpan.attributes).toMatchObject({ 'rpc.system': 'grpc' });
      const serverSpan = one(spans, { kind: SERVER, name: `gateway.v1.${method}`, parentSpanId: clientSpan.spanId });
      expect(serverSpan.service).toBe(callee);
      return serverSpan;
    };
    call(ingress, 'governance', 'Governance/AuthorizeMany');
    const routing = call(ingress, 'routing', 'Routing/Complete');
    call(routing, 'caching', 'Caching/Lookup');

    const provider = one(spans, { kind: CLIENT, name: 'chat gpt-4o-mini' });
    expect(provider.service).toBe('routing');
    expect(provider.parentSpanId).toBe(routing.spanId);
    expect(provider.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.system': 'openai',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.response.model': expect.stringMatching(/^gpt-4o-mini/),
      'gen_ai.usage.input_tokens': expect.any(Number),
      'gen_ai.usage.output_tokens': expect.any(Number),
    });
    expect(provider.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);

    // The request's event: published from ingress's span, handled by audit and metering in their processes.
    const publish = one(spans, { kind: PRODUCER, name: 'publish request.completed' });
    expect(publish.service).toBe('ingress');
    expect(publish.parentSpanId).toBe(ingress.spanId);
    const consumers = spans.filter((s) => s.kind === CONSUMER && s.name === 'process request.completed');
    expect(consumers.map((s) => [s.service, s.parentSpanId, s.attributes['messaging.consumer.group.name']]).sort()).toEqual([
      ['audit', publish.spanId, 'audit'],
      ['metering', publish.spanId, 'metering'],
    ]);

    // No span of the trace carries the prompt or the answer unless telemetry.traces.includeContent.
    const everything = JSON.stringify(spans);
    expect(everything).not.toContain(PROMPT);
    expect(everything).not.toContain('Fake OpenAI reply');
    expect(everything).not.toContain(PROVIDER_KEY);
  });

  it('traces a streamed answer through CompleteStream, its provider span ending with the stream', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: `${PROMPT} streamed` }], stream: true })
      .withResponse();
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe(`Fake OpenAI reply to: ${PROMPT} streamed`);
    const traceId = await auditTraceId(response.headers.get('x-request-id')!);
    const spans = await traceOf(traceId, ['ingress gateway.v1.Routing/CompleteStream', 'routing chat gpt-4o-mini']);
    const clientSpan = one(spans, { service: 'ingress', kind: CLIENT, name: 'gateway.v1.Routing/CompleteStream' });
    const serverSpan = one(spans, { service: 'routing', kind: SERVER, name: 'gateway.v1.Routing/CompleteStream' });
    expect(serverSpan.parentSpanId).toBe(clientSpan.spanId);
    const provider = one(spans, { kind: CLIENT, name: 'chat gpt-4o-mini' });
    expect(provider.parentSpanId).toBe(serverSpan.spanId);
    expect(provider.attributes['gen_ai.usage.output_tokens']).toBeGreaterThan(0);
    expect(JSON.stringify(spans)).not.toContain(PROMPT);
  });

  it('keeps the trace id of an incoming traceparent, in the spans and in the audit row', async () => {
    const callerTrace = '0af7651916cd43dd8448eb211c80319c';
    const callerSpan = 'b7ad6b7169203331';
    const requestId = await complete({ traceparent: `00-${callerTrace}-${callerSpan}-01` });
    expect(await auditTraceId(requestId)).toBe(callerTrace);
    const spans = await traceOf(callerTrace, ['ingress POST /v1/chat/completions', 'audit process request.completed']);
    expect(one(spans, { service: 'ingress', kind: SERVER }).parentSpanId).toBe(callerSpan);
  });
});
