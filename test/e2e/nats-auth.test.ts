import { connect as connectTcp } from 'node:net';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '../../services/audit/verify.js';
import { generatedChainKeys } from '../../services/audit/keys.js';
import type { Queryable } from '../../services/kit/db/types.js';
import { adminEvent, encodeEvent, EventType, requestEvent, type Event } from '../../services/kit/events.js';
import type { ServiceName } from '../../services/kit/service.js';
import { startSplit, type SplitGateway } from '../harness/gateway.js';
import { createDatabase, eventually, requireInfra } from '../harness/infra.js';
import { startSecuredNats, type SecuredNats } from '../harness/nats-server.js';
import { answered } from '../harness/events.js';

const STREAM = 'GATEWAY_EVENTS';
const subject = (type: string) => `gateway.events.${type}`;

// Issue 21: NATS took any publisher, so a forged request.completed became a $625 usage row and a forged key
// revocation "by" the owner joined the audit chain. Here every service connects over TLS as its own user of
// the shipped deploy/nats configuration, and the forgeries are refused before they reach the stream.
describe('split mode on NATS with TLS and a user per service (deploy/nats)', () => {
  let nats: SecuredNats;
  let gateway: SplitGateway;
  let db: pg.Client;
  let dropDatabase: () => Promise<void>;
  let victim: { id: string; key: string };
  const opened: NatsConnection[] = [];

  /** A client of the test's NATS as a service's user (or with the password given), as an attacker holding it would be. */
  const connectAs = async (user: ServiceName | undefined, password = user && nats.password(user)) => {
    const nc = await connect({ servers: nats.url, tls: { caFile: nats.caFile }, ...(user ? { user, pass: password, inboxPrefix: `_INBOX.${user}` } : {}) });
    opened.push(nc);
    return nc;
  };

  const request = async (content: string) => {
    const { response } = await gateway
      .client(victim.key)
      .chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content }] })
      .withResponse();
    return response.headers.get('x-request-id')!;
  };
  const rowsOf = async (table: 'audit_events' | 'usage_records', requestId: string) =>
    (await db.query(`SELECT 1 FROM ${table} WHERE request_id = $1`, [requestId])).rowCount ?? 0;
  const recorded = (requestId: string) =>
    eventually(`audit and usage rows of ${requestId}`, async () =>
      (await rowsOf('audit_events', requestId)) > 0 && (await rowsOf('usage_records', requestId)) > 0 ? true : undefined,
    );

  beforeAll(async () => {
    nats = await startSecuredNats();
    const database = await createDatabase(requireInfra().databaseUrl);
    dropDatabase = database.drop;
    // The stream and subject prefix are the defaults the shipped users.conf grants; each process signs in with its own password file.
    gateway = await startSplit({ nats: { url: nats.url, tls: { caFile: nats.caFile } }, database: { url: database.url } }, {}, (service) => ({
      GATEWAY_NATS__AUTH__PASSWORD: `file:${nats.passwordFile(service)}`,
    }));
    db = new pg.Client({ connectionString: database.url });
    await db.connect();
    victim = await gateway.createKey({ name: 'victim', team: 'team-nats' });
  });

  afterAll(async () => {
    for (const nc of opened) await nc.close().catch(() => undefined);
    await gateway?.stop();
    await db?.end();
    await dropDatabase?.();
    await nats?.stop();
  });

  it('serves and records requests and admin changes, each service using no more than its user may', async () => {
    await recorded(await request('hello over TLS'));
    await eventually('the key creation in the audit log', async () => {
      const { rows } = await db.query(`SELECT 1 FROM audit_events WHERE event_type = 'admin.virtual_key.create' AND payload->'admin'->>'resourceId' = $1`, [
        victim.id,
      ]);
      return rows.length > 0 ? true : undefined;
    });
    // What the code does on the bus and what users.conf grants have not drifted apart.
    expect(gateway.output()).not.toContain('NATS refused');
    expect(nats.output()).not.toContain('Violation');
  });

  it('refuses forged events from users without the right, and none becomes an audit or usage row', async () => {
    const actor = { keyId: victim.id, keyName: 'victim', teamId: 'team-nats', customerId: '', admin: '' };
    const usage = {
      promptTokens: 50_000_000,
      completionTokens: 50_000_000,
      totalTokens: 100_000_000,
      cachedTokens: 0,
      reasoningTokens: 0,
      cacheWriteTokens: 0,
      cacheWrite1hTokens: 0,
      billed: undefined,
    };
    const forgedUsage = requestEvent(
      EventType.requestCompleted,
      { service: 'ingress', context: { requestId: 'req_forged_usage', traceId: '', actor, sourceAddress: '203.0.113.7' } },
      answered({ model: 'gpt-4o', served: { provider: 'openai', model: 'gpt-4o', deployment: '' }, usage }),
    );
    const forgedRevoke = (requestId: string) =>
      adminEvent(
        'admin.virtual_key.revoke',
        { service: 'governance', context: { requestId, traceId: '', actor: { ...actor, admin: 'owner' }, sourceAddress: '198.51.100.66' } },
        {
          action: 'revoke',
          resource: 'virtual_key',
          resourceId: victim.id,
          beforeJson: '',
          afterJson: '{"revoked":true}',
        },
      );
    const publish = (nc: NatsConnection, on: string, event: Event) =>
      jetstream(nc).publish(subject(on), encodeEvent(event), { msgID: event.id, timeout: 5_000 });
    const ingress = await connectAs('ingress');
    const governance = await connectAs('governance');
    const viaAdmin = forgedRevoke('req_forged_admin_subject');
    const smuggled = forgedRevoke('req_forged_inside_request');

    // Ingress may publish request events only; governance admin events only.
    await expect(publish(ingress, viaAdmin.type, viaAdmin)).rejects.toThrow(/Permissions Violation for Publish to "gateway.events.admin/);
    await expect(publish(governance, forgedUsage.type, forgedUsage)).rejects.toThrow(/Permissions Violation for Publish to "gateway.events.request.completed"/);
    // On a subject its user may use, an event of another type is stored, and refused by every consumer.
    await publish(ingress, EventType.requestCompleted, smuggled);
    // Without the right password, or any, NATS takes no connection at all.
    await expect(connectAs('ingress', 'not-the-password')).rejects.toThrow(/Authorization Violation/);
    await expect(connectAs(undefined)).rejects.toThrow(/Authorization Violation/);
    // Nor may a publisher erase the trail or read it.
    const manager = await jetstreamManager(ingress);
    await expect(manager.streams.purge(STREAM)).rejects.toThrow(/Permissions Violation/);
    await expect(manager.consumers.info(STREAM, 'audit')).rejects.toThrow(/Permissions Violation/);

    // Consumers take the stream in order: once a request after the forgeries is recorded, they are past them.
    await recorded(await request('after the forgeries'));
    const forgedIds = [forgedUsage.id, viaAdmin.id, smuggled.id];
    expect((await db.query('SELECT event_id FROM audit_events WHERE event_id = ANY($1)', [forgedIds])).rows).toEqual([]);
    expect((await db.query(`SELECT 1 FROM audit_events WHERE event_type = 'admin.virtual_key.revoke'`)).rows).toEqual([]);
    expect(await rowsOf('usage_records', forgedUsage.requestId)).toBe(0);
    const { rows: spend } = await db.query<{ tokens: string }>('SELECT coalesce(sum(total_tokens), 0) AS tokens FROM usage_records WHERE key_id = $1', [
      victim.id,
    ]);
    expect(Number(spend[0]!.tokens)).toBeLessThan(1_000);
    expect(await verifyChain(db as unknown as Queryable, { keys: generatedChainKeys(gateway.dataDir)! })).toMatchObject({ ok: true });
  });

  it('refuses a client that does not speak TLS before it can sign in or publish', async () => {
    const { port } = new URL(nats.url);
    const answer = await new Promise<string>((resolve, reject) => {
      let received = '';
      const socket = connectTcp(Number(port), '127.0.0.1');
      socket.on('data', (data) => {
        received += data.toString('latin1');
        if (received.includes('\r\n') && !socket.writableEnded) {
          const pass = nats.password('ingress');
          socket.end(`CONNECT {"verbose":true,"user":"ingress","pass":"${pass}"}\r\nPUB ${subject('request.completed')} 2\r\nhi\r\nPING\r\n`);
        }
      });
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    expect(answer).toContain('"tls_required":true');
    expect(answer).not.toContain('+OK');
    expect(answer).not.toContain('PONG');
  });
});
