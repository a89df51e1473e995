import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import type { EventPublisher } from '../kit/bus/publisher.js';
import { GatewayError } from '../kit/errors.js';
import { adminEvent, EventType, type EventTypeName } from '../kit/events.js';
import { bearerToken, createHttpServer } from '../kit/http.js';
import type { Logger } from '../kit/log.js';
import { secretsEqual } from '../kit/secrets.js';
import { publicView, type KeyStore, type VirtualKey } from './keys.js';

export const ADMIN_TOKEN_FILE = 'admin-token';

/** The configured admin token, or the one generated into the data folder on first start. */
export function resolveAdminToken(configured: string, dataDir: string, log: Logger): string {
  if (configured) return configured;
  const file = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const token = `gw-admin-${randomBytes(24).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  log.warn({ file }, 'governance.adminToken is not set: generated an admin token into this file');
  return token;
}

const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    team: { type: 'string', maxLength: 200 },
    customer: { type: 'string', maxLength: 200 },
    expires_at: { type: 'string', format: 'date-time' },
  },
} as const;

interface CreateKeyBody {
  name: string;
  team?: string;
  customer?: string;
  expires_at?: string;
}

/** The admin REST API. */
export function buildAdminApi(options: {
  keys: KeyStore;
  events: EventPublisher;
  adminToken: string;
  log: Logger;
}): FastifyInstance {
  const { keys, events, adminToken } = options;
  const app = createHttpServer({ log: options.log, bodyLimit: 64 * 1024 });
  const actor = { keyId: '', keyName: '', teamId: '', customerId: '', admin: 'admin-token' };
  /** Every change is an event: the audit trail's record, and how other replicas learn of it. */
  const recordKeyChange = (type: EventTypeName, action: string, before: VirtualKey | undefined, after: VirtualKey) =>
    events.emit(
      adminEvent(type, { service: 'governance', actor }, {
        action,
        resource: 'virtual_key',
        resourceId: after.id,
        beforeJson: before ? JSON.stringify(publicView(before)) : '',
        afterJson: JSON.stringify(publicView(after)),
      }),
    );

  app.addHook('onRequest', async (request) => {
    const token = bearerToken(request.headers.authorization);
    if (!token || !secretsEqual(token, adminToken)) {
      throw new GatewayError('admin_unauthorized', 'A valid admin token is required: send Authorization: Bearer <admin token>.');
    }
  });

  app.post<{ Body: CreateKeyBody }>('/admin/keys', { schema: { body: createKeyBody } }, async (request, reply) => {
    const { name, team = '', customer = '', expires_at } = request.body;
    const { key, value } = await keys.create({ name, teamId: team, customerId: customer, expiresAt: expires_at ? new Date(expires_at) : null });
    recordKeyChange(EventType.adminKeyCreated, 'create', undefined, key);
    return reply.code(201).send({ ...publicView(key), key: value });
  });

  app.get('/admin/keys', async () => ({ data: keys.list().map(publicView) }));

  app.get<{ Params: { id: string } }>('/admin/keys/:id', async (request) => {
    const key = keys.get(request.params.id);
    if (!key) throw new GatewayError('not_found', `No virtual key with id ${request.params.id}.`);
    return publicView(key);
  });

  app.post<{ Params: { id: string } }>('/admin/keys/:id/revoke', async (request) => {
    const before = keys.get(request.params.id);
    const key = await keys.revoke(request.params.id);
    if (!key) throw new GatewayError('not_found', `No virtual key with id ${request.params.id}.`);
    recordKeyChange(EventType.adminKeyRevoked, 'revoke', before, key);
    return publicView(key);
  });

  return app;
}
