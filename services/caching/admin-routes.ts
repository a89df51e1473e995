import type { FastifyPluginAsync } from 'fastify';
import type { CacheEntry, CachingService, EntrySelector } from '../gen/gateway/v1/caching.js';
import { canSee, type Placement, type Placements, type Principal, type RecordChange } from '../kit/admin.js';
import { GatewayError } from '../kit/errors.js';
import type { Api } from '../kit/grpc.js';

type Query = { namespace?: string; key?: string; entry?: string; all?: string; limit?: string };

const selectorQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    namespace: { type: 'string', description: 'A cache namespace, e.g. team:search or key:vk_…; covers its sub-namespaces (team:search/docs-bot).' },
    key: { type: 'string', description: 'Entries stored by requests made with this virtual key id.' },
    entry: { type: 'string', description: 'One entry id, as in the x-gateway-cache-entry response header.' },
    all: { type: 'string', enum: ['true'], description: 'Purge: every entry (unscoped tokens only).' },
    limit: { type: 'string', pattern: '^[0-9]+$', description: 'List: at most this many entries, newest first (default 100).' },
  },
} as const;

const entryView = (e: CacheEntry) => ({
  id: e.id,
  namespace: e.namespace,
  endpoint: e.endpoint,
  model: e.model,
  served: e.served ?? null,
  key_id: e.keyId,
  match: e.match,
  created_at: new Date(e.createdMs).toISOString(),
  expires_at: new Date(e.expiresMs).toISOString(),
  hits: e.hits,
  size_bytes: e.sizeBytes,
});

/**
 * Inspecting and purging the response cache. Namespaces are `team:<id>`,
 * `key:<id>` or `customer:<id>` (see a key's cache_scope), with optional
 * sub-namespaces after a slash; a token scoped to a team or customer sees and
 * purges only namespaces of its own. `caching` is the service itself, or its
 * gRPC client when it runs in another process; `placements` are governance's.
 */
export const cachingAdminRoutes: FastifyPluginAsync<{ caching: Api<typeof CachingService>; placements: Placements; record: RecordChange }> = async (
  app,
  { caching, placements, record },
) => {
  const tags = ['cache'];

  /** Where a namespace's owner sits, for scoped tokens; undefined for a namespace of nothing known. */
  function placementOfNamespace(namespace: string): Placement | undefined {
    const [kind, id = ''] = namespace.split('/')[0]!.split(/:(.*)/s);
    if (kind === 'team') return placements.team(id);
    if (kind === 'customer') return { customer: id, team: null };
    if (kind === 'key') return placements.key(id);
    return undefined;
  }

  const visible = (who: Principal, namespace: string) => {
    const placement = placementOfNamespace(namespace);
    return placement ? canSee(who, placement) : !who.team && !who.customer;
  };

  /** The selector of a query, refused when the caller may not see what it names. */
  function selectorOf(who: Principal, query: Query): EntrySelector {
    const selector = { namespace: query.namespace ?? '', keyId: query.key ?? '', entryId: query.entry ?? '' };
    if (selector.namespace && !visible(who, selector.namespace))
      throw new GatewayError('admin_forbidden', `This token may not see the cache namespace ${selector.namespace}.`);
    if (selector.keyId) {
      const key = placements.key(selector.keyId);
      if (who.team || who.customer ? !key || !canSee(who, key) : false) throw new GatewayError('not_found', `No virtual key with id ${selector.keyId}.`);
    }
    return selector;
  }

  app.get<{ Querystring: Query }>(
    '/admin/cache/entries',
    { config: { requires: 'read' }, schema: { tags, summary: 'List cache entries (metadata only, never answers)', querystring: selectorQuery } },
    async (request) => {
      const who = request.principal!;
      const selector = selectorOf(who, request.query);
      const listed = await caching.listEntries({ selector, limit: Number(request.query.limit ?? 100) });
      const entries = listed.entries.filter((e) => visible(who, e.namespace));
      return { data: entries.map(entryView), total: who.team || who.customer ? entries.length : listed.total };
    },
  );

  app.delete<{ Querystring: Query }>(
    '/admin/cache/entries',
    {
      config: { requires: 'write' },
      schema: { tags, summary: 'Purge cache entries by namespace, key or entry (all=true for everything)', querystring: selectorQuery },
    },
    async (request) => {
      const who = request.principal!;
      const selector = selectorOf(who, request.query);
      const everything = !selector.namespace && !selector.keyId && !selector.entryId;
      if (everything && request.query.all !== 'true')
        throw new GatewayError('invalid_request', 'Say what to purge: namespace, key or entry (or all=true for every entry).', { param: 'namespace' });
      if (everything && (who.team || who.customer))
        throw new GatewayError('admin_forbidden', 'A token limited to one customer or team may not purge the whole cache.');
      if (selector.entryId && (who.team || who.customer)) {
        const [entry] = (await caching.listEntries({ selector: { namespace: '', keyId: '', entryId: selector.entryId }, limit: 1 })).entries;
        if (!entry || !visible(who, entry.namespace)) throw new GatewayError('not_found', `No cache entry with id ${selector.entryId}.`);
      }
      const { purged } = await caching.purge({ selector });
      const what = everything
        ? 'all'
        : [selector.namespace && `namespace=${selector.namespace}`, selector.keyId && `key=${selector.keyId}`, selector.entryId && `entry=${selector.entryId}`]
            .filter(Boolean)
            .join('&');
      record(who, 'cache', 'purge', what, undefined, { purged });
      return { purged };
    },
  );
};
