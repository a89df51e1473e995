import nodeVault from 'node-vault';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVault, type FakeVault } from './vault.js';

// The fake must answer as Vault does: checked with node-vault, a widely used Vault client.
describe('fake Vault, checked with node-vault', () => {
  let fake: FakeVault;
  beforeAll(async () => {
    fake = await startFakeVault();
  });
  afterAll(() => fake.close());

  it('writes and reads KV v2 secrets with a token, versioned', async () => {
    const vault = nodeVault({ endpoint: fake.url, token: fake.rootToken });
    await vault.write('secret/data/gateway/openai', { data: { api_key: 'first' } });
    await vault.write('secret/data/gateway/openai', { data: { api_key: 'second' } });
    const read = (await vault.read('secret/data/gateway/openai')) as { data: { data: { api_key: string }; metadata: { version: number } } };
    expect(read.data.data.api_key).toBe('second');
    expect(read.data.metadata.version).toBe(2);
  });

  it('logs in with AppRole and refuses bad credentials and tokens', async () => {
    const vault = nodeVault({ endpoint: fake.url });
    const login = (await vault.approleLogin({ role_id: fake.roleId, secret_id: fake.secretId })) as { auth: { client_token: string; lease_duration: number } };
    expect(login.auth.lease_duration).toBeGreaterThan(0);
    await expect(nodeVault({ endpoint: fake.url, token: login.auth.client_token }).read('secret/data/missing')).rejects.toThrow(/404|Status 404/);
    await expect(vault.approleLogin({ role_id: fake.roleId, secret_id: 'wrong' })).rejects.toThrow(/invalid role or secret ID/);
    await expect(nodeVault({ endpoint: fake.url, token: 'hvs.bogus' }).read('secret/data/gateway/openai')).rejects.toThrow(/permission denied/);
  });
});
