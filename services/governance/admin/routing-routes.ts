import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../kit/errors.js';
import type { Directory } from '../store/directory.js';
import type { RoutingEntry } from '../store/entities.js';
import { caller, type RecordChange } from './principals.js';

/** Asks routing whether a set of admin-managed providers and models works with its config file; returns the problems. */
export type CheckRouting = (providers: Record<string, unknown>, models: Record<string, unknown>) => Promise<string[]>;


const KINDS = [
  { kind: 'provider', path: 'providers', resource: 'routing_provider', what: 'provider' },
  { kind: 'model', path: 'models', resource: 'routing_model', what: 'model' },
] as const;

const entryView = (e: RoutingEntry) => ({ name: e.name, entry: e.entry, updated_at: e.updatedAt.toISOString() });

/**
 * Providers (with their credentials, as secret references) and models (aliases
 * and groups of deployments) managed through the admin API. Routing checks each
 * change against its config file before it is stored; every routing replica
 * then applies it.
 */
export function registerRoutingRoutes(app: FastifyInstance, directory: Directory, check: CheckRouting, record: RecordChange): void {
  const principal = caller;

  for (const { kind, path, resource, what } of KINDS) {
    const tags = [path];
    const find = (name: string) => {
      const entry = directory.routing.get(`${kind}:${name}`);
      if (!entry) throw new GatewayError('not_found', `No ${what} named ${name} was added through the admin API.`);
      return entry;
    };
    /** Runs the proposed set past routing; refuses the change with every problem named. */
    const checked = async (name: string, entry: unknown | undefined) => {
      const proposed = directory.routingConfig();
      const set = kind === 'provider' ? proposed.providers : proposed.models;
      if (entry === undefined) delete set[name];
      else set[name] = entry;
      const problems = await check(proposed.providers, proposed.models);
      if (problems.length > 0) throw new GatewayError('invalid_request', `The ${what} cannot be ${entry === undefined ? 'removed' : 'saved'}: ${problems.join('; ')}`);
    };

    app.get(`/admin/${path}`, { schema: { tags, summary: `List ${path} added through the admin API` } }, async (request) => {
      principal(request, 'read');
      return { data: directory.routing.all().filter((e) => e.kind === kind).map(entryView) };
    });
    app.get<{ Params: { name: string } }>(`/admin/${path}/:name`, { schema: { tags, summary: `Get a ${what}` } }, async (request) => {
      principal(request, 'read');
      return entryView(find(request.params.name));
    });
    app.put<{ Params: { name: string }; Body: Record<string, unknown> | string }>(
      `/admin/${path}/:name`,
      {
        schema: {
          tags,
          summary: kind === 'provider' ? 'Add or replace a provider (as in routing.providers; secrets as env:, file: or vault: references)' : 'Add or replace a model: an alias (a JSON string) or a group (as in routing.models)',
          params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: kind === 'provider' ? '^[a-z0-9][a-z0-9_-]*$' : '^[^/\\s]+$' } } },
        },
      },
      async (request) => {
        const who = principal(request, 'manage_routing');
        const name = request.params.name;
        await checked(name, request.body);
        const { before, after } = await directory.routing.upsert({ id: `${kind}:${name}`, kind, name, entry: request.body, updatedAt: new Date() });
        record(who, resource, before ? 'update' : 'create', name, before ? entryView(before) : undefined, entryView(after));
        return entryView(after);
      },
    );
    app.delete<{ Params: { name: string } }>(`/admin/${path}/:name`, { schema: { tags, summary: `Remove a ${what}` } }, async (request, reply) => {
      const who = principal(request, 'manage_routing');
      const existing = find(request.params.name);
      await checked(existing.name, undefined);
      await directory.routing.delete(existing.id);
      record(who, resource, 'delete', existing.name, entryView(existing), undefined);
      return reply.code(204).send();
    });
  }
}
