import { z } from 'zod';
import { OIDC_CALLBACK_PATH, ROLES } from '../kit/admin.js';
import { isExactPrice, PRICE_DECIMALS } from '../kit/pricing/money.js';
import { MIN_TOKEN_LENGTH, strongToken } from '../kit/token-strength.js';
import { defaultAddress } from '../kit/ports.js';

const adminToken = z.strictObject({
  name: z.string().min(1).describe('Who the token belongs to; recorded as the actor of their admin changes.'),
  token: strongToken({ optional: false }).describe(
    `The bearer token (secret), at least ${MIN_TOKEN_LENGTH} characters and no published value; use \${ENV_VAR} substitution.`,
  ),
  role: z.enum(ROLES).describe('owner and admin change things, viewer reads, auditor reads the audit log.'),
  customer: z.string().optional().describe('Limits the token to one customer and its teams and keys.'),
  team: z.string().optional().describe('Limits the token to one team and its keys.'),
});

const ssoConsole = z
  .strictObject({
    clientId: z
      .string()
      .default('')
      .describe("The console's client id at the issuer, for browser sign-in (authorization code with PKCE). Empty: the console signs in with tokens only."),
    clientSecret: z
      .string()
      .default('')
      .describe('The client secret (secret): a reference (env:NAME, file:/path, vault:<mount>/<path>#<field>) or ${ENV_VAR} substitution.'),
    redirectUrl: z
      .string()
      .default('')
      .describe(`The callback as the browser reaches the admin server, registered at the issuer: https://<admin host>${OIDC_CALLBACK_PATH}.`),
    scopes: z
      .array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope is printable ASCII without spaces, quotes or backslashes'))
      .default(['openid', 'email', 'profile'])
      .describe('Scopes asked for; openid is required. Add the one that puts the role claim in the ID token if the issuer needs one (Okta: groups).'),
  })
  .prefault({})
  .refine((c) => !c.clientId || c.clientSecret, { message: 'set sso.console.clientSecret when sso.console.clientId is set', path: ['clientSecret'] })
  .refine((c) => !c.clientId || c.scopes.includes('openid'), { message: 'sso.console.scopes must include openid', path: ['scopes'] })
  .refine((c) => !c.clientId || callbackUrl(c.redirectUrl), {
    message: `set sso.console.redirectUrl to an http(s) URL whose path is ${OIDC_CALLBACK_PATH}`,
    path: ['redirectUrl'],
  });

function callbackUrl(value: string): boolean {
  if (!URL.canParse(value)) return false;
  const url = new URL(value);
  return ['http:', 'https:'].includes(url.protocol) && url.pathname === OIDC_CALLBACK_PATH && !url.search && !url.hash;
}

const sso = z
  .strictObject({
    issuer: z
      .string()
      .default('')
      .describe('OpenID Connect issuer URL (Okta, Entra ID, Keycloak…); its discovery document and JWKS are fetched from it. Empty: SSO off.'),
    audience: z.string().default('').describe('The audience (aud) admin tokens must be issued for.'),
    roleClaim: z.string().default('groups').describe('Claim whose values (a string or a list) are matched against roleMappings.'),
    nameClaim: z.string().default('email').describe('Claim naming the person in admin events (falls back to sub).'),
    roleMappings: z
      .array(
        z.strictObject({
          value: z.string().min(1).describe('A value of the role claim, e.g. an IdP group name.'),
          role: z.enum(ROLES),
          customer: z.string().optional(),
          team: z.string().optional(),
        }),
      )
      .default([])
      .describe('Claim value → role (and scope); the first mapping that matches wins. A token matching none is refused.'),
    clockToleranceSeconds: z.number().int().min(0).default(30).describe('Allowed clock skew when checking exp and nbf.'),
    console: ssoConsole,
  })
  .prefault({})
  .refine((s) => !s.issuer || s.audience, { message: 'set sso.audience when sso.issuer is set', path: ['audience'] })
  .refine((s) => !s.console.clientId || s.issuer, { message: 'set sso.issuer when sso.console.clientId is set', path: ['issuer'] });

export type SsoConfig = z.infer<typeof sso>;

export const governanceConfig = z
  .strictObject({
    address: z.string().default(defaultAddress('governance')).describe('host:port at which other processes reach the governance gRPC service.'),
    callTimeoutMs: z.number().int().positive().default(5_000).describe('Deadline of a call from ingress to governance.'),
    adminPort: z.number().int().min(0).max(65_535).default(8081).describe('Port of the admin REST API (OpenAPI at /docs).'),
    adminToken: strongToken({ optional: true })
      .default('')
      .describe(
        `Bearer token with the owner role (secret), at least ${MIN_TOKEN_LENGTH} characters and no published value (start-up refuses one that is short or known). Empty, with no adminTokens either: one is generated into <dataDir>/admin-token.`,
      ),
    adminTokens: z.array(adminToken).default([]).describe('Further static admin tokens, for people and automation, each with a role.'),
    sso,
    console: z
      .strictObject({
        ingressUrl: z
          .string()
          .refine((value) => value === '' || (URL.canParse(value) && /^https?:$/.test(new URL(value).protocol)), 'an http(s) URL')
          .default('')
          .describe(
            "The API's address as browsers and clients reach it (https://gateway.example.com), which the console's first request calls and its snippets show. Empty: in a process that also runs ingress, the host the console was opened at with ingress's port; otherwise the console has no first request. Its web page's origin must be in ingress.cors.allowedOrigins where it runs.",
          ),
      })
      .prefault({})
      .describe('The web console (docs/console.md).'),
    defaultMaxOutputTokens: z
      .number()
      .int()
      .positive()
      .default(4_096)
      .describe(
        'Output tokens reserved for a request that sets no max_tokens; for a key a budget or token limit charges, also the output cap sent to the provider.',
      ),
    unknownModelCostPerMillion: z
      .number()
      .min(0)
      .refine(isExactPrice, `A price per million tokens has at most ${PRICE_DECIMALS} decimals.`)
      .default(30)
      .describe('USD per million tokens reserved against budgets for a model with no known price.'),
    reservationTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(900_000)
      .describe(
        'A request not settled within this time is charged its reservation and its slots are freed, even while its ingress process lives (a settle lost on the way, or a request still running).',
      ),
    holderSilenceMs: z
      .number()
      .int()
      .min(5_000)
      .default(10_000)
      .describe(
        'Admissions of an ingress process in another process that no governance replica has heard from this long (it died) are released: their concurrency slots freed, their reservation kept as their charge. Ingress shows it is alive every second while it holds admissions; the bound leaves room for several of those to be late or lost.',
      ),
    quota: z
      .strictObject({
        leaseFraction: z.number().positive().max(1).default(0.125).describe("Share of a limit's free amount a replica leases at once."),
        syncIntervalMs: z.number().int().positive().default(1_000).describe('How often a replica reports its use and renews its leases.'),
        idleMs: z.number().int().positive().default(5_000).describe('A lease unused this long goes back to the pool for other replicas.'),
        reclaimAfterMs: z.number().int().positive().default(15_000).describe('Leases of a replica silent this long (crashed) are taken back.'),
      })
      .prefault({}),
  })
  .prefault({});

export type GovernanceConfig = z.infer<typeof governanceConfig>;
