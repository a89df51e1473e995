import { z } from 'zod';
import type { SecretLookup } from '../../kit/secrets/store.js';
import { anthropicProviderConfig, createAnthropicAdapter } from './anthropic.js';
import { bedrockBaseUrl, bedrockProviderConfig, createBedrockAdapter } from './bedrock.js';
import { cohereProviderConfig, createCohereAdapter } from './cohere.js';
import { createGeminiAdapter, createVertexAdapter, geminiProviderConfig, vertexBaseUrl, vertexProviderConfig } from './gemini.js';
import { mockProviderConfig, MockAdapter } from './mock.js';
import { azureProviderConfig, createAzureAdapter, createOpenAIAdapter, OPENAI_PRESETS, openAIProviderConfig, type OpenAIProviderConfig } from './openai.js';
import type { Connection, ProviderAdapter } from './types.js';

const presetConfigs = OPENAI_PRESETS.map(openAIProviderConfig);

/** A provider entry in config; `type` picks the adapter. */
export const providerConfig = z.discriminatedUnion('type', [
  mockProviderConfig,
  azureProviderConfig,
  anthropicProviderConfig,
  cohereProviderConfig,
  geminiProviderConfig,
  vertexProviderConfig,
  bedrockProviderConfig,
  ...presetConfigs,
] as [
  typeof mockProviderConfig,
  typeof azureProviderConfig,
  typeof anthropicProviderConfig,
  typeof cohereProviderConfig,
  typeof geminiProviderConfig,
  typeof vertexProviderConfig,
  typeof bedrockProviderConfig,
  ...ReturnType<typeof openAIProviderConfig>[],
]);

export type ProviderConfig = z.infer<typeof providerConfig>;

/** The URL a provider entry's adapter calls (its base URL, or the default its type derives); none for the mock. */
export function providerBaseUrl(config: ProviderConfig): string | undefined {
  switch (config.type) {
    case 'mock':
      return undefined;
    case 'azure':
      return config.endpoint;
    case 'bedrock':
      return bedrockBaseUrl(config);
    case 'vertex':
      return vertexBaseUrl(config);
    default:
      return config.baseUrl;
  }
}

/** The adapter for a provider entry; secret references in it are read through `secrets` at each use. */
export function createAdapter(name: string, config: ProviderConfig, connection: Connection, secrets: SecretLookup): ProviderAdapter {
  switch (config.type) {
    case 'mock':
      return new MockAdapter(name, config);
    case 'azure':
      return createAzureAdapter(name, config, connection, secrets);
    case 'anthropic':
      return createAnthropicAdapter(name, config, connection, secrets);
    case 'cohere':
      return createCohereAdapter(name, config, connection, secrets);
    case 'gemini':
      return createGeminiAdapter(name, config, connection, secrets);
    case 'vertex':
      return createVertexAdapter(name, config, connection, secrets);
    case 'bedrock':
      return createBedrockAdapter(name, config, connection, secrets);
    default:
      return createOpenAIAdapter(name, config as OpenAIProviderConfig, connection, secrets);
  }
}
