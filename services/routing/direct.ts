import type { Usage } from '../gen/gateway/v1/common.js';
import type { RoutingHints, Upload } from '../gen/gateway/v1/routing.js';
import { billedImages, billedSpeech, billedUpload } from '../kit/pricing/units.js';
import { measurePrompt } from '../kit/prompt-size.js';
import { invalid, requireModel } from './formats/chat.js';
import { EMPTY_USAGE, ProviderError, usageFromOpenAI, type ProviderAdapter, type ProviderCall, type RawAnswer } from './providers/types.js';
import type { Router, Routed, Target } from './router/router.js';

/**
 * Endpoints answered by one call with no chat translation: the client's body
 * goes to the deployment's provider as it came (model renamed), or is
 * answered by the gateway itself. Token counting and moderations are free at
 * the providers; images, rerank and audio are billed by unit, which their usage
 * says. Audio answers are passed on as the provider sent them (`raw`), not as JSON.
 */
export type DirectEndpoint = (
  router: Router,
  body: Record<string, unknown>,
  hints: RoutingHints | undefined,
  signal: AbortSignal,
  uploads: Upload[],
) => Promise<Routed<unknown> & { usage: Usage; raw?: RawAnswer }>;

/**
 * Anthropic's /v1/messages/count_tokens: the provider's own count where its
 * adapter has one (Anthropic), else o200k_base over the prompt with the
 * per-message framing governance reserves for, an estimate of what another
 * tokenizer bills.
 */
const countTokens: DirectEndpoint = async (router, body, hints, signal) => {
  const routed = await router.route(requireModel(body), hints, signal, ({ deployment: { provider, model }, credential, signal }: Target) => {
    if (provider.countTokens) return provider.countTokens({ request: { ...body, model }, credential, signal });
    return Promise.resolve({ input_tokens: measurePrompt(Buffer.from(JSON.stringify(body)), body, true).o200kTokens });
  });
  return { ...routed, usage: EMPTY_USAGE };
};

type PassThrough<T> = (provider: ProviderAdapter) => ((call: ProviderCall<Record<string, unknown>>, target: Target) => Promise<T>) | undefined;

/**
 * Routes the client's body as it came to the model's deployments whose provider offers the API at `path` (its
 * capability and its adapter's method); refused at once, naming the API and the model, where none does.
 */
export function passThrough<T = Record<string, unknown>>(what: string, path: string, method: PassThrough<T>, capable: (provider: ProviderAdapter) => boolean) {
  const offers = (provider: ProviderAdapter) => capable(provider) && method(provider) !== undefined;
  return (router: Router, body: Record<string, unknown>, hints: RoutingHints | undefined, signal: AbortSignal) => {
    const model = requireModel(body);
    const providers = router.catalog.resolve(model).members.map((member) => member.deployment.provider);
    if (!providers.some(offers)) {
      const names = [...new Set(providers.map((p) => `${p.name} (${p.type})`))].join(', ');
      throw invalid(`The model \`${model}\` has no ${what} endpoint: none of its providers (${names}) offers ${path}.`, 'model');
    }
    return router.route(model, hints, signal, (target: Target) => {
      const {
        deployment: { provider, model },
        credential,
        signal,
      } = target;
      // A fallback may lead to a provider without it: the client's request cannot be served there.
      if (!offers(provider)) throw new ProviderError('bad_request', provider.name, `Provider ${provider.name} has no ${what} endpoint.`);
      return method(provider)!.call(provider, { request: { ...body, model }, credential, signal }, target);
    });
  };
}

const moderate = passThrough(
  'moderation',
  '/v1/moderations',
  (p) => p.moderations,
  (p) => p.capabilities.moderations,
);

/** OpenAI's /v1/moderations, free at OpenAI. */
const moderations: DirectEndpoint = async (router, body, hints, signal) => ({ ...(await moderate(router, body, hints, signal)), usage: EMPTY_USAGE });

const generate = passThrough(
  'image generation',
  '/v1/images/generations',
  (p) => p.images,
  (p) => p.capabilities.images,
);

/** What images bill: each image made, at the quality and size the answer reports, else those asked for. */
function imagesUsage(body: Record<string, unknown>, value: unknown): Usage {
  const answer = value as { data: unknown[]; quality?: unknown; size?: unknown };
  return { ...EMPTY_USAGE, billed: billedImages(body, { made: answer.data.length, quality: answer.quality, size: answer.size }) };
}

/** OpenAI's /v1/images/generations, billed per image made at its quality and size. */
const images: DirectEndpoint = async (router, body, hints, signal) => {
  const routed = await generate(router, body, hints, signal);
  return { ...routed, usage: imagesUsage(body, routed.value) };
};

/** OpenAI's /v1/images/edits and /variations: the form's fields and its images (and mask), billed as generations. */
function imageUploads(api: 'edits' | 'variations'): DirectEndpoint {
  return async (router, body, hints, signal, uploads) => {
    const send = passThrough(
      api === 'edits' ? 'image edit' : 'image variation',
      `/v1/images/${api}`,
      (p) => p.imageUpload && ((call) => p.imageUpload!({ ...call, uploads, api })),
      // Azure OpenAI deploys no dall-e-2, the only model that makes variations: it serves generations and edits.
      (p) => p.capabilities.images && (api === 'edits' || p.type !== 'azure'),
    );
    const routed = await send(router, body, hints, signal);
    return { ...routed, usage: imagesUsage(body, routed.value) };
  };
}

const ranks = passThrough(
  'rerank',
  '/v1/rerank',
  (p) => p.rerank,
  (p) => p.capabilities.rerank,
);

/** Reranking in Cohere's shape (Cohere, vLLM), billed per search unit as the answer's meta says (providers/rerank.ts). */
const rerank: DirectEndpoint = async (router, body, hints, signal) => {
  const routed = await ranks(router, body, hints, signal);
  const { meta } = routed.value as { meta: { billed_units: { search_units: number } } };
  return { ...routed, usage: { ...EMPTY_USAGE, billed: { unit: 'search_unit', quantity: meta.billed_units.search_units, variant: '' } } };
};

const speak = passThrough(
  'speech',
  '/v1/audio/speech',
  (p) => p.speech,
  (p) => p.capabilities.audio,
);

/** OpenAI's /v1/audio/speech: the audio bytes as sent, billed per character of the input spoken. */
const speech: DirectEndpoint = async (router, body, hints, signal) => {
  const routed = await speak(router, body, hints, signal);
  return { ...routed, raw: routed.value, usage: { ...EMPTY_USAGE, billed: billedSpeech(body.input) } };
};

/**
 * OpenAI's /v1/audio/transcriptions and /translations: the form's fields and the uploaded file, the answer as sent
 * (JSON, or text, SRT, VTT as response_format asks), billed as transcriptionUsage reads it.
 */
function transcribing(api: 'transcriptions' | 'translations'): DirectEndpoint {
  return async (router, body, hints, signal, [upload]) => {
    if (!upload) throw invalid(`An audio ${api.slice(0, -1)} needs the audio as the multipart field \`file\`.`, 'file');
    const transcribe = passThrough(
      api === 'transcriptions' ? 'transcription' : 'translation',
      `/v1/audio/${api}`,
      (p) => p.transcribe && ((call) => p.transcribe!({ ...call, uploads: [upload], api })),
      (p) => p.capabilities.audio,
    );
    const routed = await transcribe(router, body, hints, signal);
    return { ...routed, raw: routed.value, usage: transcriptionUsage(routed.value, upload) };
  };
}

/**
 * What a transcription bills: the token usage its answer reports (gpt-4o-transcribe: priced per token), else the
 * seconds it reports (`usage.seconds`, or verbose_json's `duration`: whisper-1), else, for an answer without them
 * (text, srt, vtt), the upload's length as audioSeconds estimates it.
 */
function transcriptionUsage(raw: RawAnswer, upload: Upload): Usage {
  const answer = raw.contentType.startsWith('application/json') ? jsonOrUndefined(raw.bytes.toString('utf8')) : undefined;
  return reportedUsage(answer?.usage, answer?.duration) ?? { ...EMPTY_USAGE, billed: billedUpload(upload.data) };
}

/**
 * The usage an audio answer (or its stream's done event) reports: tokens (`input_tokens` and `output_tokens`, as
 * gpt-4o-transcribe and gpt-4o-mini-tts report them), else seconds (`type: "duration"`, or a verbose transcript's
 * `duration`); undefined when it reports neither.
 */
export function reportedUsage(reported: unknown, duration?: unknown): Usage | undefined {
  const usage = reported as { type?: unknown; seconds?: unknown; input_tokens?: unknown; output_tokens?: unknown } | undefined;
  if (usage?.type !== 'duration' && typeof usage?.input_tokens === 'number' && typeof usage.output_tokens === 'number') {
    return usageFromOpenAI({
      prompt_tokens: usage.input_tokens,
      completion_tokens: usage.output_tokens,
      total_tokens: usage.input_tokens + usage.output_tokens,
    });
  }
  const seconds = usage?.type === 'duration' ? usage.seconds : duration;
  return typeof seconds === 'number' && seconds >= 0 ? { ...EMPTY_USAGE, billed: { unit: 'audio_second', quantity: seconds, variant: '' } } : undefined;
}

export function jsonOrUndefined(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export const DIRECT_ENDPOINTS: Record<string, DirectEndpoint> = {
  'messages.count_tokens': countTokens,
  moderations,
  'images.generations': images,
  'images.edits': imageUploads('edits'),
  'images.variations': imageUploads('variations'),
  rerank,
  'audio.speech': speech,
  'audio.transcriptions': transcribing('transcriptions'),
  'audio.translations': transcribing('translations'),
};
