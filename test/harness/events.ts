import type { OutcomeFields } from '../../services/kit/events.js';

/** A request answered with nothing in it but what a test sets: the outcome events and rows are made of. */
export function answered(over: Partial<OutcomeFields> = {}): OutcomeFields {
  return {
    endpoint: 'chat.completions',
    model: 'm',
    served: undefined,
    httpStatus: 200,
    usage: undefined,
    stream: false,
    cacheHit: false,
    durationMs: 1,
    errorCode: '',
    errorMessage: '',
    attempts: [],
    ...over,
  };
}
