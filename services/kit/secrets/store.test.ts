import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeVault, type FakeVault } from '../../../test/fakes/vault.js';
import { createLogger } from '../log.js';
import { SecretStore, stringsIn } from './store.js';

const log = createLogger({ level: 'silent' });
const noVault = { address: '', namespace: '', token: '', appRole: { mount: 'approle', roleId: '', secretId: '' } };

describe('secret store', () => {
  let vault: FakeVault;
  beforeAll(async () => {
    vault = await startFakeVault({ tokenTtlSeconds: 1 });
    vault.put('secret', 'gateway/openai', { api_key: 'sk-from-vault-1' });
  });
  afterAll(() => vault.close());

  it('takes literal values as they are, and reads env: and file: references', async () => {
    const store = new SecretStore({ refreshSeconds: 60, vault: noVault }, log);
    const file = join(mkdtempSync(join(tmpdir(), 'gw-secret-')), 'key');
    writeFileSync(file, 'sk-from-file\n');
    process.env.GW_TEST_SECRET = 'sk-from-env';
    await store.prepare(['plain', `file:${file}`, 'env:GW_TEST_SECRET']);
    expect(store.get('plain').value).toBe('plain');
    expect(store.get(`file:${file}`).value).toBe('sk-from-file');
    expect(store.get('env:GW_TEST_SECRET').value).toBe('sk-from-env');
    writeFileSync(file, 'sk-rotated\n');
    await store.refresh();
    expect(store.get(`file:${file}`).value).toBe('sk-rotated');
  });

  it('reads Vault KV v2 with AppRole, logs in again when its token expires, and follows rotation', async () => {
    const store = new SecretStore(
      { refreshSeconds: 60, vault: { ...noVault, address: vault.url, appRole: { mount: 'approle', roleId: vault.roleId, secretId: vault.secretId } } },
      log,
    );
    const ref = 'vault:secret/gateway/openai#api_key';
    await store.prepare([ref]);
    const secret = store.get(ref);
    expect(secret.value).toBe('sk-from-vault-1');
    vault.put('secret', 'gateway/openai', { api_key: 'sk-from-vault-2' });
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the token's one-second lease
    await store.refresh();
    expect(secret.value).toBe('sk-from-vault-2');
    expect(vault.logins).toBeGreaterThanOrEqual(2);
  });

  it('stops start-up naming a reference that cannot be read, and keeps the last value when a refresh fails', async () => {
    const store = new SecretStore({ refreshSeconds: 60, vault: { ...noVault, address: vault.url, token: vault.rootToken } }, log);
    await expect(store.prepare(['vault:secret/nowhere#key'])).rejects.toThrow(/vault:secret\/nowhere#key.*404/);
    await expect(store.prepare(['env:GW_TEST_UNSET_VARIABLE'])).rejects.toThrow(/GW_TEST_UNSET_VARIABLE is not set/);
    await store.prepare(['vault:secret/gateway/openai#api_key']);
    const before = store.get('vault:secret/gateway/openai#api_key').value;
    await vault.close();
    await store.refresh();
    expect(store.get('vault:secret/gateway/openai#api_key').value).toBe(before);
  });

  it('finds references anywhere in a config tree', () => {
    expect(stringsIn({ a: { apiKeys: ['x', 'env:Y'] }, b: 3, c: [{ d: 'vault:m/p#f' }] })).toEqual(['x', 'env:Y', 'vault:m/p#f']);
  });
});
