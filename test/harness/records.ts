import { type Event, EventType, requestEvent } from '../../services/kit/events.js';
import { answered } from './events.js';
import { ADMIN_TOKEN, admin } from './gateway.js';
import { eventually } from './infra.js';

/** A usage ledger row as `/admin/usage/export` gives it. */
export type LedgerRow = Record<string, unknown>;

/** A key's usage ledger rows, once at least `atLeast` are written. */
export function usageRowsOf(adminUrl: string, keyId: string, atLeast: number): Promise<LedgerRow[]> {
  return eventually(`${atLeast} usage rows`, async () => {
    const response = await fetch(`${adminUrl}/admin/usage/export?key=${keyId}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const rows = (await response.text())
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as LedgerRow);
    return rows.length >= atLeast ? rows : undefined;
  });
}

/** The audit event types of one request, once it has any. */
export function auditTypesOf(adminUrl: string, requestId: string): Promise<string[]> {
  return eventually('the audit row', async () => {
    const page = await admin<{ data: { event_type: string }[] }>(adminUrl, 'GET', `/admin/audit/events?request_id=${requestId}`);
    return page.data.length ? page.data.map((row) => row.event_type) : undefined;
  });
}

/** A key's ledger rows once `rows` are written, and the audit event types of each request id given. */
export async function keyRecords(adminUrl: string, keyId: string, rows: number, requestIds: string[] = []) {
  const usage = await usageRowsOf(adminUrl, keyId, rows);
  const audit = await Promise.all(requestIds.map((requestId) => auditTypesOf(adminUrl, requestId)));
  return { usage, audit };
}

/** A `request.completed` of team `teamId` that happened at `at`, for writing straight into the usage ledger. */
export const pastUsage = (requestId: string, teamId: string, at: Date, customerId = ''): Event => ({
  ...requestEvent(
    EventType.requestCompleted,
    {
      service: 'ingress',
      context: { requestId, traceId: '', actor: { keyId: 'vk_1', keyName: '', teamId, customerId, admin: '' }, sourceAddress: '' },
    },
    answered({ model: 'mock/echo' }),
  ),
  time: at,
});

/** The first `ledger.expired` audit row, once there is one: who wrote it, and each partition dropped with its rows. */
export function firstLedgerExpiry(adminUrl: string) {
  type Row = { service: string; payload: { ledgerExpired?: { expiries: { table: string; partition?: string; rows: number }[] } } };
  return eventually('a ledger.expired row', async () => {
    const { data } = await admin<{ data: Row[] }>(adminUrl, 'GET', '/admin/audit/events?type=ledger.expired');
    return data[0];
  });
}
