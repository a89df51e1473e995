import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { callerView, canSee, type RecordChange } from '../../kit/admin.js';
import type { Database } from '../../kit/db/types.js';
import { GatewayError } from '../../kit/errors.js';
import { prefixedId } from '../../kit/ids.js';
import { generateVirtualKey, hashSecret } from '../../kit/secrets/keys.js';
import type { Directory } from '../store/directory.js';
import type { Customer, Team, VirtualKey } from '../store/entities.js';
import { customerBody, idParams, keyBody, patchOf, teamBody } from './schemas.js';
import { registerBudgetRoutes } from './budgets.js';
import { importedKeyRoute } from './imported-keys.js';
import { codeLimitsOf, customerView, keyFromBody, keyView, limitsPatch, NO_LIMITS, placementOf, teamView, visible, type Place } from './views.js';

type Body = Record<string, unknown>;
type WithId = { Params: { id: string } };

/** Governance's routes on the admin API: customers, teams, virtual keys, budgets. Every change is recorded as an admin event with the entity before and after. */
export function governanceAdminRoutes(directory: Directory, db: Database): FastifyPluginAsync<{ record: RecordChange }> {
  return async (app, { record }) => {
    const place = placementOf(directory);
    registerCustomerAndTeamRoutes(app, directory, record, place);
    registerKeyRoutes(app, directory, record, place);
    importedKeyRoute(app, directory, record);
    registerBudgetRoutes(app, directory, db, record, place);
  };
}

function registerCustomerAndTeamRoutes(app: FastifyInstance, directory: Directory, record: RecordChange, place: Place): void {
  app.get(
    '/admin/whoami',
    { config: { requires: 'any_role' }, schema: { tags: ['admin'], summary: 'The caller: name, role, scope and permissions' } },
    async (request) => callerView(request.principal!),
  );

  // Customers
  const customers = { tags: ['customers'] };
  app.get('/admin/customers', { config: { requires: 'read' }, schema: { ...customers, summary: 'List customers' } }, async (request) => {
    const who = request.principal!;
    return {
      data: directory.customers
        .all()
        .filter((c) => canSee(who, place.customer(c)))
        .map(customerView),
    };
  });
  app.post<{ Body: Body }>(
    '/admin/customers',
    { config: { requires: 'manage_customers' }, schema: { ...customers, summary: 'Create a customer', body: customerBody } },
    async (request, reply) => {
      const who = request.principal!;
      const body = request.body;
      const id = (body.id as string | undefined) ?? prefixedId('cus');
      if (await directory.customers.find(id)) throw new GatewayError('conflict', `A customer with id ${id} exists.`);
      const created = await directory.customers.insert({
        id,
        name: body.name as string,
        metadata: (body.metadata as Customer['metadata']) ?? {},
        createdAt: new Date(),
      });
      record(who, 'customer', 'create', id, undefined, customerView(created));
      return reply.code(201).send(customerView(created));
    },
  );
  app.get<WithId>(
    '/admin/customers/:id',
    { config: { requires: 'read' }, schema: { ...customers, summary: 'Get a customer', params: idParams } },
    async (request) => customerView(await visible(directory.customers, place.customer, request.principal!, request.params.id, 'customer')),
  );
  app.patch<WithId & { Body: Body }>(
    '/admin/customers/:id',
    { config: { requires: 'write' }, schema: { ...customers, summary: 'Change a customer', params: idParams, body: patchOf(customerBody) } },
    async (request) => {
      const who = request.principal!;
      await visible(directory.customers, place.customer, who, request.params.id, 'customer');
      const { name, metadata } = request.body as { name?: string; metadata?: Customer['metadata'] };
      const changed = (await directory.customers.update(request.params.id, { ...(name ? { name } : {}), ...(metadata ? { metadata } : {}) }))!;
      record(who, 'customer', 'update', request.params.id, customerView(changed.before), customerView(changed.after));
      return customerView(changed.after);
    },
  );
  app.delete<WithId>(
    '/admin/customers/:id',
    { config: { requires: 'manage_customers' }, schema: { ...customers, summary: 'Delete a customer with no teams or keys', params: idParams } },
    async (request, reply) => {
      const who = request.principal!;
      const customer = await visible(directory.customers, place.customer, who, request.params.id, 'customer');
      if (directory.teams.all().some((t) => t.customerId === customer.id) || directory.keys.all().some((k) => k.customerId === customer.id)) {
        throw new GatewayError('conflict', `Customer ${customer.id} still has teams or keys.`);
      }
      await directory.customers.delete(customer.id);
      record(who, 'customer', 'delete', customer.id, customerView(customer), undefined);
      return reply.code(204).send();
    },
  );

  // Teams
  const teams = { tags: ['teams'] };
  app.get<{ Querystring: { customer?: string } }>(
    '/admin/teams',
    { config: { requires: 'read' }, schema: { ...teams, summary: 'List teams' } },
    async (request) => {
      const who = request.principal!;
      const list = directory.teams.all().filter((t) => canSee(who, place.team(t)) && (!request.query.customer || t.customerId === request.query.customer));
      return { data: list.map(teamView) };
    },
  );
  app.post<{ Body: Body }>(
    '/admin/teams',
    { config: { requires: 'write' }, schema: { ...teams, summary: 'Create a team', body: teamBody } },
    async (request, reply) => {
      const who = request.principal!;
      const body = request.body;
      const customerId = (body.customer as string | null | undefined) ?? who.customer ?? null;
      if (who.team) throw new GatewayError('admin_forbidden', 'A token limited to one team may not create teams.');
      if (customerId) await visible(directory.customers, place.customer, who, customerId, 'customer');
      else if (who.customer) throw new GatewayError('admin_forbidden', 'Teams made with this token belong to its customer.');
      const id = (body.id as string | undefined) ?? prefixedId('team');
      if (await directory.teams.find(id)) throw new GatewayError('conflict', `A team with id ${id} exists.`);
      const team: Team = {
        id,
        name: body.name as string,
        customerId,
        metadata: (body.metadata as Team['metadata']) ?? {},
        createdAt: new Date(),
        ...NO_LIMITS,
        ...limitsPatch(body),
      };
      const created = await directory.teams.insert(team);
      record(who, 'team', 'create', id, undefined, teamView(created));
      return reply.code(201).send(teamView(created));
    },
  );
  app.get<WithId>('/admin/teams/:id', { config: { requires: 'read' }, schema: { ...teams, summary: 'Get a team', params: idParams } }, async (request) =>
    teamView(await visible(directory.teams, place.team, request.principal!, request.params.id, 'team')),
  );
  app.patch<WithId & { Body: Body }>(
    '/admin/teams/:id',
    { config: { requires: 'write' }, schema: { ...teams, summary: 'Change a team (name, metadata, limits)', params: idParams, body: patchOf(teamBody) } },
    async (request) => {
      const who = request.principal!;
      await visible(directory.teams, place.team, who, request.params.id, 'team');
      const body = request.body;
      if ('customer' in body || 'id' in body)
        throw new GatewayError('invalid_request', 'A team cannot move to another customer or change its id.', { param: 'customer' });
      const patch: Partial<Team> = {
        ...limitsPatch(body),
        ...(body.name ? { name: body.name as string } : {}),
        ...(body.metadata ? { metadata: body.metadata as Team['metadata'] } : {}),
      };
      const changed = (await directory.teams.update(request.params.id, patch))!;
      record(who, 'team', 'update', request.params.id, teamView(changed.before), teamView(changed.after));
      return teamView(changed.after);
    },
  );
  app.delete<WithId>(
    '/admin/teams/:id',
    { config: { requires: 'write' }, schema: { ...teams, summary: 'Delete a team with no keys', params: idParams } },
    async (request, reply) => {
      const who = request.principal!;
      const team = await visible(directory.teams, place.team, who, request.params.id, 'team');
      if (directory.keys.all().some((k) => k.teamId === team.id)) throw new GatewayError('conflict', `Team ${team.id} still has keys.`);
      await directory.teams.delete(team.id);
      record(who, 'team', 'delete', team.id, teamView(team), undefined);
      return reply.code(204).send();
    },
  );
}

function registerKeyRoutes(app: FastifyInstance, directory: Directory, record: RecordChange, place: Place): void {
  const keys = { tags: ['keys'] };
  app.get<{ Querystring: { team?: string; customer?: string } }>(
    '/admin/keys',
    { config: { requires: 'read' }, schema: { ...keys, summary: 'List virtual keys' } },
    async (request) => {
      const who = request.principal!;
      const { team, customer } = request.query;
      const list = directory.keys.all().filter((k) => {
        const at = place.key(k);
        return canSee(who, at) && (!team || at.team === team) && (!customer || at.customer === customer);
      });
      return { data: list.map(keyView) };
    },
  );
  app.post<{ Body: Body }>(
    '/admin/keys',
    { config: { requires: 'write' }, schema: { ...keys, summary: 'Create a virtual key; the key is in the response only', body: keyBody } },
    async (request, reply) => {
      const who = request.principal!;
      const body = request.body;
      const teamId = (body.team as string | null | undefined) ?? who.team ?? null;
      const team = teamId ? await visible(directory.teams, place.team, who, teamId, 'team') : undefined;
      const customerId = team ? null : ((body.customer as string | null | undefined) ?? who.customer ?? null);
      if (customerId) await visible(directory.customers, place.customer, who, customerId, 'customer');
      if (!team && !customerId && (who.team || who.customer))
        throw new GatewayError('admin_forbidden', 'Keys made with this token must belong to its team or customer.');
      const value = generateVirtualKey();
      const key = keyFromBody(body, { id: prefixedId('vk'), keyHash: hashSecret(value), teamId, customerId });
      const created = await directory.keys.insert(key);
      record(who, 'virtual_key', 'create', created.id, undefined, keyView(created));
      return reply.code(201).send({ ...keyView(created), key: value });
    },
  );
  app.get<WithId>('/admin/keys/:id', { config: { requires: 'read' }, schema: { ...keys, summary: 'Get a virtual key', params: idParams } }, async (request) =>
    keyView(await visible(directory.keys, place.key, request.principal!, request.params.id, 'virtual key')),
  );
  app.patch<WithId & { Body: Body }>(
    '/admin/keys/:id',
    {
      config: { requires: 'write' },
      schema: { ...keys, summary: 'Change a key (name, models, limits, metadata, logging, expiry)', params: idParams, body: patchOf(keyBody) },
    },
    async (request) => {
      const who = request.principal!;
      const current = await visible(directory.keys, place.key, who, request.params.id, 'virtual key');
      const body = request.body;
      if ('team' in body || 'customer' in body)
        throw new GatewayError('invalid_request', 'A key cannot move to another team or customer; make a new key.', { param: 'team' });
      const patch: Partial<VirtualKey> = {
        ...limitsPatch(body),
        ...(body.name ? { name: body.name as string } : {}),
        ...(body.allowed_models ? { allowedModels: body.allowed_models as string[] } : {}),
        ...(body.allowed_tools ? { allowedTools: body.allowed_tools as string[] } : {}),
        ...(body.metadata ? { metadata: body.metadata as VirtualKey['metadata'] } : {}),
        ...('content_logging' in body ? { contentLogging: body.content_logging as boolean } : {}),
        ...(body.cache_scope ? { cacheScope: body.cache_scope as VirtualKey['cacheScope'] } : {}),
        ...(body.tool_mode ? { toolMode: body.tool_mode as VirtualKey['toolMode'] } : {}),
        ...('tool_call_limit' in body ? { toolCallLimit: body.tool_call_limit as number | null } : {}),
        ...('code_limits' in body ? { codeLimits: codeLimitsOf(body.code_limits, current.codeLimits) } : {}),
        ...('expires_at' in body ? { expiresAt: body.expires_at ? new Date(body.expires_at as string) : null } : {}),
      };
      const changed = (await directory.keys.update(request.params.id, patch))!;
      record(who, 'virtual_key', 'update', request.params.id, keyView(changed.before), keyView(changed.after));
      return keyView(changed.after);
    },
  );
  app.post<WithId>(
    '/admin/keys/:id/rotate',
    { config: { requires: 'write' }, schema: { ...keys, summary: "Replace a key's value; the old value stops working at once", params: idParams } },
    async (request) => {
      const who = request.principal!;
      await visible(directory.keys, place.key, who, request.params.id, 'virtual key');
      const value = generateVirtualKey();
      const changed = (await directory.keys.update(request.params.id, { keyHash: hashSecret(value) }))!;
      record(who, 'virtual_key', 'rotate', request.params.id, keyView(changed.before), keyView(changed.after));
      return { ...keyView(changed.after), key: value };
    },
  );
  app.post<WithId>(
    '/admin/keys/:id/revoke',
    { config: { requires: 'write' }, schema: { ...keys, summary: 'Revoke a key on every replica', params: idParams } },
    async (request) => {
      const who = request.principal!;
      const key = await visible(directory.keys, place.key, who, request.params.id, 'virtual key');
      const changed = (await directory.keys.update(key.id, { revokedAt: key.revokedAt ?? new Date() }))!;
      record(who, 'virtual_key', 'revoke', key.id, keyView(changed.before), keyView(changed.after));
      return keyView(changed.after);
    },
  );
}
