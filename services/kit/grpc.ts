import {
  credentials,
  Metadata,
  status as GrpcStatus,
  Client,
  Server,
  ServerCredentials,
  type ServiceDefinition,
  type ServiceError,
  type ServerUnaryCall,
  type ServerWritableStream,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { Attempts } from '../gen/gateway/v1/common.js';
import type { Refusal } from '../gen/gateway/v1/governance.js';
import { GatewayError, isErrorCode } from './errors.js';
import type { Logger } from './log.js';

/**
 * Services call each other through `Api<typeof XService>`: a promise (or async
 * iterable, for server streams) per method of the generated gRPC definition.
 * In one process the caller gets the service object itself; across processes
 * it gets `grpcClient(...)`, which has the same type. Gateway errors cross the
 * wire as gRPC status plus metadata and are rebuilt on the other side.
 */

export interface CallOptions {
  /** Aborts the call (and, over gRPC, cancels it on the server). */
  signal?: AbortSignal;
}

interface AnyMethod {
  path: string;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  requestDeserialize: (value: Buffer) => unknown;
  responseSerialize: (value: never) => Buffer;
  responseDeserialize: (value: Buffer) => unknown;
}

type MethodApi<M> = M extends {
  responseStream: infer S;
  requestDeserialize: (value: Buffer) => infer Req;
  responseDeserialize: (value: Buffer) => infer Res;
}
  ? S extends true
    ? (request: Req, options?: CallOptions) => AsyncIterable<Res>
    : (request: Req, options?: CallOptions) => Promise<Res>
  : never;

export type Api<S> = { [K in keyof S]: MethodApi<S[K]> };

const CODE_KEY = 'gw-code';
const STATUS_KEY = 'gw-status';
const PARAM_KEY = 'gw-param';
// Binary metadata keys must end in -bin.
const ATTEMPTS_KEY = 'gw-attempts-bin';
const HEADER_PREFIX = 'gw-h-';

function toServiceError(err: unknown, log: Logger): Partial<ServiceError> {
  const metadata = new Metadata();
  if (err instanceof GatewayError) {
    metadata.set(CODE_KEY, err.code);
    metadata.set(STATUS_KEY, String(err.status));
    if (err.param) metadata.set(PARAM_KEY, err.param);
    if (err.attempts.length > 0) metadata.set(ATTEMPTS_KEY, Buffer.from(Attempts.encode({ attempts: err.attempts }).finish()));
    for (const [name, value] of Object.entries(err.headers)) metadata.set(`${HEADER_PREFIX}${name}`, value);
    return { code: grpcCodeFor(err.status), details: err.message, metadata };
  }
  log.error({ err }, 'unhandled error in gRPC handler');
  metadata.set(CODE_KEY, 'internal_error');
  return { code: GrpcStatus.INTERNAL, details: 'internal error', metadata };
}

function grpcCodeFor(httpStatus: number): GrpcStatus {
  if (httpStatus === 400 || httpStatus === 413 || httpStatus === 415) return GrpcStatus.INVALID_ARGUMENT;
  if (httpStatus === 401) return GrpcStatus.UNAUTHENTICATED;
  if (httpStatus === 403) return GrpcStatus.PERMISSION_DENIED;
  if (httpStatus === 404) return GrpcStatus.NOT_FOUND;
  if (httpStatus === 429) return GrpcStatus.RESOURCE_EXHAUSTED;
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
    const error = new GatewayError(code, err.details, {
      status: Number.isFinite(status) ? status : undefined,
      param: typeof param === 'string' ? param : undefined,
    });
    if (Buffer.isBuffer(attempts)) error.attempts = Attempts.decode(attempts).attempts;
    for (const [name, values] of Object.entries(err.metadata.getMap())) {
      if (name.startsWith(HEADER_PREFIX) && typeof values === 'string') error.headers[name.slice(HEADER_PREFIX.length)] = values;
    }
    return error;
  }
  if (err.code === GrpcStatus.CANCELLED) return new GatewayError('service_unavailable', `call to ${target} was cancelled`);
  if (err.code === GrpcStatus.DEADLINE_EXCEEDED) return new GatewayError('service_unavailable', `${target} did not answer in time`);
  return new GatewayError('service_unavailable', `${target} is unreachable: ${err.details || err.message}`, { cause: err });
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

/** Adapts an in-process service object to a grpc-js service implementation. */
export function grpcImplementation<S extends Record<string, AnyMethod>>(
  definition: S,
  api: Api<S>,
  log: Logger,
): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const fn = (api as Record<string, (req: unknown, options: CallOptions) => unknown>)[name]!.bind(api);
    if (method.responseStream) {
      handlers[name] = (call: ServerWritableStream<unknown, unknown>) => {
        const abort = new AbortController();
        const cancelled = () => abort.abort();
        call.on('cancelled', cancelled);
        void pipeStream(fn(call.request, { signal: abort.signal }) as AsyncIterable<unknown>, call, abort.signal, log).finally(() =>
          call.off('cancelled', cancelled),
        );
      };
    } else {
      handlers[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const abort = new AbortController();
        const cancelled = () => abort.abort();
        call.on('cancelled', cancelled);
        // grpc-js also reports 'cancelled' when the stream of a call already answered closes: not a cancellation
        // (each aborted the call's signal for nothing; measured with npm run bench, split routing 0.71 -> 0.52 ms).
        const answer = (err: Partial<ServiceError> | null, response?: unknown) => {
          call.off('cancelled', cancelled);
          callback(err, response);
        };
        (fn(call.request, { signal: abort.signal }) as Promise<unknown>).then(
          (response) => answer(null, response),
          (err: unknown) => answer(toServiceError(err, log)),
        );
      };
    }
  }
  return handlers;
}

async function pipeStream(
  source: AsyncIterable<unknown>,
  call: ServerWritableStream<unknown, unknown>,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  try {
    for await (const item of source) {
      if (signal.aborted) return;
      if (!call.write(item)) await new Promise<void>((resolve) => call.once('drain', resolve));
    }
    call.end();
  } catch (err) {
    if (!signal.aborted) call.destroy(toServiceError(err, log) as ServiceError);
  }
}

/**
 * Starts a call without the caller's stack trace: grpc-js makes an Error at
 * every call to keep it for its error messages (about 5 µs here, 3% of split
 * ingress's CPU in a profile), and fromServiceError writes its own message.
 */
function withoutCallerStack<T>(start: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return start();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** A client for a remote service with the same type as the in-process service object. */
export function grpcClient<S extends Record<string, AnyMethod>>(
  definition: S,
  address: string,
  target: string,
  options: { deadlineMs: number },
): Api<S> & { close(): void } {
  const client = new Client(address, credentials.createInsecure(), {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
  });
  const api: Record<string, unknown> = { close: () => client.close() };
  for (const [name, method] of Object.entries(definition)) {
    const serialize = method.requestSerialize as (value: unknown) => Buffer;
    if (method.responseStream) {
      api[name] = (request: unknown, callOptions: CallOptions = {}) =>
        clientStream(client, method, serialize, request, callOptions, target);
    } else {
      api[name] = (request: unknown, callOptions: CallOptions = {}) =>
        new Promise((resolve, reject) => {
          const call = withoutCallerStack(() =>
            client.makeUnaryRequest(
              method.path,
              serialize,
              method.responseDeserialize,
              request,
              new Metadata(),
              { deadline: Date.now() + options.deadlineMs },
              (err, response) => (err ? reject(fromServiceError(err, target)) : resolve(response)),
            ),
          );
          callOptions.signal?.addEventListener('abort', () => call.cancel(), { once: true });
        });
    }
  }
  return api as Api<S> & { close(): void };
}

async function* clientStream(
  client: Client,
  method: AnyMethod,
  serialize: (value: unknown) => Buffer,
  request: unknown,
  callOptions: CallOptions,
  target: string,
): AsyncIterable<unknown> {
  const call = withoutCallerStack(() => client.makeServerStreamRequest(method.path, serialize, method.responseDeserialize, request, new Metadata(), {}));
  const onAbort = () => call.cancel();
  callOptions.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for await (const item of call) yield item;
  } catch (err) {
    throw fromServiceError(err as ServiceError, target);
  } finally {
    callOptions.signal?.removeEventListener('abort', onAbort);
    call.cancel();
  }
}

/** The process's gRPC server: every local service that has a gRPC contract is served on it. */
export class GrpcServer {
  private readonly server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  private count = 0;

  add(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    this.server.addService(definition, implementation);
    this.count += 1;
  }

  get hasServices(): boolean {
    return this.count > 0;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (err, boundPort) =>
        err ? reject(err) : resolve(boundPort),
      );
    });
  }

  /** Lets in-flight calls finish, up to the timeout, then cancels the rest. */
  async stop(timeoutMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
