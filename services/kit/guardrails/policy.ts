import { z } from 'zod';
import { customDetectorsSchema } from './custom.js';
import { PERSONAL_DATA_DETECTORS } from './detectors.js';
import { SECRET_DETECTORS } from './secrets.js';

/**
 * Guardrail policies as configuration: named policies made of rules (which
 * detectors, which direction, what to do), external analyzers, and which
 * policies apply to which scope. Every reference is checked when the
 * configuration is read, so a rule naming an unknown detector stops start-up
 * with its key named. docs/guardrails.md explains each field with examples.
 */

/** Names of detector groups a rule may use in place of listing ids. */
export const DETECTOR_GROUPS = {
  personal_data: PERSONAL_DATA_DETECTORS.map((detector) => detector.id),
  secrets: SECRET_DETECTORS.map((detector) => detector.id),
} as const;

const name = z.string().regex(/^[a-z][a-z0-9_-]{0,62}$/, 'a name is lower-case letters, digits, _ and -, starting with a letter');

const ruleSchema = z
  .strictObject({
    name: name.describe('Named in block errors, events and metrics.'),
    detectors: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Detector ids (email, secret.jwt, custom.<name>) or groups: personal_data, secrets, custom (every custom detector).'),
    external: name.optional().describe('An analyzer of guardrails.analyzers; its findings are this rule’s. Requests only.'),
    onAnalyzerError: z
      .enum(['open', 'closed'])
      .optional()
      .describe('With external: when the analyzer fails or times out, let the request through (open) or refuse it (closed).'),
    direction: z
      .enum(['request', 'answer', 'both'])
      .optional()
      .describe('Which text the rule reads: what the caller sends, what the model answers, or both (the default; request for an external analyzer).'),
    action: z.enum(['block', 'redact', 'flag']).describe('block refuses, redact replaces each value by a placeholder, flag only counts.'),
    restore: z.boolean().default(false).describe('With redact on requests: put the caller’s values back where the answer repeats their placeholders.'),
  })
  .superRefine((rule, ctx) => {
    if ((rule.detectors === undefined) === (rule.external === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a rule needs one of detectors and external' });
    }
    if (rule.external !== undefined && rule.onAnalyzerError === undefined) {
      ctx.addIssue({ code: 'custom', path: ['onAnalyzerError'], message: 'a rule with an external analyzer must say whether it fails open or closed' });
    }
    if (rule.external === undefined && rule.onAnalyzerError !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['onAnalyzerError'], message: 'onAnalyzerError applies to a rule with an external analyzer only' });
    }
    // An analyzer is one HTTP call per request: a streamed answer cannot wait for it at every chunk.
    if (rule.external !== undefined && rule.direction !== undefined && rule.direction !== 'request') {
      ctx.addIssue({ code: 'custom', path: ['direction'], message: 'an external analyzer reads requests only: set direction: request' });
    }
    if (rule.restore && (rule.action !== 'redact' || rule.direction === 'answer')) {
      ctx.addIssue({ code: 'custom', path: ['restore'], message: 'restore applies to a redact rule that reads requests' });
    }
  });

export const guardrailPolicySchema = z
  .strictObject({
    description: z.string().optional(),
    rules: z.array(ruleSchema).min(1).describe('Read in order; where rules disagree on a value, block wins over redact, redact over flag.'),
  })
  .superRefine((policy, ctx) => {
    const seen = new Set<string>();
    policy.rules.forEach((rule, i) => {
      if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `another rule of this policy is named ${rule.name}` });
      seen.add(rule.name);
    });
  });

export const analyzerSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }).describe('Base URL of a service that answers POST /analyze as Presidio’s analyzer does.'),
  language: z.string().min(2).default('en').describe('Sent as language with every text.'),
  entities: z.array(z.string().min(1)).min(1).optional().describe('Entity types to ask for (PERSON, LOCATION…); absent: all the analyzer knows.'),
  scoreThreshold: z.number().min(0).max(1).optional().describe('Findings scored lower are not returned (Presidio’s score_threshold).'),
  timeoutMs: z.number().int().positive().default(1_000).describe('How long a request waits for the analyzer before its rule fails open or closed.'),
});

const policyNames = z.array(name).default([]);

/**
 * Which policies apply where. Every policy attached to the caller's key, team,
 * customer and to everyone applies (docs/guardrails.md, "Scopes", says why).
 */
export const attachmentsSchema = z
  .strictObject({
    global: policyNames.describe('Policies for every request.'),
    customers: z.record(z.string().min(1), policyNames).default({}).describe('Customer id → policies for its teams and keys.'),
    teams: z.record(z.string().min(1), policyNames).default({}).describe('Team id → policies for its keys.'),
    keys: z.record(z.string().min(1), policyNames).default({}).describe('Virtual key id → policies for that key.'),
  })
  .prefault({});

/**
 * The redaction policy for what the gateway keeps or sends on (storage.ts
 * applies it): per data class, keep, redact, hash or drop.
 */
export const DATA_CLASSES = ['prompt', 'completion', 'toolArguments', 'metadata'] as const;
export type DataClass = (typeof DATA_CLASSES)[number];

/** What a storage policy does to a data class, from least to most withheld. */
const treatment = z.enum(['keep', 'redact', 'hash', 'drop']);
export type Treatment = z.infer<typeof treatment>;

export const storagePolicySchema = z.strictObject({
  description: z.string().optional(),
  detectors: z
    .array(z.string().min(1))
    .min(1)
    .default(['personal_data', 'secrets'])
    .describe('What redact replaces: detector ids or groups, as in guardrail rules.'),
  prompt: treatment.default('keep').describe('Text the caller sent to a model.'),
  completion: treatment.default('keep').describe('Text a model answered; a cache entry is one.'),
  toolArguments: treatment.default('keep').describe("Tool calls' arguments and results, code mode's programs, results and their own errors."),
  metadata: treatment.default('keep').describe("The request's tags."),
});

export const storageConfigSchema = z
  .strictObject({
    hashKey: z
      .string()
      .min(1)
      .optional()
      .describe('The HMAC-SHA256 key of hashed values (a secret, or an env:, file: or vault: reference); required when a policy hashes.'),
    policies: z.record(name, storagePolicySchema).default({}).describe('Named storage policies.'),
    attach: attachmentsSchema.describe(
      'Which storage policies apply where, as guardrails.attach: every one attached to a scope of the caller applies, the most withholding treatment of each class wins.',
    ),
  })
  .prefault({});

export type StoragePolicyConfig = z.infer<typeof storagePolicySchema>;
export type StorageConfig = z.infer<typeof storageConfigSchema>;

export const guardrailsConfigSchema = z
  .strictObject({
    custom: customDetectorsSchema.default([]).describe('Detectors of your own patterns and word lists, reported as custom.<name>.'),
    analyzers: z.record(name, analyzerSchema).default({}).describe('External analyzers, by name, for rules to use.'),
    policies: z.record(name, guardrailPolicySchema).default({}).describe('Named policies.'),
    attach: attachmentsSchema,
    storage: storageConfigSchema.describe('What the gateway keeps of prompts, answers, tool content and metadata in its records, per tenant.'),
  })
  .prefault({})
  .superRefine((config, ctx) => {
    const known = new Set([
      ...Object.values(DETECTOR_GROUPS).flat(),
      ...Object.keys(DETECTOR_GROUPS),
      'custom',
      ...config.custom.map((c) => `custom.${c.name}`),
    ]);
    for (const [policy, { rules }] of Object.entries(config.policies)) {
      rules.forEach((rule, i) => {
        rule.detectors?.forEach((id, j) => {
          if (!known.has(id))
            ctx.addIssue({ code: 'custom', path: ['policies', policy, 'rules', i, 'detectors', j], message: `no detector or group is named ${id}` });
        });
        if (rule.external !== undefined && !(rule.external in config.analyzers)) {
          ctx.addIssue({ code: 'custom', path: ['policies', policy, 'rules', i, 'external'], message: `no analyzer is named ${rule.external}` });
        }
      });
    }
    checkAttached(ctx, ['attach'], config.attach, config.policies);
    const { storage } = config;
    for (const [policy, { detectors }] of Object.entries(storage.policies)) {
      detectors.forEach((id, j) => {
        if (!known.has(id))
          ctx.addIssue({ code: 'custom', path: ['storage', 'policies', policy, 'detectors', j], message: `no detector or group is named ${id}` });
      });
      if (!storage.hashKey && DATA_CLASSES.some((c) => storage.policies[policy]![c] === 'hash'))
        ctx.addIssue({ code: 'custom', path: ['storage', 'hashKey'], message: `storage policy ${policy} hashes values: give the key to hash them with` });
    }
    checkAttached(ctx, ['storage', 'attach'], storage.attach, storage.policies);
  });

/** Reports every attachment of a policy that is not defined, naming where it is attached. */
function checkAttached(ctx: z.RefinementCtx, at: string[], attach: Attachments, policies: Record<string, unknown>): void {
  const scopes: [string[], string[]][] = [
    [['global'], attach.global],
    ...(['customers', 'teams', 'keys'] as const).flatMap((kind) =>
      Object.entries(attach[kind]).map(([id, names]): [string[], string[]] => [[kind, id], names]),
    ),
  ];
  for (const [path, names] of scopes) {
    names.forEach((policy, i) => {
      if (!(policy in policies)) ctx.addIssue({ code: 'custom', path: [...at, ...path, i], message: `no policy is named ${policy}` });
    });
  }
}

export type GuardrailRuleConfig = z.infer<typeof ruleSchema>;
export type GuardrailPolicyConfig = z.infer<typeof guardrailPolicySchema>;
export type AnalyzerConfig = z.infer<typeof analyzerSchema>;
export type Attachments = z.infer<typeof attachmentsSchema>;
export type GuardrailsConfig = z.infer<typeof guardrailsConfigSchema>;

/** Who a request is for; an empty id is a scope the caller does not have. */
export interface CallerScope {
  readonly keyId: string;
  readonly teamId: string;
  readonly customerId: string;
}

/** The policies that apply to a caller: global, then customer, team and key, each named once, in that order. */
export function policiesFor(attach: Attachments, scope: CallerScope): string[] {
  const pick = (byId: Record<string, string[]>, id: string) => (id ? (byId[id] ?? []) : []);
  return [...new Set([...attach.global, ...pick(attach.customers, scope.customerId), ...pick(attach.teams, scope.teamId), ...pick(attach.keys, scope.keyId)])];
}
