import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { GatewayError } from './errors.js';

/** What the audit and metering report routes of the admin API share: their query's checks, and downloads. */

type Query = Record<string, string | undefined>;

const dateTime = { type: 'string', format: 'date-time' } as const;
/** The filters and paging every report takes, checked before any query runs. */
export const reportQuery = {
  type: 'object',
  properties: {
    from: dateTime,
    to: dateTime,
    limit: { type: 'integer', minimum: 1, maximum: 1_000 },
    cursor: { type: 'string', pattern: '^[0-9]{0,19}$' },
    format: { enum: ['ndjson', 'csv'] },
  },
} as const;

export const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** One CSV field per RFC 4180: quoted when it holds a comma, quote, or line break; quotes doubled. */
function csvField(value: unknown): string {
  const text = value === null || value === undefined ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(values: readonly unknown[]): string {
  return `${values.map(csvField).join(',')}\r\n`;
}

/** Streams `lines` as a download in the requested format. */
export function download(reply: FastifyReply, format: string, name: string, lines: AsyncIterable<string> | Iterable<string>): FastifyReply {
  const csv = format === 'csv';
  return reply
    .type(csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson')
    .header('content-disposition', `attachment; filename="${name}.${csv ? 'csv' : 'ndjson'}"`)
    .send(Readable.from(lines));
}

export function formatOf(q: Query): 'csv' | 'ndjson' {
  const format = q.format ?? 'ndjson';
  if (format !== 'csv' && format !== 'ndjson') throw new GatewayError('invalid_request', 'format must be ndjson or csv.', { param: 'format' });
  return format;
}
