import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenLocally, readBody, writeJson } from './local-server.js';

/**
 * A local stand-in for HashiCorp Vault's HTTP API, the parts the gateway uses
 * (https://developer.hashicorp.com/vault/api-docs): the KV version 2 secrets
 * engine (GET and POST /v1/<mount>/data/<path>, responses wrapped in
 * `data.data` with `data.metadata.version`) and AppRole login
 * (POST /v1/auth/approle/login). Errors are `{"errors": [...]}` with 400, 403
 * or 404, as Vault answers. vault.test.ts checks it with node-vault.
 */
export interface FakeVault {
  readonly url: string;
  readonly rootToken: string;
  readonly roleId: string;
  readonly secretId: string;
  /** Writes a new version of a KV v2 secret, as an operator rotating it would. */
  put(mount: string, path: string, data: Record<string, string>): void;
  /** Token requests seen, to tell logins and reads apart. */
  readonly logins: number;
  /** Every secret read, as <mount>/<path>, in order (to check that one was never read). */
  readonly reads: readonly string[];
  close(): Promise<void>;
}

export async function startFakeVault(options: { tokenTtlSeconds?: number } = {}): Promise<FakeVault> {
  const rootToken = `hvs.${randomBytes(12).toString('hex')}`;
  const roleId = randomBytes(8).toString('hex');
  const secretId = randomBytes(8).toString('hex');
  const tokens = new Map<string, number>([[rootToken, Number.POSITIVE_INFINITY]]);
  const secrets = new Map<string, { data: Record<string, string>; version: number; created: string }>();
  let logins = 0;
  const reads: string[] = [];

  const put = (mount: string, path: string, data: Record<string, string>) => {
    const version = (secrets.get(`${mount}/${path}`)?.version ?? 0) + 1;
    secrets.set(`${mount}/${path}`, { data, version, created: new Date().toISOString() });
    return version;
  };

  const server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = (await readBody(req)).toString('utf8');
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method === 'POST' && path === '/v1/auth/approle/login') {
      const { role_id, secret_id } = JSON.parse(body || '{}') as { role_id?: string; secret_id?: string };
      if (role_id !== roleId || secret_id !== secretId) return writeJson(res, 400, { errors: ['invalid role or secret ID'] });
      logins++;
      const token = `hvs.${randomBytes(12).toString('hex')}`;
      const ttl = options.tokenTtlSeconds ?? 3600;
      tokens.set(token, Date.now() + ttl * 1000);
      return writeJson(res, 200, {
        request_id: randomBytes(8).toString('hex'),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: null,
        wrap_info: null,
        warnings: null,
        auth: {
          client_token: token,
          accessor: randomBytes(8).toString('hex'),
          policies: ['default', 'gateway'],
          token_policies: ['default', 'gateway'],
          metadata: { role_name: 'gateway' },
          lease_duration: ttl,
          renewable: true,
          entity_id: '',
          token_type: 'service',
          orphan: true,
        },
      });
    }
    const token = req.headers['x-vault-token'];
    const expiry = typeof token === 'string' ? tokens.get(token) : undefined;
    if (expiry === undefined || expiry < Date.now()) return writeJson(res, 403, { errors: ['permission denied'] });
    const match = /^\/v1\/([^/]+)\/data\/(.+)$/.exec(path);
    if (!match) return writeJson(res, 404, { errors: [] });
    const [, mount, secretPath] = match;
    if (req.method === 'POST' || req.method === 'PUT') {
      const version = put(mount!, secretPath!, (JSON.parse(body || '{}') as { data?: Record<string, string> }).data ?? {});
      return writeJson(res, 200, {
        request_id: randomBytes(8).toString('hex'),
        lease_id: '',
        renewable: false,
        lease_duration: 0,
        data: { created_time: new Date().toISOString(), deletion_time: '', destroyed: false, version },
        wrap_info: null,
        warnings: null,
        auth: null,
      });
    }
    reads.push(`${mount}/${secretPath}`);
    const secret = secrets.get(`${mount}/${secretPath}`);
    if (!secret) return writeJson(res, 404, { errors: [] });
    writeJson(res, 200, {
      request_id: randomBytes(8).toString('hex'),
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: {
        data: secret.data,
        metadata: { created_time: secret.created, custom_metadata: null, deletion_time: '', destroyed: false, version: secret.version },
      },
      wrap_info: null,
      warnings: null,
      auth: null,
    });
  }

  const { url, close } = await listenLocally(server);
  return {
    url,
    rootToken,
    roleId,
    secretId,
    put: (mount, path, data) => void put(mount, path, data),
    get logins() {
      return logins;
    },
    reads,
    close,
  };
}
