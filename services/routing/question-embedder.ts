import type { CompletionRequest, CompletionResponse } from '../gen/gateway/v1/routing.js';
import type { RequestContext } from '../gen/gateway/v1/common.js';
import type { EventPublisher } from '../kit/bus/publisher.js';
import { asGatewayError } from '../kit/errors.js';
import { EventType, requestEvent } from '../kit/events.js';
import type { EmbedQuestion } from './response-cache.js';

/**
 * Embeds semantic-cache questions with the configured model, routed like any
 * request (`complete`: routing's own, without the cache), so the call gets
 * retries and fallbacks. Each call is recorded as a request of its own,
 * `<request id>.embedding`, attributed to the caller's key: audit sees it, and
 * metering prices it into the key's spend.
 */
export function questionEmbedder(model: string, complete: (request: CompletionRequest) => Promise<CompletionResponse>, events: EventPublisher): EmbedQuestion {
  return async (text, context) => {
    const started = performance.now();
    const call: RequestContext = {
      requestId: `${context?.requestId ?? 'cache'}.embedding`,
      traceId: context?.traceId ?? '',
      actor: context?.actor,
      sourceAddress: context?.sourceAddress ?? '',
    };
    const outcome = {
      endpoint: 'embeddings',
      model,
      stream: false,
      cacheHit: false,
      served: undefined,
      usage: undefined,
      errorCode: '',
      errorMessage: '',
      attempts: [] as never[],
    };
    let result: CompletionResponse;
    try {
      result = await complete({
        context: call,
        endpoint: 'embeddings',
        body: Buffer.from(JSON.stringify({ model, input: text })),
        hints: undefined,
        replay: undefined,
        keepAnswer: false,
        cache: undefined,
        uploads: [],
        passthrough: undefined,
      });
    } catch (err) {
      const error = asGatewayError(err);
      events.emit(
        requestEvent(
          EventType.requestFailed,
          { service: 'routing', context: call },
          {
            ...outcome,
            httpStatus: error.status,
            durationMs: performance.now() - started,
            errorCode: error.code,
            errorMessage: error.message,
            attempts: error.attempts,
          },
        ),
      );
      throw err;
    }
    events.emit(
      requestEvent(
        EventType.requestCompleted,
        { service: 'routing', context: call },
        { ...outcome, served: result.served, usage: result.usage, httpStatus: 200, durationMs: performance.now() - started, attempts: result.attempts },
      ),
    );
    const body = JSON.parse(result.body.toString('utf8')) as { data?: { embedding?: unknown }[] };
    const embedding = body.data?.[0]?.embedding;
    if (!Array.isArray(embedding) || embedding.length === 0) throw new Error(`${model} returned no embedding`);
    return embedding as number[];
  };
}
