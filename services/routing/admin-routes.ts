import type { FastifyPluginAsync } from 'fastify';
import type { RoutingService } from '../gen/gateway/v1/routing.js';
import type { RecordChange, RoutingEntries, RoutingEntry } from '../kit/admin.js';
import { GatewayError } from '../kit/errors.js';
import type { Api } from '../kit/grpc.js';
import { mcpAdminRoutes } from './mcp/admin-routes.js';

/** What routing's admin routes are given: the service itself, or its gRPC client when it runs in another process; and governance's store of the entries. */
export interface RoutingAdmin {
  routing: Api<typeof RoutingService>;
  entries: RoutingEntries;
  record: RecordChange;
}

const KINDS = [
  { kind: 'provider', path: 'providers', resource: 'routing_provider', what: 'provider' },
  { kind: 'model', path: 'models', resource: 'routing_model', what: 'model' },
] as const;

const entryView = (e: RoutingEntry) => ({ name: e.name, entry: e.entry, updated_at: e.updatedAt.toISOString() });

/**
 * Providers (with their credentials, as secret references) and models (aliases
 * and groups of deployments) managed through the admin API, and MCP servers.
 * Routing checks each change against its config file before it is stored;
 * every routing replica then applies it.
 */
export const routingAdminRoutes: FastifyPluginAsync<RoutingAdmin> = async (app, options) => {
  const { routing, entries, record } = options;
  for (const { kind, path, resource, what } of KINDS) {
    const tags = [path];
    const find = (name: string) => {
      const entry = entries.get(kind, name);
      if (!entry) throw new GatewayError('not_found', `No ${what} named ${name} was added through the admin API.`);
      return entry;
    };
    /** Runs the proposed set past routing; refuses the change with every problem named. */
    const checked = async (name: string, entry: unknown | undefined) => {
      const proposed = { providers: namedEntries(entries.list('provider')), models: namedEntries(entries.list('model')) };
      const set = kind === 'provider' ? proposed.providers : proposed.models;
      if (entry === undefined) delete set[name];
      else set[name] = entry;
      const { problems } = await routing.checkRoutingConfig({ providersJson: JSON.stringify(proposed.providers), modelsJson: JSON.stringify(proposed.models) });
      if (problems.length > 0)
        throw new GatewayError('invalid_request', `The ${what} cannot be ${entry === undefined ? 'removed' : 'saved'}: ${problems.join('; ')}`);
    };

    app.get(`/admin/${path}`, { config: { requires: 'read' }, schema: { tags, summary: `List ${path} added through the admin API` } }, async () => ({
      data: entries.list(kind).map(entryView),
    }));
    app.get<{ Params: { name: string } }>(
      `/admin/${path}/:name`,
      { config: { requires: 'read' }, schema: { tags, summary: `Get a ${what}` } },
      async (request) => entryView(find(request.params.name)),
    );
    app.put<{ Params: { name: string }; Body: Record<string, unknown> | string }>(
      `/admin/${path}/:name`,
      {
        config: { requires: 'manage_routing' },
        schema: {
          tags,
          summary:
            kind === 'provider'
              ? 'Add or replace a provider (as in routing.providers; secrets as env:, file: or vault: references)'
              : 'Add or replace a model: an alias (a JSON string) or a group (as in routing.models)',
          params: {
            type: 'object',
            required: ['name'],
            properties: { name: { type: 'string', pattern: kind === 'provider' ? '^[a-z0-9][a-z0-9_-]*$' : '^[^/\\s]+$' } },
          },
        },
      },
      async (request) => {
        const name = request.params.name;
        await checked(name, request.body);
        const { before, after } = await entries.put(kind, name, request.body);
        record(request.principal!, resource, before ? 'update' : 'create', name, before ? entryView(before) : undefined, entryView(after));
        return entryView(after);
      },
    );
    app.delete<{ Params: { name: string } }>(
      `/admin/${path}/:name`,
      { config: { requires: 'manage_routing' }, schema: { tags, summary: `Remove a ${what}` } },
      async (request, reply) => {
        const existing = find(request.params.name);
        await checked(existing.name, undefined);
        await entries.remove(kind, existing.name);
        record(request.principal!, resource, 'delete', existing.name, entryView(existing), undefined);
        return reply.code(204).send();
      },
    );
  }
  await app.register(mcpAdminRoutes, options);
};

/** Entries as routing's config has them: JSON objects keyed by name. */
function namedEntries(list: RoutingEntry[]): Record<string, unknown> {
  return Object.fromEntries(list.map((e) => [e.name, e.entry]));
}
