import type { Attempt, GuardrailOutcome, Served, Usage } from '../gen/gateway/v1/common.js';

/**
 * Every error the gateway returns has a code registered here, with its HTTP
 * status and OpenAI error type, so a code seen in a log or a response leads to
 * one line of source. Errors are mapped to the OpenAI shape once, at the edge.
 */

export const errorCodes = {
  // Client mistakes
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_request: { status: 400, type: 'invalid_request_error' },
  missing_api_key: { status: 401, type: 'invalid_request_error' },
  invalid_api_key: { status: 401, type: 'invalid_request_error' },
  model_not_allowed: { status: 403, type: 'permission_error' },
  // A browser's request from a web page whose origin the API does not allow (ingress.cors).
  origin_not_allowed: { status: 403, type: 'permission_error' },
  context_length_exceeded: { status: 400, type: 'invalid_request_error' },
  content_policy_violation: { status: 400, type: 'invalid_request_error' },
  not_found: { status: 404, type: 'invalid_request_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  model_not_found: { status: 404, type: 'invalid_request_error' },
  request_too_large: { status: 413, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  rate_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  concurrency_limit_exceeded: { status: 429, type: 'rate_limit_error' },
  budget_exceeded: { status: 402, type: 'insufficient_quota' },
  // Cache-Control: only-if-cached and nothing cached matches (504 as RFC 9111 says).
  not_cached: { status: 504, type: 'invalid_request_error' },
  // Recorded (never sent) when a client hangs up mid-stream; 499 as in nginx.
  client_closed_request: { status: 499, type: 'invalid_request_error' },
  // Admin API
  admin_unauthorized: { status: 401, type: 'authentication_error' },
  admin_forbidden: { status: 403, type: 'permission_error' },
  conflict: { status: 409, type: 'invalid_request_error' },
  // Between services: a caller whose certificate names no service allowed to call the method.
  caller_not_allowed: { status: 403, type: 'permission_error' },
  // MCP tools
  tool_not_allowed: { status: 403, type: 'permission_error' },
  // Provider-native passthrough refused for a caller it would let around a control (guardrail policies).
  passthrough_not_allowed: { status: 403, type: 'permission_error' },
  // The tool changed since an admin approved it (or was never approved): held until approved.
  tool_held: { status: 409, type: 'invalid_request_error' },
  tool_unavailable: { status: 503, type: 'api_error' },
  tool_timeout: { status: 504, type: 'api_error' },
  tool_result_too_large: { status: 502, type: 'api_error' },
  // Upstream providers
  upstream_error: { status: 502, type: 'api_error' },
  upstream_unreachable: { status: 502, type: 'api_error' },
  upstream_timeout: { status: 504, type: 'api_error' },
  // The gateway itself
  service_unavailable: { status: 503, type: 'api_error' },
  // Every deployment a call could go to is at its maxInFlight, and the call waited its queueTimeoutMs for a slot.
  overloaded: { status: 503, type: 'api_error' },
  internal_error: { status: 500, type: 'api_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof errorCodes;

export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string };
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  /** Provider calls made before the request failed (set by routing; recorded in the request's event). */
  attempts: Attempt[] = [];
  /** What guardrail rules found before the request was refused (set by routing; recorded in the request's event). */
  guardrails: GuardrailOutcome[] = [];
  /** A provider's answer that was paid for and then refused (a guardrail blocked it): charged and metered all the same. */
  paid: { usage: Usage; served: Served } | undefined;
  /** Response headers that go with the error, e.g. retry-after and x-ratelimit-*. */
  headers: Record<string, string> = {};
  /** What only the logs may say (internal addresses, another service's words); the message is for the client. */
  readonly detail: string | undefined;

  /** `status` overrides the code's default, e.g. to pass a provider's 4xx through. */
  constructor(code: ErrorCode, message: string, options: { param?: string; status?: number; cause?: unknown; detail?: string } = {}) {
    super(message, { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? errorCodes[code].status;
    this.type = errorCodes[code].type;
    this.param = options.param ?? null;
    this.detail = options.detail;
  }

  toOpenAI(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(errorCodes, value);
}

/** Any thrown value as a GatewayError; unknown errors become internal_error without leaking details. */
export function asGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('internal_error', 'The gateway failed to process the request.', { cause: err });
}
