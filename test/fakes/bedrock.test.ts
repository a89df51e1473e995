import {
  BedrockRuntimeClient,
  BedrockRuntimeServiceException,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeBedrock, type FakeBedrock } from './bedrock.js';

const region = 'us-east-1';
const credentials = { accessKeyId: 'AKIAFAKEBEDROCK00001', secretAccessKey: 'fake/secret/for+bedrock+tests' };
const MODEL = 'anthropic.claude-3-5-haiku-20241022-v1:0';
const weatherTool = {
  toolSpec: {
    name: 'get_weather',
    description: 'Current weather for a city',
    inputSchema: { json: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
  },
};

// The fake must be something the official SDK can sign for, call and parse, the
// binary event stream included; otherwise tests that use it prove nothing.
describe('fake Bedrock, checked with the official @aws-sdk/client-bedrock-runtime', () => {
  let fake: FakeBedrock;
  let client: BedrockRuntimeClient;

  beforeAll(async () => {
    fake = await startFakeBedrock({ region, ...credentials });
    client = new BedrockRuntimeClient({ region, endpoint: fake.url, credentials, maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    await fake.close();
  });

  it('accepts the SDK signature for a model id with ":" and answers Converse', async () => {
    const response = await client.send(
      new ConverseCommand({
        modelId: MODEL,
        system: [{ text: 'Be brief.' }],
        messages: [{ role: 'user', content: [{ text: 'ping' }] }],
        inferenceConfig: { maxTokens: 50 },
      }),
    );
    expect(response.output?.message?.content?.[0]?.text).toBe('Fake Bedrock reply to: ping');
    expect(response.stopReason).toBe('end_turn');
    expect(response.usage?.outputTokens).toBe(5);
    const request = fake.requests.at(-1)!;
    expect(request).toMatchObject({ operation: 'converse', modelId: MODEL, accessKeyId: credentials.accessKeyId });
    expect(request.body.inferenceConfig).toEqual({ maxTokens: 50 });
  });

  it('reports cache reads and writes for a request with cache points, the writes by TTL', async () => {
    const response = await client.send(
      new ConverseCommand({
        modelId: MODEL,
        system: [{ text: 'A long policy.' }, { cachePoint: { type: 'default', ttl: '1h' } }],
        messages: [{ role: 'user', content: [{ text: 'ping' }] }],
      }),
    );
    const usage = response.usage!;
    expect(usage).toMatchObject({ cacheReadInputTokens: 7, cacheWriteInputTokens: 3, cacheDetails: [{ ttl: '1h', inputTokens: 3 }] });
    expect(usage.totalTokens).toBe(usage.inputTokens! + usage.cacheReadInputTokens! + usage.cacheWriteInputTokens! + usage.outputTokens!);
  });

  it('answers a tool use the SDK parses, with the document input', async () => {
    const response = await client.send(
      new ConverseCommand({
        modelId: MODEL,
        messages: [{ role: 'user', content: [{ text: 'What is the weather in Paris?' }] }],
        toolConfig: { tools: [weatherTool] },
      }),
    );
    expect(response.stopReason).toBe('tool_use');
    const toolUse = response.output?.message?.content?.find((block) => block.toolUse)?.toolUse;
    expect(toolUse).toMatchObject({ name: 'get_weather', input: { city: 'Paris' } });
    expect(toolUse?.toolUseId).toMatch(/^tooluse_/);
  });

  it('streams event-stream frames the SDK decodes into text, a tool use and usage', async () => {
    const response = await client.send(
      new ConverseStreamCommand({
        modelId: MODEL,
        messages: [{ role: 'user', content: [{ text: 'weather please' }] }],
        toolConfig: { tools: [weatherTool] },
      }),
    );
    let text = '';
    let toolName: string | undefined;
    let toolInput = '';
    let stopReason: string | undefined;
    let totalTokens: number | undefined;
    for await (const event of response.stream!) {
      if (event.contentBlockDelta?.delta?.text) text += event.contentBlockDelta.delta.text;
      if (event.contentBlockStart?.start?.toolUse) toolName = event.contentBlockStart.start.toolUse.name;
      if (event.contentBlockDelta?.delta?.toolUse) toolInput += event.contentBlockDelta.delta.toolUse.input ?? '';
      if (event.messageStop) stopReason = event.messageStop.stopReason;
      if (event.metadata) totalTokens = event.metadata.usage?.totalTokens;
    }
    expect(text).toBe('Fake Bedrock reply to: weather please');
    expect(toolName).toBe('get_weather');
    expect(JSON.parse(toolInput)).toEqual({ city: 'Paris' });
    expect(stopReason).toBe('tool_use');
    expect(totalTokens).toBeGreaterThan(0);
    expect(fake.requests.at(-1)?.operation).toBe('converse-stream');
  });

  it('invokes an Anthropic model with its own Messages body, whole and as base64 chunks, and refuses a body Bedrock would', async () => {
    const body = JSON.stringify({ anthropic_version: 'bedrock-2023-05-31', max_tokens: 50, messages: [{ role: 'user', content: 'invoke me' }] });
    const whole = await client.send(new InvokeModelCommand({ modelId: MODEL, contentType: 'application/json', body }));
    const answer = JSON.parse(new TextDecoder().decode(whole.body)) as { content: { text: string }[]; usage: { output_tokens: number } };
    expect(answer.content[0]!.text).toBe('Fake Bedrock reply to: invoke me');
    expect(answer.usage.output_tokens).toBe(6);
    const streamed = await client.send(new InvokeModelWithResponseStreamCommand({ modelId: MODEL, contentType: 'application/json', body }));
    const types: string[] = [];
    let text = '';
    for await (const part of streamed.body!) {
      const event = JSON.parse(new TextDecoder().decode(part.chunk!.bytes)) as { type: string; delta?: { text?: string } };
      types.push(event.type);
      text += event.delta?.text ?? '';
    }
    expect(text).toBe('Fake Bedrock reply to: invoke me');
    expect([types[0], ...types.slice(-2)]).toEqual(['message_start', 'message_delta', 'message_stop']);
    const withModel = JSON.stringify({ ...JSON.parse(body), model: MODEL });
    await expect(client.send(new InvokeModelCommand({ modelId: MODEL, contentType: 'application/json', body: withModel }))).rejects.toBeInstanceOf(
      ValidationException,
    );
  });

  it('refuses a wrong secret with InvalidSignatureException and an unknown key with UnrecognizedClientException', async () => {
    const wrongSecret = new BedrockRuntimeClient({ region, endpoint: fake.url, credentials: { ...credentials, secretAccessKey: 'wrong' }, maxAttempts: 1 });
    const unknownKey = new BedrockRuntimeClient({ region, endpoint: fake.url, credentials: { ...credentials, accessKeyId: 'AKIAUNKNOWN' }, maxAttempts: 1 });
    const wrongRegion = new BedrockRuntimeClient({ region: 'eu-west-1', endpoint: fake.url, credentials, maxAttempts: 1 });
    const command = new ConverseCommand({ modelId: MODEL, messages: [{ role: 'user', content: [{ text: 'x' }] }] });
    try {
      const signature = await wrongSecret.send(command).catch((err: unknown) => err);
      expect(signature).toBeInstanceOf(BedrockRuntimeServiceException);
      expect(signature).toMatchObject({ name: 'InvalidSignatureException', $metadata: { httpStatusCode: 403 } });
      await expect(wrongRegion.send(command)).rejects.toMatchObject({ name: 'InvalidSignatureException' });
      await expect(unknownKey.send(command)).rejects.toMatchObject({ name: 'UnrecognizedClientException', $metadata: { httpStatusCode: 403 } });
    } finally {
      wrongSecret.destroy();
      unknownKey.destroy();
      wrongRegion.destroy();
    }
  });

  it('fails in the shapes the SDK maps to its exception classes', async () => {
    const call = (modelId: string) => client.send(new ConverseCommand({ modelId, messages: [{ role: 'user', content: [{ text: 'x' }] }] }));
    await expect(call('fail-429')).rejects.toBeInstanceOf(ThrottlingException);
    const tooLong = await call('too-long').catch((err: unknown) => err);
    expect(tooLong).toBeInstanceOf(ValidationException);
    expect((tooLong as ValidationException).message).toBe('Input is too long for requested model.');
    await expect(call('fail-503')).rejects.toMatchObject({ name: 'ServiceUnavailableException', $metadata: { httpStatusCode: 503 } });
  });

  it('sends a mid-stream throttlingException frame the SDK throws as ThrottlingException', async () => {
    const response = await client.send(new ConverseStreamCommand({ modelId: 'stream-throttle', messages: [{ role: 'user', content: [{ text: 'x' }] }] }));
    const seen: string[] = [];
    const consume = async () => {
      for await (const event of response.stream!) seen.push(Object.keys(event).find((key) => key !== '$unknown') ?? '?');
    };
    await expect(consume()).rejects.toBeInstanceOf(ThrottlingException);
    expect(seen).toEqual(['messageStart', 'contentBlockDelta']);
  });

  it('rejects turns that do not alternate, as Converse does', async () => {
    const command = new ConverseCommand({
      modelId: MODEL,
      messages: [
        { role: 'user', content: [{ text: 'a' }] },
        { role: 'user', content: [{ text: 'b' }] },
      ],
    });
    await expect(client.send(command)).rejects.toBeInstanceOf(ValidationException);
  });

  it('refuses an Anthropic model’s thinking budget under 1024 or not under maxTokens, as Bedrock relays the model’s refusal', async () => {
    const think = (budget_tokens: number, maxTokens?: number) =>
      client.send(
        new ConverseCommand({
          modelId: MODEL,
          messages: [{ role: 'user', content: [{ text: 'think' }] }],
          ...(maxTokens ? { inferenceConfig: { maxTokens } } : {}),
          additionalModelRequestFields: { thinking: { type: 'enabled', budget_tokens } },
        }),
      );
    await expect(think(1000, 4096)).rejects.toThrow('budget_tokens: Input should be greater than or equal to 1024');
    await expect(think(2048, 2048)).rejects.toThrow('`max_tokens` must be greater than `thinking.budget_tokens`');
    await expect(think(2048, 2048)).rejects.toBeInstanceOf(ValidationException);
    const thought = await think(2048);
    expect(thought.output?.message?.content?.[0]?.reasoningContent?.reasoningText?.text).toBeTruthy();
  });
});
