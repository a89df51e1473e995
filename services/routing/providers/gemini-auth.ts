import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Secret } from '../../kit/secrets/store.js';
import { clip, Upstream } from './http.js';
import { ProviderError, retryAfterMs, type Connection } from './types.js';

/** The fields of a Google service account key file this module reads. */
export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
  project_id?: string;
}

export const CLOUD_PLATFORM_SCOPE = 'https://www.googleapis.com/auth/cloud-platform';
const GOOGLE_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/** Where the key comes from: inline JSON (or a secret reference), or a file; both are read again at every refresh, so a rotated key takes effect. */
export type KeySource = { json: Secret } | { file: string };

/**
 * OAuth2 access tokens for a service account by the JWT bearer grant
 * (RFC 7523, as in https://developers.google.com/identity/protocols/oauth2/service-account#httprest):
 * an RS256-signed assertion is exchanged at the key's token_uri. The token is
 * cached until shortly before it expires; concurrent callers share one refresh.
 */
export class ServiceAccountTokens {
  private cached: { token: string; refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;
  private endpoint: { origin: string; upstream: Upstream } | undefined;
  private lastKey: ServiceAccountKey | undefined;

  constructor(
    private readonly provider: string,
    private readonly source: KeySource,
    private readonly connection: Connection,
  ) {}

  async token(): Promise<string> {
    if (this.cached && Date.now() < this.cached.refreshAt) return this.cached.token;
    this.pending ??= this.refresh().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** Forgets the cached token, e.g. after the API refused it, so the next call gets a fresh one. */
  invalidate(): void {
    this.cached = undefined;
  }

  /** The key's project_id, for a provider configured without a project. */
  async projectId(): Promise<string | undefined> {
    return (this.lastKey ?? (await this.readKey())).project_id;
  }

  private async refresh(): Promise<string> {
    const key = await this.readKey();
    const tokenUri = new URL(key.token_uri ?? GOOGLE_TOKEN_URI);
    const form = new URLSearchParams({ grant_type: JWT_BEARER, assertion: this.assertion(key, tokenUri.href) });
    const started = Date.now();
    const answer = await this.upstreamFor(tokenUri).json(
      {
        path: `${tokenUri.pathname}${tokenUri.search}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: form.toString(),
        // Shared by every waiting caller, so no single caller's cancellation applies; Upstream bounds it by totalMs.
        signal: new AbortController().signal,
      },
      (token: { access_token?: unknown; expires_in?: unknown } | null) => ({ access_token: token?.access_token, expires_in: token?.expires_in }),
    );
    if (typeof answer.access_token !== 'string' || !answer.access_token) {
      throw new ProviderError('auth', this.provider, `Provider ${this.provider}: the token endpoint answered without an access_token.`);
    }
    const lifetimeMs = (typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in : 3600) * 1000;
    // Refresh five minutes early (or halfway, for short-lived tokens) so a call never carries a token that expires in flight.
    this.cached = { token: answer.access_token, refreshAt: started + lifetimeMs - Math.min(300_000, lifetimeMs / 2) };
    return answer.access_token;
  }

  private assertion(key: ServiceAccountKey, audience: string): string {
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(key.private_key);
    } catch (err) {
      throw new ProviderError('auth', this.provider, `Provider ${this.provider}: the service account's private_key is not a valid PEM key.`, { cause: err });
    }
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'JWT', ...(key.private_key_id ? { kid: key.private_key_id } : {}) };
    const claims = { iss: key.client_email, scope: CLOUD_PLATFORM_SCOPE, aud: audience, iat: now, exp: now + 3600 };
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
    // RSA keys sign with PKCS#1 v1.5 padding by default: that is RS256 with SHA-256.
    return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
  }

  private async readKey(): Promise<ServiceAccountKey> {
    let text: string;
    if ('file' in this.source) {
      try {
        text = await readFile(this.source.file, 'utf8');
      } catch (err) {
        throw new ProviderError('auth', this.provider, `Provider ${this.provider}: cannot read its service account key file.`, {
          cause: err,
          detail: `${this.source.file}: ${(err as Error).message}`,
        });
      }
    } else {
      text = this.source.json.value;
    }
    let parsed: Partial<Record<keyof ServiceAccountKey, unknown>>;
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch (err) {
      // The text holds a private key: it is not quoted in the message.
      throw new ProviderError('auth', this.provider, `Provider ${this.provider}: the service account key is not valid JSON.`, { cause: err });
    }
    if (typeof parsed.client_email !== 'string' || typeof parsed.private_key !== 'string') {
      throw new ProviderError('auth', this.provider, `Provider ${this.provider}: the service account key has no client_email or private_key.`);
    }
    const key: ServiceAccountKey = { client_email: parsed.client_email, private_key: parsed.private_key };
    if (typeof parsed.private_key_id === 'string') key.private_key_id = parsed.private_key_id;
    if (typeof parsed.token_uri === 'string') key.token_uri = parsed.token_uri;
    if (typeof parsed.project_id === 'string') key.project_id = parsed.project_id;
    this.lastKey = key;
    return key;
  }

  /** One small pool per token endpoint origin; a rotated key may name another. */
  private upstreamFor(tokenUri: URL): Upstream {
    if (this.endpoint?.origin !== tokenUri.origin) {
      void this.endpoint?.upstream.close();
      this.endpoint = { origin: tokenUri.origin, upstream: new Upstream(this.provider, tokenUri.origin, this.connection, this.classify, 4) };
    }
    return this.endpoint.upstream;
  }

  /** OAuth errors ({"error": "invalid_grant", "error_description": ...}) mean the key is refused, unless the endpoint itself is failing. */
  private readonly classify = (status: number, body: string, headers: Record<string, string | string[] | undefined>): ProviderError => {
    let detail = '';
    try {
      const parsed = JSON.parse(body) as { error?: unknown; error_description?: unknown };
      detail = [parsed.error, parsed.error_description].filter((s): s is string => typeof s === 'string').join(': ');
    } catch {
      detail = '';
    }
    const kind = status >= 500 ? 'server' : status === 429 ? 'rate_limit' : 'auth';
    const said = detail ? `: ${clip(detail, 200)}` : '';
    return new ProviderError(kind, this.provider, `Provider ${this.provider} could not get an access token for its service account (HTTP ${status})${said}.`, {
      upstreamStatus: status,
      retryAfterMs: retryAfterMs(headers),
    });
  };

  close(): Promise<void> {
    return this.endpoint?.upstream.close() ?? Promise.resolve();
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
