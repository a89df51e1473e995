import { z } from 'zod';
import { anthropicProviderConfig, createAnthropicAdapter } from './anthropic.js';
import { bedrockProviderConfig, createBedrockAdapter } from './bedrock.js';
import { cohereProviderConfig, createCohereAdapter } from './cohere.js';
import { createGeminiAdapter, createVertexAdapter, geminiProviderConfig, vertexProviderConfig } from './gemini.js';
import { mockProviderConfig, MockAdapter } from './mock.js';
import { azureProviderConfig, createAzureAdapter, createOpenAIAdapter, OPENAI_PRESETS, openAIProviderConfig, type OpenAIProviderConfig } from './openai.js';
import type { ProviderAdapter, Timeouts } from './types.js';

const presetConfigs = OPENAI_PRESETS.map(openAIProviderConfig);

/** A provider entry in config; `type` picks the adapter. */
export const providerConfig = z.discriminatedUnion('type', [mockProviderConfig, azureProviderConfig, anthropicProviderConfig, cohereProviderConfig, geminiProviderConfig, vertexProviderConfig, bedrockProviderConfig, ...presetConfigs] as [
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

export function createAdapter(name: string, config: ProviderConfig, timeouts: Timeouts): ProviderAdapter {
  switch (config.type) {
    case 'mock':
      return new MockAdapter(name, config);
    case 'azure':
      return createAzureAdapter(name, config, timeouts);
    case 'anthropic':
      return createAnthropicAdapter(name, config, timeouts);
    case 'cohere':
      return createCohereAdapter(name, config, timeouts);
    case 'gemini':
      return createGeminiAdapter(name, config, timeouts);
    case 'vertex':
      return createVertexAdapter(name, config, timeouts);
    case 'bedrock':
      return createBedrockAdapter(name, config, timeouts);
    default:
      return createOpenAIAdapter(name, config as OpenAIProviderConfig, timeouts);
  }
}
