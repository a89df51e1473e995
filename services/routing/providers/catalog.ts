import { isIP } from 'node:net';
import type { Capabilities } from './types.js';

interface ProviderType {
  /** Name in the README's table. */
  label: string;
  /** What its adapter supports (the README's table is rendered from these). */
  capabilities: Capabilities;
  /** Default base URL: the provider's public API, where it does not depend on the entry. */
  baseUrl?: string;
  /**
   * Hosts of the provider's public API where they depend on the entry (resource, region, location), as
   * routing.adminProviders.hosts patterns; catalog.test.ts checks them against what the adapters call.
   */
  apiHosts?: readonly string[];
}

/**
 * Everything but moderations, images and audio, which only OpenAI's own API is known to serve in OpenAI's shape (Mistral's
 * moderations name other categories; Azure OpenAI serves images, but no variations, and audio too); a compatible server that has them is
 * declared as type openai. Rerank: Cohere's own, and vLLM's (https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html#re-rank-api).
 */
const all = {
  streaming: true,
  tools: true,
  vision: true,
  embeddings: true,
  jsonSchema: true,
  completions: true,
  moderations: false,
  images: false,
  rerank: false,
  audio: false,
} as const;

/** Every provider `type` the gateway has an adapter for. */
export const PROVIDER_TYPES = {
  openai: {
    label: 'OpenAI (and any OpenAI-compatible base URL)',
    capabilities: { ...all, moderations: true, images: true, audio: true },
    baseUrl: 'https://api.openai.com/v1',
  },
  azure: { label: 'Azure OpenAI', capabilities: { ...all, completions: false, images: true, audio: true }, apiHosts: ['*.openai.azure.com'] },
  anthropic: { label: 'Anthropic', capabilities: { ...all, embeddings: false, completions: false }, baseUrl: 'https://api.anthropic.com' },
  gemini: { label: 'Google Gemini (AI Studio)', capabilities: { ...all, completions: false }, baseUrl: 'https://generativelanguage.googleapis.com' },
  vertex: {
    label: 'Google Vertex AI',
    capabilities: { ...all, embeddings: false, completions: false },
    apiHosts: ['aiplatform.googleapis.com', '*-aiplatform.googleapis.com'],
  },
  bedrock: { label: 'AWS Bedrock (Converse)', capabilities: { ...all, embeddings: false, completions: false }, apiHosts: ['bedrock-runtime.*.amazonaws.com'] },
  cohere: { label: 'Cohere (v2)', capabilities: { ...all, completions: false, rerank: true }, baseUrl: 'https://api.cohere.com' },
  mistral: { label: 'Mistral', capabilities: { ...all, completions: false }, baseUrl: 'https://api.mistral.ai/v1' },
  groq: { label: 'Groq', capabilities: { ...all, embeddings: false, completions: false }, baseUrl: 'https://api.groq.com/openai/v1' },
  deepseek: {
    label: 'DeepSeek',
    capabilities: { ...all, vision: false, embeddings: false, jsonSchema: false, completions: false },
    baseUrl: 'https://api.deepseek.com/v1',
  },
  xai: { label: 'xAI', capabilities: { ...all, embeddings: false, completions: false }, baseUrl: 'https://api.x.ai/v1' },
  openrouter: { label: 'OpenRouter', capabilities: { ...all, embeddings: false }, baseUrl: 'https://openrouter.ai/api/v1' },
  together: { label: 'Together AI', capabilities: all, baseUrl: 'https://api.together.xyz/v1' },
  fireworks: { label: 'Fireworks AI', capabilities: all, baseUrl: 'https://api.fireworks.ai/inference/v1' },
  ollama: { label: 'Ollama', capabilities: all, baseUrl: 'http://127.0.0.1:11434/v1' },
  vllm: { label: 'vLLM', capabilities: { ...all, rerank: true }, baseUrl: 'http://127.0.0.1:8000/v1' },
  mock: {
    label: 'mock (built in, no account)',
    capabilities: {
      streaming: true,
      tools: false,
      vision: false,
      embeddings: true,
      jsonSchema: false,
      completions: false,
      moderations: false,
      images: false,
      rerank: false,
      audio: false,
    },
  },
} as const satisfies Record<string, ProviderType>;

export type ProviderTypeName = keyof typeof PROVIDER_TYPES;

/**
 * The public API hosts of the built-in provider types, the default of routing.adminProviders.hosts. Ollama and
 * vLLM default to this machine (an IP address), which is no public API, so they are left out.
 */
export const BUILT_IN_HOSTS: readonly string[] = [
  ...new Set(
    (Object.values(PROVIDER_TYPES) as ProviderType[])
      .flatMap((type) => type.apiHosts ?? (type.baseUrl ? [new URL(type.baseUrl).hostname] : []))
      .filter((host) => isIP(host) === 0),
  ),
];

/** The README's provider table, in Markdown. */
export function providerTable(): string {
  const mark = (yes: boolean) => (yes ? '✓' : '—');
  const rows = Object.entries(PROVIDER_TYPES).map(
    ([type, { label, capabilities: c }]) =>
      `| ${label} | \`${type}\` | ${mark(c.streaming)} | ${mark(c.tools)} | ${mark(c.vision)} | ${mark(c.embeddings)} | ${mark(c.jsonSchema)} | ${mark(c.completions)} | ${mark(c.moderations)} | ${mark(c.images)} | ${mark(c.rerank)} | ${mark(c.audio)} |`,
  );
  return [
    '| provider | `type` | streaming | tools | vision | embeddings | JSON schema | native completions | moderations | images | rerank | audio |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}
