import type { GatewayError } from './errors.js';

/**
 * How an error looks in each inbound API, over HTTP and as the last event of
 * a stream that failed after it began. Used by ingress (HTTP errors) and by
 * routing (stream errors), so both speak each API the same way.
 */

export type ApiFamily = 'openai' | 'anthropic' | 'google';

/** Anthropic's error types by HTTP status (https://docs.anthropic.com/en/api/errors). */
export function anthropicErrorType(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request_error';
    case 401:
      return 'authentication_error';
    case 402:
      return 'billing_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 413:
      return 'request_too_large';
    case 429:
      return 'rate_limit_error';
    case 504:
      return 'timeout_error';
    case 529:
      return 'overloaded_error';
    default:
      return status >= 500 ? 'api_error' : 'invalid_request_error';
  }
}

export function anthropicErrorBody(error: GatewayError) {
  return { type: 'error', error: { type: anthropicErrorType(error.status), message: error.message } };
}

/** Google's canonical status names by HTTP status (https://cloud.google.com/apis/design/errors#handling_errors). */
const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  501: 'UNIMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Google's error body (Gemini's API): `{"error": {"code", "message", "status"}}`, the code the HTTP status. */
export function googleErrorBody(error: GatewayError) {
  const status = GOOGLE_STATUS[error.status] ?? (error.status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION');
  return { error: { code: error.status, message: error.message, status } };
}

export function errorBody(family: ApiFamily, error: GatewayError): unknown {
  if (family === 'anthropic') return anthropicErrorBody(error);
  return family === 'google' ? googleErrorBody(error) : error.toOpenAI();
}

export function familyOf(endpoint: string): ApiFamily {
  if (endpoint.startsWith('/gemini/')) return 'google';
  return endpoint === 'messages' || endpoint.startsWith('messages.') || endpoint.startsWith('/anthropic/') ? 'anthropic' : 'openai';
}

/** The server-sent event that ends a failed stream, as each API's SDKs expect it. */
export function streamErrorEvent(endpoint: string, error: GatewayError): { event?: string; data: string } {
  switch (endpoint) {
    case 'messages':
    case '/anthropic/v1/messages':
      return { event: 'error', data: JSON.stringify(anthropicErrorBody(error)) };
    case 'responses':
    case '/openai/v1/responses':
      return { event: 'error', data: JSON.stringify({ type: 'error', code: error.code, message: error.message, param: error.param, sequence_number: 0 }) };
    default:
      return { data: JSON.stringify(familyOf(endpoint) === 'google' ? googleErrorBody(error) : error.toOpenAI()) };
  }
}
