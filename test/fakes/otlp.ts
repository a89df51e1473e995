import { createServer } from 'node:http';
import { listenLocally, readBody, writeJson } from './local-server.js';

/**
 * A local OTLP/HTTP trace receiver, JSON encoding (https://opentelemetry.io/docs/specs/otlp/#otlphttp):
 * POST /v1/traces with `content-type: application/json`, an
 * ExportTraceServiceRequest whose ids are hex strings; answered 200 with an
 * empty ExportTraceServiceResponse. Any other path or content type is 404 /
 * 415, as a collector answers it, and is not collected.
 */
export interface ReceivedSpan {
  /** service.name of the resource that sent it. */
  service: string;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  status: { code?: number; message?: string };
}

export interface FakeOtlp {
  /** The traces endpoint: <url>/v1/traces. */
  readonly endpoint: string;
  readonly spans: ReceivedSpan[];
  /** Headers of every export request received. */
  readonly requests: Array<Record<string, string | string[] | undefined>>;
  close(): Promise<void>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
}

interface KeyValue {
  key: string;
  value: AnyValue;
}

interface ExportTraceServiceRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: KeyValue[];
        status?: { code?: number; message?: string };
      }>;
    }>;
  }>;
}

function scalarOf(value: AnyValue): string | number | boolean {
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  throw new Error(`unexpected OTLP attribute value ${JSON.stringify(value)}`);
}

const attributesOf = (list: KeyValue[] | undefined) => Object.fromEntries((list ?? []).map((kv) => [kv.key, scalarOf(kv.value)]));

export async function startFakeOtlp(): Promise<FakeOtlp> {
  const spans: ReceivedSpan[] = [];
  const requests: FakeOtlp['requests'] = [];
  const server = createServer(async (req, res) => {
    const body = await readBody(req);
    if (req.method !== 'POST' || req.url !== '/v1/traces') return writeJson(res, 404, { message: 'not found' });
    if (!req.headers['content-type']?.startsWith('application/json')) return writeJson(res, 415, { message: 'only JSON is accepted here' });
    requests.push(req.headers);
    const exported = JSON.parse(body.toString('utf8')) as ExportTraceServiceRequest;
    for (const resourceSpans of exported.resourceSpans ?? []) {
      const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? '');
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          spans.push({
            service,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            name: span.name,
            kind: span.kind,
            attributes: attributesOf(span.attributes),
            status: span.status ?? {},
          });
        }
      }
    }
    writeJson(res, 200, {});
  });
  const local = await listenLocally(server);
  return { endpoint: `${local.url}/v1/traces`, spans, requests, close: local.close };
}
