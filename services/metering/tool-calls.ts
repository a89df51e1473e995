import type { ToolCall } from '../gen/gateway/v1/mcp.js';
import type { ToolCallQuery, ToolCallReport, ToolCallRow } from '../gen/gateway/v1/metering.js';
import { arrayLiteral } from '../kit/db/arrays.js';
import { storableText } from '../kit/db/storable.js';
import type { Database, Migration, Queryable } from '../kit/db/types.js';
import { EventType, type Event } from '../kit/events.js';
import { groupedTotals, TIME_DIMENSIONS, whereOf } from './grouped.js';
import { partitionLedger } from './partitions.js';

/** The tool-call ledger, a migration component of its own ("metering_tools", its own durable consumer). */
export const toolCallMigrations: Migration[] = [
  {
    version: 1,
    description: 'MCP tool-call ledger',
    sql: `
      CREATE TABLE tool_call_records (
        -- One row per tool.called event: a redelivered event never counts twice.
        event_id UUID PRIMARY KEY,
        occurred_at TIMESTAMPTZ NOT NULL,
        request_id TEXT NOT NULL,
        key_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        server TEXT NOT NULL,
        tool TEXT NOT NULL,
        -- "ok", "tool_error" or the gateway's error code.
        outcome TEXT NOT NULL,
        -- "mcp", "execute" or "agent".
        surface TEXT NOT NULL,
        result_bytes BIGINT NOT NULL,
        duration_ms DOUBLE PRECISION NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX tool_call_records_key ON tool_call_records (key_id, occurred_at);
      CREATE INDEX tool_call_records_occurred_at ON tool_call_records (occurred_at);
    `,
  },
  {
    version: 2,
    description: 'tool-call ledger partitioned by month',
    // A redelivered event has the same id and time, so the key stays exact.
    sql: partitionLedger('tool_call_records', {
      key: 'event_id, occurred_at',
      dropped: { constraints: ['tool_call_records_pkey'], indexes: ['tool_call_records_key', 'tool_call_records_occurred_at'] },
      indexes: [
        ['tool_call_records_key', 'key_id, occurred_at'],
        ['tool_call_records_occurred_at', 'occurred_at'],
      ],
    }),
  },
];

/** Writes one row per tool call; events already recorded are skipped. */
export async function writeToolCalls(db: Queryable, events: Event[]): Promise<void> {
  const rows: { event: Event; call: ToolCall }[] = [];
  for (const event of events) if (event.type === EventType.toolCalled && event.payload?.$case === 'tool') rows.push({ event, call: event.payload.tool });
  if (rows.length === 0) return;
  const column = (pick: (row: (typeof rows)[number]) => string | number) => arrayLiteral(rows.map(pick));
  await db.query(
    `INSERT INTO tool_call_records (event_id, occurred_at, request_id, key_id, team_id, customer_id, server, tool, outcome, surface, result_bytes, duration_ms)
     SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
       $11::bigint[], $12::float8[])
     ON CONFLICT (event_id, occurred_at) DO NOTHING`,
    [
      column((r) => r.event.id),
      column((r) => (r.event.time ?? new Date()).toISOString()),
      column((r) => storableText(r.event.requestId)),
      column((r) => storableText(r.event.actor?.keyId ?? '')),
      column((r) => storableText(r.event.actor?.teamId ?? '')),
      column((r) => storableText(r.event.actor?.customerId ?? '')),
      column((r) => storableText(r.call.server)),
      column((r) => storableText(r.call.tool)),
      column((r) => storableText(r.call.outcome)),
      column((r) => storableText(r.call.surface)),
      column((r) => r.call.resultBytes),
      column((r) => r.call.durationMs),
    ],
  );
}

const DIMENSIONS: Record<string, string> = {
  key: 'key_id',
  team: 'team_id',
  customer: 'customer_id',
  server: 'server',
  tool: 'tool',
  outcome: 'outcome',
  surface: 'surface',
  ...TIME_DIMENSIONS,
};

const MEASURES = `count(*) AS calls, count(*) FILTER (WHERE outcome <> 'ok') AS failed,
  COALESCE(SUM(result_bytes), 0) AS result_bytes, COALESCE(SUM(duration_ms), 0) AS duration_ms`;

function toRow(row: Record<string, unknown>, dims: string[]): ToolCallRow {
  return {
    group: Object.fromEntries(dims.map((d) => [d, String(row[d] ?? '')])),
    calls: Number(row.calls),
    failed: Number(row.failed),
    resultBytes: Number(row.result_bytes),
    durationMs: Number(row.duration_ms),
  };
}

/** Tool calls per key (or team, customer, server, tool, outcome, day…) from the ledger. */
export class ToolCallReader {
  constructor(private readonly db: Database) {}

  async toolCalls(query: ToolCallQuery): Promise<ToolCallReport> {
    const where = whereOf(query, [
      ['key_id', query.keyId],
      ['team_id', query.teamId],
      ['customer_id', query.customerId],
      ['server', query.server],
    ]);
    const { dims, rows, total } = await groupedTotals(this.db, {
      table: 'tool_call_records',
      dimensions: DIMENSIONS,
      measures: MEASURES,
      groupBy: query.groupBy,
      where,
    });
    return { rows: rows.map((r) => toRow(r, dims)), total: toRow(total, []) };
  }
}
