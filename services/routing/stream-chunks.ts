import type { Attempt, Usage } from '../gen/gateway/v1/common.js';
import type { CompletionChunk } from '../gen/gateway/v1/routing.js';
import { asGatewayError, type GatewayError } from '../kit/errors.js';
import type { OutEvent } from './formats/types.js';

/** One event of the answer, as it crosses to ingress. */
export const dataChunk = (event: OutEvent): CompletionChunk => ({
  kind: { $case: 'data', data: { event: event.event ?? '', data: Buffer.from(event.data), final: event.final ?? false } },
});

/** The last chunk of a stream; the guardrails' outcomes are added as it leaves (completeStream). */
export function streamEnd(usage: Usage | undefined, attempts: Attempt[], error?: GatewayError): CompletionChunk {
  return {
    kind: {
      $case: 'end',
      end: { usage, attempts, errorCode: error?.code ?? '', errorMessage: error?.message ?? '', httpStatus: error?.status ?? 200, guardrails: [] },
    },
  };
}

/**
 * Sends a stream's events on; false when it failed. A stream that fails after
 * it began (a provider's error, a guardrail's block) already gave the client a
 * 200 and part of the answer: it ends with an error event in the client's API.
 */
export async function* relay(
  errorEvent: (error: GatewayError) => OutEvent,
  events: AsyncIterable<OutEvent>,
  usage: () => Usage | undefined,
  attempts: Attempt[],
): AsyncGenerator<CompletionChunk, boolean> {
  try {
    for await (const event of events) yield dataChunk(event);
    return true;
  } catch (err) {
    const error = asGatewayError(err);
    yield dataChunk(errorEvent(error));
    yield streamEnd(usage(), attempts, error);
    return false;
  }
}
