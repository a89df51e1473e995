import { z } from 'zod';
import { anthropicProviderConfig, createAnthropicAdapter } from './anthropic.js';
import { cohereProviderConfig, createCohereAdapter } from './cohere.js';
import { createGeminiAdapter, createVertexAdapter, geminiProviderConfig, vertexProviderConfig } from './gemini.js';
import { mockProviderConfig, MockAdapter } from './mock.js';
import { azureProviderConfig, createAzureAdapter, createOpenAIAdapter, OPENAI_PRESETS, openAIProviderConfig, type OpenAIPreset, type OpenAIProviderConfig } from './openai.js';
import type { ProviderAdapter, Timeouts } from './types.js';

const presetConfigs = (Object.keys(OPENAI_PRESETS) as OpenAIPreset[]).map(openAIProviderConfig);

/** A provider entry in config; `type` picks the adapter. */
export const providerConfig = z.discriminatedUnion('type', [mockProviderConfig, azureProviderConfig, anthropicProviderConfig, cohereProviderConfig, geminiProviderConfig, vertexProviderConfig, ...presetConfigs] as [
  typeof mockProviderConfig,
  typeof azureProviderConfig,
  typeof anthropicProviderConfig,
  typeof cohereProviderConfig,
  typeof geminiProviderConfig,
  typeof vertexProviderConfig,
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
    default:
      return createOpenAIAdapter(name, config as OpenAIProviderConfig, timeouts);
  }
}
