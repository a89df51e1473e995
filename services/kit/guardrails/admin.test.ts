import { describe, expect, it } from 'vitest';
import { NO_ADMIN_POLICIES, withAdminGuardrails } from './admin.js';
import { guardrailsConfigSchema, policiesFor } from './policy.js';

const file = (storage: Record<string, unknown>) => guardrailsConfigSchema.parse({ storage });
const withStorage = (config: ReturnType<typeof file>, policies: Record<string, unknown>, attachments: Record<string, unknown> = {}) =>
  withAdminGuardrails(config, { ...NO_ADMIN_POLICIES, storage: { policies, attachments } });

describe("storage policies of the admin API with the config file's", () => {
  it('adds policies and attachments to the file’s, never taking one away', () => {
    const config = file({ policies: { 'file-drop': { prompt: 'drop' } }, attach: { teams: { t1: ['file-drop'] } } });
    const { config: merged, problems } = withStorage(config, { 'api-tags': { metadata: 'redact' } }, { 'team:t1': ['api-tags'], global: ['api-tags'] });
    expect(problems).toEqual([]);
    expect(policiesFor(merged!.storage.attach, { keyId: '', teamId: 't1', customerId: '' })).toEqual(['api-tags', 'file-drop']);
    expect(merged!.storage.policies['api-tags']).toMatchObject({ metadata: 'redact', prompt: 'keep', detectors: ['personal_data', 'secrets'] });
  });

  it('refuses a hashing policy while the config file gives no hash key, naming the key', () => {
    expect(withStorage(file({}), { hashed: { prompt: 'hash' } }).problems).toEqual([
      'guardrails.storage.hashKey: storage policy hashed hashes values: give the key to hash them with',
    ]);
    expect(withStorage(file({ hashKey: 'env:KEY' }), { hashed: { prompt: 'hash' } }).problems).toEqual([]);
  });

  it('takes no hash key from the admin API', () => {
    const { problems } = withStorage(file({ hashKey: 'env:KEY' }), { mine: { hashKey: 'my-own-key', prompt: 'hash' } });
    expect(problems).toEqual(['guardrails.storage.policies.mine: Unrecognized key: "hashKey"']);
  });

  it('refuses replacing a file policy, an unknown scope and a list that is not of names', () => {
    const config = file({ policies: { 'file-drop': { prompt: 'drop' } } });
    expect(withStorage(config, { 'file-drop': { prompt: 'keep' } }).problems).toEqual([
      'guardrails.storage.policies.file-drop is defined in the config file; change it there',
    ]);
    expect(withStorage(config, {}, { 'teams:t1': ['file-drop'], 'team:t2': 'file-drop' }).problems).toEqual([
      'guardrails.storage attachment teams:t1: name global, customer:<id>, team:<id> or key:<id>',
      'guardrails.storage attachment team:t2: a JSON array of policy names',
    ]);
  });
});
