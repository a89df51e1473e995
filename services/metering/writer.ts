import type { RequestOutcome } from '../gen/gateway/v1/events.js';
import { arrayLiteral } from '../kit/db/arrays.js';
import { storableText } from '../kit/db/storable.js';
import type { Queryable } from '../kit/db/types.js';
import { EventType, type Event } from '../kit/events.js';
import type { Money, PricedUsage } from '../kit/pricing/index.js';
import { usdText } from '../kit/pricing/money.js';
import type { KeptDays } from './tenant-retention.js';

/** Request events that go into the usage ledger: those of admitted requests (not request.rejected). */
const METERED_TYPES: ReadonlySet<string> = new Set([EventType.requestCompleted, EventType.requestFailed]);

/** Prices a request's usage part by part; undefined when its model has no price (recorded as NULL, never as zero). */
export type PriceOf = (outcome: RequestOutcome) => PricedUsage | undefined;

/** A request as the ledger records it: what it was charged (undefined: unpriced), and what a cache hit saved. */
interface Metered {
  event: Event;
  outcome: RequestOutcome;
  charged: PricedUsage | undefined;
  saved: Money | undefined;
  /** The spend retention the row is filed under (tenant-retention.ts); null: the gateway's default. */
  keptDays: number | null;
}

const FREE: PricedUsage = { input: 0n, cacheRead: 0n, cacheWrite: 0n, output: 0n, reasoning: 0n, units: 0n, total: 0n };

function priced(outcome: RequestOutcome, price: PriceOf): Pick<Metered, 'charged' | 'saved'> {
  if (outcome.cacheHit) return { charged: FREE, saved: price(outcome)?.total };
  if (!outcome.usage || (outcome.usage.totalTokens === 0 && !outcome.usage.billed?.quantity)) return { charged: FREE, saved: undefined };
  return { charged: price(outcome), saved: undefined };
}

function metered(event: Event, outcome: RequestOutcome, price: PriceOf, keptDays: KeptDays): Metered {
  return { event, outcome, ...priced(outcome, price), keptDays: keptDays(event.actor?.teamId ?? '', event.actor?.customerId ?? '') };
}

const money = (amount: Money | undefined) => (amount === undefined ? null : usdText(amount));
/**
 * How amounts are written: twelve decimals, and ten whole digits as the ledger always allowed, so a cost beyond
 * them (a mistaken price) is refused as a value (SQLSTATE 22003) and set aside as a dead letter, not retried.
 */
const MONEY = 'numeric(22,12)';

/** Each ledger column, its type for the batch insert, its value for a request, and what the insert makes of it (default: as is). */
const COLUMNS: [column: string, type: string, value: (row: Metered) => string | number | boolean | null, stored?: string][] = [
  ['request_id', 'text', (r) => storableText(r.event.requestId)],
  ['event_id', 'uuid', (r) => r.event.id],
  ['occurred_at', 'timestamptz', (r) => (r.event.time ?? new Date()).toISOString()],
  ['outcome', 'text', (r) => (r.event.type === EventType.requestCompleted ? 'completed' : 'failed')],
  ['key_id', 'text', (r) => storableText(r.event.actor?.keyId ?? '')],
  ['team_id', 'text', (r) => storableText(r.event.actor?.teamId ?? '')],
  ['customer_id', 'text', (r) => storableText(r.event.actor?.customerId ?? '')],
  ['endpoint', 'text', (r) => storableText(r.outcome.endpoint)],
  ['model', 'text', (r) => storableText(r.outcome.model)],
  ['provider', 'text', (r) => storableText(r.outcome.served?.provider ?? '')],
  ['provider_model', 'text', (r) => storableText(r.outcome.served?.model ?? '')],
  ['deployment', 'text', (r) => storableText(r.outcome.served?.deployment ?? '')],
  ['prompt_tokens', 'bigint', (r) => r.outcome.usage?.promptTokens ?? 0],
  ['completion_tokens', 'bigint', (r) => r.outcome.usage?.completionTokens ?? 0],
  ['total_tokens', 'bigint', (r) => r.outcome.usage?.totalTokens ?? 0],
  ['cached_tokens', 'bigint', (r) => r.outcome.usage?.cachedTokens ?? 0],
  ['reasoning_tokens', 'bigint', (r) => r.outcome.usage?.reasoningTokens ?? 0],
  ['cache_write_tokens', 'bigint', (r) => r.outcome.usage?.cacheWriteTokens ?? 0],
  ['cache_write_1h_tokens', 'bigint', (r) => r.outcome.usage?.cacheWrite1hTokens ?? 0],
  ['billed_unit', 'text', (r) => storableText(r.outcome.usage?.billed?.unit ?? '')],
  ['billed_quantity', 'float8', (r) => r.outcome.usage?.billed?.quantity ?? 0],
  ['billed_variant', 'text', (r) => storableText(r.outcome.usage?.billed?.variant ?? '')],
  ['cache_hit', 'boolean', (r) => r.outcome.cacheHit],
  ['stream', 'boolean', (r) => r.outcome.stream],
  ['http_status', 'int', (r) => r.outcome.httpStatus],
  ['duration_ms', 'float8', (r) => r.outcome.durationMs],
  ['cost_usd', MONEY, (r) => money(r.charged?.total)],
  ['input_cost_usd', MONEY, (r) => money(r.charged?.input)],
  ['cache_read_cost_usd', MONEY, (r) => money(r.charged?.cacheRead)],
  ['cache_write_cost_usd', MONEY, (r) => money(r.charged?.cacheWrite)],
  ['output_cost_usd', MONEY, (r) => money(r.charged?.output)],
  ['reasoning_cost_usd', MONEY, (r) => money(r.charged?.reasoning)],
  ['units_cost_usd', MONEY, (r) => money(r.charged?.units)],
  ['saved_usd', MONEY, (r) => money(r.saved)],
  // A list in one batch column: tags hold no comma (ingress/tags.ts). Most requests have none: NULL, not '{}'.
  ['tags', 'text', (r) => (r.outcome.tags.length > 0 ? r.outcome.tags.map(storableText).join(',') : null), "string_to_array(r.tags, ',')"],
  ['kept_days', 'int', (r) => r.keptDays],
];

/** How far apart in time two outcomes of one request may be recorded and still count once (a re-publish is seconds). */
const SAME_REQUEST_WITHIN = "interval '7 days'";

/**
 * Each retention's tree is keyed by (request_id, occurred_at), as partitioning requires the time in it: a redelivered
 * event filed under the same retention conflicts on it (the parent, partitioned by retention, has no key of its own); a request recorded again under a new event (so another time) is skipped by the NOT EXISTS.
 * `seen` looks the batch's request ids up by primary key, in the partitions between its first and last time (the
 * last two parameters) widened by SAME_REQUEST_WITHIN: a join against the whole ledger would read all of it.
 * Exact with WRITE_LOCK held (no two batches at once).
 */
const N = COLUMNS.length;
const INSERT = `WITH seen AS (SELECT request_id, occurred_at FROM usage_records WHERE request_id = ANY($1::text[])
    AND occurred_at > $${N + 1}::timestamptz - ${SAME_REQUEST_WITHIN} AND occurred_at < $${N + 2}::timestamptz + ${SAME_REQUEST_WITHIN})
  INSERT INTO usage_records (${COLUMNS.map(([column]) => column).join(', ')})
  SELECT ${COLUMNS.map(([column, , , stored]) => stored ?? `r.${column}`).join(', ')} FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) AS r(${COLUMNS.map(([column]) => column).join(', ')})
  WHERE NOT EXISTS (SELECT 1 FROM seen s WHERE s.request_id = r.request_id
    AND s.occurred_at > r.occurred_at - ${SAME_REQUEST_WITHIN} AND s.occurred_at < r.occurred_at + ${SAME_REQUEST_WITHIN})
  ON CONFLICT DO NOTHING`;

/** Taken by the transaction of each batch (persisting consumer's opening), so the NOT EXISTS above sees every earlier batch. */
export const WRITE_LOCK = 'SELECT pg_advisory_xact_lock(7423914)';

/**
 * Writes one usage row per request id, with its cost part by part, filed under its team's or customer's spend
 * retention (the default where neither has one); requests already recorded are skipped.
 */
export async function writeUsage(db: Queryable, events: Event[], price: PriceOf, keptDays: KeptDays = () => null): Promise<void> {
  const rows = new Map<string, Metered>();
  for (const event of events) {
    if (METERED_TYPES.has(event.type) && event.payload?.$case === 'request' && event.requestId && !rows.has(event.requestId))
      rows.set(event.requestId, metered(event, event.payload.request, price, keptDays));
  }
  if (rows.size === 0) return;
  const columns = COLUMNS.map(([, , value]) => arrayLiteral([...rows.values()].map(value)));
  const times = [...rows.values()].map((r) => (r.event.time ?? new Date()).getTime());
  await db.query(INSERT, [...columns, new Date(Math.min(...times)).toISOString(), new Date(Math.max(...times)).toISOString()]);
}
