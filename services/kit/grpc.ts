import {
  credentials,
  Metadata,
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
import { cancelledCall, fromServiceError, toServiceError } from './grpc-errors.js';
import { callerServices, refusal, type Callers, type GrpcTls } from './grpc-tls.js';
import type { Logger } from './log.js';
import { endSpan, extractContext, injectContext, SpanKind, startRpcSpan, tracingOn, withSpan, type Span } from './tracing.js';

export { errorOfRefusal, fromServiceError, refusalOf } from './grpc-errors.js';

/**
 * Services call each other through `Api<typeof XService>`: a promise (or async
 * iterable, for server streams) per method of the generated gRPC definition.
 * In one process the caller gets the service object itself; across processes
 * it gets `grpcClient(...)`, which has the same type: each call is a gRPC call
 * of its own, with a gRPC deadline, cancelled when the caller's signal aborts.
 * Gateway errors cross as status and metadata (grpc-errors.ts) and are rebuilt.
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

/** Large requests and answers (images, long prompts) up to this size, each way. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

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

/** Adapts an in-process service object to a grpc-js service implementation that serves each method to its callers only. */
export function grpcImplementation<S extends Record<string, AnyMethod>>(
  definition: S,
  api: Api<S>,
  log: Logger,
  callers: Callers<S>,
): UntypedServiceImplementation {
  const handlers: UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(definition)) {
    const fn = (api as Record<string, (req: unknown, options: CallOptions) => unknown>)[name]!.bind(api);
    const allowed = callers[name]!;
    if (method.responseStream) {
      handlers[name] = (call: ServerWritableStream<unknown, unknown>) => {
        const refused = refusal(method.path, allowed, callerServices(call), log);
        if (refused) return void call.emit('error', toServiceError(refused, log));
        const abort = new AbortController();
        const cancelled = () => abort.abort();
        call.on('cancelled', cancelled);
        const span = serverSpan(method.path, call.metadata);
        void withSpan(span, () => pipeStream(fn(call.request, { signal: abort.signal }) as AsyncIterable<unknown>, call, abort.signal, log, span)).finally(() =>
          call.off('cancelled', cancelled),
        );
      };
    } else {
      handlers[name] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const refused = refusal(method.path, allowed, callerServices(call), log);
        if (refused) return void callback(toServiceError(refused, log));
        const abort = new AbortController();
        const cancelled = () => abort.abort();
        call.on('cancelled', cancelled);
        // grpc-js also reports 'cancelled' when the stream of a call already answered closes: not a cancellation,
        // and aborting the call's signal then costs a DOMException and the provider call's linked signals for nothing.
        const answer = (err: Partial<ServiceError> | null, response?: unknown) => {
          call.off('cancelled', cancelled);
          callback(err, response);
        };
        const span = serverSpan(method.path, call.metadata);
        (withSpan(span, () => fn(call.request, { signal: abort.signal })) as Promise<unknown>).then(
          (response) => {
            endSpan(span);
            answer(null, response);
          },
          (err: unknown) => {
            endSpan(span, err);
            answer(toServiceError(err, log));
          },
        );
      };
    }
  }
  return handlers;
}

/** The server span of a call, a child of the caller's span its metadata carries; undefined when tracing is off. */
function serverSpan(path: string, metadata: Metadata): Span | undefined {
  if (!tracingOn()) return undefined;
  return startRpcSpan(
    path,
    SpanKind.SERVER,
    extractContext((key) => metadata.get(key)[0]?.toString()),
  );
}

/** Metadata carrying the active trace context (when tracing is on). */
function callMetadata(span: Span | undefined): Metadata {
  const metadata = new Metadata();
  if (span) withSpan(span, () => injectContext((key, value) => metadata.set(key, value)));
  return metadata;
}

async function pipeStream(
  source: AsyncIterable<unknown>,
  call: ServerWritableStream<unknown, unknown>,
  signal: AbortSignal,
  log: Logger,
  span: Span | undefined,
): Promise<void> {
  try {
    for await (const item of source) {
      if (signal.aborted) return endSpan(span);
      if (!call.write(item)) await new Promise<void>((resolve) => call.once('drain', resolve));
    }
    call.end();
    endSpan(span);
  } catch (err) {
    endSpan(span, err);
    // grpc-js ends a server stream with an error status on 'error'; destroy() would end it without one, and the caller would wait forever.
    if (!signal.aborted) call.emit('error', toServiceError(err, log));
  }
}

/** A client for a remote service with the same type as the in-process service object. */
export function grpcClient<S extends Record<string, AnyMethod>>(
  definition: S,
  address: string,
  target: string,
  options: { deadlineMs: number; tls?: ReturnType<GrpcTls['channelTo']> },
): Api<S> & { close(): void } {
  const client = new Client(address, options.tls?.credentials ?? credentials.createInsecure(), {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    ...options.tls?.options,
  });
  const api: Record<string, unknown> = { close: () => client.close() };
  for (const [name, method] of Object.entries(definition)) {
    const serialize = method.requestSerialize as (value: unknown) => Buffer;
    api[name] = method.responseStream
      ? (request: unknown, callOptions: CallOptions = {}) => clientStream(client, method, serialize, request, callOptions, target)
      : (request: unknown, callOptions: CallOptions = {}) => unaryCall(client, method, serialize, request, callOptions, target, options.deadlineMs);
  }
  return api as Api<S> & { close(): void };
}

function unaryCall(
  client: Client,
  method: AnyMethod,
  serialize: (value: unknown) => Buffer,
  request: unknown,
  { signal }: CallOptions,
  target: string,
  deadlineMs: number,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelledCall(target));
    const onAbort = () => call.cancel();
    const span = startRpcSpan(method.path, SpanKind.CLIENT);
    const call = withoutCallerStack(() =>
      client.makeUnaryRequest(
        method.path,
        serialize,
        method.responseDeserialize,
        request,
        callMetadata(span),
        { deadline: Date.now() + deadlineMs },
        (err, response) => {
          signal?.removeEventListener('abort', onAbort);
          if (err) {
            const error = fromServiceError(err, target);
            endSpan(span, error);
            reject(error);
          } else {
            endSpan(span);
            resolve(response);
          }
        },
      ),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

async function* clientStream(
  client: Client,
  method: AnyMethod,
  serialize: (value: unknown) => Buffer,
  request: unknown,
  callOptions: CallOptions,
  target: string,
): AsyncIterable<unknown> {
  const span = startRpcSpan(method.path, SpanKind.CLIENT);
  const call = withoutCallerStack(() => client.makeServerStreamRequest(method.path, serialize, method.responseDeserialize, request, callMetadata(span), {}));
  const onAbort = () => call.cancel();
  callOptions.signal?.addEventListener('abort', onAbort, { once: true });
  let failure: Error | undefined;
  try {
    for await (const item of call) yield item;
  } catch (err) {
    failure = fromServiceError(err as ServiceError, target);
    throw failure;
  } finally {
    endSpan(span, failure);
    callOptions.signal?.removeEventListener('abort', onAbort);
    call.cancel();
  }
}

/** The process's gRPC server: every local service that has a gRPC contract is served on it. */
export class GrpcServer {
  private readonly server = new Server({ 'grpc.max_receive_message_length': MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': MAX_MESSAGE_BYTES });
  private count = 0;

  /** `tls`: serve over mutual TLS, each method only to the services `add` names; without it, plaintext (loopback or an insecure choice). */
  constructor(private readonly tls?: GrpcTls) {}

  /** Serves a service; `callers` names, per method, the services that may call it. */
  add<S extends Record<string, AnyMethod>>(definition: S, api: Api<S>, log: Logger, callers: Callers<S>): void {
    this.server.addService(definition as unknown as ServiceDefinition, grpcImplementation(definition, api, log, callers));
    this.count += 1;
  }

  get hasServices(): boolean {
    return this.count > 0;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, this.tls?.serverCredentials() ?? ServerCredentials.createInsecure(), (err, boundPort) =>
        err ? reject(err) : resolve(boundPort),
      );
    });
  }

  /**
   * Lets in-flight calls finish, up to the timeout, then cancels the rest.
   * tryShutdown closes the port and sends GOAWAY, so callers open their next
   * calls on a new connection, to whichever process answers the address then.
   */
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

/**
 * Starts a call without the caller's stack trace: grpc-js makes an Error at
 * every call to keep it for its error messages, a cost on every call that
 * fromServiceError, which writes its own message, never uses.
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
