import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { startFakeVault, type FakeVault } from '../fakes/vault.js';
import { startInProcess } from '../harness/gateway.js';
import { eventually } from '../harness/infra.js';

// A provider key kept in Vault (KV v2, AppRole login) is used by routing and,
// when rotated in Vault, picked up without a restart.
describe('provider keys from Vault', () => {
  let vault: FakeVault;
  let provider: FakeOpenAI;
  let gateway: Awaited<ReturnType<typeof startInProcess>>;
  let client: OpenAI;

  beforeAll(async () => {
    vault = await startFakeVault();
    vault.put('secret', 'gateway/openai', { api_key: 'sk-vault-first' });
    provider = await startFakeOpenAI({ apiKey: 'sk-vault-first' });
    gateway = await startInProcess({
      secrets: { refreshSeconds: 0.2, vault: { address: vault.url, appRole: { roleId: vault.roleId, secretId: vault.secretId } } },
      routing: { providers: { openai: { type: 'openai', baseUrl: `${provider.url}/v1`, apiKey: 'vault:secret/gateway/openai#api_key' } } },
    });
    client = gateway.client((await gateway.createKey({ name: 'vault' })).key);
  });
  afterAll(async () => {
    await gateway?.stop();
    await provider?.close();
    await vault?.close();
  });

  it('calls the provider with the key read from Vault', async () => {
    await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(provider.requests.at(-1)?.authorization).toBe('Bearer sk-vault-first');
  });

  it('uses a key rotated in Vault without a restart', async () => {
    vault.put('secret', 'gateway/openai', { api_key: 'sk-vault-second' });
    provider.acceptOnly(['sk-vault-second']);
    await eventually(
      'the rotated key to be used',
      async () => {
        const ok = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'again' }] }).then(
          () => true,
          () => undefined,
        );
        return ok;
      },
      10_000,
    );
    expect(provider.requests.at(-1)?.authorization).toBe('Bearer sk-vault-second');
  });
});
