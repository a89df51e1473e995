import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

// An application written for LiteLLM's proxy switches by changing its base URL only: its virtual key in LiteLLM's
// header (beside another token in Authorization, as LiteLLM's pass-through clients send), its `user` and its
// LiteLLM-style `metadata` (tags and free-form values) are taken as they are.
describe("requests shaped for LiteLLM's proxy", () => {
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let key: string;

  beforeAll(async () => {
    gateway = await startInProcess();
    ({ key } = await admin<{ key: string }>(gateway.adminUrl, 'POST', '/admin/keys', { name: 'litellm-app' }));
  });
  afterAll(async () => {
    await gateway?.stop();
  });

  it('authenticates the key in x-litellm-api-key even beside another token in Authorization, and accepts metadata tags and user', async () => {
    const client = new OpenAI({
      baseURL: gateway.baseURL,
      apiKey: 'a-provider-token-the-gateway-must-not-take-for-the-key',
      defaultHeaders: { 'x-litellm-api-key': key },
      maxRetries: 0,
    });
    const { data, response } = await client.chat.completions
      .create({
        model: 'mock/echo',
        messages: [{ role: 'user', content: 'hello from a LiteLLM client' }],
        user: 'end-user-42',
        metadata: { tags: ['team:search', 'app:bot'], generation_name: 'greeting' },
      } as unknown as OpenAI.ChatCompletionCreateParamsNonStreaming)
      .withResponse();
    expect(data.choices[0]?.message.content).toBe('This is a mock response to: hello from a LiteLLM client');
    const requestId = response.headers.get('x-request-id')!;
    const { data: rows } = await eventually('its audit row', async () => {
      const page = await admin<{ data: { request_id: string; actor_key_id: string }[] }>(
        gateway.adminUrl,
        'GET',
        `/admin/audit/events?request_id=${requestId}`,
      );
      return page.data.length > 0 ? page : undefined;
    });
    const keys = await admin<{ data: { id: string; name: string }[] }>(gateway.adminUrl, 'GET', '/admin/keys');
    expect(rows[0]!.actor_key_id).toBe(keys.data.find((k) => k.name === 'litellm-app')!.id);
  });

  it('refuses a wrong key in x-litellm-api-key even with a valid one in Authorization', async () => {
    const client = new OpenAI({
      baseURL: gateway.baseURL,
      apiKey: key,
      defaultHeaders: { 'x-litellm-api-key': 'sk-not-a-key-of-this-gateway' },
      maxRetries: 0,
    });
    const refused = await client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'hi' }] }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
