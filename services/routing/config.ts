import { z } from 'zod';

const mockProvider = z.strictObject({
  type: z.literal('mock'),
  latencyMs: z.number().int().min(0).default(0).describe('Delay before the reply (or before the first chunk when streaming).'),
  chunkDelayMs: z.number().int().min(0).default(0).describe('Delay between streamed chunks.'),
  models: z.array(z.string().min(1)).default(['echo']).describe('Models listed by /v1/models; any model name is answered.'),
});

const openAICompatibleProvider = z.strictObject({
  type: z.literal('openai'),
  baseUrl: z.url({ protocol: /^https?$/ }).describe('Base URL including the version path, e.g. https://api.openai.com/v1.'),
  apiKey: z.string().default('').describe('Provider API key (secret); use ${ENV_VAR} substitution.'),
  models: z.array(z.string().min(1)).default([]).describe('Models listed by /v1/models; any model name is forwarded.'),
  maxConnections: z.number().int().positive().default(256).describe('Keep-alive connections to this provider.'),
});

export const providerConfig = z.discriminatedUnion('type', [mockProvider, openAICompatibleProvider]);
export type ProviderConfig = z.infer<typeof providerConfig>;
export type MockProviderConfig = z.infer<typeof mockProvider>;
export type OpenAICompatibleProviderConfig = z.infer<typeof openAICompatibleProvider>;

export const routingConfig = z
  .strictObject({
    address: z.string().default('127.0.0.1:50051').describe('host:port at which other processes reach the routing gRPC service.'),
    callTimeoutMs: z.number().int().positive().default(600_000).describe('Deadline of a non-streaming call from ingress to routing.'),
    providers: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'provider names are lower-case letters, digits, - and _'), providerConfig)
      .default({ mock: { type: 'mock', latencyMs: 0, chunkDelayMs: 0, models: ['echo'] } })
      .describe('Providers by name; a client addresses a model as <name>/<model>.'),
    timeouts: z
      .strictObject({
        connectMs: z.number().int().positive().default(10_000).describe('Connecting to a provider.'),
        firstByteMs: z.number().int().positive().default(60_000).describe('From sending the request to the response headers.'),
        idleMs: z.number().int().positive().default(60_000).describe('Longest silence while reading a response body or stream.'),
        totalMs: z.number().int().positive().default(600_000).describe('Whole provider call, streaming included.'),
      })
      .prefault({}),
  })
  .prefault({});

export type RoutingConfig = z.infer<typeof routingConfig>;
