import {
  AccessDeniedException,
  BedrockRuntimeClient,
  type BedrockRuntimeServiceException,
  ConverseCommand,
  ConverseStreamCommand,
  InternalServerException,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ServiceQuotaExceededException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBedrock, type FakeBedrock } from '../fakes/bedrock.js';
import { admin, startInProcess } from '../harness/gateway.js';
import { keyRecords } from '../harness/records.js';

const REGION = 'us-east-1';
const AWS = { accessKeyId: 'AKIAGATEWAYDEPLOYMENT', secretAccessKey: 'deployment/secret+for+bedrock' };
const HAIKU = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const ask = (text: string) => [{ role: 'user' as const, content: [{ text }] }];

// Bedrock Runtime's own API passed through at /bedrock, with the official @aws-sdk/client-bedrock-runtime pointed at
// it: the gateway key sent as a Bedrock API key (bearer token), never forwarded; the request signed again with the
// deployment's credentials (the fake checks the SigV4 signature with the deployment's secret); the model read from the
// path and admitted as <provider>/<model>; the output cap written into the native parameter; metered from the usage.
describe('Bedrock passthrough', () => {
  let fake: FakeBedrock;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let root: string;
  const clients: BedrockRuntimeClient[] = [];

  beforeAll(async () => {
    fake = await startFakeBedrock({ region: REGION, ...AWS });
    gateway = await startInProcess({
      routing: { providers: { aws: { type: 'bedrock', region: REGION, baseUrl: fake.url, credentials: [AWS] } } },
      guardrails: {
        policies: { contacts: { rules: [{ name: 'emails', detectors: ['email'], direction: 'request', action: 'redact' }] } },
        attach: { teams: { guarded: ['contacts'] } },
      },
    });
    root = gateway.baseURL.replace(/\/v1$/, '');
  });
  afterAll(async () => {
    for (const client of clients) client.destroy();
    await gateway?.stop();
    await fake?.close();
  });

  /** The SDK as an application would point it at the gateway: the key as its bearer token, over HTTP/1.1. */
  function bedrockClient(auth: { token: string } | { credentials: typeof AWS }) {
    const client = new BedrockRuntimeClient({
      region: REGION,
      endpoint: `${root}/bedrock`,
      ...('token' in auth ? { token: { token: auth.token }, authSchemePreference: ['httpBearerAuth'] } : { credentials: auth.credentials }),
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    clients.push(client);
    return client;
  }

  async function caller(options: { budgetUsd?: number; allowedModels?: string[]; team?: string } = {}) {
    const { id, key } = await gateway.createKey({ name: 'bedrock-native', ...(options.team ? { team: options.team } : {}) });
    if (options.budgetUsd !== undefined) {
      await admin(gateway.adminUrl, 'POST', '/admin/budgets', { scope: 'key', scope_id: id, limit_usd: options.budgetUsd, period: 'day' });
    }
    if (options.allowedModels) await admin(gateway.adminUrl, 'PATCH', `/admin/keys/${id}`, { allowed_models: options.allowedModels });
    return { id, key, bedrock: bedrockClient({ token: key }) };
  }

  /** What Bedrock was sent: signed with the deployment's key pair (the fake records only valid signatures), never the caller's key. */
  function lastSent(key: string) {
    const sent = fake.requests.at(-1)!;
    expect(sent.accessKeyId).toBe(AWS.accessKeyId);
    expect(String(sent.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAGATEWAYDEPLOYMENT\//);
    expect(JSON.stringify(sent)).not.toContain(key);
    return sent;
  }

  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => expect.unreachable('the call was refused'),
      (err: unknown) => err as BedrockRuntimeServiceException,
    );

  it('serves Converse on the deployment credentials, capped, metered and audited once', async () => {
    const { id, key, bedrock } = await caller({ budgetUsd: 1 });
    const response = await bedrock.send(
      new ConverseCommand({ modelId: HAIKU, system: [{ text: 'Be brief.' }], messages: ask('Hello Bedrock'), inferenceConfig: { maxTokens: 1_000_000 } }),
    );
    expect(response.output?.message?.content?.[0]?.text).toBe('Fake Bedrock reply to: Hello Bedrock');
    const sent = lastSent(key);
    expect(sent).toMatchObject({ operation: 'converse', modelId: HAIKU, body: { system: [{ text: 'Be brief.' }] } });
    // A million output tokens would cost $4 at Haiku's price, over the key's $1 budget: lowered to what governance reserved.
    const cap = sent.body.inferenceConfig!.maxTokens as number;
    expect(cap).toBeGreaterThan(0);
    expect(cap).toBeLessThan(1_000_000);

    const usage = response.usage!;
    const { usage: rows } = await keyRecords(gateway.adminUrl, id, 1);
    expect(rows[0]).toMatchObject({
      endpoint: '/bedrock/model/{model}/converse',
      model: `aws/${HAIKU}`,
      provider: 'aws',
      provider_model: HAIKU,
      prompt_tokens: usage.inputTokens,
      completion_tokens: usage.outputTokens,
      stream: false,
      outcome: 'completed',
    });
    // Haiku 3.5 at $0.80 in and $4 out per million tokens.
    expect(Number(rows[0]!.cost_usd)).toBeCloseTo((usage.inputTokens! * 0.8 + usage.outputTokens! * 4) / 1e6, 12);
    const { audit } = await keyRecords(gateway.adminUrl, id, 1, [String(rows[0]!.request_id)]);
    expect(audit).toEqual([['request.completed']]);
  });

  it('streams ConverseStream in the AWS event stream, metered from its metadata event', async () => {
    const { id, key, bedrock } = await caller();
    const response = await bedrock.send(new ConverseStreamCommand({ modelId: HAIKU, messages: ask('Stream to me please') }));
    let text = '';
    let usage: { inputTokens?: number; outputTokens?: number } | undefined;
    let stop: string | undefined;
    for await (const event of response.stream!) {
      text += event.contentBlockDelta?.delta?.text ?? '';
      stop = event.messageStop?.stopReason ?? stop;
      usage = event.metadata?.usage ?? usage;
    }
    expect(text).toBe('Fake Bedrock reply to: Stream to me please');
    expect(stop).toBe('end_turn');
    expect(lastSent(key)).toMatchObject({ operation: 'converse-stream', modelId: HAIKU });
    const { usage: rows } = await keyRecords(gateway.adminUrl, id, 1);
    expect(rows[0]).toMatchObject({
      endpoint: '/bedrock/model/{model}/converse-stream',
      stream: true,
      outcome: 'completed',
      prompt_tokens: usage!.inputTokens,
      completion_tokens: usage!.outputTokens,
    });
  });

  it("invokes an Anthropic model with its own body, max_tokens capped, metered from the body's usage, whole and streamed", async () => {
    const { id, key, bedrock } = await caller({ budgetUsd: 1 });
    const body = (text: string, maxTokens: number) =>
      JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: maxTokens, messages: [{ role: 'user', content: text }] });
    const whole = await bedrock.send(new InvokeModelCommand({ modelId: HAIKU, contentType: 'application/json', body: body('Invoke me', 1_000_000) }));
    const answer = JSON.parse(new TextDecoder().decode(whole.body)) as { content: { text: string }[]; usage: { input_tokens: number; output_tokens: number } };
    expect(answer.content[0]!.text).toBe('Fake Bedrock reply to: Invoke me');
    const sent = lastSent(key);
    expect(sent.operation).toBe('invoke');
    expect(sent.body.max_tokens).toBeLessThan(1_000_000);

    // An inference profile's id names the same family; the stream's frames carry Anthropic's events.
    const profile = `us.${HAIKU}`;
    const streamed = await bedrock.send(
      new InvokeModelWithResponseStreamCommand({ modelId: profile, contentType: 'application/json', body: body('Stream an invoke', 64) }),
    );
    const events: { type: string; delta?: { text?: string }; message?: { usage: { input_tokens: number } }; usage?: { output_tokens: number } }[] = [];
    for await (const part of streamed.body!) events.push(JSON.parse(new TextDecoder().decode(part.chunk!.bytes)) as (typeof events)[number]);
    expect(events.map((event) => event.delta?.text ?? '').join('')).toBe('Fake Bedrock reply to: Stream an invoke');
    expect(lastSent(key)).toMatchObject({ operation: 'invoke-with-response-stream', modelId: profile, body: { max_tokens: 64 } });
    // Without a contentType the SDK sends application/octet-stream: refused, saying what to send.
    const untyped = await refusal(bedrock.send(new InvokeModelCommand({ modelId: HAIKU, body: body('x', 5) })));
    expect(untyped.$metadata.httpStatusCode).toBe(415);
    expect(untyped.message).toContain('application/json');

    const { usage: rows } = await keyRecords(gateway.adminUrl, id, 2);
    const byEndpoint = Object.fromEntries(rows.map((row) => [row.endpoint, row]));
    expect(byEndpoint['/bedrock/model/{model}/invoke']).toMatchObject({
      prompt_tokens: answer.usage.input_tokens,
      completion_tokens: answer.usage.output_tokens,
      outcome: 'completed',
    });
    expect(byEndpoint['/bedrock/model/{model}/invoke-with-response-stream']).toMatchObject({
      stream: true,
      outcome: 'completed',
      prompt_tokens: events.find((event) => event.type === 'message_start')!.message!.usage.input_tokens,
      completion_tokens: events.find((event) => event.type === 'message_delta')!.usage!.output_tokens,
    });
  });

  it('ends a stream Bedrock failed or cut short with an exception the SDK raises, recorded as failed', async () => {
    const { id, bedrock } = await caller();
    const failure = async (modelId: string) => {
      const response = await bedrock.send(new ConverseStreamCommand({ modelId, messages: ask('one two three four') }));
      let text = '';
      try {
        for await (const event of response.stream!) text += event.contentBlockDelta?.delta?.text ?? '';
      } catch (err) {
        return { text, err: err as BedrockRuntimeServiceException };
      }
      return expect.unreachable('the stream failed');
    };
    // Bedrock's own throttlingException mid-stream, passed on once; a connection Bedrock dropped, ended by the gateway.
    const throttled = await failure('stream-throttle');
    expect(throttled.err).toBeInstanceOf(ThrottlingException);
    expect(throttled.text).toBe('Fake ');
    const cut = await failure('break-stream');
    expect(cut.err).toBeInstanceOf(InternalServerException);
    expect(cut.err.message).toMatch(/^Provider aws sent a broken event stream/);
    const { usage: rows } = await keyRecords(gateway.adminUrl, id, 2);
    expect(Object.fromEntries(rows.map((row) => [row.provider_model, [row.outcome, row.stream]]))).toEqual({
      'stream-throttle': ['failed', true],
      'break-stream': ['failed', true],
    });
  });

  it('refuses a model the key may not use with 403 and a spent budget with 402, before any call to Bedrock', async () => {
    const { bedrock } = await caller({ allowedModels: ['aws/anthropic.claude-3-5-sonnet-*'] });
    const before = fake.requests.length;
    const refused = await refusal(bedrock.send(new ConverseCommand({ modelId: HAIKU, messages: ask('not this one') })));
    expect(refused).toBeInstanceOf(AccessDeniedException);
    expect(refused.$metadata.httpStatusCode).toBe(403);
    expect(refused.message).toContain(`aws/${HAIKU}`);
    const { bedrock: broke } = await caller({ budgetUsd: 0.000001 });
    const spent = await refusal(broke.send(new ConverseCommand({ modelId: HAIKU, messages: ask('Spend what I do not have') })));
    expect(spent).toBeInstanceOf(ServiceQuotaExceededException);
    expect(spent.$metadata.httpStatusCode).toBe(402);
    expect(fake.requests.length).toBe(before);
  });

  it("refuses no key, the deployment's own AWS credentials as a SigV4 signature, and a key under guardrail policies", async () => {
    const before = fake.requests.length;
    const bare = await fetch(`${root}/bedrock/model/${encodeURIComponent(HAIKU)}/converse`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: ask('who am I?') }),
    });
    expect(bare.status).toBe(401);
    expect(await bare.json()).toMatchObject({ __type: 'UnrecognizedClientException', message: expect.stringContaining('API key') });
    // SigV4 proves the signer holds a secret the gateway does not have: even the deployment's own pair is refused.
    const signed = await refusal(bedrockClient({ credentials: AWS }).send(new ConverseCommand({ modelId: HAIKU, messages: ask('signed') })));
    expect(signed.$metadata.httpStatusCode).toBe(401);
    expect(signed.message).toContain('Authorization: Bearer <key>');
    const { bedrock } = await caller({ team: 'guarded' });
    const guarded = await refusal(bedrock.send(new ConverseCommand({ modelId: HAIKU, messages: ask('mail me@example.com') })));
    expect(guarded.$metadata.httpStatusCode).toBe(403);
    expect(fake.requests.length).toBe(before);
  });

  it("refuses AWS-side guardrails, other families' invoke bodies and other paths, in Bedrock's error shape", async () => {
    const { key, bedrock } = await caller();
    const before = fake.requests.length;
    const guardrail = await refusal(
      bedrock.send(new ConverseCommand({ modelId: HAIKU, messages: ask('x'), guardrailConfig: { guardrailIdentifier: 'gr-1', guardrailVersion: '1' } })),
    );
    expect(guardrail).toBeInstanceOf(ValidationException);
    expect(guardrail.message).toContain('guardrailConfig');
    const headerGuardrail = await refusal(
      bedrock.send(
        new InvokeModelCommand({
          modelId: HAIKU,
          contentType: 'application/json',
          guardrailIdentifier: 'gr-1',
          guardrailVersion: '1',
          body: '{"max_tokens":5,"messages":[]}',
        }),
      ),
    );
    expect(headerGuardrail.message).toContain('x-amzn-bedrock-guardrailidentifier');
    // An invoke body is Anthropic's Messages request: a tool Anthropic would run and bill is refused as on /anthropic.
    const webSearch = JSON.stringify({
      anthropic_version: 'bedrock-2023-05-31',
      max_tokens: 5,
      messages: [{ role: 'user', content: 'search' }],
      tools: [{ type: 'web_search_20250305', name: 'web_search' }],
    });
    const searched = await refusal(bedrock.send(new InvokeModelCommand({ modelId: HAIKU, contentType: 'application/json', body: webSearch })));
    expect(searched).toBeInstanceOf(ValidationException);
    expect(searched.message).toContain('web_search_20250305');
    const llama = await refusal(
      bedrock.send(
        new InvokeModelCommand({ modelId: 'meta.llama3-8b-instruct-v1:0', contentType: 'application/json', body: '{"prompt":"hi","max_gen_len":5}' }),
      ),
    );
    expect(llama).toBeInstanceOf(ValidationException);
    expect(llama.message).toContain('/bedrock/model/{model}/converse');

    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    for (const path of [
      '/model/x/apply-guardrail',
      '/guardrail/gr-1/version/1/apply',
      '/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Aprovisioned-model%2Fabc/converse',
      '/async-invoke',
    ]) {
      const response = await fetch(`${root}/bedrock${path}`, { method: 'POST', headers, body: '{}' });
      expect(response.status).toBe(404);
      expect(await response.json()).toMatchObject({
        __type: 'ResourceNotFoundException',
        message: expect.stringContaining('POST /bedrock/model/{model}/converse-stream'),
      });
    }
    expect(fake.requests.length).toBe(before);
  });
});
