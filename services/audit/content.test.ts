import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_KINDS } from '../../test/harness/databases.js';
import { answered } from '../../test/harness/events.js';
import { AuditQuery } from '../gen/gateway/v1/audit.js';
import { migrate } from '../kit/db/migrate.js';
import type { Database } from '../kit/db/types.js';
import { EventType, requestEvent, toolCalledEvent } from '../kit/events.js';
import { createLogger } from '../kit/log.js';
import { ensureKeyed, keysOf } from './keys.js';
import { auditMigrations } from './migrations.js';
import { AuditReader } from './query.js';
import { RetentionAdmin } from './retention-admin.js';
import { expireContent, expireMonths } from './retention.js';
import { verifyChain } from './verify.js';
import { writeAuditEvents } from './writer.js';

const log = createLogger({ level: 'silent' });
const keys = keysOf('a chain key of at least 32 characters, for tests');
const DAY = 86_400_000;
const ninetyDaysAgo = () => new Date(Date.now() - 90 * DAY);

const actor = (teamId: string) => ({ keyId: `vk_${teamId}`, keyName: '', teamId, customerId: 'acme', admin: '' });
const toolCall = (teamId: string, at: Date) => ({
  ...toolCalledEvent(
    { service: 'ingress', context: { requestId: `req_${teamId}`, traceId: '', actor: actor(teamId), sourceAddress: '' } },
    {
      tool: 'files.read',
      server: 'files',
      argumentsSha256: 'ab',
      argumentsJson: `{"path":"/${teamId}/secret.txt"}`,
      resultJson: '"the text"',
      resultBytes: 8,
      durationMs: 3,
      outcome: 'ok',
      errorMessage: '',
      surface: 'mcp',
      runId: '',
    },
  ),
  time: at,
});
const request = (teamId: string, at: Date) => ({
  ...requestEvent(
    EventType.requestCompleted,
    { service: 'ingress', context: { requestId: `req_${teamId}_chat`, traceId: '', actor: actor(teamId), sourceAddress: '' } },
    answered({ model: 'mock/echo' }),
  ),
  time: at,
});

describe.each(Object.keys(DATABASE_KINDS) as (keyof typeof DATABASE_KINDS)[])('content retention on %s', (kind) => {
  let handle: { db: Database; cleanup(): Promise<void> } | undefined;
  afterEach(() => handle?.cleanup());

  async function auditLog(): Promise<{ db: Database; reader: AuditReader }> {
    handle = await DATABASE_KINDS[kind]();
    await migrate(handle.db, 'audit', auditMigrations, log);
    await handle.db.transaction((tx) => ensureKeyed(tx, keys));
    const db = handle.db;
    return { db, reader: new AuditReader(db, undefined, undefined, () => verifyChain(db, { keys })) };
  }
  const write = (db: Database, events: ReturnType<typeof toolCall>[], defaultDays = 0) =>
    db.transaction((tx) => writeAuditEvents(tx, events, keys.current, defaultDays));
  const settings = (db: Database) => new RetentionAdmin(db, { toolArguments: 0 });
  const retain = (db: Database, teamId: string, days: number) =>
    settings(db).setRetention({ tenant: { scope: 'team', id: teamId }, classes: [{ dataClass: 'toolArguments', days }] });
  const hold = (db: Database, teamId: string, held: boolean) =>
    settings(db).setLegalHold({ tenant: { scope: 'team', id: teamId }, held, reason: 'case 12', placedBy: 'ops' });
  const tool = async (reader: AuditReader, teamId: string) => {
    const page = await reader.query(AuditQuery.fromPartial({ limit: 100, teamId, eventType: 'tool.called' }));
    return JSON.parse(page.records[0]!.payloadJson) as { tool: Record<string, unknown>; content?: Record<string, unknown> };
  };
  const expiredRecords = async (reader: AuditReader) =>
    (await reader.query(AuditQuery.fromPartial({ limit: 100, eventType: 'audit.content_expired' }))).records.map((r) => JSON.parse(r.payloadJson) as unknown);

  it("expires a team's tool content after its 30 days, keeping its rows, other teams' content and the chain", async () => {
    const { db, reader } = await auditLog();
    await retain(db, 'short', 30);
    await write(db, [toolCall('short', ninetyDaysAgo()), request('short', ninetyDaysAgo()), toolCall('kept', ninetyDaysAgo())]);
    expect((await tool(reader, 'short')).tool).toMatchObject({ argumentsJson: '{"path":"/short/secret.txt"}', resultJson: '"the text"' });
    // The chained row keeps the content's digest, not the text.
    const stored = await db.query<{ payload: { tool: object; content: object } }>(
      "SELECT payload FROM audit_events WHERE actor_team_id = 'short' AND event_type = 'tool.called'",
    );
    expect(stored.rows[0]!.payload.tool).not.toHaveProperty('argumentsJson');
    expect(stored.rows[0]!.payload.content).toMatchObject({ class: 'toolArguments', sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });

    const expiries = await expireContent(db, keys.current);
    expect(expiries).toEqual([expect.objectContaining({ dataClass: 'toolArguments', teamId: 'short', customerId: 'acme', rows: 1, held: false })]);
    const gone = await tool(reader, 'short');
    expect(gone.tool).not.toHaveProperty('argumentsJson');
    expect(gone.tool).toMatchObject({ tool: 'files.read', outcome: 'ok' });
    expect(gone.content).toMatchObject({ class: 'toolArguments', expired: true });
    // Its request row (metadata and spend) and the team kept forever are untouched.
    expect((await reader.query(AuditQuery.fromPartial({ limit: 100, teamId: 'short', eventType: 'request.completed' }))).records).toHaveLength(1);
    expect((await tool(reader, 'kept')).tool).toMatchObject({ argumentsJson: '{"path":"/kept/secret.txt"}' });
    expect(await expiredRecords(reader)).toEqual([{ contentExpired: { expiries: [expect.objectContaining({ teamId: 'short', rows: 1 })] } }]);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 5 });
    // Nothing more to expire: no second record.
    expect(await expireContent(db, keys.current)).toEqual([]);
  });

  it('keeps content within its retention, and never below the owner’s floor', async () => {
    const { db, reader } = await auditLog();
    await retain(db, 'short', 30);
    await db.query("INSERT INTO gateway_settings (name, value) VALUES ('retention_floor_days', '365') ON CONFLICT (name) DO UPDATE SET value = '365'");
    await write(db, [toolCall('short', ninetyDaysAgo()), toolCall('recent', new Date())], 1);
    expect(await expireContent(db, keys.current)).toEqual([]);
    expect((await tool(reader, 'short')).tool).toHaveProperty('argumentsJson');
    expect((await tool(reader, 'recent')).tool).toHaveProperty('argumentsJson');
  });

  it('keeps a held team’s content until the hold is lifted, then the next run expires it', async () => {
    const { db, reader } = await auditLog();
    await retain(db, 'held', 30);
    await hold(db, 'held', true);
    await write(db, [toolCall('held', ninetyDaysAgo()), toolCall('other', ninetyDaysAgo())], 30);

    const first = await expireContent(db, keys.current);
    expect(first).toEqual([
      expect.objectContaining({ teamId: 'held', rows: 1, held: true }),
      expect.objectContaining({ teamId: 'other', rows: 1, held: false }),
    ]);
    expect((await tool(reader, 'held')).tool).toMatchObject({ argumentsJson: '{"path":"/held/secret.txt"}' });
    expect((await tool(reader, 'other')).content).toMatchObject({ expired: true });
    expect(await expireContent(db, keys.current)).toEqual([]);

    await hold(db, 'held', false);
    expect(await expireContent(db, keys.current)).toEqual([expect.objectContaining({ partition: 'audit_content_held', teamId: 'held', rows: 1, held: false })]);
    expect((await tool(reader, 'held')).content).toMatchObject({ expired: true });
    expect(await expiredRecords(reader)).toHaveLength(2);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, rows: 5 });
  });

  it('keeps every month of the log while a hold is placed, and archives and drops them once it is lifted', async () => {
    const { db } = await auditLog();
    await db.query("SELECT audit_add_partition('audit_events', '2024-01-01')");
    await write(db, [request('held', new Date('2024-01-10T00:00:00Z')), request('other', new Date())]);
    await hold(db, 'held', true);
    const dir = mkdtempSync(join(tmpdir(), 'gw-audit-hold-'));
    const days = Math.floor((Date.now() - Date.parse('2024-02-01T00:00:00Z')) / DAY);
    const held = await expireMonths(db, days, dir, keys.current);
    expect(held.archived).toBeUndefined();
    expect(held.partitions.filter((p) => p.action === 'dropped')).toEqual([]);

    await hold(db, 'held', false);
    const lifted = await expireMonths(db, days, dir, keys.current);
    expect(lifted.partitions.filter((p) => p.action === 'dropped')).toEqual([{ action: 'dropped', name: 'audit_events_p202401' }]);
    expect(await verifyChain(db, { keys })).toMatchObject({ ok: true, archives: 1 });
  });

  it('refuses content that does not match the digest its row keeps', async () => {
    const { db } = await auditLog();
    const forged = db.transaction(async (tx) => {
      const event = toolCall('t', new Date());
      await writeAuditEvents(tx, [event], keys.current);
      await tx.query("SELECT audit_keep_content(0, ARRAY[$1]::uuid[], ARRAY['toolArguments'], ARRAY['{\"tool\":{}}'])", [event.id]);
    });
    await expect(forged).rejects.toThrow(/does not match/);
  });

  it('tells an auditor when the text kept no longer has the digest its row keeps', async () => {
    const { db, reader } = await auditLog();
    await write(db, [toolCall('t', new Date())]);
    // Only the owner (or whoever holds the database's files) can do this; the reader still catches it.
    await db.query(`UPDATE audit_content SET content = '{"tool":{"argumentsJson":"{\\"path\\":\\"/elsewhere\\"}"}}'`);
    const shown = await tool(reader, 't');
    expect(shown.tool).not.toHaveProperty('argumentsJson');
    expect(shown.content).toMatchObject({ class: 'toolArguments', altered: true });
  });
});
