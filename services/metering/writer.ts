import type { RequestOutcome } from '../gen/gateway/v1/events.js';
import { arrayLiteral } from '../kit/db/arrays.js';
import { storableText } from '../kit/db/storable.js';
import type { Queryable } from '../kit/db/types.js';
import { EventType, type Event } from '../kit/events.js';

interface Metered {
  event: Event;
  outcome: RequestOutcome;
}

/** Request events that go into the usage ledger: those of admitted requests (not request.rejected). */
const METERED_TYPES: ReadonlySet<string> = new Set([EventType.requestCompleted, EventType.requestFailed]);

/** Prices a request's usage; undefined when its model has no price (recorded as NULL, never as zero). */
export type PriceOf = (outcome: RequestOutcome) => number | undefined;

function costs(outcome: RequestOutcome, price: PriceOf): { cost: number | null; saved: number | null } {
  if (outcome.cacheHit) return { cost: 0, saved: price(outcome) ?? null };
  if (!outcome.usage || outcome.usage.totalTokens === 0) return { cost: 0, saved: null };
  return { cost: price(outcome) ?? null, saved: null };
}

/** Writes one usage row per request id, with its cost; requests already recorded are skipped. */
export async function writeUsage(db: Queryable, events: Event[], price: PriceOf): Promise<void> {
  const rows: Metered[] = [];
  for (const event of events) {
    if (METERED_TYPES.has(event.type) && event.payload?.$case === 'request' && event.requestId) rows.push({ event, outcome: event.payload.request });
  }
  if (rows.length === 0) return;
  const column = (pick: (row: Metered) => string | number | boolean | null) => arrayLiteral(rows.map(pick));
  const priced = rows.map((r) => costs(r.outcome, price));
  await db.query(
    `INSERT INTO usage_records (request_id, event_id, occurred_at, outcome, key_id, team_id, customer_id, endpoint, model,
       provider, provider_model, deployment, prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens,
       cache_hit, stream, http_status, duration_ms, cache_write_tokens, cost_usd, saved_usd)
     SELECT * FROM unnest($1::text[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
       $9::text[], $10::text[], $11::text[], $12::text[], $13::bigint[], $14::bigint[], $15::bigint[], $16::bigint[],
       $17::bigint[], $18::boolean[], $19::boolean[], $20::int[], $21::float8[], $22::bigint[], $23::numeric[], $24::numeric[])
     ON CONFLICT (request_id) DO NOTHING`,
    [
      column((r) => storableText(r.event.requestId)),
      column((r) => r.event.id),
      column((r) => (r.event.time ?? new Date()).toISOString()),
      column((r) => (r.event.type === EventType.requestCompleted ? 'completed' : 'failed')),
      column((r) => storableText(r.event.actor?.keyId ?? '')),
      column((r) => storableText(r.event.actor?.teamId ?? '')),
      column((r) => storableText(r.event.actor?.customerId ?? '')),
      column((r) => storableText(r.outcome.endpoint)),
      column((r) => storableText(r.outcome.model)),
      column((r) => storableText(r.outcome.served?.provider ?? '')),
      column((r) => storableText(r.outcome.served?.model ?? '')),
      column((r) => storableText(r.outcome.served?.deployment ?? '')),
      column((r) => r.outcome.usage?.promptTokens ?? 0),
      column((r) => r.outcome.usage?.completionTokens ?? 0),
      column((r) => r.outcome.usage?.totalTokens ?? 0),
      column((r) => r.outcome.usage?.cachedTokens ?? 0),
      column((r) => r.outcome.usage?.reasoningTokens ?? 0),
      column((r) => r.outcome.cacheHit),
      column((r) => r.outcome.stream),
      column((r) => r.outcome.httpStatus),
      column((r) => r.outcome.durationMs),
      column((r) => r.outcome.usage?.cacheWriteTokens ?? 0),
      arrayLiteral(priced.map((p) => p.cost)),
      arrayLiteral(priced.map((p) => p.saved)),
    ],
  );
}
