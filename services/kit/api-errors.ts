import type { GatewayError } from './errors.js';

/**
 * How an error looks in each inbound API, over HTTP and as the last event of
 * a stream that failed after it began. Used by ingress (HTTP errors) and by
 * routing (stream errors), so both speak each API the same way.
 */

export type ApiFamily = 'openai' | 'anthropic' | 'google' | 'aws';

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

/** AWS's exception names by HTTP status, as Bedrock Runtime answers them (its REST-JSON errors). */
const AWS_EXCEPTION: Record<number, string> = {
  400: 'ValidationException',
  401: 'UnrecognizedClientException',
  // A budget spent: the nearest AWS names for it.
  402: 'ServiceQuotaExceededException',
  403: 'AccessDeniedException',
  404: 'ResourceNotFoundException',
  408: 'ModelTimeoutException',
  429: 'ThrottlingException',
  503: 'ServiceUnavailableException',
};

/** Bedrock's REST-JSON error body: the AWS SDK reads the exception's name from `__type` and its text from `message`. */
export function awsErrorBody(error: GatewayError) {
  const type = AWS_EXCEPTION[error.status] ?? (error.status >= 500 ? 'InternalServerException' : 'ValidationException');
  return { __type: type, message: error.message };
}

/** The member of Bedrock's stream unions that ends a failed stream (the exception frames the AWS SDK raises). */
function awsStreamException(status: number): string {
  if (status === 429) return 'throttlingException';
  if (status === 400) return 'validationException';
  return status === 503 ? 'serviceUnavailableException' : 'internalServerException';
}

export function errorBody(family: ApiFamily, error: GatewayError): unknown {
  if (family === 'anthropic') return anthropicErrorBody(error);
  if (family === 'aws') return awsErrorBody(error);
  return family === 'google' ? googleErrorBody(error) : error.toOpenAI();
}

export function familyOf(endpoint: string): ApiFamily {
  if (endpoint.startsWith('/gemini/')) return 'google';
  if (endpoint.startsWith('/bedrock/')) return 'aws';
  return endpoint === 'messages' || endpoint.startsWith('messages.') || endpoint.startsWith('/anthropic/') ? 'anthropic' : 'openai';
}

/**
 * The event that ends a failed stream, as each API's SDKs expect it; for Bedrock's event stream, an exception member
 * (ingress/sse.ts frames names ending in `Exception` as exceptions).
 */
export function streamErrorEvent(endpoint: string, error: GatewayError): { event?: string; data: string } {
  switch (endpoint) {
    case 'messages':
    case '/anthropic/v1/messages':
      return { event: 'error', data: JSON.stringify(anthropicErrorBody(error)) };
    case 'responses':
    case '/openai/v1/responses':
      return { event: 'error', data: JSON.stringify({ type: 'error', code: error.code, message: error.message, param: error.param, sequence_number: 0 }) };
    default:
      if (familyOf(endpoint) === 'aws') return { event: awsStreamException(error.status), data: JSON.stringify({ message: error.message }) };
      return { data: JSON.stringify(familyOf(endpoint) === 'google' ? googleErrorBody(error) : error.toOpenAI()) };
  }
}
