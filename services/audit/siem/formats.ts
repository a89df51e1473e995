import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { GuardrailOutcome } from '../../gen/gateway/v1/common.js';
import { Event } from '../../gen/gateway/v1/events.js';
import type { SinkFormat } from './config.js';

/**
 * Event records for SIEMs. Every record is one line (no newline inside or at
 * the end), so line-oriented transports and parsers keep each event whole.
 */

export const PRODUCT = { vendor: 'AI Gateway', name: 'AI Gateway', version: gatewayVersion() };
export const OCSF_VERSION = '1.3.0';

/** The version in the project's package.json (source tree or dist/), for product.version fields. */
function gatewayVersion(): string {
  for (const up of ['../../../package.json', '../../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'ai-gateway' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

export function formatEvent(format: SinkFormat, event: Event): string {
  switch (format) {
    case 'native':
      return JSON.stringify(Event.toJSON(event));
    case 'ocsf':
      return JSON.stringify(toOcsf(event));
    case 'cef':
      return toCef(event);
  }
}

/**
 * How much an event matters, on one scale for all formats: Informational for
 * normal traffic, Low for failures and admin changes (expected, but worth a
 * look), Medium for refused credentials (possible probing).
 */
export type Level = 'informational' | 'low' | 'medium';

export function levelOf(event: Event): Level {
  const p = event.payload;
  if (event.type === 'auth.failed') return 'medium';
  if (p?.$case === 'request' && event.type === 'request.rejected') return p.request.httpStatus === 401 || p.request.httpStatus === 403 ? 'medium' : 'low';
  if (event.type === 'request.failed' || event.type.startsWith('admin.')) return 'low';
  if (p?.$case === 'attempt' && p.attempt.outcome !== 'ok') return 'low';
  // A key reaching for a tool it was not granted, or a held (possibly poisoned) tool, is worth a look.
  if (p?.$case === 'tool')
    return p.tool.outcome === 'tool_not_allowed' || p.tool.outcome === 'tool_held' ? 'medium' : p.tool.outcome === 'ok' ? 'informational' : 'low';
  return 'informational';
}

/** Syslog severity (RFC 5424): 6 informational, 5 notice, 4 warning. */
export const SYSLOG_SEVERITY: Record<Level, number> = { informational: 6, low: 5, medium: 4 };
const OCSF_SEVERITY: Record<Level, [number, string]> = { informational: [1, 'Informational'], low: [2, 'Low'], medium: [3, 'Medium'] };
/** CEF 0-10: 0-3 low, 4-6 medium (ArcSight's bands). */
const CEF_SEVERITY: Record<Level, number> = { informational: 1, low: 3, medium: 5 };

type Status = 'success' | 'failure' | 'unknown';

function statusOf(event: Event): Status {
  const p = event.payload;
  if (event.type === 'auth.failed' || event.type === 'request.failed' || event.type === 'request.rejected') return 'failure';
  if (event.type === 'request.completed' || p?.$case === 'admin') return 'success';
  if (p?.$case === 'attempt') return p.attempt.outcome === 'ok' ? 'success' : 'failure';
  if (p?.$case === 'tool') return p.tool.outcome === 'ok' ? 'success' : 'failure';
  if (p?.$case === 'codeRun') return p.codeRun.outcome === 'ok' ? 'success' : 'failure';
  return 'unknown'; // request.received: the outcome is not known yet
}

const nonEmpty = (value: string | undefined): string | undefined => (value ? value : undefined);

/** "GET /admin/keys" → method and path. */
function splitTarget(target: string): { method?: string; path?: string } {
  const space = target.indexOf(' ');
  return space < 0 ? { path: nonEmpty(target) } : { method: target.slice(0, space), path: nonEmpty(target.slice(space + 1)) };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// ---- OCSF ------------------------------------------------------------------

const OCSF_ACTIVITY: Record<number, string> = { 1: 'Create', 2: 'Read', 3: 'Update', 4: 'Delete' };

/**
 * API Activity's ids are CRUD on a resource. Admin changes map by their
 * action (rotate and revoke change a key that stays, so Update); a refused
 * admin call by its HTTP method. Model calls (request.*, upstream.attempt)
 * create nothing that persists, so they are 99 Other, named "Invoke":
 * counting them as Create would trip SIEM rules meant for new resources.
 */
function ocsfActivity(event: Event): [number, string] {
  const p = event.payload;
  let id = 99;
  if (p?.$case === 'admin') {
    const action = p.admin.action;
    id =
      action === 'create'
        ? 1
        : action === 'delete'
          ? 4
          : ['read', 'list', 'get'].includes(action)
            ? 2
            : ['update', 'rotate', 'revoke', 'enable', 'disable'].includes(action)
              ? 3
              : 99;
    return [id, OCSF_ACTIVITY[id] ?? action];
  }
  if (p?.$case === 'auth') {
    const method = splitTarget(p.auth.target).method ?? '';
    id = method === 'POST' ? 1 : method === 'GET' || method === 'HEAD' ? 2 : method === 'PUT' || method === 'PATCH' ? 3 : method === 'DELETE' ? 4 : 99;
    return [id, OCSF_ACTIVITY[id] ?? 'Other'];
  }
  return [99, 'Invoke'];
}

export function toOcsf(event: Event): Record<string, unknown> {
  const [activityId, activityName] = ocsfActivity(event);
  const [severityId, severity] = OCSF_SEVERITY[levelOf(event)];
  const status = statusOf(event);
  const actor = event.actor;
  const admin = nonEmpty(actor?.admin);
  const userId = admin ?? nonEmpty(actor?.keyId);
  const user = userId
    ? {
        uid: userId,
        name: admin ?? nonEmpty(actor?.keyName),
        type_id: admin ? 2 : undefined,
        type: admin ? 'Admin' : undefined,
        // A virtual key is the credential the caller used.
        credential_uid: admin ? undefined : nonEmpty(actor?.keyId),
        groups: actor?.teamId ? [{ uid: actor.teamId, type: 'team' }] : undefined,
        org: actor?.customerId ? { uid: actor.customerId } : undefined,
      }
    : undefined;
  const source = event.sourceAddress && isIP(event.sourceAddress) ? { ip: event.sourceAddress } : { svc_name: event.service || 'ai-gateway' };
  const record: Record<string, unknown> = {
    category_uid: 6,
    category_name: 'Application Activity',
    class_uid: 6003,
    class_name: 'API Activity',
    activity_id: activityId,
    activity_name: activityName,
    type_uid: 6003 * 100 + activityId,
    type_name: `API Activity: ${activityName}`,
    severity_id: severityId,
    severity,
    status_id: status === 'success' ? 1 : status === 'failure' ? 2 : 0,
    status: status === 'success' ? 'Success' : status === 'failure' ? 'Failure' : 'Unknown',
    time: event.time?.getTime() ?? 0,
    metadata: {
      version: OCSF_VERSION,
      product: { name: PRODUCT.name, vendor_name: PRODUCT.vendor, version: PRODUCT.version },
      uid: event.id,
      correlation_uid: nonEmpty(event.requestId) ?? nonEmpty(event.traceId),
      event_code: event.type,
      log_name: 'audit',
    },
    actor: { user, app_name: nonEmpty(event.service) },
    src_endpoint: source,
    unmapped: { event_type: event.type, trace_id: nonEmpty(event.traceId), schema_version: event.schemaVersion },
  };
  const unmapped = record.unmapped as Record<string, unknown>;
  const p = event.payload;
  const requestRef = nonEmpty(event.requestId) ? { uid: event.requestId } : undefined;
  switch (p?.$case) {
    case 'request': {
      const r = p.request;
      record.api = {
        operation: r.endpoint || 'unknown',
        service: { name: 'ai-gateway' },
        request: requestRef,
        response: r.httpStatus ? { code: r.httpStatus, error: nonEmpty(r.errorCode), error_message: nonEmpty(r.errorMessage) } : undefined,
      };
      if (r.httpStatus) record.http_response = { code: r.httpStatus };
      record.duration = Math.round(r.durationMs);
      record.status_code = nonEmpty(r.errorCode);
      record.status_detail = nonEmpty(r.errorMessage);
      record.resources = r.model ? [{ type: 'model', name: r.model }] : undefined;
      record.message = `${event.type} ${r.endpoint} ${r.model}${r.errorCode ? `: ${r.errorCode}` : ''}`;
      Object.assign(unmapped, {
        served: r.served,
        usage: r.usage,
        stream: r.stream,
        cache_hit: r.cacheHit,
        attempts: r.attempts.length || undefined,
        guardrails: r.guardrails.length > 0 ? r.guardrails : undefined,
      });
      break;
    }
    case 'attempt': {
      const a = p.attempt;
      record.api = {
        operation: 'invoke',
        service: { name: a.provider },
        request: requestRef,
        response: { code: a.upstreamStatus || undefined, error: a.outcome === 'ok' ? undefined : a.outcome, error_message: nonEmpty(a.errorMessage) },
      };
      record.duration = Math.round(a.durationMs);
      record.resources = [{ type: 'model', name: a.model, uid: nonEmpty(a.deployment) }];
      record.message = `${a.reason || 'attempt'} ${a.provider}/${a.model}: ${a.outcome}`;
      Object.assign(unmapped, { reason: nonEmpty(a.reason), credential: a.credential });
      break;
    }
    case 'admin': {
      const c = p.admin;
      record.api = { operation: c.action, service: { name: 'admin_api' }, request: requestRef };
      record.resources = [{ type: c.resource, uid: nonEmpty(c.resourceId), data: { before: parseJson(c.beforeJson), after: parseJson(c.afterJson) } }];
      record.message = `${admin ?? 'admin'} ${c.action} ${c.resource} ${c.resourceId}`;
      break;
    }
    case 'tool': {
      const t = p.tool;
      record.api = {
        operation: 'tools/call',
        service: { name: t.server },
        request: requestRef,
        response: t.outcome === 'ok' ? undefined : { error: t.outcome, error_message: nonEmpty(t.errorMessage) },
      };
      record.duration = Math.round(t.durationMs);
      record.resources = [{ type: 'tool', name: t.tool }];
      record.message = `tool ${t.tool} via ${t.surface}: ${t.outcome}`;
      Object.assign(unmapped, { arguments_sha256: t.argumentsSha256, result_bytes: t.resultBytes, surface: t.surface });
      break;
    }
    case 'codeRun': {
      const r = p.codeRun;
      record.api = {
        operation: 'execute_code',
        service: { name: 'code_mode' },
        request: requestRef,
        response: r.outcome === 'ok' ? undefined : { error: r.outcome, error_message: nonEmpty(r.errorMessage) },
      };
      record.duration = Math.round(r.durationMs);
      record.resources = r.calls.map((c) => ({ type: 'tool', name: c.tool }));
      record.message = `code run ${r.runId}: ${r.calls.length} tool calls, ${r.outcome}`;
      Object.assign(unmapped, { run_id: r.runId, program_sha256: r.programSha256, calls: r.calls });
      break;
    }
    case 'auth': {
      const f = p.auth;
      const { method, path } = splitTarget(f.target);
      record.api = {
        operation: f.target || 'unknown',
        service: { name: f.surface || 'admin_api' },
        request: requestRef,
        response: { error: 'unauthorized', message: nonEmpty(f.reason) },
      };
      record.http_request = { http_method: method, url: path ? { path } : undefined };
      record.status_detail = nonEmpty(f.reason);
      record.message = `refused credential on ${f.surface} ${f.target}: ${f.reason}`;
      break;
    }
    case 'checkpoint': {
      // What a SIEM keeps so that gateway audit verify can be checked against it later.
      const c = p.checkpoint;
      record.api = { operation: event.type, service: { name: 'audit_log' } };
      record.message = `audit log head at row ${c.seq}: ${c.hash}`;
      Object.assign(unmapped, { checkpoint: { seq: Number(c.seq), hash: c.hash, key_id: c.keyId, mac: c.mac } });
      break;
    }
    default:
      record.api = { operation: event.type, request: requestRef };
  }
  return record;
}

// ---- CEF -------------------------------------------------------------------

/** CEF header fields escape backslash and pipe; a header cannot hold a line break. */
export function cefHeader(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n]+/g, ' ');
}

/** CEF extension values escape backslash, equals sign and line breaks. */
export function cefValue(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/=/g, '\\=')
    .replace(/\r\n|\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

function cefName(event: Event): string {
  const p = event.payload;
  if (p?.$case === 'admin') return `Admin ${p.admin.resource} ${p.admin.action}`;
  const names: Record<string, string> = {
    'request.received': 'Request received',
    'request.completed': 'Request completed',
    'request.failed': 'Request failed',
    'request.rejected': 'Request rejected',
    'upstream.attempt': 'Upstream attempt',
    'auth.failed': 'Authentication failed',
    'tool.called': 'Tool called',
    'code.executed': 'Code mode run',
  };
  return names[event.type] ?? event.type;
}

/** Guardrail outcomes in one CEF value: `policy/rule:action:detector=count`, comma-separated. */
const guardrailsText = (outcomes: readonly GuardrailOutcome[]) =>
  outcomes.map((o) => `${o.policy}/${o.rule}:${o.action}:${o.detector}=${o.count}`).join(',') || undefined;

/**
 * `CEF:0|vendor|product|version|event type|name|severity|extension`. The
 * custom-string slots keep one meaning in every record (cs1 request id, cs2
 * model, cs3 team, cs4 customer, cs5 gateway error code, cs6 event id), so
 * one SIEM field mapping covers all event types.
 */
export function toCef(event: Event): string {
  const ext: Array<[string, string | number | undefined]> = [];
  const add = (key: string, value: string | number | undefined, label?: string) => {
    if (value === undefined || value === '') return;
    ext.push([key, value]);
    if (label) ext.push([`${key}Label`, label]);
  };
  const actor = event.actor;
  const p = event.payload;
  const status = statusOf(event);
  add('rt', event.time?.getTime());
  const ipVersion = isIP(event.sourceAddress);
  if (ipVersion === 4) add('src', event.sourceAddress);
  else if (ipVersion === 6) add('c6a2', event.sourceAddress, 'Source IPv6 Address');
  add('suser', actor?.admin || actor?.keyName);
  add('suid', actor?.keyId);
  add('deviceProcessName', event.service);
  add('cat', p?.$case);
  add('outcome', status === 'unknown' ? undefined : status);
  add('cs1', event.requestId, 'requestId');
  add('flexString1', event.traceId, 'traceId');
  add('cs3', actor?.teamId, 'teamId');
  add('cs4', actor?.customerId, 'customerId');
  switch (p?.$case) {
    case 'request': {
      const r = p.request;
      add('cs2', r.model, 'model');
      add('cs5', r.errorCode, 'errorCode');
      add('request', r.endpoint);
      add('destinationServiceName', r.served?.provider);
      add('cn1', r.httpStatus || undefined, 'httpStatus');
      add('cn2', Math.round(r.durationMs), 'durationMs');
      add('cn3', r.usage?.totalTokens || undefined, 'totalTokens');
      add('act', event.type === 'request.rejected' ? 'reject' : undefined);
      add('msg', r.errorMessage);
      add('flexString2', guardrailsText(r.guardrails), 'guardrails');
      break;
    }
    case 'attempt': {
      const a = p.attempt;
      add('cs2', a.model, 'model');
      add('cs5', a.outcome === 'ok' ? undefined : a.outcome, 'errorCode');
      add('destinationServiceName', a.provider);
      add('cn1', a.upstreamStatus || undefined, 'httpStatus');
      add('cn2', Math.round(a.durationMs), 'durationMs');
      add('reason', a.reason);
      add('msg', a.errorMessage);
      break;
    }
    case 'admin': {
      const c = p.admin;
      add('act', c.action);
      add('flexString2', `${c.resource}/${c.resourceId}`, 'resource');
      add('msg', `${c.resource} ${c.resourceId} ${c.action}`);
      break;
    }
    case 'tool': {
      const t = p.tool;
      add('cs5', t.outcome === 'ok' ? undefined : t.outcome, 'errorCode');
      add('destinationServiceName', t.server);
      add('request', t.tool);
      add('cn2', Math.round(t.durationMs), 'durationMs');
      add('msg', t.errorMessage || `tool ${t.tool} via ${t.surface}`);
      break;
    }
    case 'codeRun': {
      const r = p.codeRun;
      add('cs5', r.outcome === 'ok' ? undefined : r.outcome, 'errorCode');
      add('cn2', Math.round(r.durationMs), 'durationMs');
      add('msg', `code run ${r.runId}: ${r.calls.length} tool calls`);
      break;
    }
    case 'auth': {
      const { method, path } = splitTarget(p.auth.target);
      add('act', 'deny');
      add('requestMethod', method);
      add('request', path);
      add('reason', p.auth.reason);
      add('msg', `refused credential on ${p.auth.surface}`);
      break;
    }
    case 'checkpoint': {
      const c = p.checkpoint;
      add('cn1', Number(c.seq), 'seq');
      add('cs2', c.hash, 'chainHash');
      add('cs3', c.keyId, 'keyId');
      add('cs5', c.mac, 'mac');
      add('msg', `audit log head at row ${c.seq}`);
      break;
    }
  }
  add('cs6', event.id, 'eventId');
  const header = ['CEF:0', PRODUCT.vendor, PRODUCT.name, PRODUCT.version, event.type, cefName(event)].map((v, i) => (i === 0 ? v : cefHeader(v)));
  const extension = ext.map(([k, v]) => `${k}=${cefValue(String(v))}`).join(' ');
  return `${header.join('|')}|${CEF_SEVERITY[levelOf(event)]}|${extension}`;
}
