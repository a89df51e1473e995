import { z } from 'zod';
import { adminProvidersConfig } from './admin-providers.js';
import { mcpConfig } from './mcp/config.js';
import { providerConfig } from './providers/registry.js';
import { defaultAddress } from '../kit/ports.js';

export const STRATEGIES = ['weighted', 'least-in-flight', 'lowest-latency', 'lowest-cost'] as const;
export type Strategy = (typeof STRATEGIES)[number];

const deploymentConfig = z.strictObject({
  id: z.string().min(1).optional().describe('Deployment id for headers, events, pinning and health (default <provider>/<model>).'),
  provider: z.string().min(1).describe('A key of routing.providers.'),
  model: z.string().min(1).describe('Model name as the provider knows it.'),
  weight: z.number().positive().default(1).describe('Share of traffic under the weighted strategy.'),
  inputCostPerMillion: z.number().min(0).optional().describe('USD per million prompt tokens, for the lowest-cost strategy.'),
  outputCostPerMillion: z.number().min(0).optional().describe('USD per million completion tokens, for the lowest-cost strategy.'),
  maxInFlight: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      'A cap on calls in flight to this deployment per routing process (a stream counts until it ends). A call past it goes to a deployment of the group with room, or, when every one is full, waits in the gateway in arrival order, counted in gateway_deployment_queued_calls. Unset: no cap.',
    ),
  queueTimeoutMs: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      'How long a call waits for a slot under maxInFlight before it gives up (503 overloaded, or the next deployment); default routing.queueTimeoutMs.',
    ),
});

export type DeploymentConfig = z.infer<typeof deploymentConfig>;

const modelGroupConfig = z.strictObject({
  deployments: z.array(deploymentConfig).min(1).describe('Where requests for this model can go.'),
  strategy: z.enum(STRATEGIES).default('weighted').describe('How a deployment is chosen.'),
  fallbacks: z.array(z.string().min(1)).default([]).describe('Models (group names or <provider>/<model>) tried in order when every deployment failed.'),
  contextWindowFallbacks: z.array(z.string().min(1)).default([]).describe('Models with larger context windows, tried when the prompt is too long.'),
  contentPolicyFallbacks: z.array(z.string().min(1)).default([]).describe('Models tried when a provider refuses on content policy.'),
});

export type ModelGroupConfig = z.infer<typeof modelGroupConfig>;

export const routingConfig = z
  .strictObject({
    address: z.string().default(defaultAddress('routing')).describe('host:port at which other processes reach the routing gRPC service.'),
    callTimeoutMs: z.number().int().positive().default(600_000).describe('Deadline of a non-streaming call from ingress to routing.'),
    providers: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'provider names are lower-case letters, digits, - and _'), providerConfig)
      .default(() => ({ mock: { type: 'mock' as const, latencyMs: 0, chunkDelayMs: 0, models: ['echo'], fillOutputCap: false } }))
      .describe('Providers by name; a client can address any of their models as <name>/<model>.'),
    models: z
      .record(z.string().min(1), z.union([z.string().min(1), modelGroupConfig]))
      .default({})
      .describe('Model names clients may use: an alias ("fast": "groq/llama-3.1-8b-instant") or a group of deployments.'),
    queueTimeoutMs: z
      .number()
      .int()
      .positive()
      .default(30_000)
      .describe('How long a call waits for a slot of a deployment at its maxInFlight, unless the deployment sets its own queueTimeoutMs.'),
    adminProviders: adminProvidersConfig.describe(
      'What providers added through the admin API may point at and which secrets they may use (see docs/security.md).',
    ),
    retry: z
      .strictObject({
        attemptsPerDeployment: z.number().int().min(1).max(10).default(2).describe('Tries on one deployment (first try included) before moving on.'),
        maxAttempts: z.number().int().min(1).max(50).default(6).describe('Provider calls per request at most, retries and fallbacks included.'),
        baseDelayMs: z.number().int().min(0).default(250).describe('First backoff; doubles per retry, with jitter.'),
        maxDelayMs: z.number().int().min(0).default(8_000).describe('Longest wait before a retry, Retry-After included.'),
        credentialCooldownMs: z
          .number()
          .int()
          .min(0)
          .default(60_000)
          .describe('How long a refused credential (401, 402) is left out; a 429 leaves its credential out for its Retry-After (or baseDelayMs).'),
      })
      .prefault({}),
    circuitBreaker: z
      .strictObject({
        failureThreshold: z
          .number()
          .int()
          .min(1)
          .default(5)
          .describe(
            "Provider faults (5xx, network errors, timeouts, unreadable answers) within the window that open a deployment's circuit; 429s and requests' own faults never count.",
          ),
        windowMs: z.number().int().positive().default(60_000).describe('Window in which provider faults are counted.'),
        openMs: z.number().int().positive().default(30_000).describe('How long an open circuit sends no traffic before one probe request.'),
      })
      .prefault({}),
    timeouts: z
      .strictObject({
        connectMs: z.number().int().positive().default(10_000).describe('Connecting to a provider.'),
        firstByteMs: z
          .number()
          .int()
          .positive()
          .default(60_000)
          .describe('From sending a request to the response headers, and for streams to the first chunk.'),
        idleMs: z.number().int().positive().default(60_000).describe('Longest silence while reading a response body or stream.'),
        totalMs: z.number().int().positive().default(600_000).describe('Whole provider call, streaming included.'),
      })
      .prefault({}),
    mcp: mcpConfig.describe('MCP servers whose tools the gateway offers (see docs/mcp.md).'),
    responses: z
      .strictObject({
        store: z
          .boolean()
          .default(true)
          .describe(
            "Keep the Responses API's answers a client asks to store (`store`, true unless it sends false, as at OpenAI), with their conversation as the provider saw it, for previous_response_id and GET /v1/responses/{id}. false: nothing is kept, and previous_response_id is refused.",
          ),
        retentionDays: z.number().int().min(1).max(3650).default(30).describe('How long a stored response is kept; expired ones are purged hourly.'),
        hostedTools: z
          .enum(['refuse', 'omit'])
          .default('refuse')
          .describe(
            "What to do with a tool only OpenAI's servers run (web_search, file_search, code_interpreter…), which no provider behind the gateway runs: refuse the request naming it, or leave the tool out of what the model is offered (the Codex CLI offers web_search unless told not to). Neither applies to web search on a model only OpenAI serves, which OpenAI runs (docs/routing.md#web-search-served-by-openai).",
          ),
      })
      .prefault({})
      .describe('Stored responses of the Responses API (see docs/routing.md#stored-responses).'),
    batches: z
      .strictObject({
        maxLines: z.number().int().min(1).max(1_000_000).default(50_000).describe("Most requests in one batch's input file (OpenAI's limit: 50,000)."),
        leaseMs: z
          .number()
          .int()
          .min(1_000)
          .default(900_000)
          .describe(
            'How long an ingress process holds a batch it runs without recording a line: past it (the process died), another takes the batch over. Longer than routing.timeouts.totalMs, so a line still running is not run twice.',
          ),
        providerNative: z
          .boolean()
          .default(false)
          .describe(
            "Hand a batch to its provider's own batch API (OpenAI's, Anthropic's) when every line's model goes to one deployment of a provider that has one, at the provider's batch price; the lines then skip the cache, retries and fallbacks, and a key under guardrail policies keeps its batches in the gateway (see docs/routing.md#batches).",
          ),
        providerPollMs: z.number().int().min(100).default(60_000).describe("How often a batch handed to a provider's batch API is polled for its status."),
      })
      .prefault({})
      .describe('Batches of the Batch API (see docs/routing.md#batches).'),
  })
  .prefault({})
  .superRefine((config, ctx) => {
    const providers = new Set(Object.keys(config.providers));
    const known = (name: string) => name in config.models || providers.has(name.split('/')[0]!);
    for (const [name, entry] of Object.entries(config.models)) {
      if (typeof entry === 'string') {
        if (!known(entry))
          ctx.addIssue({
            code: 'custom',
            path: ['models', name],
            message: `alias target "${entry}" is neither a model group nor <provider>/<model> with a configured provider`,
          });
        continue;
      }
      entry.deployments.forEach((d, i) => {
        if (d.queueTimeoutMs !== undefined && d.maxInFlight === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['models', name, 'deployments', i, 'queueTimeoutMs'],
            message: 'only a deployment with maxInFlight queues calls',
          });
        }
        if (!providers.has(d.provider)) {
          ctx.addIssue({
            code: 'custom',
            path: ['models', name, 'deployments', i, 'provider'],
            message: `expected one of the configured providers: ${[...providers].join(', ')}`,
          });
        }
      });
      for (const list of ['fallbacks', 'contextWindowFallbacks', 'contentPolicyFallbacks'] as const) {
        entry[list].forEach((target, i) => {
          if (!known(target))
            ctx.addIssue({
              code: 'custom',
              path: ['models', name, list, i],
              message: `"${target}" is neither a model group nor <provider>/<model> with a configured provider`,
            });
        });
      }
    }
  });

export type RoutingConfig = z.infer<typeof routingConfig>;
