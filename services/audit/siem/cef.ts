import { isIP } from 'node:net';
import type { GuardrailOutcome } from '../../gen/gateway/v1/common.js';
import type { Event } from '../../gen/gateway/v1/events.js';
import { levelOf, PRODUCT, splitTarget, statusOf, type Level } from './facts.js';

/** CEF 0-10: 0-3 low, 4-6 medium (ArcSight's bands). */
const CEF_SEVERITY: Record<Level, number> = { informational: 1, low: 3, medium: 5 };

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
