import type { RequestContext } from '../gen/gateway/v1/common.js';

/** Whose stored state (a response, a file, a batch) is: the key's team, else its customer, else the key alone. */
export function tenantOf(context: RequestContext | undefined): string | undefined {
  const actor = context?.actor;
  if (actor?.teamId) return `team:${actor.teamId}`;
  if (actor?.customerId) return `customer:${actor.customerId}`;
  return actor?.keyId ? `key:${actor.keyId}` : undefined;
}
