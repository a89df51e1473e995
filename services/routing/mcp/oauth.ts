import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../kit/log.js';
import type { SecretKeeper, SecretLookup } from '../../kit/secrets/store.js';
import type { McpOAuthConfig } from './config.js';

/** Authorizations in progress kept per server: the reconnect loop starts one at most every maxReconnectDelayMs. */
const MAX_STARTED = 32;

/**
 * The gateway as an OAuth client of one MCP server, for the SDK's auth flow
 * (discovery, token requests, refresh): client credentials fetch tokens on
 * their own; the authorization code flow (PKCE) waits for an admin to open
 * the authorization URL, and its tokens are kept in the configured token store
 * so they outlive restarts. Tokens live in memory and in the store only; they
 * are never logged.
 */
export class McpOAuth implements OAuthClientProvider {
  private current: OAuthTokens | undefined;
  /**
   * Authorizations started and not yet finished: state → PKCE verifier, oldest
   * first. Each stays usable: the reconnect loop starts one of its own at each
   * attempt, which must not void the URL an admin has open.
   */
  private readonly started = new Map<string, string>();
  private lastState = '';
  /** The verifier of the code being exchanged, once the callback's state was taken. */
  private exchanging = '';
  /** Set when an admin must sign in: the authorization URL to open. */
  authorizationUrl: string | undefined;

  constructor(
    readonly server: string,
    private readonly config: McpOAuthConfig,
    private readonly secrets: SecretLookup & SecretKeeper,
    private readonly log: Logger,
  ) {}

  /** Reads stored tokens (authorization code flow), so a restart needs no new sign-in. */
  async load(): Promise<void> {
    if (this.config.grant !== 'authorization_code') return;
    const stored = await this.secrets.load(this.config.tokenStore);
    this.current = stored ? (JSON.parse(stored) as OAuthTokens) : undefined;
  }

  get interactive(): boolean {
    return this.config.grant === 'authorization_code';
  }

  get redirectUrl(): string | undefined {
    return this.config.grant === 'authorization_code' ? this.config.redirectUrl : undefined;
  }

  get clientMetadata(): OAuthClientMetadata {
    return {
      client_name: 'AI gateway',
      redirect_uris: this.redirectUrl ? [this.redirectUrl] : [],
      grant_types: this.config.grant === 'client_credentials' ? ['client_credentials'] : ['authorization_code', 'refresh_token'],
      response_types: this.config.grant === 'client_credentials' ? [] : ['code'],
      token_endpoint_auth_method: this.config.clientSecret ? 'client_secret_basic' : 'none',
      ...(this.config.scope ? { scope: this.config.scope } : {}),
    };
  }

  /** A new state per authorization: "<server>.<random>", so the callback finds its server. */
  state(): string {
    this.lastState = `${this.server}.${randomBytes(16).toString('base64url')}`;
    return this.lastState;
  }

  /**
   * Whether a callback's state is one this server's authorizations were
   * started with; its verifier is then the one the code is exchanged with.
   * Single use: one sign-in ends every authorization in progress.
   */
  takeState(state: string): boolean {
    const verifier = this.started.get(state);
    if (verifier === undefined) return false;
    this.started.clear();
    this.exchanging = verifier;
    return true;
  }

  clientInformation(): OAuthClientInformationMixed {
    const secret = this.config.clientSecret ? this.secrets.get(this.config.clientSecret).value : undefined;
    return { client_id: this.config.clientId, ...(secret ? { client_secret: secret } : {}), issuer: this.config.issuer } as OAuthClientInformationMixed;
  }

  tokens(): OAuthTokens | undefined {
    return this.current;
  }

  async saveTokens(tokens: OAuthTokens): Promise<void> {
    this.current = tokens;
    this.authorizationUrl = undefined;
    if (this.config.grant !== 'authorization_code') return;
    try {
      await this.secrets.save(this.config.tokenStore, JSON.stringify(tokens));
    } catch (err) {
      // The tokens still work until this process stops; the next restart would need a new sign-in.
      this.log.error({ server: this.server, tokenStore: this.config.tokenStore, reason: (err as Error).message }, 'could not store MCP OAuth tokens');
    }
  }

  redirectToAuthorization(url: URL): void {
    this.authorizationUrl = url.toString();
    this.log.warn({ server: this.server }, 'MCP server needs an admin to authorize the gateway: POST /admin/mcp/servers/<name>/authorize');
  }

  /** Called by the SDK right after state(), for the same authorization. */
  saveCodeVerifier(verifier: string): void {
    this.started.set(this.lastState, verifier);
    if (this.started.size > MAX_STARTED) this.started.delete(this.started.keys().next().value!);
  }

  codeVerifier(): string {
    if (!this.exchanging) throw new Error('no authorization is in progress for this server');
    return this.exchanging;
  }

  prepareTokenRequest(scope?: string): URLSearchParams | undefined {
    if (this.config.grant !== 'client_credentials') return undefined;
    return new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) });
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'tokens') this.current = undefined;
    if (scope === 'all' || scope === 'verifier') this.exchanging = '';
  }
}
