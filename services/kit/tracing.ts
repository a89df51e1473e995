import {
  context,
  diag,
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { z } from 'zod';
import { asGatewayError } from './errors.js';
import type { Logger } from './log.js';

export { SpanKind, SpanStatusCode, type Span };

/**
 * OpenTelemetry traces (docs/operations.md#traces): explicit spans at the
 * gateway's own hops, exported over OTLP/HTTP (JSON). Off unless an endpoint
 * is set; then every helper here is a branch on `active` and nothing more, so
 * a gateway without tracing pays nothing on the request path.
 */

export const tracesConfig = z
  .strictObject({
    endpoint: z
      .string()
      .default('')
      .refine((url) => url === '' || (/^https?:\/\//.test(url) && URL.canParse(url)), 'expected an http(s) URL, e.g. http://otel-collector:4318/v1/traces')
      .describe('OTLP/HTTP URL spans are sent to (JSON), e.g. http://otel-collector:4318/v1/traces. Empty: no traces (the default).'),
    sampleRatio: z
      .number()
      .min(0)
      .max(1)
      .default(1)
      .describe(
        "Share of new traces recorded (0 to 1). Parent-based: a request whose traceparent says sampled (or not) keeps its caller's decision, and every hop after ingress follows ingress's.",
      ),
    headers: z.record(z.string().min(1), z.string()).default({}).describe('HTTP headers sent with each export (a collector or vendor API key: secret).'),
    includeContent: z
      .boolean()
      .default(false)
      .describe('Put prompt and completion text in the provider call spans (gen_ai.input.messages, gen_ai.output.messages). Off: spans carry no content.'),
  })
  .prefault({});

export type TracesConfig = z.infer<typeof tracesConfig>;

/** Spans waiting in the process are sent at least this often. */
const EXPORT_DELAY_MS = 1_000;

interface Active {
  tracer: Tracer;
  includeContent: boolean;
}

let active: Active | undefined;
const propagator = new W3CTraceContextPropagator();

export interface Tracing {
  /** Sends the spans still waiting, then stops tracing in this process. */
  stop(): Promise<void>;
}

/**
 * Starts tracing in this process when the config names an endpoint; undefined
 * (no exporter, no context manager, no-op helpers) when it does not.
 */
export function startTracing(config: TracesConfig, serviceName: string, log: Logger): Tracing | undefined {
  if (!config.endpoint) return undefined;
  if (active) throw new Error('tracing is already started in this process');
  // The SDK's own trouble (an export the endpoint refused or never answered) is logged, not dropped.
  const warn = (message: string, ...args: unknown[]) => log.warn({ detail: args.map(String).join(' ') }, `traces: ${message}`);
  diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers } }),
        scheduledDelayMillis: EXPORT_DELAY_MS,
      }),
    ],
  });
  // The span of a hop reaches the calls it makes through the async context: AsyncLocalStorage.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  active = { tracer: provider.getTracer('ai-gateway'), includeContent: config.includeContent };
  return {
    async stop() {
      active = undefined;
      // The last export failing must not fail the shutdown: the spans are lost, and said to be.
      await provider.shutdown().catch((err: unknown) => log.warn({ reason: (err as Error).message }, 'traces: the last spans could not be exported'));
      context.disable();
      diag.disable();
    },
  };
}

export function tracingOn(): boolean {
  return active !== undefined;
}

/** Whether spans may carry prompt and completion text (telemetry.traces.includeContent). */
export function tracingContent(): boolean {
  return active?.includeContent ?? false;
}

/** Starts a span, a child of `parent` (default: the active context); undefined when tracing is off. */
export function startSpan(name: string, kind: SpanKind, attributes?: Attributes, parent?: Context): Span | undefined {
  return active?.tracer.startSpan(name, { kind, attributes }, parent ?? context.active());
}

/** Runs `fn` with `span` as the active span, so the calls it makes are its children. */
export function withSpan<T>(span: Span | undefined, fn: () => T): T {
  return span ? context.with(trace.setSpan(context.active(), span), fn) : fn();
}

/** Ends a span, as failed with the gateway error code when `err` is given. */
export function endSpan(span: Span | undefined, err?: unknown): void {
  if (!span) return;
  if (err !== undefined) {
    const code = asGatewayError(err).code;
    span.setAttribute('error.type', code);
    span.setStatus({ code: SpanStatusCode.ERROR, message: code });
  }
  span.end();
}

/** The trace id of a span that belongs to a trace (sampled or not); undefined without one. */
export function traceIdOf(span: Span | undefined): string | undefined {
  const ctx = span?.spanContext();
  return ctx && trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
}

/** The W3C traceparent of a span, for a carrier of its own (an event's NATS header). */
export function traceparentOf(span: Span): string {
  const carrier: Record<string, string> = {};
  propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, { set: (c, key, value) => void (c[key] = value) });
  return carrier.traceparent ?? '';
}

/** Writes the active trace context into a carrier (gRPC metadata, HTTP headers) through `set`. */
export function injectContext(set: (key: string, value: string) => void): void {
  propagator.inject(context.active(), set, { set: (setter, key, value) => setter(key, value) });
}

/** The trace context a carrier holds (a traceparent header, gRPC metadata), read through `get`; ROOT_CONTEXT without one. */
export function extractContext(get: (key: string) => string | undefined): Context {
  return propagator.extract(ROOT_CONTEXT, get, {
    get: (getter, key) => getter(key),
    keys: () => ['traceparent', 'tracestate'],
  });
}

/** A span of a gRPC call (`path`: /gateway.v1.Governance/Authorize), client or server side; undefined when tracing is off. */
export function startRpcSpan(path: string, kind: SpanKind, parent?: Context): Span | undefined {
  if (!active) return undefined;
  const [service = '', method = ''] = path.slice(1).split('/');
  return startSpan(path.slice(1), kind, { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method }, parent);
}
