import type { Usage } from '../gen/gateway/v1/common.js';
import type { RoutingHints, Upload } from '../gen/gateway/v1/routing.js';
import { billedSpeech, billedUpload } from '../kit/pricing/units.js';
import { firstWithin } from './calls.js';
import { jsonOrUndefined, passThrough, reportedUsage } from './direct.js';
import { invalid } from './formats/chat.js';
import type { OutEvent } from './formats/types.js';
import { networkError } from './providers/http.js';
import { EMPTY_USAGE, ProviderError, type ProviderAdapter, type Timeouts } from './providers/types.js';
import type { Routed, Router, Target } from './router/router.js';
import type { SseEvent } from './sse.js';

/** A streamed direct endpoint once its provider sent the first event: the events for the client, and what they billed. */
export interface DirectEvents {
  events: AsyncIterable<OutEvent>;
  /** What the done event reported, else (a stream cut before it) the estimate the request was reserved at. */
  usage(): Usage;
}

export type DirectStream = (
  router: Router,
  body: Record<string, unknown>,
  hints: RoutingHints | undefined,
  signal: AbortSignal,
  uploads: Upload[],
  timeouts: Timeouts,
) => Promise<Routed<DirectEvents>>;

type AudioApi = 'speech' | 'transcriptions';

/** The event that ends each stream, with the usage where the provider reports it (OpenAI's audio streaming events). */
const DONE: Record<AudioApi, string> = { speech: 'speech.audio.done', transcriptions: 'transcript.text.done' };

interface Opened {
  first: IteratorResult<SseEvent>;
  iterator: AsyncIterator<SseEvent>;
  /** Aborted when the stream ends: the provider call, and the deployment's slot (heldUntil), end with it. */
  attempt: AbortController;
}

/** Opens the provider's stream and waits for its first event within firstByteMs, as a chat stream is opened. */
async function open(provider: ProviderAdapter, call: Parameters<NonNullable<ProviderAdapter['audioEvents']>>[0], target: Target, timeouts: Timeouts) {
  const attempt = new AbortController();
  const signal = AbortSignal.any([target.signal, attempt.signal]);
  const iterator = (await provider.audioEvents!({ ...call, signal }))[Symbol.asyncIterator]();
  const first = await firstWithin(iterator, timeouts, provider.name, attempt);
  if (first.done) {
    attempt.abort();
    const model = String(call.request.model);
    throw new ProviderError(
      'bad_request',
      provider.name,
      `Provider ${provider.name} answered with no events: its model ${model} may not stream (OpenAI's whisper-1 does not).`,
    );
  }
  target.heldUntil = signal;
  return { first, iterator, attempt };
}

/**
 * Speech as server-sent events (`stream_format: "sse"`) and streamed transcriptions (`stream`): the provider's events
 * passed on as they arrive, the done event marked final (held until the request is on record), billed from its usage.
 * A stream that ends without it, or with an error event, failed.
 */
function streaming(api: AudioApi): DirectStream {
  return async (router, body, hints, signal, uploads, timeouts) => {
    const upload = uploads[0];
    if (api === 'transcriptions' && !upload) throw invalid('An audio transcription needs the audio as the multipart field `file`.', 'file');
    const opening = passThrough<Opened>(
      api === 'speech' ? 'speech' : 'transcription',
      `/v1/audio/${api}`,
      (p) => p.audioEvents && ((call, target) => open(p, { ...call, uploads, api }, target, timeouts)),
      (p) => p.capabilities.audio,
    );
    const routed = await opening(router, body, hints, signal);
    const estimate: Usage = { ...EMPTY_USAGE, billed: api === 'speech' ? billedSpeech(body.input) : billedUpload(upload!.data) };
    let reported: Usage | undefined;
    const provider = routed.deployment.provider.name;
    async function* events(): AsyncGenerator<OutEvent> {
      const { first, iterator, attempt } = routed.value;
      let done = false;
      try {
        for (let next = first; !next.done; next = await iterator.next()) {
          const { event, data } = next.value;
          const parsed = jsonOrUndefined(data);
          if (parsed?.error || parsed?.type === 'error') {
            const error = (parsed.error ?? parsed) as { message?: unknown };
            throw networkError(undefined, provider, `Provider ${provider} failed mid-stream: ${String(error.message ?? 'unknown error')}`);
          }
          if (parsed?.type === DONE[api]) {
            done = true;
            reported = reportedUsage(parsed.usage);
          }
          yield { event, data, final: done };
        }
      } finally {
        attempt.abort();
      }
      if (!done) throw new ProviderError('network', provider, `Provider ${provider} ended the stream before its ${DONE[api]} event.`);
    }
    return { ...routed, value: { events: events(), usage: () => reported ?? estimate } };
  };
}

/** Direct endpoints a client may ask to stream (ingress's direct.ts says which bodies ask). */
export const DIRECT_STREAMS: Record<string, DirectStream> = {
  'audio.speech': streaming('speech'),
  'audio.transcriptions': streaming('transcriptions'),
};
