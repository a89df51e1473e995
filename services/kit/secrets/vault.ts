import { request } from 'undici';

export interface VaultSettings {
  address: string;
  namespace: string;
  token: string;
  appRole: { mount: string; roleId: string; secretId: string };
}

/**
 * A HashiCorp Vault client for KV version 2, over its HTTP API: a static token,
 * or AppRole login (renewed by logging in again before the token expires or
 * when Vault refuses it).
 */
export class VaultClient {
  private token: string;
  private tokenExpiresAt = Number.POSITIVE_INFINITY;

  constructor(private readonly settings: VaultSettings) {
    this.token = settings.token;
  }

  /** Reads one field of a KV v2 secret, e.g. read("secret", "gateway/openai", "api_key"). */
  async read(mount: string, path: string, field: string): Promise<string> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = await this.currentToken(attempt > 0);
      const response = await request(`${this.settings.address.replace(/\/+$/, '')}/v1/${mount}/data/${path}`, { headers: this.headers(token) });
      const body = (await response.body.json().catch(() => ({}))) as { data?: { data?: Record<string, unknown> }; errors?: string[] };
      if (response.statusCode === 403 && this.usesAppRole && attempt === 0) continue;
      if (response.statusCode !== 200) {
        throw new Error(`Vault answered ${response.statusCode} for ${mount}/${path}${body.errors?.length ? `: ${body.errors.join('; ')}` : ''}`);
      }
      const value = body.data?.data?.[field];
      if (typeof value !== 'string') throw new Error(`Vault secret ${mount}/${path} has no string field "${field}"`);
      return value;
    }
    throw new Error(`Vault refused the gateway's token for ${mount}/${path}`);
  }

  /** Writes one field as the whole of a KV v2 secret (a new version), e.g. tokens the gateway obtained. */
  async write(mount: string, path: string, field: string, value: string): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = await this.currentToken(attempt > 0);
      const response = await request(`${this.settings.address.replace(/\/+$/, '')}/v1/${mount}/data/${path}`, {
        method: 'POST',
        headers: { ...this.headers(token), 'content-type': 'application/json' },
        body: JSON.stringify({ data: { [field]: value } }),
      });
      const body = (await response.body.json().catch(() => ({}))) as { errors?: string[] };
      if (response.statusCode === 403 && this.usesAppRole && attempt === 0) continue;
      if (response.statusCode !== 200 && response.statusCode !== 204) {
        throw new Error(`Vault answered ${response.statusCode} writing ${mount}/${path}${body.errors?.length ? `: ${body.errors.join('; ')}` : ''}`);
      }
      return;
    }
  }

  private get usesAppRole(): boolean {
    return Boolean(this.settings.appRole.roleId);
  }

  private headers(token: string): Record<string, string> {
    return { 'x-vault-token': token, ...(this.settings.namespace ? { 'x-vault-namespace': this.settings.namespace } : {}) };
  }

  private async currentToken(forceLogin: boolean): Promise<string> {
    if (!this.usesAppRole) return this.token;
    if (!forceLogin && this.token && Date.now() < this.tokenExpiresAt) return this.token;
    const { mount, roleId, secretId } = this.settings.appRole;
    const response = await request(`${this.settings.address.replace(/\/+$/, '')}/v1/auth/${mount}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.settings.namespace ? { 'x-vault-namespace': this.settings.namespace } : {}) },
      body: JSON.stringify({ role_id: roleId, secret_id: secretId }),
    });
    const body = (await response.body.json().catch(() => ({}))) as { auth?: { client_token?: string; lease_duration?: number } };
    if (response.statusCode !== 200 || !body.auth?.client_token) throw new Error(`Vault AppRole login at auth/${mount} failed (${response.statusCode})`);
    this.token = body.auth.client_token;
    // Log in again at 80% of the lease, before Vault starts refusing the token.
    const lease = body.auth.lease_duration ?? 0;
    this.tokenExpiresAt = lease > 0 ? Date.now() + lease * 800 : Number.POSITIVE_INFINITY;
    return this.token;
  }
}
