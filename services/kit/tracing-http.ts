import type { FastifyInstance } from 'fastify';
import { extractContext, SpanKind, SpanStatusCode, startSpan, tracingOn, withSpan, type Span } from './tracing.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's server span, while tracing is on (kit/tracing-http.ts). */
    traceSpan?: Span;
  }
}

/**
 * One server span per HTTP request, a child of the caller's `traceparent`
 * (honoured, so the gateway's trace joins the caller's), active while the
 * handler runs so every call it makes is its child. Nothing is added when
 * tracing is off.
 */
export function traceHttpServer(app: FastifyInstance): void {
  if (!tracingOn()) return;
  app.decorateRequest('traceSpan', undefined);
  app.addHook('onRequest', (request, _reply, done) => {
    const parent = extractContext((key) => {
      const value = request.headers[key];
      return Array.isArray(value) ? value[0] : value;
    });
    const route = request.routeOptions.url ?? '';
    request.traceSpan = startSpan(
      route ? `${request.method} ${route}` : request.method,
      SpanKind.SERVER,
      { 'http.request.method': request.method, 'http.route': route, 'url.path': request.url.split('?')[0] },
      parent,
    );
    done();
  });
  // The body is read between onRequest and here, on the socket's own events: the span is made active for the handler.
  app.addHook('preHandler', (request, _reply, done) => withSpan(request.traceSpan, done));
  app.addHook('onResponse', (request, reply, done) => {
    const span = request.traceSpan;
    if (span) {
      span.setAttribute('http.response.status_code', reply.statusCode);
      if (reply.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    }
    done();
  });
}
