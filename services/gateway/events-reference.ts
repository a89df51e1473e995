import { formatEvent } from '../audit/siem/formats.js';
import { frame, syslogMessage } from '../audit/siem/syslog.js';
import { sinkConfig, type SplunkSinkConfig } from '../audit/siem/config.js';
import { SplunkSink } from '../audit/siem/splunk.js';
import { signWebhook, webhookBody } from '../audit/siem/webhook.js';
import type { Attempt, RequestContext } from '../gen/gateway/v1/common.js';
import { keyView } from '../governance/admin/views.js';
import { LITERAL_SECRETS } from '../kit/secrets/store.js';
import {
  adminEvent,
  archivedEvent,
  contentExpiredEvent,
  ledgerExpiredEvent,
  attemptEvent,
  authFailedEvent,
  chainKeyedEvent,
  checkpointEvent,
  type Event,
  EventType,
  requestEvent,
  toolCalledEvent,
  codeExecutedEvent,
} from '../kit/events.js';

/**
 * Renders docs/events.md: one example of every event type, each in every SIEM
 * format, produced by the same code the sinks run, so the page cannot drift
 * from what a SIEM receives (a test compares them). Regenerate with
 * `npm run docs:events`.
 */

const TIME = new Date('2026-11-24T09:30:00.000Z');
const context: RequestContext = {
  requestId: 'req_01jq3v6w8k2m',
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  sourceAddress: '10.20.30.40',
  actor: { keyId: 'vk_7f3a9c21', keyName: 'support-bot', teamId: 'team_support', customerId: 'cus_acme', admin: '' },
};
const usage = {
  promptTokens: 412,
  completionTokens: 88,
  totalTokens: 500,
  cachedTokens: 256,
  reasoningTokens: 0,
  cacheWriteTokens: 0,
  cacheWrite1hTokens: 0,
  billed: undefined,
};
const served = { provider: 'openai', model: 'gpt-4o-mini', deployment: 'openai-east' };
const attempt = (over: Partial<Attempt>): Attempt => ({
  provider: 'openai',
  model: 'gpt-4o-mini',
  deployment: 'openai-east',
  credential: 0,
  outcome: 'ok',
  upstreamStatus: 200,
  durationMs: 840,
  reason: 'initial',
  errorMessage: '',
  ...over,
});
const outcome = {
  endpoint: 'chat.completions',
  model: 'gpt-4o-mini',
  served,
  httpStatus: 200,
  usage,
  stream: false,
  cacheHit: false,
  durationMs: 912,
  errorCode: '',
  errorMessage: '',
  attempts: [] as Attempt[],
};

const timeout = attempt({
  deployment: 'openai-east',
  outcome: 'upstream_timeout',
  upstreamStatus: 0,
  durationMs: 30_000,
  errorMessage: 'no response within 30000 ms',
});
const fallback = attempt({ provider: 'anthropic', model: 'claude-3-5-haiku-latest', deployment: 'anthropic-main', reason: 'fallback', durationMs: 1_210 });

interface Example {
  title: string;
  when: string;
  event: Event;
}

function examples(): Example[] {
  const key = {
    id: 'vk_7f3a9c21',
    name: 'support-bot',
    keyHash: Buffer.alloc(32),
    teamId: 'team_support',
    customerId: 'cus_acme',
    allowedModels: ['gpt-4o*', 'claude-*'],
    allowedTools: ['search.*'],
    metadata: { owner: 'support-platform' },
    contentLogging: false,
    cacheScope: 'team' as const,
    toolMode: 'off' as const,
    toolCallLimit: null,
    codeLimits: {},
    createdAt: TIME,
    expiresAt: null,
    revokedAt: null,
    rpmLimit: 600,
    tpmLimit: null,
    maxParallel: null,
    rateWindowSeconds: 60,
  };
  const list: Example[] = [
    {
      title: 'Request received',
      when: 'A request arrived (only with `ingress.emitReceived`).',
      event: requestEvent(
        EventType.requestReceived,
        { service: 'ingress', context },
        { ...outcome, served: undefined, httpStatus: 0, usage: undefined, durationMs: 0 },
      ),
    },
    {
      title: 'Request completed',
      when: 'A request was answered, here after a timeout and a fallback to another provider (every attempt is in the outcome).',
      event: requestEvent(
        EventType.requestCompleted,
        { service: 'ingress', context },
        {
          ...outcome,
          served: { provider: 'anthropic', model: 'claude-3-5-haiku-latest', deployment: 'anthropic-main' },
          durationMs: 31_260,
          attempts: [timeout, fallback],
        },
      ),
    },
    {
      title: 'Cache hit',
      when: 'A request answered from the cache: `request.completed` with `cacheHit`; no provider was called.',
      event: requestEvent(EventType.requestCompleted, { service: 'ingress', context }, { ...outcome, cacheHit: true, durationMs: 3 }),
    },
    {
      title: 'Guardrails redacted',
      when: 'A request whose guardrail policies redacted values before the provider saw them and flagged another: `guardrails`, one entry per policy, rule and detector, with how many values (never the values).',
      event: requestEvent(
        EventType.requestCompleted,
        { service: 'ingress', context },
        {
          ...outcome,
          guardrails: [
            { policy: 'customer-data', rule: 'contact-details', action: 'redact', detector: 'email', count: 2 },
            { policy: 'customer-data', rule: 'tickets', action: 'flag', detector: 'custom.ticket', count: 1 },
          ],
        },
      ),
    },
    {
      title: 'Guardrails blocked',
      when: 'A request a guardrail rule refused: `request.failed` with `content_policy_violation`, the rule named; no provider was called.',
      event: requestEvent(
        EventType.requestFailed,
        { service: 'ingress', context },
        {
          ...outcome,
          served: undefined,
          usage: undefined,
          httpStatus: 400,
          durationMs: 2,
          errorCode: 'content_policy_violation',
          errorMessage: 'The request was blocked by guardrail rule "no-secrets" (policy "baseline"): messages[1].content holds secret.openai_key.',
          attempts: [],
          guardrails: [{ policy: 'baseline', rule: 'no-secrets', action: 'block', detector: 'secret.openai_key', count: 1 }],
        },
      ),
    },
    {
      title: 'Request failed',
      when: 'An admitted request failed: every provider that could serve it failed.',
      event: requestEvent(
        EventType.requestFailed,
        { service: 'ingress', context },
        {
          ...outcome,
          served: undefined,
          usage: undefined,
          httpStatus: 504,
          durationMs: 30_004,
          errorCode: 'upstream_timeout',
          errorMessage: 'No deployment of gpt-4o-mini answered in time.',
          attempts: [timeout],
        },
      ),
    },
    {
      title: 'Request rejected',
      when: 'Refused before any provider was called: here a team budget; also authentication, rate, concurrency and model allowlist.',
      event: requestEvent(
        EventType.requestRejected,
        { service: 'ingress', context },
        {
          ...outcome,
          served: undefined,
          usage: undefined,
          httpStatus: 402,
          durationMs: 2,
          errorCode: 'budget_exceeded',
          errorMessage: 'The monthly budget of team team_support ($500) does not cover this request; it resets at 2026-12-01T00:00:00.000Z.',
        },
      ),
    },
    { title: 'Upstream attempt', when: 'One provider call (only with `ingress.emitAttempts`).', event: attemptEvent({ service: 'ingress', context }, timeout) },
    {
      title: 'Admin change',
      when: "A change through the admin API: `admin.<resource>.<action>`, with the state before and after (never a key's value or hash).",
      event: adminEvent(
        'admin.virtual_key.update',
        {
          service: 'governance',
          actor: { keyId: '', keyName: '', teamId: '', customerId: '', admin: 'alice@example.com (admin)' },
          context: { ...context, actor: undefined, sourceAddress: '10.20.0.7' },
        },
        {
          action: 'update',
          resource: 'virtual_key',
          resourceId: key.id,
          beforeJson: JSON.stringify(keyView(key)),
          afterJson: JSON.stringify(keyView({ ...key, rpmLimit: 1200 })),
        },
      ),
    },
    {
      title: 'Tool call',
      when: "A call of an MCP tool through the gateway (its /mcp, tool execution, or agent mode); arguments and result only with the key's content logging on, as the caller's storage policies (`storagePolicies`, docs/guardrails.md) keep them: here redacted.",
      event: toolCalledEvent(
        { service: 'ingress', context, storagePolicies: ['personal-data'] },
        {
          tool: 'github.create_issue',
          server: 'github',
          argumentsSha256: '5e0c6f2b9d7a4c3e1f8a0b2d4c6e8f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9d2e',
          resultBytes: 412,
          durationMs: 388,
          outcome: 'ok',
          errorMessage: '',
          surface: 'mcp',
          argumentsJson: '{"title":"Refund for [REDACTED:email]","repo":"acme/billing"}',
          resultJson: '[{"type":"text","text":"Created issue #412"}]',
          runId: '',
        },
      ),
    },
    {
      title: 'Code mode run',
      when: "A program run in code mode (`execute_code`): its tool calls (each also a `tool.called` event with this `runId`) and how it ended; the program and its result only with the key's content logging on.",
      event: codeExecutedEvent(
        { service: 'ingress', context },
        {
          runId: 'run_5b0e3c9a7d21f486',
          programSha256: '8d1f3a5c7e9b0d2f4a6c8e0b1d3f5a7c9e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f',
          program: '',
          outcome: 'ok',
          errorMessage: '',
          resultJson: '',
          resultBytes: 96,
          durationMs: 1_240,
          calls: [
            { tool: 'github.search_issues', durationMs: 402, outcome: 'ok' },
            { tool: 'github.create_issue', durationMs: 388, outcome: 'ok' },
          ],
        },
      ),
    },
    {
      title: 'Authentication failure',
      when: 'An admin API call with a missing or invalid credential.',
      event: authFailedEvent(
        { service: 'governance', context: { requestId: 'req_01jq3v7a1b9x', traceId: '', actor: undefined, sourceAddress: '203.0.113.9' } },
        { surface: 'admin_api', reason: 'invalid token', target: 'DELETE /admin/keys/vk_7f3a9c21' },
      ),
    },
    {
      title: 'Audit rows archived',
      when: 'The months past `audit.retention.days` went to an archive file and were dropped; this event is chained into the log.',
      event: archivedEvent(
        { service: 'audit' },
        {
          upToSeq: 1_048_576,
          rows: 1_048_576,
          lastHash: '9f2c4e0d5b7a61c38e4f0a2b6d8c1e3f5a7b9c0d2e4f6a8b0c1d3e5f7a9b2c4d',
          file: 'audit-1-1048576.ndjson',
          fileSha256: '3b7e1f9a0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f2a4b6c8d0e2f',
          droppedPartitions: ['audit_events_p202605'],
        },
      ),
    },
    {
      title: 'Audit content expired',
      when: "Content kept beside the chain (tool arguments and results, programs) passed its team's or customer's retention and was dropped with its month of expiry, or set aside under a legal hold; chained into the log, never sent to SIEM sinks (docs/retention.md).",
      event: contentExpiredEvent(
        { service: 'audit' },
        {
          expiries: [
            { partition: 'audit_content_e202611', dataClass: 'toolArguments', teamId: 'team_search', customerId: 'acme', rows: 1_204, held: false },
            { partition: 'audit_content_e202611', dataClass: 'toolArguments', teamId: 'team_legal', customerId: 'acme', rows: 37, held: true },
          ],
        },
      ),
    },
    {
      title: 'Ledger expired',
      when: "Metering's hourly maintenance dropped a month of the usage or tool-call ledger past `metering.retentionDays`, or deleted spend rollup buckets past `metering.rollupRetentionDays`; never while a legal hold is placed (docs/retention.md). Published by metering, recorded in the log and sent to SIEM sinks like any event.",
      event: ledgerExpiredEvent(
        { service: 'metering' },
        {
          expiries: [
            { table: 'usage_records', partition: 'usage_records_p202510', rows: 137_357, from: '2025-10-01T00:00:00.000Z', to: '2025-10-31T23:59:59.999Z' },
            { table: 'usage_rollup_hourly', partition: '', rows: 2_914, from: '2026-08-24T00:00:00.000Z', to: '2026-08-24T23:00:00.000Z' },
          ],
        },
      ),
    },
    {
      title: 'Audit chain keyed',
      when: "From this row on, every row's hash is an HMAC with the key of this id: written into the log at start when the chain is not yet keyed with `audit.chainKey` (a new log, an older version's, a rotated key). Never sent to SIEM sinks.",
      event: chainKeyedEvent({ service: 'audit' }, { keyId: '4be1c09e7d2a5f38', algorithm: 'HMAC-SHA-256' }),
    },
    {
      title: 'Audit checkpoint',
      when: 'Every `audit.checkpoints.intervalSeconds` when the log grew: its head, signed with the chain key, also appended to the checkpoint file. Sent to SIEM sinks, never written into the log. Keep them: `gateway audit verify` catches a log rolled back or rewritten after one.',
      event: checkpointEvent({ service: 'audit' }, TIME, {
        seq: 1_048_912,
        hash: '2d7c0e8f4a6b1c3d5e7f9a0b2c4d6e8f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9d',
        keyId: '4be1c09e7d2a5f38',
        mac: '8a1f3c5e7b9d0f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a',
      }),
    },
  ];
  // Fixed ids and times, so the page changes only when a format does.
  return list.map((example, i) => ({ ...example, event: { ...example.event, id: `01936f1c-6a00-7000-8000-${String(i + 1).padStart(12, '0')}`, time: TIME } }));
}

const json = (record: string) => ['```json', JSON.stringify(JSON.parse(record), null, 2), '```'];

export function renderEventsReference(): string {
  const all = examples();
  const out = [
    '# Events',
    '',
    '<!-- Generated by `npm run docs:events` from services/gateway/events-reference.ts, with the formatters the SIEM sinks use. Do not edit by hand. -->',
    '',
    'Every request and every admin change is an event, defined in `proto/gateway/v1/events.proto` (schema version',
    `${all[0]!.event.schemaVersion}). Every event carries an id (UUIDv7), its type, time, request id,`,
    'trace id (W3C), actor (virtual key id and name, team and customer, or the admin identity), the client address and the',
    'emitting service, plus a payload by type. [audit.md](audit.md) says how events are published, recorded and streamed.',
    '',
    'Each SIEM sink (`audit.sinks`) sends them in one of three formats:',
    '',
    '- **native**: the event as JSON (protobuf JSON mapping: camelCase fields, 64-bit integers as strings).',
    '- **ocsf**: OCSF 1.3 API Activity (class 6003). Model calls are activity 99 "Invoke"; admin changes map to',
    '  Create/Update/Delete by action; the virtual key is `actor.user` with its team in `groups` and customer in `org`.',
    '- **cef**: one ArcSight CEF line (`CEF:0|vendor|product|version|event type|name|severity|extension`).',
    '',
    'On the wire every record is a single line; the JSON below is indented to read. Severity is the same on every scale:',
    'normal traffic is informational, failures and admin changes low, refused credentials and 401/403 rejections medium.',
    '',
    '| Event | Type |',
    '|---|---|',
    ...all.map((e) => `| [${e.title}](#${e.title.toLowerCase().replace(/ /g, '-')}) | \`${e.event.type}\` |`),
  ];
  for (const { title, when, event } of all) {
    out.push('', `## ${title}`, '', `\`${event.type}\` — ${when}`, '', '### native', '', ...json(formatEvent('native', event)));
    out.push('', '### ocsf', '', ...json(formatEvent('ocsf', event)), '', '### cef', '', '```text', formatEvent('cef', event), '```');
  }
  out.push(...transports(all[1]!.event));
  return `${out.join('\n')}\n`;
}

/** What each transport puts around a record, for the completed request. */
function transports(event: Event): string[] {
  const cef = formatEvent('cef', event);
  const syslog = frame(syslogMessage(event, cef, { facility: 13, hostname: 'gw-audit-1', appName: 'ai-gateway', procId: '4242' }));
  const hec = new SplunkSink(
    sinkConfig.parse({
      type: 'splunk',
      name: 'soc',
      url: 'https://splunk.example.com:8088',
      token: 'unused',
      index: 'ai',
      host: 'gw-audit-1',
      format: 'ocsf',
    }) as SplunkSinkConfig,
    LITERAL_SECRETS,
  );
  const splunk = hec.envelope({ event, record: formatEvent('ocsf', event) });
  void hec.close();
  const body = webhookBody('native', [{ event, record: formatEvent('native', event) }]);
  const timestamp = TIME.getTime() / 1000;
  return [
    '',
    '## Transports',
    '',
    '**syslog** (RFC 5424, octet-counted per RFC 6587 over TCP or RFC 5425 over TLS): the record is the MSG; the',
    `structured data element \`[gateway@32473 …]\` repeats the ids a SIEM indexes on; the MSGID is the event type. A CEF record:`,
    '',
    '```text',
    syslog,
    '```',
    '',
    '**Splunk HEC**: one envelope per event, concatenated in one POST to `/services/collector/event` with',
    '`Authorization: Splunk <token>`; `event` is the record (an object for JSON formats, the line for CEF). An OCSF record:',
    '',
    '```json',
    splunk,
    '```',
    '',
    '**Webhook**: `POST` of `{"events": [...]}` with `x-gateway-timestamp` (Unix seconds) and `x-gateway-signature:',
    'sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`. A native batch of one event, signed with the secret',
    '`example-webhook-secret`:',
    '',
    '```http',
    'POST /hooks/ai-gateway HTTP/1.1',
    'content-type: application/json',
    `x-gateway-timestamp: ${timestamp}`,
    `x-gateway-signature: ${signWebhook('example-webhook-secret', timestamp, body)}`,
    '',
    body,
    '```',
  ];
}
