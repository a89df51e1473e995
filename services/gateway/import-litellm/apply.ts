import { isDeepStrictEqual } from 'node:util';
import type { Plan } from './accounts.js';

/** Calls the admin API (cli-admin's adminCall, bound to a target). */
export type AdminCall = (method: string, path: string, body?: unknown) => Promise<unknown>;

type Entity = Record<string, unknown> & { id: string };

/** One change the import makes, as printed: never a key's hash, only ids and names. */
export interface Step {
  line: string;
  run: () => Promise<unknown>;
}

/** The fields of `wanted` whose values differ from `current`'s. */
function differing(wanted: Record<string, unknown>, current: Entity, fields: string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((f) => !isDeepStrictEqual(wanted[f], current[f])).map((f) => [f, wanted[f]]));
}

const list = async (call: AdminCall, path: string) => ((await call('GET', path)) as { data: Entity[] }).data;
const names = (patch: object) => Object.keys(patch).join(', ');

/**
 * The steps that bring the admin API to the plan: create what is missing, change what differs, nothing for what
 * matches, so a second run finds no step. Order matters: customers before their teams, teams before their keys.
 */
export async function stepsTo(plan: Plan, call: AdminCall): Promise<Step[]> {
  const [customers, teams, keys, budgets] = await Promise.all([
    list(call, '/admin/customers'),
    list(call, '/admin/teams'),
    list(call, '/admin/keys'),
    list(call, '/admin/budgets'),
  ]);
  const byId = (entities: Entity[]) => new Map(entities.map((e) => [e.id, e]));
  const steps: Step[] = [];
  const upsert = (kind: string, path: string, current: Map<string, Entity>, wanted: { id: string; name: string }, fields: string[]) => {
    const found = current.get(wanted.id);
    if (!found) return steps.push({ line: `create ${kind} ${wanted.id} (${wanted.name})`, run: () => call('POST', path, wanted) });
    const patch = differing(wanted as unknown as Record<string, unknown>, found, fields);
    if (Object.keys(patch).length > 0)
      steps.push({ line: `update ${kind} ${wanted.id}: ${names(patch)}`, run: () => call('PATCH', `${path}/${wanted.id}`, patch) });
  };

  const existing = { customers: byId(customers), teams: byId(teams), keys: byId(keys) };
  for (const customer of plan.customers) upsert('customer', '/admin/customers', existing.customers, customer, ['name', 'metadata']);
  const teamFields = ['name', 'metadata', 'rpm_limit', 'tpm_limit', 'max_parallel'];
  for (const team of plan.teams) upsert('team', '/admin/teams', existing.teams, team, teamFields);
  for (const { revoke, ...key } of plan.keys) {
    const found = existing.keys.get(key.id);
    if (!found) steps.push({ line: `import key ${key.id} (${key.name})`, run: () => call('POST', '/admin/keys/import', key) });
    else upsert('key', '/admin/keys', existing.keys, key, ['name', 'allowed_models', 'expires_at', 'metadata', 'rpm_limit', 'tpm_limit', 'max_parallel']);
    if (revoke && !found?.revoked_at)
      steps.push({ line: `revoke key ${key.id} (blocked in LiteLLM)`, run: () => call('POST', `/admin/keys/${key.id}/revoke`) });
  }
  for (const { spend_usd, ...budget } of plan.budgets) {
    const found = budgets.find((b) => b.scope === budget.scope && b.scope_id === budget.scope_id && b.period === budget.period);
    const what = `${budget.period} budget of $${budget.limit_usd} on ${budget.scope} ${budget.scope_id}`;
    const carry = (id: string) => call('PUT', `/admin/budgets/${id}/carried-spend`, { spend_usd });
    if (!found) {
      steps.push({
        line: `create ${what}${spend_usd > 0 ? `, $${spend_usd} spent so far` : ''}`,
        run: async () => {
          const made = (await call('POST', '/admin/budgets', budget)) as Entity;
          if (spend_usd > 0) await carry(made.id);
        },
      });
      continue;
    }
    if (found.limit_usd !== budget.limit_usd)
      steps.push({
        line: `update ${what} (was $${String(found.limit_usd)})`,
        run: () => call('PATCH', `/admin/budgets/${found.id}`, { limit_usd: budget.limit_usd }),
      });
    const { window } = (await call('GET', `/admin/budgets/${found.id}`)) as { window: { carried_usd: number } };
    if (window.carried_usd !== spend_usd)
      steps.push({ line: `carry $${spend_usd} spent in LiteLLM into the ${what} (was $${window.carried_usd})`, run: () => carry(found.id) });
  }
  return steps;
}
