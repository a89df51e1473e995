import { DEAD_LETTERS_COMPONENT, deadLetterMigrations, deadLetterTables } from '../kit/bus/dead-letters.js';
import { tableGrants, type DatabasePlan } from '../kit/db/plan.js';
import type { Migration } from '../kit/db/types.js';
import { COUNTED_EXPIRY, PARTITION_FUNCTIONS, partitionLedger, RETENTION_FLOOR_FUNCTION } from './partitions.js';
import { ROLLUP_EXPIRY, ROLLUPS_MIGRATION } from './rollups.js';
import { TENANT_RETENTION_MIGRATION } from './tenant-retention.js';
import { toolCallMigrations } from './tool-calls.js';

export const meteringMigrations: Migration[] = [
  {
    version: 1,
    description: 'usage ledger',
    sql: `
      CREATE TABLE usage_records (
        -- One row per request: a redelivered or re-published event never counts twice.
        request_id TEXT PRIMARY KEY,
        event_id UUID NOT NULL UNIQUE,
        occurred_at TIMESTAMPTZ NOT NULL,
        outcome TEXT NOT NULL,
        key_id TEXT NOT NULL,
        team_id TEXT NOT NULL,
        customer_id TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        provider TEXT NOT NULL,
        provider_model TEXT NOT NULL,
        deployment TEXT NOT NULL,
        prompt_tokens BIGINT NOT NULL,
        completion_tokens BIGINT NOT NULL,
        total_tokens BIGINT NOT NULL,
        cached_tokens BIGINT NOT NULL,
        reasoning_tokens BIGINT NOT NULL,
        -- NULL means not priced (no pricing catalog entry), never silently zero.
        cost_usd NUMERIC(20, 10),
        cache_hit BOOLEAN NOT NULL,
        stream BOOLEAN NOT NULL,
        http_status INTEGER NOT NULL,
        duration_ms DOUBLE PRECISION NOT NULL,
        recorded_at TIMESTAMPTZ NOT NULL DEFAULT now()
      );
      CREATE INDEX usage_records_occurred_at ON usage_records (occurred_at);
      CREATE INDEX usage_records_key ON usage_records (key_id, occurred_at);
    `,
  },
  {
    version: 2,
    description: 'prompt-cache writes',
    sql: `ALTER TABLE usage_records ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;`,
  },
  {
    version: 3,
    description: 'cost saved by cache hits',
    sql: `
      -- What a cache hit would have cost at the provider (cost_usd of a hit is 0).
      ALTER TABLE usage_records ADD COLUMN saved_usd NUMERIC(20, 10);
      CREATE INDEX usage_records_team ON usage_records (team_id, occurred_at);
      CREATE INDEX usage_records_customer ON usage_records (customer_id, occurred_at);
    `,
  },
  {
    version: 4,
    description: 'costs to the pico-dollar, part by part',
    sql: `
      -- A cost is exact in pico-dollars (twelve decimals; services/kit/pricing/money.ts). NUMERIC without a
      -- scale holds it and older ten-decimal values as they are, and PostgreSQL changes to it without
      -- rewriting the table; the writer bounds what it stores (writer.ts, MONEY).
      ALTER TABLE usage_records ALTER COLUMN cost_usd TYPE NUMERIC, ALTER COLUMN saved_usd TYPE NUMERIC;
      -- The parts of cost_usd, which add up to it; NULL where cost_usd is, and in rows written before.
      ALTER TABLE usage_records
        ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0,
        ADD COLUMN input_cost_usd NUMERIC,
        ADD COLUMN cache_read_cost_usd NUMERIC,
        ADD COLUMN cache_write_cost_usd NUMERIC,
        ADD COLUMN output_cost_usd NUMERIC,
        ADD COLUMN reasoning_cost_usd NUMERIC;
    `,
  },
  {
    version: 5,
    description: 'usage ledger partitioned by month',
    // Keyed by request and time: a redelivered event has both the same; the writer refuses a request recorded
    // within a week under another time (writer.ts). event_id's own index went: nothing looks rows up by it.
    sql: `${PARTITION_FUNCTIONS}
      ${partitionLedger('usage_records', {
        key: 'request_id, occurred_at',
        dropped: {
          constraints: ['usage_records_pkey', 'usage_records_event_id_key'],
          indexes: ['usage_records_occurred_at', 'usage_records_key', 'usage_records_team', 'usage_records_customer'],
        },
        indexes: [
          ['usage_records_occurred_at', 'occurred_at'],
          ['usage_records_key', 'key_id, occurred_at'],
          ['usage_records_team', 'team_id, occurred_at'],
          ['usage_records_customer', 'customer_id, occurred_at'],
        ],
      })}`,
  },
  {
    version: 6,
    description: 'units billed by the images, audio and rerank APIs',
    sql: `
      -- What an API billed by something other than tokens billed (common.proto, BilledUnits), and its cost,
      -- a part of cost_usd like the token parts. Added to the partitioned table, so to every partition.
      ALTER TABLE usage_records
        ADD COLUMN billed_unit TEXT NOT NULL DEFAULT '',
        ADD COLUMN billed_quantity DOUBLE PRECISION NOT NULL DEFAULT 0,
        ADD COLUMN billed_variant TEXT NOT NULL DEFAULT '',
        ADD COLUMN units_cost_usd NUMERIC;
    `,
  },
  {
    version: 7,
    description: 'tags on usage rows',
    // The client's labels for spend reports (x-gateway-tags); NULL when none. No index: reports read a time range first.
    sql: 'ALTER TABLE usage_records ADD COLUMN tags TEXT[];',
  },
  {
    version: 8,
    description: "partitions kept for the owner's retention floor at least",
    sql: RETENTION_FLOOR_FUNCTION,
  },
  {
    version: 9,
    description: 'spend rollups by hour and day, kept by a trigger, filled from the ledger',
    sql: ROLLUPS_MIGRATION,
  },
  { version: 10, description: 'spend rollups expired, each after its own retention', sql: ROLLUP_EXPIRY },
  {
    version: 11,
    description: 'the order rows were recorded in, for reading what is new since a cursor',
    // Batches are written one at a time (writer.ts, WRITE_LOCK), so a row is visible only once every row numbered
    // before it is. Rows from before stay NULL: no rewrite of the ledger, and none of them is new.
    sql: `
      CREATE SEQUENCE usage_records_seq;
      ALTER TABLE usage_records ADD COLUMN seq BIGINT;
      ALTER TABLE usage_records ALTER COLUMN seq SET DEFAULT nextval('usage_records_seq');
      ALTER SEQUENCE usage_records_seq OWNED BY usage_records.seq;
      CREATE INDEX usage_records_seq_index ON usage_records (seq);
    `,
  },
  { version: 12, description: 'expiries count what they remove, for their audit records', sql: COUNTED_EXPIRY },
  {
    version: 13,
    description: 'usage ledger partitioned by the spend retention its rows were filed under, then by month',
    sql: TENANT_RETENTION_MIGRATION,
  },
];

/**
 * Metering works as <database>_metering: it appends and reads usage and tool-call rows (never changes one), reads the
 * spend rollups, keeps its dead letters, and keeps the ledgers' partitions through the one function that may (partitions.ts).
 */
export const meteringDatabase: DatabasePlan = {
  components: [
    { name: DEAD_LETTERS_COMPONENT, migrations: deadLetterMigrations },
    { name: 'metering', migrations: meteringMigrations },
    { name: 'metering_tools', migrations: toolCallMigrations },
  ],
  roles: {
    metering: {
      grants: [
        ...tableGrants('SELECT, INSERT', ['usage_records', 'tool_call_records'], ['usage_records_seq']),
        // The rollups are kept by the owner's trigger on usage_records (rollups.ts): metering only reads them.
        ...tableGrants('SELECT', ['usage_rollup_hourly', 'usage_rollup_daily']),
        ...deadLetterTables,
        'EXECUTE ON FUNCTION metering_maintain_partitions(int, int), metering_expire_rollups(int, int)',
        // A tenant retention's tree made when audit first names it; its months expired by its own days only.
        'EXECUTE ON FUNCTION metering_add_retention(int), metering_expire_kept()',
      ],
    },
  },
};
