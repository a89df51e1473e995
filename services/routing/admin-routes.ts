import type { FastifyPluginAsync } from 'fastify';
import type { AdminEntry } from '../gen/gateway/v1/admin_entries.js';
import type { RoutingService } from '../gen/gateway/v1/routing.js';
import type { RecordChange } from '../kit/admin.js';
import { GatewayError } from '../kit/errors.js';
import type { Api } from '../kit/grpc.js';
import { healthView } from './deployment-health.js';
import { mcpAdminRoutes } from './mcp/admin-routes.js';

/** What routing's admin routes are given: the service itself, or its gRPC client when it runs in another process. */
export interface RoutingAdmin {
  routing: Api<typeof RoutingService>;
  record: RecordChange;
}

const KINDS = [
  {
    kind: 'provider',
    path: 'providers',
    resource: 'routing_provider',
    what: 'provider',
    tag: 'providers',
    pattern: '^[a-z0-9][a-z0-9_-]*$',
    summary: 'Add or replace a provider (as in routing.providers; secrets as env:, file: or vault: references)',
  },
  {
    kind: 'model',
    path: 'models',
    resource: 'routing_model',
    what: 'model',
    tag: 'models',
    pattern: '^[^/\\s]+$',
    summary: 'Add or replace a model: an alias (a JSON string) or a group (as in routing.models)',
  },
  {
    kind: 'guardrail_policy',
    path: 'guardrails/policies',
    resource: 'guardrail_policy',
    what: 'guardrail policy',
    tag: 'guardrails',
    pattern: '^[a-z0-9][a-z0-9_-]*$',
    summary: 'Add or replace a guardrail policy (as in guardrails.policies)',
  },
  {
    kind: 'guardrail_attachment',
    path: 'guardrails/attachments',
    resource: 'guardrail_attachment',
    what: 'guardrail attachment',
    tag: 'guardrails',
    pattern: '^(global|(customer|team|key):[^\\s/]+)$',
    summary:
      'Attach guardrail policies (a JSON array of names) to everyone (global), a customer (customer:<id>), a team (team:<id>) or a key (key:<id>), adding to guardrails.attach',
  },
  {
    kind: 'guardrail_storage_policy',
    path: 'guardrails/storage/policies',
    resource: 'guardrail_storage_policy',
    what: 'storage policy',
    tag: 'guardrails',
    pattern: '^[a-z0-9][a-z0-9_-]*$',
    summary: 'Add or replace a storage policy: what records keep of each data class (as in guardrails.storage.policies; the hash key stays in the config file)',
  },
  {
    kind: 'guardrail_storage_attachment',
    path: 'guardrails/storage/attachments',
    resource: 'guardrail_storage_attachment',
    what: 'storage attachment',
    tag: 'guardrails',
    pattern: '^(global|(customer|team|key):[^\\s/]+)$',
    summary:
      'Attach storage policies (a JSON array of names) to everyone (global), a customer (customer:<id>), a team (team:<id>) or a key (key:<id>), adding to guardrails.storage.attach',
  },
] as const;

const entryView = (e: AdminEntry) => ({ name: e.name, entry: JSON.parse(e.entryJson) as unknown, updated_at: new Date(e.updatedAtMs).toISOString() });

/**
 * Providers (with their credentials, as secret references), models (aliases
 * and groups of deployments), guardrail and storage policies and their
 * attachments managed through the admin API, and MCP servers.
 * Routing checks each change against its config file before it stores it in
 * its own table; every routing replica applies it when it hears the change's
 * admin event.
 */
export const routingAdminRoutes: FastifyPluginAsync<RoutingAdmin> = async (app, options) => {
  const { routing, record } = options;
  for (const { kind, path, resource, what, tag, pattern, summary } of KINDS) {
    const tags = [tag];
    const missing = (name: string) => new GatewayError('not_found', `No ${what} named ${name} was added through the admin API.`);
    const find = async (name: string) => {
      const { entries } = await routing.listAdminEntries({ kind });
      const entry = entries.find((e) => e.name === name);
      if (!entry) throw missing(name);
      return entry;
    };

    app.get(
      `/admin/${path}`,
      { config: { requires: 'read' }, schema: { tags, summary: `List the ${what} entries added through the admin API` } },
      async () => ({
        data: (await routing.listAdminEntries({ kind })).entries.map(entryView),
      }),
    );
    app.get<{ Params: { name: string } }>(
      `/admin/${path}/:name`,
      { config: { requires: 'read' }, schema: { tags, summary: `Get a ${what}` } },
      async (request) => entryView(await find(request.params.name)),
    );
    app.put<{ Params: { name: string }; Body: Record<string, unknown> | string }>(
      `/admin/${path}/:name`,
      {
        config: { requires: 'manage_routing' },
        schema: { tags, summary, params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern } } } },
      },
      async (request) => {
        const name = request.params.name;
        const { before, after } = await routing.putAdminEntry({ kind, name, entryJson: JSON.stringify(request.body ?? null) });
        record(request.principal!, resource, before ? 'update' : 'create', name, before ? entryView(before) : undefined, entryView(after!));
        return entryView(after!);
      },
    );
    app.delete<{ Params: { name: string } }>(
      `/admin/${path}/:name`,
      { config: { requires: 'manage_routing' }, schema: { tags, summary: `Remove a ${what}` } },
      async (request, reply) => {
        const { removed } = await routing.removeAdminEntry({ kind, name: request.params.name });
        if (!removed) throw missing(request.params.name);
        record(request.principal!, resource, 'delete', removed.name, entryView(removed), undefined);
        return reply.code(204).send();
      },
    );
  }
  // What the console's providers page lists: the catalog as routing resolves it, config file and admin API together.
  app.get(
    '/admin/deployments',
    {
      config: { requires: 'read' },
      schema: {
        tags: ['models'],
        summary: 'Every model name defined in the config file or through the admin API, with the deployments a request for it may reach (fallbacks included)',
      },
    },
    async () => ({
      data: (await routing.resolveModels({})).models.map((m) => ({
        model: m.name,
        deployments: m.targets.map((t) => ({ provider: t.provider, model: t.model })),
      })),
    }),
  );
  app.get(
    '/admin/deployments/health',
    {
      config: { requires: 'read' },
      schema: {
        tags: ['models'],
        summary:
          "Every deployment's circuit (closed, open, half-open), recent faults, requests in flight and queued, and latency, as the routing replica that answered sees them (each has its own)",
      },
    },
    async () => {
      const { replica, deployments } = await routing.deploymentHealth({});
      return { replica, data: deployments.map(healthView) };
    },
  );
  await app.register(mcpAdminRoutes, options);
};
