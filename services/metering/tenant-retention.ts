import { SCHEMA_LOCK } from '../kit/db/migrate.js';
import { MONTHS_AHEAD, RETENTION_FLOOR } from '../kit/db/partitions.js';
import type { Queryable } from '../kit/db/types.js';
import type { LegalHoldsResponse } from '../gen/gateway/v1/audit.js';

/**
 * Spend retention per team and customer (docs/retention.md#spend-per-team-and-customer). Each usage row carries
 * `kept_days`, the retention its team (else customer) had when it was written, NULL for the gateway's default;
 * `usage_records` is partitioned by it (LIST), each value by month (RANGE on occurred_at) as before:
 *
 * - `usage_records_kdefault` (NULL): the ledger as it was, its months still `usage_records_pYYYYMM`, dropped after
 *   `metering.retentionDays` by metering_maintain_partitions;
 * - `usage_records_k<days>`: rows filed under that retention, months `usage_records_k<days>_pYYYYMM`, dropped by
 *   metering_expire_kept() once `<days>` (never less than the owner's floor) have passed since the month's end.
 *
 * A row is never moved: a retention changed later applies to rows written after, as for audit_content.
 */

const TREE = `'^usage_records_k[0-9]+$'`;

/** metering_add_partition again: `usage_records` names the default retention's months, `usage_records_k<days>` a tenant retention's. */
const ADD_PARTITION = `
  DROP FUNCTION metering_add_partition(text, date);
  CREATE FUNCTION metering_add_partition(ledger text, month date) RETURNS text LANGUAGE plpgsql AS $$
  DECLARE
    first date := date_trunc('month', month)::date;
    name text := ledger || '_p' || to_char(first, 'YYYYMM');
    -- The default retention's months keep their names from before the ledger was partitioned by retention.
    tree text := CASE ledger WHEN 'usage_records' THEN 'usage_records_kdefault' ELSE ledger END;
    lower timestamptz := first::timestamp AT TIME ZONE 'UTC';
    upper timestamptz := (first + interval '1 month')::timestamp AT TIME ZONE 'UTC';
  BEGIN
    IF ledger NOT IN ('usage_records', 'tool_call_records') AND ledger !~ ${TREE} THEN RAISE EXCEPTION 'not a partitioned ledger: %', ledger; END IF;
    IF first NOT BETWEEN date '2000-01-01' AND date '9999-01-01' THEN RAISE EXCEPTION 'no partition for %', first; END IF;
    IF to_regclass(name) IS NOT NULL THEN RETURN NULL; END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, tree);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE occurred_at >= $1 AND occurred_at < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
      ledger || '_default', name) USING lower, upper;
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', tree, name, lower, upper);
    RETURN name;
  END $$;
  REVOKE ALL ON FUNCTION metering_add_partition(text, date) FROM PUBLIC;
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION metering_add_partition(text, date) SET search_path = %I, pg_temp', current_schema());
  END $$;`;

/** An owner's function run as the owner: callable only as granted, resolving names in the gateway's schema only. */
function definer(signature: string): string {
  return `REVOKE ALL ON FUNCTION ${signature} FROM PUBLIC;
  DO $$ BEGIN
    EXECUTE format('ALTER FUNCTION ${signature} SET search_path = %I, pg_temp', current_schema());
  END $$;`;
}

/** metering_maintain_partitions as in migration 12, making the coming months of every retention's tree too. */
const MAINTAIN = `
  CREATE OR REPLACE FUNCTION metering_maintain_partitions(months_ahead int, retention_days int)
    RETURNS TABLE (action text, partition_name text, rows bigint) LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE
    ledger text;
    tree text;
    old text;
    kept int := CASE WHEN retention_days = 0 THEN 0 ELSE greatest(retention_days, ${RETENTION_FLOOR}) END;
    cutoff timestamptz := now() - make_interval(days => kept);
  BEGIN
    IF months_ahead NOT BETWEEN 0 AND 24 OR retention_days < 0 THEN
      RAISE EXCEPTION 'months ahead must be 0 to 24 and retention days 0 (keep) or more';
    END IF;
    PERFORM pg_advisory_xact_lock(${SCHEMA_LOCK});
    FOR ledger, tree IN SELECT CASE c.relname WHEN 'usage_records_kdefault' THEN 'usage_records' ELSE c.relname::text END, c.relname::text
                          FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
                         WHERE c.relnamespace = current_schema()::regnamespace
                           AND (c.relname IN ('usage_records_kdefault', 'tool_call_records') OR c.relname ~ ${TREE}) LOOP
      FOR i IN 0..months_ahead LOOP
        partition_name := metering_add_partition(ledger, (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date);
        IF partition_name IS NOT NULL THEN action := 'created'; rows := 0; RETURN NEXT; END IF;
      END LOOP;
      -- A tenant retention's months go by their own days (metering_expire_kept), never by the caller's.
      CONTINUE WHEN kept = 0 OR ledger ~ ${TREE};
      FOR old IN SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = tree::regclass AND c.relname ~ ('^' || ledger || '_p[0-9]{6}$') ORDER BY 1 LOOP
        IF (to_date(right(old, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= cutoff THEN
          EXECUTE format('SELECT count(*) FROM %I', old) INTO rows;
          EXECUTE format('DROP TABLE %I', old);
          action := 'dropped';
          partition_name := old;
          RETURN NEXT;
        END IF;
      END LOOP;
      EXECUTE format('DELETE FROM %I WHERE occurred_at < $1', ledger || '_default') USING cutoff;
    END LOOP;
  END $$;
  ${definer('metering_maintain_partitions(int, int)')}`;

/**
 * metering_add_retention(days): the tree rows filed under a tenant retention of `days` go to, with its coming months;
 * the writer's role may call it (it only makes empty tables). metering_expire_kept(): takes nothing, so no caller
 * names a retention; the days are the tree's own, and never fewer than the owner's floor.
 */
const TREE_FUNCTIONS = `
  CREATE FUNCTION metering_add_retention(days int) RETURNS text LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE
    tree text := 'usage_records_k' || days;
  BEGIN
    IF days IS NULL OR days NOT BETWEEN 0 AND 36500 THEN RAISE EXCEPTION 'retention days must be 0 (keep) to 36500'; END IF;
    -- Asked every few seconds for trees that exist: answered without the schema lock; checked again under it.
    IF to_regclass(tree) IS NOT NULL THEN RETURN NULL; END IF;
    PERFORM pg_advisory_xact_lock(${SCHEMA_LOCK});
    IF to_regclass(tree) IS NOT NULL THEN RETURN NULL; END IF;
    EXECUTE format('CREATE TABLE %I (LIKE usage_records INCLUDING DEFAULTS, PRIMARY KEY (request_id, occurred_at)) PARTITION BY RANGE (occurred_at)', tree);
    EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', tree || '_default', tree);
    EXECUTE format('ALTER TABLE usage_records ATTACH PARTITION %I FOR VALUES IN (%s)', tree, days);
    FOR i IN 0..${MONTHS_AHEAD} LOOP
      PERFORM metering_add_partition(tree, (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date);
    END LOOP;
    RETURN tree;
  END $$;
  ${definer('metering_add_retention(int)')}

  CREATE FUNCTION metering_expire_kept() RETURNS TABLE (action text, partition_name text, rows bigint) LANGUAGE plpgsql SECURITY DEFINER AS $$
  DECLARE
    tree text;
    days int;
    old text;
    cutoff timestamptz;
  BEGIN
    PERFORM pg_advisory_xact_lock(${SCHEMA_LOCK});
    FOR tree IN SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'usage_records'::regclass AND c.relname ~ ${TREE} ORDER BY 1 LOOP
      days := substr(tree, length('usage_records_k') + 1)::int;
      CONTINUE WHEN days = 0;
      cutoff := now() - make_interval(days => greatest(days, ${RETENTION_FLOOR}));
      FOR old IN SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                  WHERE i.inhparent = tree::regclass AND c.relname ~ ('^' || tree || '_p[0-9]{6}$') ORDER BY 1 LOOP
        IF (to_date(right(old, 6), 'YYYYMM') + interval '1 month')::timestamp AT TIME ZONE 'UTC' <= cutoff THEN
          EXECUTE format('SELECT count(*) FROM %I', old) INTO rows;
          EXECUTE format('DROP TABLE %I', old);
          action := 'dropped';
          partition_name := old;
          RETURN NEXT;
        END IF;
      END LOOP;
      EXECUTE format('DELETE FROM %I WHERE occurred_at < $1', tree || '_default') USING cutoff;
    END LOOP;
  END $$;
  ${definer('metering_expire_kept()')}`;

/**
 * Metering migration 13. The ledger as it is becomes the default retention's tree without copying a row: it gains the
 * (NULL) column, is renamed, and is attached under the new parent, whose indexes adopt its own (no index is built).
 * The rollups' trigger moves to the parent (a statement trigger fires on the table named in the INSERT), and the
 * runtime role keeps no grant on the tree, so no row reaches it without the trigger.
 */
export const TENANT_RETENTION_MIGRATION = `
  ALTER TABLE usage_records ADD COLUMN kept_days int;
  ALTER TABLE usage_records RENAME TO usage_records_kdefault;
  DROP TRIGGER usage_rollups ON usage_records_kdefault;
  ALTER INDEX usage_records_pkey RENAME TO usage_records_kdefault_pkey;
  ${['occurred_at', 'key', 'team', 'customer', 'seq_index'].map((i) => `ALTER INDEX usage_records_${i} RENAME TO usage_records_kdefault_${i};`).join('\n  ')}
  CREATE TABLE usage_records (LIKE usage_records_kdefault INCLUDING DEFAULTS) PARTITION BY LIST (kept_days);
  ALTER SEQUENCE usage_records_seq OWNED BY usage_records.seq;
  CREATE INDEX usage_records_occurred_at ON usage_records (occurred_at);
  CREATE INDEX usage_records_key ON usage_records (key_id, occurred_at);
  CREATE INDEX usage_records_team ON usage_records (team_id, occurred_at);
  CREATE INDEX usage_records_customer ON usage_records (customer_id, occurred_at);
  CREATE INDEX usage_records_seq_index ON usage_records (seq);
  ALTER TABLE usage_records ATTACH PARTITION usage_records_kdefault FOR VALUES IN (NULL);
  CREATE TRIGGER usage_rollups AFTER INSERT ON usage_records REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION usage_rollups_add();
  DO $$ DECLARE grantee text; BEGIN
    FOR grantee IN SELECT DISTINCT g.grantee FROM information_schema.role_table_grants g
                    WHERE g.table_schema = current_schema() AND g.table_name = 'usage_records_kdefault' AND g.grantee <> current_user LOOP
      EXECUTE format('REVOKE ALL ON usage_records_kdefault FROM %I', grantee);
    END LOOP;
  END $$;
  ${ADD_PARTITION}
  ${MAINTAIN}
  ${TREE_FUNCTIONS}`;

/** The spend retention a team or customer has set, as audit answers it; null where neither has one (the default). */
export type KeptDays = (teamId: string, customerId: string) => number | null;

/**
 * What the writer files each row under, learnt from the audit service (which keeps the settings) and asked again
 * every few seconds (index.ts). Until it has answered once, no row is written (the writer throws, the batch is
 * retried): a row filed under the default could expire before its tenant's longer retention.
 */
export class SpendRetention {
  private byTenant?: Map<string, number>;

  constructor(
    private readonly db: Queryable,
    private readonly ask: () => Promise<Pick<LegalHoldsResponse, 'spendRetention'>>,
  ) {}

  /** Asks audit, makes a tree for every retention named, then files rows by the answer. */
  async refresh(): Promise<void> {
    const { spendRetention } = await this.ask();
    for (const days of new Set(spendRetention.map((s) => s.days))) await this.db.query('SELECT metering_add_retention($1)', [days]);
    this.byTenant = new Map(spendRetention.map((s) => [`${s.tenant?.scope}:${s.tenant?.id}`, s.days]));
  }

  readonly keptDays: KeptDays = (teamId, customerId) => {
    if (!this.byTenant) throw new Error('spend retention not known yet (the audit service has not answered): the batch waits');
    const team = teamId ? this.byTenant.get(`team:${teamId}`) : undefined;
    const customer = customerId ? this.byTenant.get(`customer:${customerId}`) : undefined;
    return team ?? customer ?? null;
  };
}
