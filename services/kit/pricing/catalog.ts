/**
 * List prices in USD per million tokens, as the providers published them
 * (late 2025), with at most six decimals (money.ts). Deployments override
 * these in config (`pricing.models`); a model found nowhere has no price,
 * which is recorded as such, never as zero. A price left out falls back as
 * its description says.
 */
export interface ModelPrice {
  /** Prompt tokens neither read from nor written to the provider's prompt cache. */
  input: number;
  /** Completion tokens that are not reasoning. */
  output: number;
  /** Prompt tokens read from the prompt cache; else `input`. */
  cachedInput?: number;
  /** Prompt tokens written to the prompt cache (Anthropic's 5-minute cache); else `input`. */
  cacheWrite?: number;
  /** Prompt tokens written to the one-hour cache (Anthropic, Bedrock); else `cacheWrite`. */
  cacheWrite1h?: number;
  /** Reasoning (thinking) tokens, which every listed provider bills as output; else `output`. */
  reasoning?: number;
  /**
   * USD per image made (the images API), by "<quality>/<size>" (units.ts, imageVariant); an image model's
   * token prices are 0. An image whose variant is not here is priced at the dearest that is.
   */
  images?: Record<string, number>;
  /** USD per search unit of reranking (Cohere: one query over up to 100 documents); a rerank model's token prices are 0. */
  searchUnit?: number;
  /** USD per character of text spoken (the audio speech API: tts-1); a speech model's token prices are 0. */
  inputCharacter?: number;
  /** USD per second of audio transcribed or translated (whisper-1); a transcription model's token prices are 0. */
  audioSecond?: number;
  /**
   * USD per web search call the model made (the Responses API's hosted web_search tool, served natively), by the
   * tool's kind ("web_search", "web_search_preview"); a kind not named is priced at the dearest. Billed on top of tokens.
   */
  webSearchCalls?: Record<string, number>;
  /** The share of its prices a call sent through the provider's batch API pays (0.5: half); else BATCH_SHARE. */
  batch?: number;
}

/**
 * What a provider's own batch API charges of a model's prices: OpenAI (https://platform.openai.com/docs/guides/batch)
 * and Anthropic (https://docs.anthropic.com/en/docs/build-with-claude/batch-processing) both charge half.
 */
export const BATCH_SHARE = 0.5;

/** OpenAI's per-image prices (https://platform.openai.com/docs/pricing, "Image generation"). */
const DALL_E_3 = {
  'standard/1024x1024': 0.04,
  'standard/1024x1792': 0.08,
  'standard/1792x1024': 0.08,
  'hd/1024x1024': 0.08,
  'hd/1024x1792': 0.12,
  'hd/1792x1024': 0.12,
};
const DALL_E_2 = { 'standard/256x256': 0.016, 'standard/512x512': 0.018, 'standard/1024x1024': 0.02 };
const GPT_IMAGE_1 = {
  'low/1024x1024': 0.011,
  'low/1024x1536': 0.016,
  'low/1536x1024': 0.016,
  'medium/1024x1024': 0.042,
  'medium/1024x1536': 0.063,
  'medium/1536x1024': 0.063,
  'high/1024x1024': 0.167,
  'high/1024x1536': 0.25,
  'high/1536x1024': 0.25,
};

/**
 * OpenAI's web search prices (https://platform.openai.com/docs/pricing, "Built-in tools"): $10 per 1,000 calls, but
 * web_search_preview on a model that does not reason $25 per 1,000 (its search content tokens are free, which the
 * usage OpenAI reports does not tell apart: they are priced as the input they are counted in).
 */
const SEARCH_REASONING = { web_search: 0.01, web_search_preview: 0.01 };
const SEARCH_CHAT = { web_search: 0.01, web_search_preview: 0.025 };

export const PRICE_CATALOG: Record<string, ModelPrice> = {
  // OpenAI
  'gpt-5': { input: 1.25, output: 10, cachedInput: 0.125, webSearchCalls: SEARCH_REASONING },
  'gpt-5-mini': { input: 0.25, output: 2, cachedInput: 0.025, webSearchCalls: SEARCH_REASONING },
  'gpt-5-nano': { input: 0.05, output: 0.4, cachedInput: 0.005, webSearchCalls: SEARCH_REASONING },
  'gpt-4.1': { input: 2, output: 8, cachedInput: 0.5, webSearchCalls: SEARCH_CHAT },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cachedInput: 0.1, webSearchCalls: SEARCH_CHAT },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cachedInput: 0.025, webSearchCalls: SEARCH_CHAT },
  'gpt-4o': { input: 2.5, output: 10, cachedInput: 1.25, webSearchCalls: SEARCH_CHAT },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cachedInput: 0.075, webSearchCalls: SEARCH_CHAT },
  o3: { input: 2, output: 8, cachedInput: 0.5, webSearchCalls: SEARCH_REASONING },
  'o4-mini': { input: 1.1, output: 4.4, cachedInput: 0.275, webSearchCalls: SEARCH_REASONING },
  'gpt-3.5-turbo-instruct': { input: 1.5, output: 2 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'dall-e-3': { input: 0, output: 0, images: DALL_E_3 },
  'dall-e-2': { input: 0, output: 0, images: DALL_E_2 },
  'gpt-image-1': { input: 0, output: 0, images: GPT_IMAGE_1 },
  // Audio (https://platform.openai.com/docs/pricing, "Transcription and speech generation"): tts-1 $15 and tts-1-hd $30
  // per million characters, whisper-1 $0.006 a minute. gpt-4o-transcribe answers with token usage, billed as tokens.
  'tts-1': { input: 0, output: 0, inputCharacter: 0.000015 },
  'tts-1-hd': { input: 0, output: 0, inputCharacter: 0.00003 },
  'whisper-1': { input: 0, output: 0, audioSecond: 0.0001 },
  'gpt-4o-transcribe': { input: 2.5, output: 10 },
  // gpt-4o-mini-tts: $0.60 a million text tokens in, $12 a million audio tokens out, as its streamed done event reports them.
  'gpt-4o-mini-tts': { input: 0.6, output: 12 },
  'gpt-4o-mini-transcribe': { input: 1.25, output: 5 },
  // Anthropic
  'claude-opus-4-1': { input: 15, output: 75, cachedInput: 1.5, cacheWrite: 18.75, cacheWrite1h: 30 },
  'claude-sonnet-4-5': { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 },
  'claude-sonnet-4': { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 },
  'claude-3-7-sonnet': { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 },
  'claude-haiku-4-5': { input: 1, output: 5, cachedInput: 0.1, cacheWrite: 1.25, cacheWrite1h: 2 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cachedInput: 0.08, cacheWrite: 1, cacheWrite1h: 1.6 },
  // Google
  'gemini-2.5-pro': { input: 1.25, output: 10, cachedInput: 0.125 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5, cachedInput: 0.03 },
  'gemini-2.5-flash-lite': { input: 0.1, output: 0.4, cachedInput: 0.01 },
  'gemini-2.0-flash': { input: 0.1, output: 0.4, cachedInput: 0.025 },
  // AWS Bedrock model ids (region prefixes such as "us." are ignored)
  'anthropic.claude-sonnet-4-5': { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 },
  'anthropic.claude-3-5-sonnet': { input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75, cacheWrite1h: 6 },
  'anthropic.claude-3-5-haiku': { input: 0.8, output: 4, cachedInput: 0.08, cacheWrite: 1, cacheWrite1h: 1.6 },
  'amazon.nova-pro': { input: 0.8, output: 3.2 },
  'amazon.nova-lite': { input: 0.06, output: 0.24 },
  'meta.llama3-3-70b-instruct': { input: 0.72, output: 0.72 },
  // Mistral, Cohere, Groq, DeepSeek, xAI
  'mistral-large': { input: 2, output: 6 },
  'mistral-small': { input: 0.1, output: 0.3 },
  'command-a': { input: 2.5, output: 10 },
  'command-r-plus': { input: 2.5, output: 10 },
  'command-r': { input: 0.15, output: 0.6 },
  'embed-v4.0': { input: 0.12, output: 0 },
  // Cohere Rerank: $2.00 per 1,000 searches (https://cohere.com/pricing).
  'rerank-v3.5': { input: 0, output: 0, searchUnit: 0.002 },
  'rerank-english-v3.0': { input: 0, output: 0, searchUnit: 0.002 },
  'rerank-multilingual-v3.0': { input: 0, output: 0, searchUnit: 0.002 },
  'llama-3.3-70b-versatile': { input: 0.59, output: 0.79 },
  'llama-3.1-8b-instant': { input: 0.05, output: 0.08 },
  'deepseek-chat': { input: 0.28, output: 0.42, cachedInput: 0.028 },
  'deepseek-reasoner': { input: 0.28, output: 0.42, cachedInput: 0.028 },
  'grok-4': { input: 3, output: 15, cachedInput: 0.75 },
  'grok-3-mini': { input: 0.3, output: 0.5, cachedInput: 0.075 },
};
