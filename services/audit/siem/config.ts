import { z } from 'zod';
import { isSecretReference } from '../../kit/secrets/store.js';

/**
 * SIEM sinks: each streams the event trail to one SIEM as its own durable
 * consumer ("siem-<name>"), so a slow or unreachable SIEM holds back only
 * itself and resumes where it stopped.
 */

const format = (fallback: 'ocsf' | 'cef' | 'native') =>
  z
    .enum(['ocsf', 'cef', 'native'])
    .default(fallback)
    .describe('Record format: ocsf (OCSF 1.3 API Activity JSON), cef (ArcSight CEF line) or native (the event as JSON).');

// A NATS subject pattern over event types: tokens, `*` for one token, `>` only last.
const SUBJECT_PATTERN = /^(>|(\*|[A-Za-z0-9_-]+)(\.(\*|[A-Za-z0-9_-]+))*(\.>)?)$/;

const common = {
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,47}$/, 'a lowercase slug: letters, digits and dashes')
    .describe('Sink name (lowercase slug); its durable consumer is siem-<name>, so a renamed sink is a new one (see replay).'),
  filter: z
    .string()
    .regex(SUBJECT_PATTERN, 'a NATS subject pattern of event types, e.g. ">", "admin.>" or "request.*"')
    .default('>')
    .describe('Event types sent, as one NATS subject pattern: ">" for all, "admin.>" for admin changes, "request.*" for request outcomes.'),
  maxBatch: z.number().int().positive().max(5_000).default(100).describe('Most events sent to the SIEM in one write or request.'),
  replay: z
    .boolean()
    .default(false)
    .describe(
      'A new sink (no durable consumer siem-<name> yet) first receives every event the stream still holds (nats.maxAgeHours, seven days by default); false: only events from its first start on. A sink that ran before resumes where it stopped either way.',
    ),
};

const syslogSink = z.strictObject({
  type: z.literal('syslog'),
  ...common,
  format: format('cef'),
  host: z.string().min(1).describe('Syslog receiver host (rsyslog, syslog-ng, a SIEM collector).'),
  port: z.number().int().min(1).max(65_535).optional().describe('Receiver port. Default: 6514 with tls (RFC 5425), 514 without.'),
  tls: z.boolean().default(false).describe('Send over TLS (RFC 5425) instead of plain TCP; both use octet-counting framing (RFC 6587).'),
  ca: z
    .string()
    .default('')
    .describe("PEM CA certificate(s) that sign the receiver's certificate, or a file:/env: reference to them. Empty: the system's trusted CAs."),
  rejectUnauthorized: z.boolean().default(true).describe('Refuse a receiver whose TLS certificate does not verify against ca and host. Only for tests.'),
  appName: z
    .string()
    .regex(/^[!-~]{1,48}$/, 'up to 48 printable ASCII characters, no spaces')
    .default('ai-gateway')
    .describe('APP-NAME field of each message.'),
  facility: z
    .number()
    .int()
    .min(0)
    .max(23)
    .default(13)
    .describe("Syslog facility: 13 (log audit) keeps the trail apart from the host's own authpriv (10) login records."),
  hostname: z
    .string()
    .regex(/^[!-~]{0,255}$/, 'printable ASCII, no spaces')
    .default('')
    .describe('HOSTNAME field of each message. Empty: the host name of this machine.'),
});

const splunkSink = z.strictObject({
  type: z.literal('splunk'),
  ...common,
  format: format('native'),
  url: z.url({ protocol: /^https?$/ }).describe('Base URL of the HTTP Event Collector, e.g. https://splunk:8088; events go to <url>/services/collector/event.'),
  token: z.string().min(1).describe('HEC token (secret; or an env:/file:/vault: reference).'),
  index: z.string().optional().describe("Index the events go to. Unset: the token's default index."),
  sourcetype: z.string().min(1).default('ai-gateway:event').describe('Sourcetype of the events.'),
  source: z.string().optional().describe("Source of the events. Unset: the token's default source."),
  host: z.string().default('').describe('Host field of the events. Empty: the host name of this machine.'),
  rejectUnauthorized: z.boolean().default(true).describe('Refuse an HEC whose TLS certificate does not verify. Only for tests.'),
  timeoutMs: z.number().int().positive().default(10_000).describe('How long one HEC request may take before it counts as failed (and is retried).'),
});

const webhookSink = z.strictObject({
  type: z.literal('webhook'),
  ...common,
  format: format('native'),
  url: z.url({ protocol: /^https?$/ }).describe('URL each batch is POSTed to as {"events": [...]}.'),
  secret: z
    .string()
    // A reference is checked when it is read; a literal key must be long enough to resist guessing.
    .refine((v) => isSecretReference(v) || v.length >= 16, 'at least 16 characters, or an env:/file:/vault: reference')
    .describe('HMAC-SHA256 key of the x-gateway-signature header, at least 16 characters (secret; or an env:/file:/vault: reference).'),
  headers: z
    .record(z.string(), z.string())
    .default({})
    .describe('Extra request headers, e.g. an authorization header (values may be env:/file:/vault: references).'),
  timeoutMs: z.number().int().positive().default(10_000).describe('How long one POST may take before it counts as failed (and is retried).'),
});

/** One SIEM destination; `type` picks the transport. */
export const sinkConfig = z.discriminatedUnion('type', [syslogSink, splunkSink, webhookSink]);

export const siemConfig = z
  .array(sinkConfig)
  .superRefine((sinks, ctx) => {
    // Two sinks with one name would share a durable consumer and split the events between them.
    const seen = new Set<string>();
    sinks.forEach((sink, i) => {
      if (seen.has(sink.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `sink name ${sink.name} is used twice` });
      seen.add(sink.name);
    });
  })
  .default([])
  .describe('SIEM sinks the audit trail is streamed to (syslog, Splunk HEC, signed webhook); each resumes where it stopped.');

export type SinkConfig = z.infer<typeof sinkConfig>;

/** Durable consumer name of a sink. */
export const consumerName = (sink: Pick<SinkConfig, 'name'>): string => `siem-${sink.name}`;
export type SyslogSinkConfig = z.infer<typeof syslogSink>;
export type SplunkSinkConfig = z.infer<typeof splunkSink>;
export type WebhookSinkConfig = z.infer<typeof webhookSink>;
export type SinkFormat = SinkConfig['format'];
