import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADMIN_TOKEN_FILE } from '../governance/admin/principals.js';
import type { GatewayConfig } from './config.js';

/** Where the CLI calls the admin API, with which token, and where that token came from (for messages, never the token). */
export interface AdminTarget {
  url: string;
  token: string;
  from: string;
}

const PASS_ONE = 'pass one with --admin-token <token> or GATEWAY_ADMIN_TOKEN';

/**
 * The admin API and a token for it: --admin-token, else GATEWAY_ADMIN_TOKEN,
 * else governance.adminToken, else the token the gateway generated into its
 * data folder, which it accepts only while neither governance.adminToken nor
 * governance.adminTokens is set.
 */
export function adminTarget(config: GatewayConfig, values: { 'admin-url'?: string; 'admin-token'?: string }): AdminTarget {
  const url = (values['admin-url'] ?? process.env.GATEWAY_ADMIN_URL ?? `http://127.0.0.1:${config.governance.adminPort}`).replace(/\/+$/, '');
  if (values['admin-token']) return { url, token: values['admin-token'], from: '--admin-token' };
  if (process.env.GATEWAY_ADMIN_TOKEN) return { url, token: process.env.GATEWAY_ADMIN_TOKEN, from: 'GATEWAY_ADMIN_TOKEN' };
  if (config.governance.adminToken) return { url, token: config.governance.adminToken, from: 'governance.adminToken' };
  const file = join(resolve(config.dataDir), ADMIN_TOKEN_FILE);
  const tokens = config.governance.adminTokens;
  if (tokens.length > 0) {
    const names = tokens.map((t) => `${t.name} (${t.role})`).join(', ');
    throw new Error(
      `no admin token: governance.adminTokens is set, so the gateway no longer accepts the token generated into ${file}; ${PASS_ONE}, e.g. the token of ${names}`,
    );
  }
  if (!existsSync(file)) throw new Error(`no admin token: ${PASS_ONE}, set governance.adminToken, or start the gateway once so it writes ${file}`);
  return { url, token: readFileSync(file, 'utf8').trim(), from: `the token in ${file}` };
}

/** What to do when the admin API refuses the token (401), by where the token came from. */
function refusedHint(target: AdminTarget): string {
  if (target.from.startsWith('the token in ')) {
    return `the gateway does not accept ${target.from}: it generates and accepts that token only while governance.adminToken and governance.adminTokens are unset. With either set in the gateway's config, ${PASS_ONE} (or --config <the gateway's config file>)`;
  }
  if (target.from === 'governance.adminToken')
    return `the gateway does not accept governance.adminToken of this config: give the gateway's own with --config <file>, or ${PASS_ONE}`;
  return `the gateway does not accept the token from ${target.from}: ${PASS_ONE} it accepts`;
}

/** Calls the admin API; an answer other than 2xx throws with its status and message, and for 401 with which token was tried. */
export async function adminCall(target: AdminTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new Error(`cannot reach the admin API at ${target.url} (is the gateway running? see --admin-url): ${(err as Error).cause ?? (err as Error).message}`);
  }
  const payload = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
  if (response.status === 401) throw new Error(`admin API answered 401 (${payload.error?.message ?? 'no details'}): ${refusedHint(target)}`);
  if (!response.ok) throw new Error(`admin API answered ${response.status}: ${payload.error?.message ?? 'no details'}`);
  return payload;
}
