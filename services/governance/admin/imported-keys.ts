import type { FastifyInstance } from 'fastify';
import type { RecordChange } from '../../kit/admin.js';
import { GatewayError } from '../../kit/errors.js';
import type { Directory } from '../store/directory.js';
import { keyBody } from './schemas.js';
import { keyFromBody, keyView } from './views.js';

const importedKeyBody = {
  ...keyBody,
  required: ['id', 'name', 'key_sha256'],
  properties: {
    ...keyBody.properties,
    id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$', description: 'The id the key gets here, so an import run again finds it.' },
    key_sha256: {
      type: 'string',
      pattern: '^[0-9a-f]{64}$',
      description: "SHA-256 of the key, in lowercase hex, as LiteLLM's database stores it; the key itself is never sent.",
    },
  },
} as const;

/**
 * A key that already exists elsewhere (another gateway's database), known here only by its SHA-256, so
 * the applications holding it keep working unchanged. Only the unscoped owner may do this (manage_customers
 * is theirs alone): a hash chosen by the caller could otherwise give a scoped admin a key they already hold.
 */
export function importedKeyRoute(app: FastifyInstance, directory: Directory, record: RecordChange): void {
  app.post<{ Body: Record<string, unknown> }>(
    '/admin/keys/import',
    {
      config: { requires: 'manage_customers' },
      schema: { tags: ['keys'], summary: 'Import a virtual key by the SHA-256 of its value (owner only)', body: importedKeyBody },
    },
    async (request, reply) => {
      const who = request.principal!;
      const body = request.body;
      const id = body.id as string;
      const teamId = (body.team as string | null | undefined) ?? null;
      const team = teamId ? await directory.teams.find(teamId) : undefined;
      if (teamId && !team) throw new GatewayError('not_found', `No team with id ${teamId}.`, { param: 'team' });
      const customerId = team ? null : ((body.customer as string | null | undefined) ?? null);
      if (customerId && !(await directory.customers.find(customerId)))
        throw new GatewayError('not_found', `No customer with id ${customerId}.`, { param: 'customer' });
      if (await directory.keys.find(id)) throw new GatewayError('conflict', `A virtual key with id ${id} exists.`);
      const keyHash = Buffer.from(body.key_sha256 as string, 'hex');
      const same = directory.keyByHash(keyHash) ?? (await directory.keys.fetchBy('key_hash', keyHash));
      if (same) throw new GatewayError('conflict', `Virtual key ${same.id} has this value already.`, { param: 'key_sha256' });
      const created = await directory.keys.insert(keyFromBody(body, { id, keyHash, teamId, customerId }));
      record(who, 'virtual_key', 'create', id, undefined, keyView(created));
      return reply.code(201).send(keyView(created));
    },
  );
}
