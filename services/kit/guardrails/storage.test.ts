import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { guardrailsConfigSchema } from './policy.js';
import { StoragePolicies } from './storage.js';

const KEY = { value: 'k3y-for-hashing' };
const config = (storage: unknown) => guardrailsConfigSchema.parse({ custom: [{ name: 'ticket', pattern: 'PRJ-\\d{4}' }], storage });
const caller = (teamId: string) => ({ keyId: 'vk_1', teamId, customerId: 'acme' });

describe('storage policies', () => {
  const parsed = config({
    hashKey: 'env:UNUSED',
    policies: {
      redacting: { detectors: ['email', 'custom'], toolArguments: 'redact', metadata: 'hash' },
      hashing: { toolArguments: 'hash' },
      dropping: { prompt: 'drop' },
    },
    attach: { customers: { acme: ['redacting'] }, teams: { strict: ['hashing', 'dropping'] } },
  });
  const policies = new StoragePolicies(parsed.storage, parsed.custom, KEY);

  it('keeps everything for a caller no policy reaches', () => {
    expect(new StoragePolicies(parsed.storage, parsed.custom, KEY).forCaller({ keyId: 'vk_2', teamId: '', customerId: 'other' })).toBeUndefined();
  });

  it('redacts what its detectors find, inside JSON strings so the JSON stays JSON', () => {
    const rule = policies.forCaller(caller('loose'))!;
    expect(rule.policies).toEqual(['redacting']);
    const json = rule.json('toolArguments', JSON.stringify({ to: 'ann.planted@example.com', note: 'see PRJ-1234', n: 3 }));
    expect(JSON.parse(json)).toEqual({ to: '[REDACTED:email]', note: 'see [REDACTED:custom.ticket]', n: 3 });
    expect(rule.text('toolArguments', 'mail ann.planted@example.com now')).toBe('mail [REDACTED:email] now');
    expect(rule.text('prompt', 'ann.planted@example.com')).toBe('ann.planted@example.com');
  });

  it('hashes with HMAC-SHA256 under the configured key, so a holder of the value can match it', () => {
    const rule = policies.forCaller(caller('loose'))!;
    expect(rule.text('metadata', 'project:apollo')).toBe(`hmac-sha256:${createHmac('sha256', KEY.value).update('project:apollo').digest('hex')}`);
  });

  it('takes the most withholding treatment of every policy that applies, class by class', () => {
    const rule = policies.forCaller(caller('strict'))!;
    expect(rule.policies).toEqual(['redacting', 'hashing', 'dropping']);
    expect(rule.treatmentOf('toolArguments')).toBe('hash');
    expect(rule.treatmentOf('prompt')).toBe('drop');
    expect(rule.treatmentOf('metadata')).toBe('hash');
    expect(rule.treatmentOf('completion')).toBe('keep');
    expect(rule.text('prompt', 'anything')).toBe('');
    expect(rule.text('toolArguments', '')).toBe('');
  });

  it('refuses a configuration it could not apply, naming the key', () => {
    const issues = (storage: unknown) => {
      const result = guardrailsConfigSchema.safeParse({ storage });
      return result.success ? [] : result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    };
    expect(issues({ policies: { h: { completion: 'hash' } } })).toEqual(['storage.hashKey: storage policy h hashes values: give the key to hash them with']);
    expect(issues({ policies: { r: { detectors: ['emial'] } } })).toEqual(['storage.policies.r.detectors.0: no detector or group is named emial']);
    expect(issues({ attach: { teams: { t: ['nowhere'] } } })).toEqual(['storage.attach.teams.t.0: no policy is named nowhere']);
    expect(issues({ policies: { p: { prompt: 'encrypt' } } })[0]).toMatch(/^storage\.policies\.p\.prompt: /);
  });
});
