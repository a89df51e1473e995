import { readFileSync } from 'node:fs';
import type { Event } from '../../gen/gateway/v1/events.js';

/** What every SIEM format says of an event alike: the product, how much it matters, whether it succeeded. */

export const PRODUCT = { vendor: 'AI Gateway', name: 'AI Gateway', version: gatewayVersion() };

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

export type Status = 'success' | 'failure' | 'unknown';

export function statusOf(event: Event): Status {
  const p = event.payload;
  if (event.type === 'auth.failed' || event.type === 'request.failed' || event.type === 'request.rejected') return 'failure';
  if (event.type === 'request.completed' || p?.$case === 'admin') return 'success';
  if (p?.$case === 'attempt') return p.attempt.outcome === 'ok' ? 'success' : 'failure';
  if (p?.$case === 'tool') return p.tool.outcome === 'ok' ? 'success' : 'failure';
  if (p?.$case === 'codeRun') return p.codeRun.outcome === 'ok' ? 'success' : 'failure';
  return 'unknown'; // request.received: the outcome is not known yet
}

export const nonEmpty = (value: string | undefined): string | undefined => (value ? value : undefined);

/** "GET /admin/keys" → method and path. */
export function splitTarget(target: string): { method?: string; path?: string } {
  const space = target.indexOf(' ');
  return space < 0 ? { path: nonEmpty(target) } : { method: target.slice(0, space), path: nonEmpty(target.slice(space + 1)) };
}

export function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
