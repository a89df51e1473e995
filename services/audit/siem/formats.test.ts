import { describe, expect, it } from 'vitest';
import { Event } from '../../gen/gateway/v1/events.js';
import { adminEvent, attemptEvent, authFailedEvent, EventType, requestEvent } from '../../kit/events.js';
import { siemConfig } from './config.js';
import { PRODUCT } from './facts.js';
import { formatEvent, OCSF_VERSION } from './formats.js';

const context = {
  requestId: 'req_1',
  traceId: 'trace_1',
  sourceAddress: '10.1.2.3',
  actor: { keyId: 'key_1', keyName: 'ci-bot', teamId: 'team_1', customerId: 'cus_1', admin: '' },
};
const TRICKY = 'a|b=c\\d\nline2\r\nline3';

const outcome = (overrides: Partial<Parameters<typeof requestEvent>[2]> = {}) => ({
  endpoint: 'chat.completions',
  model: 'gpt-4o',
  served: { provider: 'openai', model: 'gpt-4o-2024-08-06', deployment: 'east' },
  httpStatus: 200,
  usage: {
    promptTokens: 10,
    completionTokens: 5,
    totalTokens: 15,
    cachedTokens: 0,
    reasoningTokens: 0,
    cacheWriteTokens: 0,
    cacheWrite1hTokens: 0,
    billed: undefined,
  },
  stream: false,
  cacheHit: false,
  durationMs: 123.6,
  errorCode: '',
  errorMessage: '',
  attempts: [],
  ...overrides,
});

const attempt = {
  provider: 'openai',
  model: 'gpt-4o',
  deployment: 'east',
  credential: 1,
  outcome: 'upstream_timeout',
  upstreamStatus: 504,
  durationMs: 30_000,
  reason: 'retry',
  errorMessage: 'timed out',
};

/** One event of each kind, with what each format must say about it. */
const kinds = {
  completed: {
    event: requestEvent(
      EventType.requestCompleted,
      { service: 'ingress', context },
      outcome({ attempts: [{ ...attempt, outcome: 'ok', upstreamStatus: 200 }] }),
    ),
    activity: 99,
    status: 1,
    severity: 1,
    cefSeverity: 1,
    operation: 'chat.completions',
  },
  failed: {
    event: requestEvent(
      EventType.requestFailed,
      { service: 'ingress', context },
      outcome({ httpStatus: 502, errorCode: 'upstream_error', errorMessage: TRICKY }),
    ),
    activity: 99,
    status: 2,
    severity: 2,
    cefSeverity: 3,
    operation: 'chat.completions',
  },
  rejected: {
    event: requestEvent(
      EventType.requestRejected,
      { service: 'ingress', context },
      outcome({ served: undefined, usage: undefined, httpStatus: 401, errorCode: 'invalid_api_key', errorMessage: 'bad key' }),
    ),
    activity: 99,
    status: 2,
    severity: 3,
    cefSeverity: 5,
    operation: 'chat.completions',
  },
  admin: {
    event: adminEvent(
      'admin.virtual_key.rotate',
      { service: 'governance', actor: { keyId: '', keyName: '', teamId: 'team_1', customerId: '', admin: 'alice (admin)' } },
      { action: 'rotate', resource: 'virtual_key', resourceId: 'key_9', beforeJson: '{"id":"key_9","version":1}', afterJson: '{"id":"key_9","version":2}' },
    ),
    activity: 3,
    status: 1,
    severity: 2,
    cefSeverity: 3,
    operation: 'rotate',
  },
  authFailed: {
    event: authFailedEvent(
      { service: 'governance', context: { requestId: 'req_2', traceId: '', actor: undefined, sourceAddress: '::1' } },
      { surface: 'admin_api', reason: 'invalid credential', target: 'DELETE /admin/keys/key_9' },
    ),
    activity: 4,
    status: 2,
    severity: 3,
    cefSeverity: 5,
    operation: 'DELETE /admin/keys/key_9',
  },
  attempt: {
    event: attemptEvent({ service: 'ingress', context }, attempt),
    activity: 99,
    status: 2,
    severity: 2,
    cefSeverity: 3,
    operation: 'invoke',
  },
};

// Parsed JSON, read field by field; the assertions check its shape.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

/** Splits a CEF line into its seven header fields and the extension, honouring `\|` and `\\`. */
function parseCef(line: string): { header: string[]; extension: Record<string, string> } {
  const header: string[] = [];
  let field = '';
  let i = 0;
  for (; i < line.length && header.length < 7; i++) {
    const c = line[i]!;
    if (c === '\\' && (line[i + 1] === '|' || line[i + 1] === '\\')) field += line[++i];
    else if (c === '|') {
      header.push(field);
      field = '';
    } else field += c;
  }
  const extension: Record<string, string> = {};
  for (const [, key, raw] of line.slice(i).matchAll(/(\w+)=((?:\\.|[^\\])*?)(?= \w+=|$)/g)) {
    extension[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c));
  }
  return { header, extension };
}

describe('SIEM record formats', () => {
  describe.each(Object.entries(kinds))('%s event', (_, kind) => {
    const { event } = kind;

    it('native: one line of JSON that reads back into the same event', () => {
      const record = formatEvent('native', event);
      expect(record).not.toMatch(/[\r\n]/);
      expect(Event.fromJSON(JSON.parse(record))).toEqual(event);
    });

    it('ocsf: an API Activity event with the required fields', () => {
      const record = formatEvent('ocsf', event);
      expect(record).not.toMatch(/[\r\n]/);
      const o = JSON.parse(record) as Loose;
      expect(o).toMatchObject({
        category_uid: 6,
        class_uid: 6003,
        activity_id: kind.activity,
        type_uid: 600300 + kind.activity,
        severity_id: kind.severity,
        status_id: kind.status,
        status: kind.status === 1 ? 'Success' : 'Failure',
        time: event.time!.getTime(),
        metadata: {
          version: OCSF_VERSION,
          uid: event.id,
          event_code: event.type,
          product: { name: 'AI Gateway', vendor_name: PRODUCT.vendor, version: PRODUCT.version },
        },
        api: { operation: kind.operation },
      });
      // Admin changes carry no request id; the others correlate by it.
      expect(o.metadata.correlation_uid).toBe(event.requestId || undefined);
      expect(o.api.request).toEqual(event.requestId ? { uid: event.requestId } : undefined);
      expect(o.metadata.version).toMatch(/^1\.\d+\.\d+$/);
      expect(o.src_endpoint).toEqual(event.sourceAddress ? { ip: event.sourceAddress } : { svc_name: event.service });
      expect(o.actor.app_name).toBe(event.service);
    });

    it('cef: header fields, severity and the standard extension keys', () => {
      const record = formatEvent('cef', event);
      expect(record).not.toMatch(/[\r\n]/);
      const { header, extension } = parseCef(record);
      expect(header.slice(0, 5)).toEqual(['CEF:0', PRODUCT.vendor, PRODUCT.name, PRODUCT.version, event.type]);
      expect(header[6]).toBe(String(kind.cefSeverity));
      expect(extension.rt).toBe(String(event.time!.getTime()));
      expect(extension.cs6).toBe(event.id);
      expect(extension.cs6Label).toBe('eventId');
      expect(extension.cs1).toBe(event.requestId || undefined);
      expect(extension.outcome).toBe(kind.status === 1 ? 'success' : 'failure');
    });
  });

  it('ocsf: request details, the virtual key as user, team and customer', () => {
    const o = JSON.parse(formatEvent('ocsf', kinds.failed.event)) as Loose;
    expect(o.actor.user).toEqual({ uid: 'key_1', name: 'ci-bot', credential_uid: 'key_1', groups: [{ uid: 'team_1', type: 'team' }], org: { uid: 'cus_1' } });
    expect(o.api.response).toEqual({ code: 502, error: 'upstream_error', error_message: TRICKY });
    expect(o.http_response).toEqual({ code: 502 });
    expect(o.duration).toBe(124);
    expect(o.resources).toEqual([{ type: 'model', name: 'gpt-4o' }]);
    expect(o.unmapped).toMatchObject({ trace_id: 'trace_1', served: { provider: 'openai', deployment: 'east' }, usage: { totalTokens: 15 } });
  });

  it('ocsf: an admin change names the admin, the resource and its before and after', () => {
    const o = JSON.parse(formatEvent('ocsf', kinds.admin.event)) as Loose;
    expect(o.activity_name).toBe('Update');
    expect(o.actor.user).toMatchObject({ uid: 'alice (admin)', type_id: 2, type: 'Admin' });
    expect(o.api.service).toEqual({ name: 'admin_api' });
    expect(o.resources).toEqual([{ type: 'virtual_key', uid: 'key_9', data: { before: { id: 'key_9', version: 1 }, after: { id: 'key_9', version: 2 } } }]);
    for (const [action, id] of [
      ['create', 1],
      ['update', 3],
      ['revoke', 3],
      ['delete', 4],
      ['frobnicate', 99],
    ] as const) {
      const e = adminEvent(`admin.team.${action}`, { service: 'governance' }, { action, resource: 'team', resourceId: 't', beforeJson: '', afterJson: '' });
      expect(JSON.parse(formatEvent('ocsf', e))).toMatchObject({ activity_id: id, type_uid: 600300 + id });
    }
  });

  it('ocsf: a refused credential is a failed call with its HTTP method and path', () => {
    const o = JSON.parse(formatEvent('ocsf', kinds.authFailed.event)) as Loose;
    expect(o.http_request).toEqual({ http_method: 'DELETE', url: { path: '/admin/keys/key_9' } });
    expect(o.status_detail).toBe('invalid credential');
    expect(o.actor).toEqual({ app_name: 'governance' });
  });

  it('cef: escapes pipes and backslashes in the header, and =, \\ and line breaks in extension values', () => {
    const weird = adminEvent(
      'admin.team|x\\y.create',
      { service: 'governance', actor: { keyId: '', keyName: '', teamId: '', customerId: '', admin: 'bob=1' } },
      {
        action: 'create',
        resource: 'team|x\\y',
        resourceId: 't1',
        beforeJson: '',
        afterJson: '',
      },
    );
    const line = formatEvent('cef', weird);
    expect(line).toContain('|admin.team\\|x\\\\y.create|Admin team\\|x\\\\y create|');
    expect(line).toContain('suser=bob\\=1 ');
    const { header, extension } = parseCef(line);
    expect(header[4]).toBe('admin.team|x\\y.create');
    expect(header[5]).toBe('Admin team|x\\y create');
    expect(extension.suser).toBe('bob=1');
    expect(extension.flexString2).toBe('team|x\\y/t1');

    const failed = formatEvent('cef', kinds.failed.event);
    // Pipes stay as they are in the extension; =, \ and line breaks are escaped.
    expect(failed).toContain('msg=a|b\\=c\\\\d\\nline2\\nline3');
    expect(parseCef(failed).extension.msg).toBe('a|b=c\\d\nline2\nline3');
  });

  it('ocsf and cef: guardrail outcomes by policy, rule, action and detector, never a value', () => {
    const guardrails = [
      { policy: 'customer-data', rule: 'contact-details', action: 'redact', detector: 'email', count: 2 },
      { policy: 'baseline', rule: 'tickets', action: 'flag', detector: 'custom.ticket', count: 1 },
    ];
    const event = requestEvent(EventType.requestCompleted, { service: 'ingress', context }, outcome({ guardrails }));
    expect((JSON.parse(formatEvent('ocsf', event)) as Loose).unmapped.guardrails).toEqual(guardrails);
    expect(parseCef(formatEvent('cef', event)).extension).toMatchObject({
      flexString2: 'customer-data/contact-details:redact:email=2,baseline/tickets:flag:custom.ticket=1',
      flexString2Label: 'guardrails',
    });
    expect(JSON.parse(formatEvent('native', event))).toMatchObject({ request: { guardrails } });
    expect(parseCef(formatEvent('cef', kinds.completed.event)).extension.flexString2).toBeUndefined();
  });

  it('cef: request fields in fixed slots, IPv6 sources in c6a2', () => {
    const { extension } = parseCef(formatEvent('cef', kinds.completed.event));
    expect(extension).toMatchObject({
      src: '10.1.2.3',
      suser: 'ci-bot',
      suid: 'key_1',
      cs2: 'gpt-4o',
      cs2Label: 'model',
      cs3: 'team_1',
      cs4: 'cus_1',
      flexString1: 'trace_1',
      cn1: '200',
      cn2: '124',
      cn3: '15',
      destinationServiceName: 'openai',
      request: 'chat.completions',
      cat: 'request',
      deviceProcessName: 'ingress',
    });
    const auth = parseCef(formatEvent('cef', kinds.authFailed.event)).extension;
    expect(auth).toMatchObject({ c6a2: '::1', act: 'deny', requestMethod: 'DELETE', request: '/admin/keys/key_9', reason: 'invalid credential' });
    expect(auth.src).toBeUndefined();
  });
});

describe('SIEM sink config', () => {
  it('fills per-type defaults and refuses duplicate names', () => {
    const [syslog, splunk, webhook] = siemConfig.parse([
      { type: 'syslog', name: 'soc', host: 'siem.internal' },
      { type: 'splunk', name: 'splunk', url: 'https://splunk:8088', token: 'env:HEC_TOKEN' },
      { type: 'webhook', name: 'hook', url: 'https://example.test/in', secret: 'a-long-enough-secret' },
    ]);
    expect(syslog).toMatchObject({ format: 'cef', filter: '>', maxBatch: 100, tls: false, facility: 13, appName: 'ai-gateway', rejectUnauthorized: true });
    expect(splunk).toMatchObject({ format: 'native', sourcetype: 'ai-gateway:event', rejectUnauthorized: true });
    expect(webhook).toMatchObject({ format: 'native', headers: {}, timeoutMs: 10_000 });
    expect(siemConfig.parse(undefined)).toEqual([]);
    expect(
      siemConfig.safeParse([
        { type: 'syslog', name: 'a', host: 'h' },
        { type: 'syslog', name: 'a', host: 'h' },
      ]).success,
    ).toBe(false);
    expect(siemConfig.safeParse([{ type: 'syslog', name: 'Bad Name', host: 'h' }]).success).toBe(false);
    expect(siemConfig.safeParse([{ type: 'syslog', name: 'a', host: 'h', filter: 'admin.>.x' }]).success).toBe(false);
  });
});
