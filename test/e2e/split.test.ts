import Anthropic from '@anthropic-ai/sdk';
import { BedrockRuntimeClient, ConverseStreamCommand } from '@aws-sdk/client-bedrock-runtime';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import pg from 'pg';
import type OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../fakes/anthropic.js';
import { startFakeBedrock } from '../fakes/bedrock.js';
import { startFakeOpenAI, type FakeOpenAI } from '../fakes/openai.js';
import { migratedInfra, startSplit, type SplitGateway } from '../harness/gateway.js';
import { eventually, isolatedInfra } from '../harness/infra.js';
import { EVERY_PART_MODEL, EVERY_PART_PRICE, pricedRow } from '../harness/ledger.js';

const PROVIDER_KEY = 'sk-split-provider-secret-4242';
const AWS = { accessKeyId: 'AKIASPLITDEPLOYMENT', secretAccessKey: 'split/bedrock/secret' };

// Split mode: each service its own OS process, talking gRPC on the request
// path and JetStream for events, persisting to a real PostgreSQL as its own
// role, after `gateway migrate` ran as the owner, as a deployment does.
describe('split mode: six processes, real NATS and PostgreSQL', () => {
  let fake: FakeOpenAI;
  let gateway: SplitGateway;
  let db: pg.Client;
  let cleanup: (() => Promise<void>)[] = [];
  let key: string;
  let client: OpenAI;

  beforeAll(async () => {
    const infra = await isolatedInfra();
    fake = await startFakeOpenAI({ apiKey: PROVIDER_KEY });
    const anthropic = await startFakeAnthropic({ apiKey: PROVIDER_KEY });
    const bedrock = await startFakeBedrock({ region: 'us-east-1', ...AWS });
    cleanup = [infra.drop, () => fake.close(), () => anthropic.close(), () => bedrock.close()];
    gateway = await startSplit({
      ...(await migratedInfra(infra)),
      routing: {
        providers: {
          mock: { type: 'mock' },
          slow: { type: 'mock', chunkDelayMs: 150 },
          openai: { type: 'openai', baseUrl: `${fake.url}/v1`, apiKey: PROVIDER_KEY },
          anthropic: { type: 'anthropic', baseUrl: anthropic.url, apiKey: PROVIDER_KEY },
          aws: { type: 'bedrock', region: 'us-east-1', baseUrl: bedrock.url, credentials: [AWS] },
        },
      },
      pricing: { models: { [EVERY_PART_MODEL]: EVERY_PART_PRICE } },
    });
    db = new pg.Client({ connectionString: infra.database.url });
    await db.connect();
    ({ key } = await gateway.createKey({ name: 'split', team: 'team-split' }));
    client = gateway.client(key);
  });

  afterAll(async () => {
    await gateway?.stop();
    await db?.end();
    for (const fn of cleanup.reverse()) await fn().catch(() => undefined);
  });

  it('serves the openai client unchanged, streaming included, through gRPC between processes', async () => {
    const completion = await client.chat.completions.create({ model: 'openai/gpt-4o-mini', messages: [{ role: 'user', content: 'split hello' }] });
    expect(completion.choices[0]?.message.content).toBe('Fake OpenAI reply to: split hello');
    const stream = await client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'split stream' }], stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    expect(text).toBe('This is a mock response to: split stream');
    const unknown = await gateway
      .client('sk-gw-unknown')
      .models.list()
      .catch((e: { status?: number }) => e);
    expect((unknown as { status?: number }).status).toBe(401);
  });

  it('passes a provider-native request through, whole and streamed, across gRPC', async () => {
    const anthropic = new Anthropic({ baseURL: `${gateway.baseURL.replace(/\/v1$/, '')}/anthropic`, apiKey: key, maxRetries: 0 });
    const request = { model: 'claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user' as const, content: 'native split' }] };
    const { data: message, response } = await anthropic.messages.create(request).withResponse();
    expect(message.content[0]).toMatchObject({ type: 'text' });
    expect(response.headers.get('x-gateway-provider')).toBe('anthropic');
    const final = await anthropic.messages.stream(request).finalMessage();
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    // Bedrock's binary event stream, carried event by event over gRPC and framed again by ingress.
    const bedrock = new BedrockRuntimeClient({
      region: 'us-east-1',
      endpoint: `${gateway.baseURL.replace(/\/v1$/, '')}/bedrock`,
      token: { token: key },
      authSchemePreference: ['httpBearerAuth'],
      requestHandler: new NodeHttpHandler(),
      maxAttempts: 1,
    });
    try {
      const { stream } = await bedrock.send(
        new ConverseStreamCommand({ modelId: 'anthropic.claude-3-5-haiku-20241022-v1:0', messages: [{ role: 'user', content: [{ text: 'bedrock split' }] }] }),
      );
      let text = '';
      for await (const event of stream!) text += event.contentBlockDelta?.delta?.text ?? '';
      expect(text).toBe('Fake Bedrock reply to: bedrock split');
    } finally {
      bedrock.destroy();
    }
  });

  it('answers a stream that fails before its first chunk with the error, across gRPC', async () => {
    // Before the fix such a stream was never answered: the SDK's own timeout (20 s here) was all that ended it.
    const failed = (model: string) =>
      client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'fail early' }], stream: true }, { timeout: 20_000 })
        .catch((e: unknown) => e);
    expect(await failed('openai/fail-503')).toMatchObject({ status: 502, code: 'upstream_error' });
    expect(await failed('nowhere/model')).toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('keeps stored responses in PostgreSQL, per team, until they expire', async () => {
    const first = await client.responses.create({ model: 'openai/gpt-4o-mini', input: 'Remember 42.' });
    const next = await client.responses.create({ model: 'openai/gpt-4o-mini', previous_response_id: first.id, input: 'What number?' });
    expect(next.output_text).toBe('Fake OpenAI reply to: What number?');
    expect((fake.requests.at(-1)!.body as { messages: unknown[] }).messages).toHaveLength(3);
    const stranger = gateway.client((await gateway.createKey({ name: 'split-other', team: 'team-other' })).key);
    await expect(stranger.responses.retrieve(first.id)).rejects.toMatchObject({ status: 404 });
    const { rows } = await db.query<{ tenant: string }>('SELECT tenant FROM routing_responses WHERE id = $1', [first.id]);
    expect(rows).toEqual([{ tenant: 'team:team-split' }]);
    // Expired: gone for its own team too, before the hourly purge deletes the row.
    await db.query("UPDATE routing_responses SET expires_at = now() - interval '1 second' WHERE id = $1", [first.id]);
    await expect(client.responses.retrieve(first.id)).rejects.toMatchObject({ status: 404 });
  });

  it("signs in to PostgreSQL only as the services' own roles, never as the owner", async () => {
    // A request just recorded: the consumers' connections are open (a pool closes idle ones after 10 s).
    const { response } = await client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: 'which role' }] }).withResponse();
    const requestId = response.headers.get('x-request-id')!;
    await eventually('its usage and audit rows', async () => {
      const { rows } = await db.query('SELECT 1 FROM usage_records WHERE request_id = $1 UNION ALL SELECT 1 FROM audit_events WHERE request_id = $1', [
        requestId,
      ]);
      return rows.length >= 2 || undefined;
    });
    const { rows } = await db.query<{ usename: string }>(
      'SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
    );
    const name = (await db.query<{ db: string }>('SELECT current_database() AS db')).rows[0]!.db;
    const runtimeRoles = ['governance', 'routing', 'caching', 'metering', 'audit_writer', 'audit_maintainer'].map((r) => `${name}_${r}`);
    expect(rows.map((r) => r.usename).filter((u) => !runtimeRoles.includes(u))).toEqual([]);
    // The writers have just written this request's rows; routing reads its table only at start and on admin changes, so
    // its pool may have let its connection go idle by now (database-roles.test.ts signs routing in as its role).
    expect(rows.map((r) => r.usename)).toEqual(expect.arrayContaining([`${name}_metering`, `${name}_audit_writer`]));
  });

  it('exposes health, readiness and metrics on every process', async () => {
    for (const process of Object.values(gateway.processes)) {
      expect((await fetch(`${process.opsUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${process.opsUrl}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${process.opsUrl}/metrics`)).text()).toContain('process_cpu_user_seconds_total');
    }
    const ingressMetrics = await (await fetch(`${gateway.processes.ingress.opsUrl}/metrics`)).text();
    expect(ingressMetrics).toMatch(/gateway_requests_total\{endpoint="chat.completions",status="200"\} \d+/);
  });

  it('after a burst of 1,000 requests, holds exactly one audit row and one usage row per request id', async () => {
    const ids: string[] = [];
    const total = 1000;
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        if (i % 10 === 0) {
          const { data, response } = await client.chat.completions
            .create({ model: 'mock/echo', messages: [{ role: 'user', content: `burst ${i}` }], stream: true })
            .withResponse();
          for await (const _chunk of data) void _chunk;
          ids.push(response.headers.get('x-request-id')!);
        } else {
          const { response } = await client.chat.completions.create({ model: 'mock/echo', messages: [{ role: 'user', content: `burst ${i}` }] }).withResponse();
          ids.push(response.headers.get('x-request-id')!);
        }
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    expect(new Set(ids).size).toBe(total);

    const count = (table: string) =>
      db.query<{ rows: number; ids: number }>(`SELECT count(*)::int AS rows, count(DISTINCT request_id)::int AS ids FROM ${table} WHERE request_id = ANY($1)`, [
        ids,
      ]);
    const audit = await eventually('audit rows for the burst', async () => {
      const { rows } = await count('audit_events');
      return rows[0]!.rows >= total ? rows[0] : undefined;
    });
    const usage = await eventually('usage rows for the burst', async () => {
      const { rows } = await count('usage_records');
      return rows[0]!.rows >= total ? rows[0] : undefined;
    });
    expect(audit).toEqual({ rows: total, ids: total });
    expect(usage).toEqual({ rows: total, ids: total });
    const tokens = await db.query<{ zero: number }>(`SELECT count(*)::int AS zero FROM usage_records WHERE request_id = ANY($1) AND total_tokens = 0`, [ids]);
    expect(tokens.rows[0]!.zero).toBe(0);
  });

  it('records a request with every part of a cost in PostgreSQL, priced part by part', async () => {
    const anthropic = new Anthropic({ baseURL: gateway.baseURL.replace(/\/v1$/, ''), apiKey: key, maxRetries: 0 });
    const { data, response } = await anthropic.messages
      .create({
        model: EVERY_PART_MODEL,
        max_tokens: 200,
        system: [{ type: 'text', text: 'Policy.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
        messages: [{ role: 'user', content: 'What is covered?' }],
      })
      .withResponse();
    const usage = data.usage;
    const row = await eventually('the usage row', async () => {
      const { rows } = await db.query(
        `SELECT prompt_tokens::int, completion_tokens::int, cached_tokens::int, cache_write_tokens::int, cache_write_1h_tokens::int, reasoning_tokens::int, cost_usd::text,
           input_cost_usd::text, cache_read_cost_usd::text, cache_write_cost_usd::text, output_cost_usd::text, reasoning_cost_usd::text FROM usage_records WHERE request_id = $1`,
        [response.headers.get('x-request-id')],
      );
      return rows[0] as Record<string, unknown> | undefined;
    });
    expect(row).toEqual(
      pricedRow({
        prompt: usage.input_tokens + usage.cache_read_input_tokens! + usage.cache_creation_input_tokens!,
        completion: usage.output_tokens,
        hour: true,
      }),
    );
  });

  it('never prints a virtual key or a provider key', () => {
    const output = gateway.output();
    expect(output.length).toBeGreaterThan(0);
    expect(output).not.toContain(key);
    expect(output).not.toContain(PROVIDER_KEY);
  });

  it('stops the provider call when the client goes away mid-stream, and records why', async () => {
    // About 30 s of stream at 150 ms a chunk: only a cancellation that crosses ingress and routing ends it within the wait below.
    const { data, response } = await client.chat.completions
      .create({ model: 'slow/echo', messages: [{ role: 'user', content: 'word '.repeat(200) }], stream: true })
      .withResponse();
    const requestId = response.headers.get('x-request-id')!;
    for await (const _ of data) break; // the SDK closes the connection
    await eventually(
      'routing to end the provider call',
      async () => {
        const metrics = await (await fetch(`${gateway.processes.routing.opsUrl}/metrics`)).text();
        const inFlight = [...metrics.matchAll(/^gateway_deployment_in_flight\{deployment="slow[^"]*"\} (\d+)/gm)].map((m) => Number(m[1]));
        return inFlight.length > 0 && inFlight.every((n) => n === 0) ? true : undefined;
      },
      10_000,
    );
    await eventually('the request recorded as closed by the client', async () => {
      const { rows } = await db.query<{ http_status: number }>('SELECT http_status FROM usage_records WHERE request_id = $1', [requestId]);
      return rows[0]?.http_status === 499 ? true : undefined;
    });
  });

  it('lets an in-flight stream finish when ingress is told to stop', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'slow/echo', messages: [{ role: 'user', content: 'finish me please' }], stream: true })
      .withResponse();
    const requestId = response.headers.get('x-request-id')!;
    let text = '';
    let exit: Promise<number | null> | undefined;
    for await (const chunk of data) {
      text += chunk.choices[0]?.delta.content ?? '';
      exit ??= gateway.processes.ingress.kill('SIGTERM');
    }
    expect(text).toBe('This is a mock response to: finish me please');
    expect(await exit).toBe(0);
    await eventually('the stopped stream in the usage ledger', async () => {
      const { rows } = await db.query<{ outcome: string }>('SELECT outcome FROM usage_records WHERE request_id = $1', [requestId]);
      return rows[0]?.outcome === 'completed' ? true : undefined;
    });
  });
});
