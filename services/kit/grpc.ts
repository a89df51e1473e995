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
import { MultiplexService } from '../gen/gateway/v1/mux.js';
import { fromServiceError, toServiceError } from './grpc-errors.js';
import { MuxClient, MuxServer, withoutCallerStack, type CallOptions, type PlainCall, type UnaryMethod } from './grpc-mux.js';
import { callerServices, refusal, type Callers, type GrpcTls } from './grpc-tls.js';
import type { Logger } from './log.js';

export { errorOfRefusal, fromServiceError, refusalOf } from './grpc-errors.js';
export type { CallOptions } from './grpc-mux.js';

/**
 * Services call each other through `Api<typeof XService>`: a promise (or async
 * iterable, for server streams) per method of the generated gRPC definition.
 * In one process the caller gets the service object itself; across processes
 * it gets `grpcClient(...)`, which has the same type: unary calls travel as
 * messages on one stream per client (grpc-mux.ts), server streams as calls of
 * their own. Gateway errors are rebuilt on the other side.
 */

interface AnyMethod extends UnaryMethod {
  responseStream: boolean;
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
        void pipeStream(fn(call.request, { signal: abort.signal }) as AsyncIterable<unknown>, call, abort.signal, log).finally(() =>
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
    // grpc-js ends a server stream with an error status on 'error'; destroy() would end it without one, and the caller would wait forever.
    if (!signal.aborted) call.emit('error', toServiceError(err, log));
  }
}

/** A client for a remote service with the same type as the in-process service object. */
export function grpcClient<S extends Record<string, AnyMethod>>(
  definition: S,
  address: string,
  target: string,
  options: { deadlineMs: number; multiplex?: boolean; streamLifetimeMs?: number; tls?: ReturnType<GrpcTls['channelTo']> },
): Api<S> & { close(): void } {
  const client = new Client(address, options.tls?.credentials ?? credentials.createInsecure(), {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    ...options.tls?.options,
  });
  const mux = options.multiplex === false ? undefined : new MuxClient(client, target, options.deadlineMs, options.streamLifetimeMs);
  const api: Record<string, unknown> = {
    close: () => {
      mux?.close();
      client.close();
    },
  };
  for (const [name, method] of Object.entries(definition)) {
    const serialize = method.requestSerialize as (value: unknown) => Buffer;
    if (method.responseStream) {
      api[name] = (request: unknown, callOptions: CallOptions = {}) =>
        clientStream(client, method, serialize, request, callOptions, target);
    } else {
      const plainCall: PlainCall = (request, callOptions) =>
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
      api[name] = mux
        ? (request: unknown, callOptions: CallOptions = {}) => mux.call(method, request, callOptions, plainCall)
        : (request: unknown, callOptions: CallOptions = {}) => plainCall(request, callOptions);
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

/**
 * The process's gRPC server: every local service that has a gRPC contract is
 * served on it, each unary method also through the Multiplex stream.
 */
export class GrpcServer {
  private readonly server = new Server({ 'grpc.max_receive_message_length': 64 * 1024 * 1024 });
  private mux?: MuxServer;
  private count = 0;

  /** `tls`: serve over mutual TLS, each method only to the services `add` names; without it, plaintext (loopback or an insecure choice). */
  constructor(private readonly tls?: GrpcTls) {}

  /** Serves a service; `callers` names, per method, the services that may call it. */
  add<S extends Record<string, AnyMethod>>(definition: S, api: Api<S>, log: Logger, callers: Callers<S>): void {
    this.server.addService(definition as unknown as ServiceDefinition, grpcImplementation(definition, api, log, callers));
    if (!this.mux) {
      this.mux = new MuxServer(log);
      this.server.addService(MultiplexService as unknown as ServiceDefinition, { calls: this.mux.serve });
    }
    for (const [name, method] of Object.entries(definition)) {
      if (method.responseStream) continue;
      const fn = (api as Record<string, (req: unknown, options: CallOptions) => Promise<unknown>>)[name]!.bind(api);
      this.mux.register(method, fn, callers[name]!);
    }
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
      // After tryShutdown, so that clients open their next stream on a new connection.
      this.mux?.drain();
    });
  }
}
