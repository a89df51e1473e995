import { isIP } from 'node:net';
import { Event } from '../../gen/gateway/v1/events.js';
import { toCef } from './cef.js';
import type { SinkFormat } from './config.js';
import { levelOf, nonEmpty, parseJson, PRODUCT, splitTarget, statusOf, type Level } from './facts.js';

/**
 * Event records for SIEMs. Every record is one line (no newline inside or at
 * the end), so line-oriented transports and parsers keep each event whole.
 */

export const OCSF_VERSION = '1.3.0';

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

const OCSF_SEVERITY: Record<Level, [number, string]> = { informational: [1, 'Informational'], low: [2, 'Low'], medium: [3, 'Medium'] };

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
