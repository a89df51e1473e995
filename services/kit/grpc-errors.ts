import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { Attempts, GuardrailOutcomes, Served, Usage, type Refusal } from '../gen/gateway/v1/common.js';
import { refusedValueError } from './db/storable.js';
import { GatewayError, isErrorCode } from './errors.js';
import type { Logger } from './log.js';

/**
 * A gateway error that a call throws crosses gRPC as its status plus metadata
 * (code, HTTP status, param, headers, provider attempts, guardrail outcomes, a paid answer's usage), and is rebuilt whole
 * on the caller's side. Batch calls answer each item on its own, as a Refusal.
 */

const CODE_KEY = 'gw-code';
const STATUS_KEY = 'gw-status';
const PARAM_KEY = 'gw-param';
// Binary metadata keys must end in -bin.
const ATTEMPTS_KEY = 'gw-attempts-bin';
const GUARDRAILS_KEY = 'gw-guardrails-bin';
const PAID_USAGE_KEY = 'gw-paid-usage-bin';
const PAID_SERVED_KEY = 'gw-paid-served-bin';
const HEADER_PREFIX = 'gw-h-';

/** What a handler threw, as the GatewayError its caller gets: other errors are logged here and not described there. */
function handlerError(err: unknown, log: Logger): GatewayError {
  if (err instanceof GatewayError) return err;
  const refused = refusedValueError(err);
  if (refused) return refused;
  log.error({ err }, 'unhandled error in gRPC handler');
  return new GatewayError('internal_error', 'internal error');
}

export function toServiceError(thrown: unknown, log: Logger): Partial<ServiceError> {
  const err = handlerError(thrown, log);
  const metadata = new Metadata();
  metadata.set(CODE_KEY, err.code);
  metadata.set(STATUS_KEY, String(err.status));
  if (err.param) metadata.set(PARAM_KEY, err.param);
  if (err.attempts.length > 0) metadata.set(ATTEMPTS_KEY, Buffer.from(Attempts.encode({ attempts: err.attempts }).finish()));
  if (err.guardrails.length > 0) metadata.set(GUARDRAILS_KEY, Buffer.from(GuardrailOutcomes.encode({ outcomes: err.guardrails }).finish()));
  if (err.paid) {
    metadata.set(PAID_USAGE_KEY, Buffer.from(Usage.encode(err.paid.usage).finish()));
    metadata.set(PAID_SERVED_KEY, Buffer.from(Served.encode(err.paid.served).finish()));
  }
  for (const [name, value] of Object.entries(err.headers)) metadata.set(`${HEADER_PREFIX}${name}`, value);
  return { code: grpcCodeFor(err.status), details: err.message, metadata };
}

function grpcCodeFor(httpStatus: number): GrpcStatus {
  if (httpStatus === 400 || httpStatus === 413 || httpStatus === 415) return GrpcStatus.INVALID_ARGUMENT;
  if (httpStatus === 401) return GrpcStatus.UNAUTHENTICATED;
  if (httpStatus === 403) return GrpcStatus.PERMISSION_DENIED;
  if (httpStatus === 404) return GrpcStatus.NOT_FOUND;
  if (httpStatus === 429) return GrpcStatus.RESOURCE_EXHAUSTED;
  if (httpStatus === 500) return GrpcStatus.INTERNAL;
  if (httpStatus === 503) return GrpcStatus.UNAVAILABLE;
  if (httpStatus === 504) return GrpcStatus.DEADLINE_EXCEEDED;
  return GrpcStatus.UNKNOWN;
}

/** Rebuilds the GatewayError a remote service threw, or describes a transport failure. */
export function fromServiceError(err: ServiceError, target: string): GatewayError {
  const code = err.metadata?.get(CODE_KEY)[0];
  if (typeof code === 'string' && isErrorCode(code)) {
    const status = Number(err.metadata.get(STATUS_KEY)[0]);
    const param = err.metadata.get(PARAM_KEY)[0];
    const attempts = err.metadata.get(ATTEMPTS_KEY)[0];
    const guardrails = err.metadata.get(GUARDRAILS_KEY)[0];
    const error = new GatewayError(code, err.details, {
      status: Number.isFinite(status) ? status : undefined,
      param: typeof param === 'string' ? param : undefined,
    });
    if (Buffer.isBuffer(attempts)) error.attempts = Attempts.decode(attempts).attempts;
    if (Buffer.isBuffer(guardrails)) error.guardrails = GuardrailOutcomes.decode(guardrails).outcomes;
    const [paidUsage, paidServed] = [err.metadata.get(PAID_USAGE_KEY)[0], err.metadata.get(PAID_SERVED_KEY)[0]];
    if (Buffer.isBuffer(paidUsage) && Buffer.isBuffer(paidServed)) error.paid = { usage: Usage.decode(paidUsage), served: Served.decode(paidServed) };
    for (const [name, values] of Object.entries(err.metadata.getMap())) {
      if (name.startsWith(HEADER_PREFIX) && typeof values === 'string') error.headers[name.slice(HEADER_PREFIX.length)] = values;
    }
    return error;
  }
  if (err.code === GrpcStatus.CANCELLED) return cancelledCall(target);
  if (err.code === GrpcStatus.DEADLINE_EXCEEDED) return unansweredCall(target);
  return serviceUnavailable(`${target} is unreachable: ${err.details || err.message}`, err);
}

/** A GatewayError as an answer field, for batch calls that answer each item on its own; other errors are thrown. */
export function refusalOf(err: unknown): Refusal {
  if (!(err instanceof GatewayError)) throw err;
  return { code: err.code, httpStatus: err.status, message: err.message, param: err.param ?? '', headers: err.headers };
}

/** The GatewayError a refusal stands for. */
export function errorOfRefusal(refusal: Refusal): GatewayError {
  if (!isErrorCode(refusal.code)) return new GatewayError('internal_error', `unknown error code ${refusal.code}: ${refusal.message}`);
  const error = new GatewayError(refusal.code, refusal.message, { status: refusal.httpStatus || undefined, param: refusal.param || undefined });
  error.headers = { ...refusal.headers };
  return error;
}

/** A call between the gateway's services that failed: the client hears that much, the logs hear where and why. */
function serviceUnavailable(detail: string, cause?: unknown): GatewayError {
  return new GatewayError('service_unavailable', 'A service of the gateway did not answer; retry later.', { detail, cause });
}

export const cancelledCall = (target: string) => serviceUnavailable(`call to ${target} was cancelled`);
const unansweredCall = (target: string) => serviceUnavailable(`${target} did not answer in time`);
