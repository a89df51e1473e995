import { z } from 'zod';
import { auditConfig } from '../audit/config.js';
import { cachingConfig } from '../caching/config.js';
import { governanceConfig } from '../governance/config.js';
import { ingressConfig } from '../ingress/config.js';
import { meteringConfig } from '../metering/config.js';
import { routingConfig } from '../routing/config.js';
import { MIN_TOKEN_LENGTH, strongToken } from '../kit/token-strength.js';
import { isExactPrice, MONEY_DECIMALS, PRICE_DECIMALS } from '../kit/pricing/money.js';
import { perUnit } from '../kit/pricing/units.js';
import { describePorts } from '../kit/ports.js';
import { guardrailsConfigSchema } from '../kit/guardrails/index.js';
import { tracesConfig } from '../kit/tracing.js';

const port = () => z.number().int().min(0).max(65_535);
/** A price the ledger holds exactly: a whole number of pico-dollars per token (services/kit/pricing/money.ts). */
const usdPerMillion = (what: string) =>
  z.number().min(0).refine(isExactPrice, `A price per million tokens has at most ${PRICE_DECIMALS} decimals.`).describe(`USD per million ${what}`);

/** A price per unit (an image, a second, a search unit) the ledger holds exactly: a whole number of pico-dollars. */
const usdPerUnit = z
  .number()
  .min(0)
  .refine((usd) => perUnit(usd) !== undefined, `A price per unit has at most ${MONEY_DECIMALS} decimals.`);

/** The root configuration: process-wide sections, then one section per service. */
export const gatewayConfig = z.strictObject({
  dataDir: z.string().min(1).default('./data').describe('Folder for local state: the embedded database and a generated admin token.'),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level; debug logs one line per request.'),
    })
    .prefault({}),
  server: z
    .strictObject({
      host: z
        .string()
        .default('127.0.0.1')
        .describe(
          'Address every listener of this process binds to. The default serves this machine only; 0.0.0.0 (or ::) serves every interface, as the container image sets (GATEWAY_SERVER__HOST).',
        ),
      opsPort: port()
        .optional()
        .describe(
          `Port of /healthz, /readyz, /metrics and the data views (/routing/deployments). Unset: the lowest of the services' own (${describePorts('ops')}), so processes each running one service on one host do not collide.`,
        ),
      opsToken: strongToken({ optional: true })
        .default('')
        .describe(
          `Bearer token (secret, at least ${MIN_TOKEN_LENGTH} characters) that the ops port's data views (/routing/deployments) require, and /metrics with metricsNeedToken; /healthz and /readyz never do. Empty: the data views are served only while host is a loopback address, and refused (403) otherwise.`,
        ),
      metricsNeedToken: z
        .boolean()
        .default(false)
        .describe('/metrics requires opsToken too (Prometheus sends it with authorization: { credentials: <token> } in its scrape config).'),
      grpcPort: port()
        .optional()
        .describe(
          `Port of the gRPC server that serves the services of this process to other processes. Unset: the lowest of the services' own (${describePorts('grpc')}), each service's default address.`,
        ),
      shutdownTimeoutMs: z.number().int().positive().default(15_000).describe('How long a graceful shutdown waits for work in hand.'),
      tls: z
        .strictObject({
          ca: z
            .string()
            .default('')
            .describe("PEM file of the CA that signs every gateway process's certificate (`gateway certs init` makes a development one)."),
          cert: z
            .string()
            .default('')
            .describe("PEM file of this process's certificate: it must name each service the process runs (spiffe://ai-gateway/<service>)."),
          key: z.string().default('').describe("PEM file of this certificate's private key."),
          refreshSeconds: z
            .number()
            .int()
            .min(1)
            .default(60)
            .describe('How often the three files are read again, so rotated certificates are used without a restart.'),
        })
        .prefault({})
        .refine((tls) => [tls.ca, tls.cert, tls.key].every(Boolean) || ![tls.ca, tls.cert, tls.key].some(Boolean), {
          message: 'set all of ca, cert and key, or none',
        })
        .describe(
          "Mutual TLS for gRPC between the gateway's processes (docs/security.md): each callee serves each method only to the services allowed to call it.",
        ),
      insecureGrpc: z
        .boolean()
        .default(false)
        .describe(
          'Serve gRPC without TLS on an address other than loopback (anyone who reaches it can call every method). Without it such a process refuses to start.',
        ),
      workers: z
        .number()
        .int()
        .min(1)
        .max(64)
        .default(1)
        .describe(
          'Processes that run the services of this process, each a full replica, sharing its ports (node:cluster): one per core to use a multi-core host with one container. Above 1, needs nats.url and database.url; the first process restarts a worker that exits and serves opsPort for all of them, metrics summed.',
        ),
    })
    .prefault({})
    .refine((s) => !s.metricsNeedToken || s.opsToken, { message: 'set server.opsToken when server.metricsNeedToken is true', path: ['opsToken'] }),
  nats: z
    .strictObject({
      url: z.string().default('').describe('NATS server URL(s), comma-separated. Empty: an in-process bus (only when all services run in this process).'),
      stream: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('GATEWAY_EVENTS')
        .describe('JetStream stream that holds the events.'),
      subjectPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('gateway')
        .describe('Events are published on <subjectPrefix>.events.<type>.'),
      storage: z.enum(['file', 'memory']).default('file').describe('Stream storage; file survives a NATS restart.'),
      replicas: z.number().int().min(1).max(5).default(1).describe('Stream replicas in a NATS cluster (3 in production clusters).'),
      maxAgeHours: z.number().positive().default(168).describe('How long the stream keeps events after they are published.'),
      duplicateWindowSeconds: z.number().int().positive().default(120).describe('Window in which a re-published event id is stored only once.'),
      ackWaitSeconds: z.number().int().positive().default(30).describe('How long a consumer may hold an event before it is redelivered.'),
      batchLingerMs: z
        .number()
        .int()
        .min(0)
        .max(1_000)
        .default(100)
        .describe(
          'How long a durable consumer (on JetStream or the in-process bus) waits for more events before it writes a batch smaller than its maxBatch: fewer, larger database transactions at moderate rates, for that much delay of the rows.',
        ),
      publishLingerMs: z
        .number()
        .int()
        .min(0)
        .max(1_000)
        .default(25)
        .describe(
          "How long a process holds the events it emitted before it publishes them as one message (0: at the end of the event-loop turn). Fewer JetStream messages, deliveries and acks below saturation. An answer's own event does not wait for it under events.guarantee durable; with best-effort, events held are lost if the process dies in that time.",
        ),
      auth: z
        .strictObject({
          user: z
            .string()
            .default('')
            .describe(
              'NATS user, with password. Empty: the services this process runs, joined by "_" (e.g. ingress, audit_metering), as `gateway nats config` names its users.',
            ),
          password: z
            .string()
            .default('')
            .describe(
              'Password of the user (secret; or an env:/file:/vault: reference, read again every secrets.refreshSeconds and used from the next connection).',
            ),
          token: z.string().default('').describe('Token, for a NATS that authenticates with one (secret; or an env:/file:/vault: reference).'),
          nkeySeedFile: z.string().default('').describe("File holding the NKey seed (SU…) of this process's user; read at each connection."),
          credsFile: z.string().default('').describe('.creds file (user JWT and NKey seed) for a NATS in operator mode; read at each connection.'),
        })
        .prefault({})
        .describe(
          'How this process proves who it is to NATS: one of password, token, nkeySeedFile or credsFile. Each service should have a user of its own (docs/security.md).',
        ),
      tls: z
        .strictObject({
          caFile: z.string().default('').describe("PEM file of the CA(s) that sign the NATS server's certificate. Empty: the system's trusted CAs."),
          certFile: z.string().default('').describe('PEM client certificate, for a NATS that verifies clients (with keyFile).'),
          keyFile: z.string().default('').describe('PEM private key of certFile.'),
        })
        .prefault({})
        .describe('TLS to NATS: always used unless nats.insecure, a server without TLS refused.'),
      insecure: z
        .boolean()
        .default(false)
        .describe(
          'Allow a NATS connection without TLS and credentials (a NATS no one else reaches, as in development). Off: start-up refuses nats.url without credentials, and the connection without TLS.',
        ),
    })
    .prefault({}),
  database: z
    .strictObject({
      url: z
        .string()
        .default('')
        .describe(
          'PostgreSQL URL (secret if it holds a password). Its user is the owner, who migrates (see migrate); services work as their own roles, on the same server and database. Empty: embedded PGlite under <dataDir>/pg (one process only).',
        ),
      poolSize: z.number().int().positive().default(10).describe("Connections of each service's role pool (the audit roles have 4 and 2)."),
      migrate: z
        .boolean()
        .default(true)
        .describe(
          'Services apply their migrations, roles and role passwords at start as the owner (database.url), then close that connection. Off: they never sign in as the owner (database.url may then carry no user or password) and refuse to start on a database `gateway migrate` has not brought up to date.',
        ),
      retentionFloorDays: z
        .number()
        .int()
        .min(0)
        .max(36_500)
        .default(0)
        .describe(
          "No month of the usage, tool-call or audit ledger younger than this many days is ever dropped, whatever retention a service's config asks for: stored by the owner as it migrates (gateway migrate), so a runtime role's stolen password cannot shorten retention. 0: no floor. Set it to your retention policy (docs/records.md).",
        ),
      passwords: z
        .strictObject({
          governance: z.string().default('').describe('Password of <database>_governance (keys, teams, budgets, quotas).'),
          routing: z.string().default('').describe('Password of <database>_routing (providers, models and MCP approvals added through the admin API).'),
          caching: z.string().default('').describe('Password of <database>_caching (the shared cache store).'),
          metering: z.string().default('').describe('Password of <database>_metering (appends and reads usage rows).'),
          auditWriter: z.string().default('').describe('Password of <database>_audit_writer (appends and reads the audit log).'),
          auditMaintainer: z.string().default('').describe('Password of <database>_audit_maintainer (audit retention).'),
        })
        .prefault({})
        .describe(
          "Passwords (secrets or env:/file:/vault: references) of the services' runtime roles, which the migrations make; set by the owner as SCRAM verifiers when it migrates. Empty: no password (trust or peer authentication only).",
        ),
    })
    .prefault({}),
  events: z
    .strictObject({
      guarantee: z
        .enum(['durable', 'best-effort'])
        .default('durable')
        .describe(
          "durable: the end of an answer (a body; a stream's events from the one that completes it) waits until its request event is accepted by JetStream or fsync'd to the spool, or in embedded mode written by audit and metering, so an answered request is on record even if the process is killed; best-effort: events go after the answer (up to nats.publishLingerMs later), lost if the process dies meanwhile. Written in each request event as recordGuarantee.",
        ),
      spool: z
        .strictObject({
          dir: z
            .string()
            .default('')
            .describe("Folder of this process's event spool. Empty: <dataDir>/spool/<services>-<opsPort>. Each process needs its own."),
          maxBytes: z
            .number()
            .int()
            .positive()
            .default(1024 * 1024 * 1024)
            .describe('Largest size of the spool, and of the file beside it of events NATS refused for good (dead-letters.ndjson); see whenFull.'),
          syncIntervalMs: z.number().int().positive().default(10).describe("Spooled events are written and fsync'd together at most this often."),
          whenFull: z
            .enum(['refuse', 'drop'])
            .default('refuse')
            .describe('refuse: answer new requests 503 until the spool drains (nothing unrecorded); drop: keep serving and count lost events.'),
        })
        .prefault({})
        .describe('Where events wait while NATS cannot take them; replayed in order, with the same ids, once it can.'),
    })
    .prefault({}),
  secrets: z
    .strictObject({
      refreshSeconds: z
        .number()
        .positive()
        .default(60)
        .describe('How often secret references (env:, file:, vault:) are read again, so rotated secrets are used without a restart.'),
      vault: z
        .strictObject({
          address: z.string().default('').describe('HashiCorp Vault address, e.g. https://vault.internal:8200. Empty: vault: references cannot be used.'),
          namespace: z.string().default('').describe('Vault Enterprise namespace.'),
          token: z.string().default('').describe('Vault token (secret), when not using AppRole.'),
          appRole: z
            .strictObject({
              mount: z.string().default('approle').describe('Mount path of the AppRole auth method.'),
              roleId: z.string().default('').describe('AppRole role_id; set it (with secretId) to log in with AppRole.'),
              secretId: z.string().default('').describe('AppRole secret_id (secret).'),
            })
            .prefault({}),
        })
        .prefault({}),
    })
    .prefault({}),
  pricing: z
    .strictObject({
      models: z
        .record(
          z.string().min(1),
          z.strictObject({
            input: usdPerMillion('prompt tokens neither read from nor written to the provider cache.'),
            output: usdPerMillion('completion tokens that are not reasoning.'),
            cachedInput: usdPerMillion('prompt tokens read from the provider cache (default: input).').optional(),
            cacheWrite: usdPerMillion('prompt tokens written to the provider cache (default: input).').optional(),
            cacheWrite1h: usdPerMillion('prompt tokens written to the one-hour cache of Anthropic and Bedrock (default: cacheWrite).').optional(),
            reasoning: usdPerMillion('reasoning (thinking) tokens (default: output).').optional(),
            images: z
              .record(z.string().regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, 'An image variant is "<quality>/<size>", e.g. "hd/1024x1024".'), usdPerUnit)
              .optional()
              .describe('USD per image made, by "<quality>/<size>" (e.g. "hd/1024x1024"); an image of a variant not named is priced at the dearest.'),
            webSearchCalls: z
              .partialRecord(z.enum(['web_search', 'web_search_preview']), usdPerUnit)
              .optional()
              .describe(
                'USD per web search call of the Responses API\'s hosted web_search tool, by "web_search" or "web_search_preview"; a kind not named is priced at the dearest.',
              ),
            searchUnit: usdPerUnit.optional().describe('USD per search unit of reranking (Cohere: one query over up to 100 documents).'),
            inputCharacter: usdPerUnit.optional().describe('USD per character of text turned into speech (/v1/audio/speech).'),
            audioSecond: usdPerUnit
              .optional()
              .describe('USD per second of audio transcribed or translated (/v1/audio/transcriptions, /v1/audio/translations).'),
            batch: z
              .number()
              .gt(0)
              .max(1)
              .multipleOf(0.000001)
              .optional()
              .describe("The share of the token prices a call through the provider's own batch API pays (default 0.5: half, as OpenAI and Anthropic charge)."),
          }),
        )
        .default({})
        .describe(
          'Prices in USD per million tokens (input, output, cachedInput, cacheWrite, cacheWrite1h, reasoning; at most six decimals), per image (images), per search unit (searchUnit), per web search call (webSearchCalls), per character spoken (inputCharacter) and per second of audio (audioSecond), by "<provider>/<model>" or model name, over the shipped catalog (services/kit/pricing/catalog.ts).',
        ),
    })
    .prefault({}),
  telemetry: z
    .strictObject({
      traces: tracesConfig.describe(
        'OpenTelemetry traces (docs/operations.md#traces): one trace per request across every service, exported over OTLP/HTTP. Off unless endpoint is set.',
      ),
    })
    .prefault({}),
  guardrails: guardrailsConfigSchema.describe(
    'Guardrail policies (docs/guardrails.md): detectors, rules that block, redact or flag what they find in requests and answers, and the keys, teams and customers each policy applies to. Routing applies them to every model request.',
  ),
  ingress: ingressConfig,
  routing: routingConfig,
  caching: cachingConfig,
  governance: governanceConfig,
  audit: auditConfig,
  metering: meteringConfig,
});

export type GatewayConfig = z.infer<typeof gatewayConfig>;
