import { describe, expect, it } from 'vitest';
import { AdminEntry } from '../gen/gateway/v1/admin_entries.js';
import { guardrailsConfigSchema } from '../kit/guardrails/index.js';
import { createLogger } from '../kit/log.js';
import { IngressStoragePolicies, UNREAD_POLICY } from './storage-policies.js';

const actor = { keyId: 'vk_1', keyName: '', teamId: 'team-a', customerId: '', admin: '' };
const log = createLogger({ level: 'silent' });

describe("ingress's storage policies", () => {
  it('keeps nothing until the admin API policies are read, then what the file and the API say', () => {
    const file = guardrailsConfigSchema.parse({ storage: { policies: { tags: { metadata: 'drop' } }, attach: { teams: { 'team-a': ['tags'] } } } });
    const policies = new IngressStoragePolicies(file, undefined, log);

    // Routing not reached yet: an admin API policy may withhold more than the file, so every class is withheld.
    expect(policies.known).toBe(false);
    const unread = policies.forActor(actor)!;
    expect(unread.policies).toEqual([UNREAD_POLICY]);
    expect(['prompt', 'completion', 'toolArguments', 'metadata'].map((c) => unread.text(c as 'prompt', 'alice@example.com'))).toEqual(['', '', '', '']);

    const apiPolicy = AdminEntry.fromPartial({ kind: 'guardrail_storage_policy', name: 'args', entryJson: JSON.stringify({ toolArguments: 'drop' }) });
    const attached = AdminEntry.fromPartial({ kind: 'guardrail_storage_attachment', name: 'team:team-a', entryJson: JSON.stringify(['args']) });
    policies.apply([apiPolicy, attached]);
    expect(policies.known).toBe(true);
    const rule = policies.forActor(actor)!;
    expect([...rule.policies].sort()).toEqual(['args', 'tags']);
    expect(rule.text('prompt', 'kept as it came')).toBe('kept as it came');
    expect(rule.text('toolArguments', '{"q":1}')).toBe('');
  });
});
