import { type Attachments, guardrailsConfigSchema, type GuardrailsConfig } from './policy.js';

/**
 * Policies and attachments added through the admin API, as stored: policies
 * by name, attachments by scope (`global`, `customer:<id>`, `team:<id>`,
 * `key:<id>`), each a list of policy names. Guardrail policies beside storage
 * policies (guardrails.storage); the storage hash key is the config file's only.
 */
export interface AdminPolicies {
  policies: Record<string, unknown>;
  attachments: Record<string, unknown>;
}

export interface AdminGuardrails extends AdminPolicies {
  storage: AdminPolicies;
}

export const NO_ADMIN_POLICIES: AdminPolicies = { policies: {}, attachments: {} };

const SCOPES = { customer: 'customers', team: 'teams', key: 'keys' } as const;

/**
 * The config file's guardrails with the admin API's added: its policies beside
 * the file's (never replacing one), its attachments to the file's (never
 * taking one away), checked as the file is at start-up. `config` is absent
 * when anything is wrong; `problems` names each key.
 */
export function withAdminGuardrails(file: GuardrailsConfig, admin: AdminGuardrails): { config?: GuardrailsConfig; problems: string[] } {
  const problems: string[] = [];
  const guardrails = added(file.policies, file.attach, admin, 'guardrails', problems);
  const storage = added(file.storage.policies, file.storage.attach, admin.storage, 'guardrails.storage', problems);
  const parsed = guardrailsConfigSchema.safeParse({
    ...file,
    policies: guardrails.policies,
    attach: guardrails.attach,
    storage: { ...file.storage, policies: storage.policies, attach: storage.attach },
  });
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => `guardrails.${issue.path.map(String).join('.')}: ${issue.message}`));
  return problems.length > 0 ? { problems } : { config: parsed.data, problems };
}

/** One kind of policies (guardrail or storage) with the admin API's added; what cannot be added is a problem at `at`. */
function added(
  filePolicies: Record<string, unknown>,
  fileAttach: Attachments,
  admin: AdminPolicies,
  at: string,
  problems: string[],
): { policies: Record<string, unknown>; attach: Attachments } {
  for (const name of Object.keys(admin.policies)) {
    if (name in filePolicies) problems.push(`${at}.policies.${name} is defined in the config file; change it there`);
  }
  const { global, customers, teams, keys } = fileAttach;
  const attach = { global: [...global], customers: { ...customers }, teams: { ...teams }, keys: { ...keys } };
  for (const [scope, names] of Object.entries(admin.attachments)) {
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) {
      problems.push(`${at} attachment ${scope}: a JSON array of policy names`);
      continue;
    }
    if (scope === 'global') {
      attach.global = [...new Set([...attach.global, ...names])];
      continue;
    }
    const [, kind, id] = /^(customer|team|key):(.+)$/s.exec(scope) ?? [];
    if (!kind || !id) {
      problems.push(`${at} attachment ${scope}: name global, customer:<id>, team:<id> or key:<id>`);
      continue;
    }
    const byId = attach[SCOPES[kind as keyof typeof SCOPES]];
    byId[id] = [...new Set([...(byId[id] ?? []), ...names])];
  }
  return { policies: { ...admin.policies, ...filePolicies }, attach };
}
