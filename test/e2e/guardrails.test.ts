import Anthropic from '@anthropic-ai/sdk';
import type OpenAI from 'openai';
import { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { admin, ADMIN_TOKEN, startInProcess } from '../harness/gateway.js';
import { eventually, freePort } from '../harness/infra.js';

const PROVIDER_KEY = 'sk-fake-provider-guardrail-tests';

// Planted values: shaped as their detectors expect, never real.
const EMAIL = 'bob.planted@example.com';
const PHONE = '+44 20 7946 0958';
const CARD = '4111 1111 1111 1111';
const OPENAI_KEY = `sk-proj-${'Q7fK2mZp9xLw3RtY8vBn4cHd6JsGa1Ue'}`;
const AWS_KEY = 'AKIAIOSFODNN7PLANTED';
const TICKET = 'PRJ-40417';

interface GuardrailOutcome {
  policy: string;
  rule: string;
  action: string;
  detector: string;
  count: number;
}
type AuditRow = { event_type: string; payload: { request?: { errorCode?: string; guardrails?: GuardrailOutcome[] } } };

// Guardrail policies on every request, end to end: the official clients as
// callers, a fake OpenAI that keeps every body it receives. Policies attach
// by team, so each team's key shows one policy at work (plus the global one).
describe('guardrails', () => {
  let fake: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  const keys: Record<string, string> = {};
  let question = 0;

  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    // Nothing listens there: the analyzer never answers.
    const silentAnalyzer = `http://127.0.0.1:${await freePort()}`;
    gateway = await startInProcess({
      routing: {
        providers: { openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY, models: ['gpt-4o-mini', 'text-embedding-3-small'] } },
      },
      guardrails: {
        custom: [{ name: 'ticket', pattern: 'PRJ-\\d{4,6}' }],
        analyzers: { presidio: { url: silentAnalyzer, timeoutMs: 500 } },
        policies: {
          baseline: { rules: [{ name: 'no-provider-keys', detectors: ['secret.openai_key'], direction: 'request', action: 'block' }] },
          'customer-data': {
            rules: [
              { name: 'contact-details', detectors: ['email', 'phone'], direction: 'request', action: 'redact', restore: true },
              { name: 'cards', detectors: ['payment_card'], action: 'redact' },
            ],
          },
          tickets: { rules: [{ name: 'tickets', detectors: ['custom.ticket'], action: 'flag' }] },
          'people-open': { rules: [{ name: 'people', external: 'presidio', onAnalyzerError: 'open', action: 'redact' }] },
          'people-closed': { rules: [{ name: 'people', external: 'presidio', onAnalyzerError: 'closed', action: 'redact' }] },
          answers: {
            rules: [
              { name: 'answer-cards', detectors: ['payment_card'], direction: 'answer', action: 'redact' },
              { name: 'answer-aws', detectors: ['secret.aws_access_key'], direction: 'answer', action: 'block' },
            ],
          },
        },
        attach: {
          global: ['baseline'],
          teams: {
            'team-redact': ['customer-data'],
            'team-flag': ['tickets'],
            'team-answers': ['answers'],
            'team-open': ['people-open'],
            'team-closed': ['people-closed'],
          },
        },
      },
    });
    for (const team of ['team-redact', 'team-flag', 'team-answers', 'team-plain', 'team-open', 'team-closed'])
      keys[team] = (await gateway.createKey({ name: team, team })).key;
  });
  afterAll(async () => {
    await gateway?.stop();
    await fake?.close();
  });

  const client = (team: string) => gateway.client(keys[team]!);
  /** A question no other test asked, at temperature 0 (so that the cache would take it). */
  const ask = (text: string) => ({ model: 'openai/gpt-4o-mini', temperature: 0, messages: [{ role: 'user' as const, content: `${++question}: ${text}` }] });
  const received = () => fake.requests.map((r) => JSON.stringify(r.body));
  const anthropic = (team: string) => new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: keys[team]!, maxRetries: 0 });

  async function auditRow(requestId: string): Promise<AuditRow> {
    return eventually('the audit row', async () => {
      const page = await admin<{ data: AuditRow[] }>(gateway.adminUrl, 'GET', `/admin/audit/events?request_id=${requestId}`);
      return page.data.find((row) => row.event_type.startsWith('request.'));
    });
  }

  async function streamText(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<{ text: string; error?: unknown }> {
    let text = '';
    try {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    } catch (error) {
      return { text, error };
    }
    return { text };
  }

  it('blocks a request holding a provider key, in each API’s error shape, naming the rule and never the key; the provider is not called', async () => {
    const calls = fake.requests.length;
    const error = await client('team-plain')
      .chat.completions.create(ask(`debug this: OPENAI_API_KEY=${OPENAI_KEY}`))
      .withResponse()
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(APIError);
    const { status, code, message, headers } = error as APIError;
    expect({ status, code }).toEqual({ status: 400, code: 'content_policy_violation' });
    expect(message).toContain('guardrail rule "no-provider-keys" (policy "baseline"): messages[0].content holds secret.openai_key');
    expect(message).not.toContain(OPENAI_KEY);

    const refused = await anthropic('team-redact')
      .messages.create({ model: 'openai/gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: `key: ${OPENAI_KEY}` }] })
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as InstanceType<typeof Anthropic.BadRequestError>).error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(JSON.stringify((refused as InstanceType<typeof Anthropic.BadRequestError>).error)).not.toContain(OPENAI_KEY);
    expect(fake.requests.length).toBe(calls);

    const row = await auditRow(headers!.get('x-request-id')!);
    expect(row.event_type).toBe('request.failed');
    expect(row.payload.request).toMatchObject({
      errorCode: 'content_policy_violation',
      guardrails: [{ policy: 'baseline', rule: 'no-provider-keys', action: 'block', detector: 'secret.openai_key', count: 1 }],
    });
  });

  it('redacts before the provider sees the values, restores the ones its rule says, and keeps the request out of the cache', async () => {
    const body = ask(`Write to ${EMAIL} or call ${PHONE}; charge card ${CARD}. Email ${EMAIL} again.`);
    const { data, response } = await client('team-redact').chat.completions.create(body).withResponse();
    const sent = fake.requests.at(-1)!.body as { messages: { content: string }[] };
    expect(sent.messages[0]!.content).toBe(`${question}: Write to [EMAIL_1] or call [PHONE_1]; charge card [PAYMENT_CARD_1]. Email [EMAIL_1] again.`);
    // The fake repeats the prompt: the caller gets its contact details back, the card (no restore) stays a placeholder.
    expect(data.choices[0]!.message.content).toBe(
      `Fake OpenAI reply to: ${question}: Write to ${EMAIL} or call ${PHONE}; charge card [PAYMENT_CARD_1]. Email ${EMAIL} again.`,
    );
    expect(response.headers.get('x-gateway-cache')).toBe('skip');
    const calls = fake.requests.length;
    expect((await client('team-redact').chat.completions.create(body).withResponse()).response.headers.get('x-gateway-cache')).toBe('skip');
    expect(fake.requests.length).toBe(calls + 1);

    const row = await auditRow(response.headers.get('x-request-id')!);
    expect(row.payload.request?.guardrails).toEqual([
      { policy: 'customer-data', rule: 'contact-details', action: 'redact', detector: 'email', count: 2 },
      { policy: 'customer-data', rule: 'contact-details', action: 'redact', detector: 'phone', count: 1 },
      { policy: 'customer-data', rule: 'cards', action: 'redact', detector: 'payment_card', count: 1 },
    ]);
  });

  it('redacts for the Anthropic client too, streamed, and an embeddings input', async () => {
    const stream = anthropic('team-redact').messages.stream({
      model: 'openai/gpt-4o-mini',
      max_tokens: 200,
      messages: [{ role: 'user', content: `${++question}: reach me at ${EMAIL}` }],
    });
    const text = (await stream.finalMessage()).content.map((block) => (block.type === 'text' ? block.text : '')).join('');
    expect(JSON.stringify(fake.requests.at(-1)!.body)).toContain(`${question}: reach me at [EMAIL_1]`);
    expect(text).toBe(`Fake OpenAI reply to: ${question}: reach me at ${EMAIL}`);

    await client('team-redact').embeddings.create({ model: 'openai/text-embedding-3-small', input: [`card ${CARD}`, 'nothing here'] });
    expect(fake.requests.at(-1)!.body.input).toEqual(['card [PAYMENT_CARD_1]', 'nothing here']);
  });

  it('flags without changing anything, and records the outcome in the audit row', async () => {
    const body = ask(`status of ${TICKET}?`);
    const { data, response } = await client('team-flag').chat.completions.create(body).withResponse();
    expect(JSON.stringify(fake.requests.at(-1)!.body)).toContain(TICKET);
    expect(data.choices[0]!.message.content).toBe(`Fake OpenAI reply to: ${question}: status of ${TICKET}?`);
    // A flagged request is cached as any other.
    expect(response.headers.get('x-gateway-cache')).toBe('miss');
    const row = await auditRow(response.headers.get('x-request-id')!);
    expect(row.event_type).toBe('request.completed');
    // Once in the request, once in the answer that repeats it.
    expect(row.payload.request?.guardrails).toEqual([{ policy: 'tickets', rule: 'tickets', action: 'flag', detector: 'custom.ticket', count: 2 }]);
  });

  it('records an analyzer that did not answer in the audit row: the request went on unread, or was refused', async () => {
    const { response } = await client('team-open').chat.completions.create(ask('John Smith asks for a refund')).withResponse();
    const passed = await auditRow(response.headers.get('x-request-id')!);
    expect(passed.event_type).toBe('request.completed');
    expect(passed.payload.request?.guardrails).toEqual([
      { policy: 'people-open', rule: 'people', action: 'analyzer_failed_open', detector: 'external.presidio', count: 1 },
    ]);

    const calls = fake.requests.length;
    const error = (await client('team-closed')
      .chat.completions.create(ask('John Smith asks again'))
      .withResponse()
      .catch((err: unknown) => err)) as APIError;
    expect(error.status).toBe(503);
    expect(fake.requests.length).toBe(calls);
    const refused = await auditRow(error.headers!.get('x-request-id')!);
    expect(refused.event_type).toBe('request.failed');
    expect(refused.payload.request?.guardrails).toEqual([
      { policy: 'people-closed', rule: 'people', action: 'analyzer_failed_closed', detector: 'external.presidio', count: 1 },
    ]);
  });

  it('checks the text of the direct endpoints too: a moderation input redacted, an image prompt with a provider key blocked', async () => {
    const { data, response } = await client('team-redact')
      .moderations.create({ model: 'openai/omni-moderation-latest', input: [{ type: 'text', text: `mail ${EMAIL} now` }] })
      .withResponse();
    expect(data.results).toHaveLength(1);
    const sent = fake.requests.at(-1)!;
    expect(sent.path).toBe('/v1/moderations');
    expect(JSON.stringify(sent.body)).not.toContain(EMAIL);
    expect(JSON.stringify(sent.body)).toContain('[EMAIL_1]');
    expect((await auditRow(response.headers.get('x-request-id')!)).payload.request?.guardrails).toEqual([
      { policy: 'customer-data', rule: 'contact-details', action: 'redact', detector: 'email', count: 1 },
    ]);

    const calls = fake.requests.length;
    const refused = await client('team-plain')
      .images.generate({ model: 'openai/dall-e-3', prompt: `a poster of ${OPENAI_KEY}` })
      .catch((err: unknown) => err);
    expect(refused).toMatchObject({ status: 400, code: 'content_policy_violation' });
    expect((refused as APIError).message).toContain('guardrail rule "no-provider-keys" (policy "baseline"): prompt holds secret.openai_key');
    expect(fake.requests.length).toBe(calls);
  });

  it('redacts a card number that streams in four chunks, and a cache hit of the same answer', async () => {
    const body = ask(`repeat after me: ${CARD} thanks`);
    const stream = await client('team-answers').chat.completions.create({ ...body, stream: true });
    const { text, error } = await streamText(stream);
    expect(error).toBeUndefined();
    // The fake streams word by word: the card's four groups arrive apart.
    expect(JSON.stringify(fake.requests.at(-1)!.body)).toContain(CARD);
    expect(text).toBe(`Fake OpenAI reply to: ${question}: repeat after me: [PAYMENT_CARD_1] thanks`);

    // The cache keeps the provider's answer; a hit goes through the answer rules as it is rendered.
    const calls = fake.requests.length;
    const hit = await client('team-answers').chat.completions.create(body).withResponse();
    expect(hit.response.headers.get('x-gateway-cache')).toBe('hit');
    expect(fake.requests.length).toBe(calls);
    expect(hit.data.choices[0]!.message.content).toBe(text);
    const plain = await client('team-plain').chat.completions.create(ask(`repeat after me: ${CARD}`));
    expect(plain.choices[0]!.message.content).toContain(CARD);
  });

  it('ends a stream whose answer holds a blocked value with an error event, the value unsent', async () => {
    const stream = await client('team-answers').chat.completions.create({ ...ask(`say ${AWS_KEY} and more words after it`), stream: true });
    const { text, error } = await streamText(stream);
    expect(error).toBeInstanceOf(APIError);
    expect((error as APIError).message).toContain('The answer was blocked by guardrail rule "answer-aws" (policy "answers")');
    expect(text).not.toContain(AWS_KEY);
    expect(text).not.toContain('AKIA');

    // A key of its own, so the usage ledger's one row for it is this request's.
    const payer = await gateway.createKey({ name: 'blocked-answer', team: 'team-answers' });
    const whole = (await gateway
      .client(payer.key)
      .chat.completions.create(ask(`say ${AWS_KEY}`))
      .catch((err: unknown) => err)) as APIError;
    expect(whole).toMatchObject({ status: 400, code: 'content_policy_violation' });
    expect(whole.message).not.toContain(AWS_KEY);
    // The provider answered and was paid: the refused answer's call and usage are on record, and charged.
    const row = await auditRow(whole.headers!.get('x-request-id')!);
    expect(row.event_type).toBe('request.failed');
    const failed = row.payload.request as { served?: { provider: string }; usage?: { totalTokens: number }; attempts?: { outcome: string }[] };
    expect(failed.served?.provider).toBe('openai');
    expect(failed.usage?.totalTokens).toBeGreaterThan(0);
    expect(failed.attempts?.map((a) => a.outcome)).toEqual(['ok']);
    const ledger = await eventually('the usage row', async () => {
      const response = await fetch(`${gateway.adminUrl}/admin/usage/export?key=${payer.id}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const text = (await response.text()).trim();
      return text ? (JSON.parse(text) as { outcome: string; prompt_tokens: number; completion_tokens: number }) : undefined;
    });
    expect(ledger).toMatchObject({ outcome: 'failed' });
    expect(ledger.prompt_tokens + ledger.completion_tokens).toBe(failed.usage!.totalTokens);
  });

  it('leaves no redacted value in the audit log or the usage rows', async () => {
    // Every test above has run: each planted value the customer-data policy redacts was sent.
    const read = async (path: string) => (await fetch(`${gateway.adminUrl}${path}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).text();
    const audit = await eventually('audit rows of every request', async () => {
      const text = await read('/admin/audit/export');
      return text.split('\n').filter((line) => line.includes('request.completed')).length >= 6 ? text : undefined;
    });
    const usage = await read('/admin/usage/export');
    expect(usage.length).toBeGreaterThan(0);
    for (const value of [EMAIL, PHONE, CARD, CARD.replaceAll(' ', ''), OPENAI_KEY]) {
      expect(audit).not.toContain(value);
      expect(usage).not.toContain(value);
    }
    expect(received().some((body) => body.includes(EMAIL))).toBe(false);
  });
});
