import { Metadata, status as GrpcStatus, type Client, type ClientDuplexStream, type ServerDuplexStream, type ServiceError, type StatusObject } from '@grpc/grpc-js';
import { MultiplexService, type CallFrame, type CallFrames, type ReplyFrame, type ReplyFrames } from '../gen/gateway/v1/mux.js';
import { GatewayError } from './errors.js';
import { callerServices, refusal } from './grpc-tls.js';
import { callErrorOf, cancelledCall, errorOfCallError, fromServiceError, serviceUnavailable, unansweredCall } from './grpc-errors.js';
import type { Logger } from './log.js';
import { TurnBatch } from './turn-batch.js';

/**
 * Unary calls between processes as messages on one long-lived gRPC stream
 * (proto/gateway/v1/mux.proto): a call of its own costs an HTTP/2 stream,
 * headers and trailers on both sides, most of split mode's CPU per request.
 * Errors cross as CallError; cancellation and deadlines as cancel frames. The
 * frames of one event-loop turn travel as one message each way.
 */

export interface CallOptions {
  /** Aborts the call (and, over gRPC, cancels it on the server). */
  signal?: AbortSignal;
}

/** What a unary method is, to either side of the stream. */
export interface UnaryMethod {
  path: string;
  requestSerialize: (value: never) => Buffer;
  requestDeserialize: (value: Buffer) => unknown;
  responseSerialize: (value: never) => Buffer;
  responseDeserialize: (value: Buffer) => unknown;
}

type Handler = (request: unknown, options: CallOptions) => Promise<unknown>;

/** A method served on the stream: how to run it, and which services may call it. */
interface Served {
  method: UnaryMethod;
  run: Handler;
  callers: readonly string[];
}

/** Calls sent again when a stopping server refused them or ended the stream before starting them, at most. */
const MAX_SENDS = 3;
const NO_BYTES = Buffer.alloc(0);
/**
 * A turn's frames go as one message until they reach this many bytes: the
 * receiver takes messages of up to 64 MB (grpc.max_receive_message_length),
 * and a turn can hold many large requests (images, long prompts).
 */
const MESSAGE_BYTES = 4 * 1024 * 1024;
/**
 * A stream takes new calls for this long, then the next opens and the old one
 * ends once its calls are answered: through a load balancer that spreads
 * streams, calls move between replicas over time, and no proxy's limit on a
 * stream's age catches one with calls in flight.
 */
const STREAM_LIFETIME_MS = 30_000;
/** A frame this large goes (or fails) as a call of its own: on the stream, a message over 64 MB would end every call on it. */
const LARGEST_FRAME = 60 * 1024 * 1024;
const callBytes = { weigh: (frame: CallFrame) => frame.request.length, max: MESSAGE_BYTES };
const replyBytes = { weigh: (frame: ReplyFrame) => (frame.result?.$case === 'response' ? frame.result.response.length : 0), max: MESSAGE_BYTES };

/** Serves the Multiplex stream: each frame a call of one of the process's unary methods. */
export class MuxServer {
  private readonly handlers = new Map<string, Served>();
  private readonly streams = new Set<ServedStream>();
  private stopping = false;

  constructor(readonly log: Logger) {}

  register(method: UnaryMethod, run: Handler, callers: readonly string[]): void {
    this.handlers.set(method.path, { method, run, callers });
  }

  handlerOf(path: string): Served | undefined {
    return this.handlers.get(path);
  }

  get draining(): boolean {
    return this.stopping;
  }

  readonly serve = (call: ServerDuplexStream<CallFrames, ReplyFrames>): void => {
    const stream = new ServedStream(call, this, () => this.streams.delete(stream));
    this.streams.add(stream);
    // Opened on a connection that had not yet heard the server is stopping.
    stream.endIfIdle();
  };

  /** Stops starting calls: each stream ends once its calls in hand are answered (clients send new ones on a new stream). */
  drain(): void {
    this.stopping = true;
    for (const stream of this.streams) stream.endIfIdle();
  }
}

class ServedStream {
  private readonly inFlight = new Map<number, AbortController>();
  private readonly replies = new TurnBatch<ReplyFrame>((frames) => {
    if (!this.clientGone) this.call.write({ frames });
  }, { limit: replyBytes });
  private clientDone = false;
  private clientGone = false;
  private ended = false;
  /** The services the caller's certificate names (undefined without TLS), read once per stream. */
  private readonly callers: ReadonlySet<string> | undefined;

  constructor(
    private readonly call: ServerDuplexStream<CallFrames, ReplyFrames>,
    private readonly server: MuxServer,
    private readonly onEnded: () => void,
  ) {
    this.callers = callerServices(call);
    call.on('data', ({ frames }: CallFrames) => {
      for (const frame of frames) this.receive(frame);
    });
    call.on('end', () => {
      this.clientDone = true;
      this.endIfIdle();
    });
    // The client went away: nobody waits for these answers.
    call.on('cancelled', () => this.abandon());
    call.on('error', () => this.abandon());
  }

  private receive(frame: CallFrame): void {
    if (this.ended) return;
    if (frame.cancel) {
      this.inFlight.get(frame.id)?.abort();
      return;
    }
    if (this.server.draining) {
      this.replies.add({ id: frame.id, result: { $case: 'refused', refused: true } });
      return;
    }
    const handler = this.server.handlerOf(frame.method);
    // Each frame is checked against the stream's caller: a stream is not a pass to every method behind it.
    const error = handler ? refusal(frame.method, handler.callers, this.callers, this.server.log) : new GatewayError('internal_error', `this process serves no method ${frame.method}`);
    if (!handler || error) {
      this.replies.add({ id: frame.id, result: { $case: 'error', error: callErrorOf(error, this.server.log) } });
      return;
    }
    const abort = new AbortController();
    this.inFlight.set(frame.id, abort);
    let answer: Promise<unknown>;
    try {
      answer = handler.run(handler.method.requestDeserialize(frame.request), { signal: abort.signal });
    } catch (err) {
      answer = Promise.reject(err);
    }
    const serialize = handler.method.responseSerialize as (value: unknown) => Buffer;
    answer.then(serialize).then(
      (response) => {
        if (response.length <= LARGEST_FRAME) return this.answer(frame.id, { $case: 'response', response });
        const error = new GatewayError('internal_error', `an answer of ${response.length} bytes is larger than a message may be`);
        this.answer(frame.id, { $case: 'error', error: callErrorOf(error, this.server.log) });
      },
      (err: unknown) => this.answer(frame.id, { $case: 'error', error: callErrorOf(err, this.server.log) }),
    );
  }

  private answer(id: number, result: ReplyFrame['result']): void {
    this.inFlight.delete(id);
    if (this.ended) return;
    this.replies.add({ id, result });
    this.endIfIdle();
  }

  endIfIdle(): void {
    if (this.ended || this.inFlight.size > 0 || !(this.clientDone || this.server.draining)) return;
    this.ended = true;
    this.replies.flush();
    this.call.end();
    this.onEnded();
  }

  private abandon(): void {
    this.clientGone = true;
    if (this.ended) return;
    this.ended = true;
    for (const abort of this.inFlight.values()) abort.abort();
    this.inFlight.clear();
    this.onEnded();
  }
}

/** The same call as a gRPC call of its own, for a server without Multiplex. */
export type PlainCall = (request: unknown, options: CallOptions) => Promise<unknown>;

interface PendingCall {
  readonly method: UnaryMethod;
  /** The request as given, for the plain call, and encoded, for the stream. */
  readonly given: unknown;
  readonly options: CallOptions;
  readonly request: Buffer;
  readonly plain: PlainCall;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
  readonly timer: NodeJS.Timeout;
  id: number;
  stream?: OpenStream;
  sends: number;
  done: boolean;
}

interface OpenStream {
  readonly call: ClientDuplexStream<CallFrames, ReplyFrames>;
  readonly pending: Map<number, PendingCall>;
  /** Frames of this turn, written together once it ends. */
  readonly outbox: TurnBatch<CallFrame>;
  /** This side ended (at close, or retired with no call left on it): no more frames. */
  closed: boolean;
  readonly openedAt: number;
  status?: StatusObject;
}

/** The client side: one stream at a time to the server, opened on the first call and again after it ends. */
export class MuxClient {
  private current?: OpenStream;
  private lastId = 0;
  /** The server answered UNIMPLEMENTED: it predates Multiplex, so every call is a plain one. */
  private unsupported = false;

  constructor(
    private readonly client: Client,
    private readonly target: string,
    private readonly deadlineMs: number,
    private readonly lifetimeMs = STREAM_LIFETIME_MS,
  ) {}

  call(method: UnaryMethod, request: unknown, options: CallOptions, plain: PlainCall): Promise<unknown> {
    if (this.unsupported) return plain(request, options);
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(cancelledCall(this.target));
    let bytes: Buffer;
    try {
      bytes = (method.requestSerialize as (value: unknown) => Buffer)(request);
    } catch (err) {
      // A value out of its field's range (a uint32 past 2^32): this call fails, never the caller's turn.
      return Promise.reject(new GatewayError('internal_error', 'The gateway failed to process the request.', { cause: err, detail: `a ${method.path} request could not be encoded` }));
    }
    if (bytes.length > LARGEST_FRAME) return plain(request, options);
    return new Promise((resolve, reject) => {
      const call: PendingCall = {
        method,
        given: request,
        options,
        request: bytes,
        plain,
        resolve,
        reject,
        timer: setTimeout(() => this.giveUp(call, unansweredCall(this.target)), this.deadlineMs),
        id: 0,
        sends: 0,
        done: false,
      };
      signal?.addEventListener('abort', () => this.giveUp(call, cancelledCall(this.target)), { once: true });
      this.send(call);
    });
  }

  /**
   * Sends no more calls. The stream ends once the calls on it are answered,
   * retired as at rotation: until then it still carries their cancels.
   */
  close(): void {
    if (this.current) this.retire(this.current);
  }

  private send(call: PendingCall): void {
    if (call.sends === MAX_SENDS) {
      this.settle(call);
      call.reject(serviceUnavailable(`${this.target} is stopping and started none of ${MAX_SENDS} tries`));
      return;
    }
    call.sends += 1;
    this.lastId = (this.lastId + 1) >>> 0 || 1;
    call.id = this.lastId;
    if (this.current && performance.now() - this.current.openedAt > this.lifetimeMs) this.retire(this.current);
    const stream = (this.current ??= this.open());
    call.stream = stream;
    stream.pending.set(call.id, call);
    stream.outbox.add({ id: call.id, method: call.method.path, request: call.request, cancel: false });
  }

  private open(): OpenStream {
    const { calls } = MultiplexService;
    const call = withoutCallerStack(() =>
      this.client.makeBidiStreamRequest(calls.path, calls.requestSerialize, calls.responseDeserialize, new Metadata(), {}),
    );
    const stream: OpenStream = {
      call,
      pending: new Map(),
      // A stream that ended meanwhile took its calls' fate with it (failed, or sent again on the next).
      outbox: new TurnBatch((frames) => {
        if (!stream.status && !stream.closed) call.write({ frames });
      }, { limit: callBytes }),
      closed: false,
      openedAt: performance.now(),
    };
    call.on('data', ({ frames }: ReplyFrames) => {
      for (const frame of frames) this.receive(stream, frame);
    });
    // The status event says how the stream ended; this listener only keeps the error from being unhandled.
    call.on('error', () => {});
    call.on('status', (status: StatusObject) => {
      stream.status = status;
      if (status.code !== GrpcStatus.OK) this.failed(stream, status);
    });
    // A clean end comes after every answer sent was read: what is still pending was never started.
    call.on('end', () => {
      if (stream.status?.code === GrpcStatus.OK) this.resendAll(stream);
    });
    return stream;
  }

  private receive(stream: OpenStream, frame: ReplyFrame): void {
    const call = stream.pending.get(frame.id);
    if (!call || !frame.result) return;
    switch (frame.result.$case) {
      case 'response':
        this.settle(call);
        call.resolve(call.method.responseDeserialize(frame.result.response));
        return;
      case 'error':
        this.settle(call);
        call.reject(errorOfCallError(frame.result.error));
        return;
      case 'refused':
        // The server is stopping: this stream takes no more calls.
        stream.pending.delete(call.id);
        this.retire(stream);
        this.send(call);
    }
  }

  private failed(stream: OpenStream, status: StatusObject): void {
    this.retire(stream);
    if (status.code === GrpcStatus.UNIMPLEMENTED) this.unsupported = true;
    const error = status.code === GrpcStatus.UNIMPLEMENTED ? undefined : failure(status, this.target);
    for (const call of [...stream.pending.values()]) {
      this.settle(call);
      if (error) call.reject(error);
      else call.plain(call.given, call.options).then(call.resolve, call.reject);
    }
  }

  private resendAll(stream: OpenStream): void {
    this.retire(stream);
    for (const call of [...stream.pending.values()]) {
      stream.pending.delete(call.id);
      this.send(call);
    }
  }

  /**
   * Sends no new calls on the stream. It ends once the calls on it are
   * answered; until then it still carries their cancels.
   */
  private retire(stream: OpenStream): void {
    if (this.current === stream) this.current = undefined;
    this.endIfDone(stream);
  }

  private endIfDone(stream: OpenStream): void {
    if (stream !== this.current && stream.pending.size === 0 && !stream.closed && !stream.status) this.halfClose(stream);
  }

  /** What is in the outbox goes, then the end of the client's side. */
  private halfClose(stream: OpenStream): void {
    stream.outbox.flush();
    stream.closed = true;
    stream.call.end();
  }

  /** Stops waiting for a call: its deadline passed or its caller went away. The server hears so. */
  private giveUp(call: PendingCall, error: GatewayError): void {
    if (call.done) return;
    const stream = call.stream;
    // Before settling, which ends a retired stream whose last call this was (sending its outbox first).
    if (stream && !stream.status && !stream.closed) stream.outbox.add({ id: call.id, method: '', request: NO_BYTES, cancel: true });
    this.settle(call);
    call.reject(error);
  }

  private settle(call: PendingCall): void {
    call.done = true;
    clearTimeout(call.timer);
    const stream = call.stream;
    if (!stream) return;
    stream.pending.delete(call.id);
    this.endIfDone(stream);
  }
}

/**
 * Starts a call without the caller's stack trace: grpc-js makes an Error at
 * every call to keep it for its error messages (about 5 µs here, 3% of split
 * ingress's CPU in a profile), and fromServiceError writes its own message.
 */
export function withoutCallerStack<T>(start: () => T): T {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return start();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

function failure(status: StatusObject, target: string): GatewayError {
  return fromServiceError(Object.assign(new Error(status.details), status) as ServiceError, target);
}
