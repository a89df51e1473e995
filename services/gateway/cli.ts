#!/usr/bin/env node
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { signedHead, verifyChain } from '../audit/verify.js';
import { listDeadLetters } from '../kit/bus/dead-letters.js';
import { ConfigError, loadConfig } from '../kit/config.js';
import { PGliteDatabase } from '../kit/db/pglite.js';
import { connectPostgres } from '../kit/db/postgres.js';
import type { Database } from '../kit/db/types.js';
import { Event } from '../kit/events.js';
import { SecretStore } from '../kit/secrets/store.js';
import { createLogger } from '../kit/log.js';
import { SERVICE_NAMES } from '../kit/service.js';
import { ADMIN_TOKEN_FILE } from '../governance/admin/principals.js';
import { gatewayConfig, type GatewayConfig } from './config.js';
import { renderConfigReference } from './config-reference.js';
import { renderEventsReference } from './events-reference.js';
import { GROUPS, parseServiceList } from './service-list.js';
import { reportToPrimary, startWorkers, workerSlot } from './workers.js';

const USAGE = `gateway — an OpenAI-compatible AI gateway

Usage:
  gateway start [--services <list>] [--workers <n>] [--config <file>]
                                                        run services (default: all, in one process)
  gateway keys create --name <name> [--team <id>] [--customer <id>] [--expires-at <ISO time>]
  gateway keys list
  gateway keys revoke <key id>
  gateway audit verify [--config <file>]                walk the audit log's hash chain; exit 1 naming the first broken row
  gateway audit head [--sign-key <pem file>]            print the chain's head, signed, to keep outside the database
  gateway audit events                                  print an example of every event in every SIEM format (Markdown)
  gateway dead-letters [--consumer <name>] [--json]     list events a consumer or SIEM sink could never write or deliver
  gateway config check [--config <file>]                validate the configuration and exit
  gateway config reference                              print the configuration reference (Markdown)

Run any command with --help for its options. Configuration: docs/configuration.md.`;

const CONFIG_OPTION = { config: { type: 'string', short: 'c' } } as const;
const ADMIN_OPTIONS = { ...CONFIG_OPTION, 'admin-url': { type: 'string' }, 'admin-token': { type: 'string' } } as const;

const HELP: Record<string, string> = {
  start: `gateway start — run gateway services

Options:
  --services <list>  comma-separated services or groups to run in this process
                     services: ${SERVICE_NAMES.join(', ')}
                     groups: ${Object.entries(GROUPS).map(([g, s]) => `${g} (${s.join(',')})`).join('; ')}
                     default: all
  --workers <n>      run the services in n processes sharing the ports, one per core
                     (default: server.workers, 1); above 1 needs nats.url and database.url
  --config, -c <file>  YAML configuration (default: $GATEWAY_CONFIG, else ./gateway.yaml if present,
                     else built-in defaults: embedded database, in-process bus, mock provider)
  --help             show this help

Environment: GATEWAY_<SECTION>__<KEY>=value overrides a config key, e.g. GATEWAY_NATS__URL=nats://127.0.0.1:4222.
Stops gracefully on SIGTERM or SIGINT: in-flight requests finish, consumers drain.`,
  keys: `gateway keys — manage virtual keys through the admin API

  gateway keys create --name <name> [--team <id>] [--customer <id>] [--expires-at <ISO time>] [--json]
      prints the new key; it is shown only this once
  gateway keys list [--json]
  gateway keys revoke <key id>

Options for all:
  --admin-url <url>     admin API (default: $GATEWAY_ADMIN_URL, else http://127.0.0.1:<governance.adminPort>)
  --admin-token <token> admin token (default: $GATEWAY_ADMIN_TOKEN, else governance.adminToken,
                        else the token generated into <dataDir>/${ADMIN_TOKEN_FILE})
  --config, -c <file>   configuration to read the defaults above from
  --help                show this help`,
  audit: `gateway audit — the tamper-evident audit log (reads database.url, or the embedded database of a stopped gateway)

  gateway audit verify [--config <file>] [--json]
      recomputes every row's hash in order; exit 0 when intact, 1 naming the first row changed or removed
  gateway audit head [--config <file>] [--sign-key <Ed25519 private key PEM file>]
      prints the last row's position and hash, signed with the key (or audit.signingKey), to anchor outside the database
  gateway audit events
      prints an example of every event type as native JSON, OCSF and CEF, and what each SIEM transport sends (Markdown)`,
  'dead-letters': `gateway dead-letters — events set aside in dead_letters (reads database.url, or the embedded database of a stopped gateway)

  gateway dead-letters [--consumer <name>] [--limit <n>] [--json] [--config <file>]
      lists them newest first: when, consumer (audit, metering, metering_tools, siem-<sink>), event type, request id,
      and why; --json adds each event whole. Each consumer tries its dead letters again at start and every hour,
      so fix the cause (a price, a SIEM's size limit) and restart it. See docs/operations.md, "Dead letters".

Options:
  --consumer <name>     only this consumer's
  --limit <n>           at most n (default 100)
  --json                one JSON array, events included
  --config, -c <file>   configuration to read database.url from
  --help                show this help`,
  config: `gateway config check [--config <file>]  validate the configuration, print problems, exit 1 if any
gateway config reference                 print every configuration key with its type, default and meaning (Markdown)`,
};

function resolveConfigFile(flag: string | undefined): string | undefined {
  if (flag) return flag;
  if (process.env.GATEWAY_CONFIG) return process.env.GATEWAY_CONFIG;
  return existsSync('gateway.yaml') ? 'gateway.yaml' : undefined;
}

function readConfig(flag: string | undefined): GatewayConfig {
  return loadConfig(gatewayConfig, { file: resolveConfigFile(flag) });
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
}

async function start(args: string[]): Promise<void> {
  const { values } = parse(args, { ...CONFIG_OPTION, services: { type: 'string', short: 's', default: 'all' }, workers: { type: 'string' } });
  if (values.help) return void console.log(HELP.start);
  const loaded = readConfig(values.config);
  const config = values.workers === undefined ? loaded : { ...loaded, server: { ...loaded.server, workers: parseWorkers(values.workers) } };
  const services = parseServiceList(values.services!);
  const slot = workerSlot();
  const log = createLogger({ level: config.log.level }).child(slot === undefined ? {} : { worker: slot });
  const primary = config.server.workers > 1 && slot === undefined;
  // The services' code is loaded only where they run: not in a primary that only forks workers, nor for other commands.
  const run = primary ? startWorkers(config, services, log) : import('./runtime.js').then(({ startGateway }) => startGateway(config, services, log, slot));
  const gateway = await run.catch((err: unknown) => {
    log.fatal({ err }, 'gateway failed to start');
    log.flush();
    throw err;
  });
  if (slot === undefined) log.info({ services, workers: config.server.workers, endpoints: gateway.endpoints }, 'gateway ready');

  let stopping = false;
  const shutdown = (reason: string) => {
    if (stopping) {
      // A worker hears Ctrl-C itself and then its primary's request: only a second signal hurries.
      if (slot !== undefined && !reason.startsWith('SIG')) return;
      log.warn({ reason }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    stopping = true;
    log.info({ reason }, 'shutting down: letting in-flight work finish');
    gateway.stop().then(
      () => {
        log.info('stopped');
        log.flush();
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        log.flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (slot !== undefined) reportToPrimary(gateway.endpoints, shutdown);
}

function parseWorkers(value: string): number {
  const workers = Number(value);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) throw new Error(`--workers: expected a whole number from 1 to 64, got "${value}"`);
  return workers;
}

interface AdminTarget {
  url: string;
  token: string;
}

function adminTarget(values: { config?: string; 'admin-url'?: string; 'admin-token'?: string }): AdminTarget {
  const config = readConfig(values.config);
  const url = values['admin-url'] ?? process.env.GATEWAY_ADMIN_URL ?? `http://127.0.0.1:${config.governance.adminPort}`;
  let token = values['admin-token'] ?? process.env.GATEWAY_ADMIN_TOKEN ?? config.governance.adminToken;
  if (!token) {
    const file = join(resolve(config.dataDir), ADMIN_TOKEN_FILE);
    if (!existsSync(file)) throw new Error(`no admin token: pass --admin-token, set GATEWAY_ADMIN_TOKEN, or start the gateway once so it writes ${file}`);
    token = readFileSync(file, 'utf8').trim();
  }
  return { url: url.replace(/\/+$/, ''), token };
}

async function adminCall(target: AdminTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${target.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (err) {
    throw new Error(`cannot reach the admin API at ${target.url} (is the gateway running? see --admin-url): ${(err as Error).cause ?? (err as Error).message}`);
  }
  const payload = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
  if (!response.ok) throw new Error(`admin API answered ${response.status}: ${payload.error?.message ?? 'no details'}`);
  return payload;
}

async function keys(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values, positionals } = parse(rest, {
    ...ADMIN_OPTIONS,
    name: { type: 'string' },
    team: { type: 'string' },
    customer: { type: 'string' },
    'expires-at': { type: 'string' },
    json: { type: 'boolean' },
  });
  if (values.help || !action || action === '--help' || action === '-h') return void console.log(HELP.keys);
  const target = adminTarget(values);
  if (action === 'create') {
    if (!values.name) throw new Error('keys create: --name is required');
    const created = (await adminCall(target, 'POST', '/admin/keys', {
      name: values.name,
      team: values.team,
      customer: values.customer,
      expires_at: values['expires-at'],
    })) as { id: string; key: string };
    if (values.json) console.log(JSON.stringify(created, null, 2));
    else {
      console.error(`created virtual key ${created.id}; store it now, it is not shown again:`);
      console.log(created.key);
    }
  } else if (action === 'list') {
    const { data } = (await adminCall(target, 'GET', '/admin/keys')) as { data: Record<string, unknown>[] };
    if (values.json) console.log(JSON.stringify(data, null, 2));
    else for (const k of data) console.log([k.id, k.name, k.team || '-', k.revoked_at ? 'revoked' : 'active'].join('\t'));
  } else if (action === 'revoke') {
    const id = positionals[0];
    if (!id) throw new Error('keys revoke: give the key id, e.g. gateway keys revoke vk_0123abcd');
    await adminCall(target, 'POST', `/admin/keys/${encodeURIComponent(id)}/revoke`);
    console.log(`revoked ${id}`);
  } else {
    throw new Error(`keys: unknown action "${action}"; expected create, list or revoke`);
  }
}

async function auditCommand(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values } = parse(rest, { ...CONFIG_OPTION, 'sign-key': { type: 'string' }, json: { type: 'boolean' } });
  if (action === 'events' && !values.help) return void process.stdout.write(renderEventsReference());
  if (values.help || (action !== 'verify' && action !== 'head')) return void console.log(HELP.audit);
  const config = readConfig(values.config);
  const log = createLogger({ level: 'warn', destination: process.stderr });
  const db = await openDatabase(config, log);
  try {
    if (action === 'verify') {
      const verdict = await verifyChain(db);
      if (values.json) console.log(JSON.stringify(verdict, null, 2));
      else if (verdict.ok) console.log(`audit log intact: ${verdict.rows} rows, head ${verdict.head.seq} ${verdict.head.hash}`);
      else console.error(`audit log BROKEN at row ${verdict.seq} (event ${verdict.eventId}): ${verdict.problem}; ${verdict.rows} rows before it are intact`);
      if (!verdict.ok) process.exitCode = 1;
    } else {
      const secrets = new SecretStore(config.secrets, log);
      const configured = config.audit.signingKey;
      if (configured) await secrets.prepare([configured]);
      const key = values['sign-key'] ? readFileSync(values['sign-key'], 'utf8') : configured ? secrets.get(configured).value : undefined;
      console.log(JSON.stringify(await signedHead(db, key), null, 2));
    }
  } finally {
    await db.close();
  }
}

/** The gateway's database, for commands that read it: database.url, else the embedded one (only while no gateway holds it). */
async function openDatabase(config: GatewayConfig, log: ReturnType<typeof createLogger>): Promise<Database> {
  if (config.database.url) return connectPostgres(config.database.url, 2, log);
  const dir = join(resolve(config.dataDir), 'pg');
  if (!existsSync(dir)) throw new Error(`no embedded database at ${dir}: set database.url (GATEWAY_DATABASE__URL), or dataDir to where the gateway ran`);
  return PGliteDatabase.open(dir);
}

async function deadLettersCommand(args: string[]): Promise<void> {
  const { values } = parse(args, { ...CONFIG_OPTION, consumer: { type: 'string' }, limit: { type: 'string', default: '100' }, json: { type: 'boolean' } });
  if (values.help) return void console.log(HELP['dead-letters']);
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit: expected a whole number from 1, got "${values.limit}"`);
  const config = readConfig(values.config);
  const db = await openDatabase(config, createLogger({ level: 'warn', destination: process.stderr }));
  try {
    const letters = await listDeadLetters(db, values.consumer, limit).catch((err: { code?: string }) => {
      // No consumer has started on this database yet, so there is no table.
      if (err.code === '42P01') return [];
      throw err;
    });
    if (values.json) console.log(JSON.stringify(letters.map((l) => ({ ...l, event: Event.toJSON(l.event) })), null, 2));
    else if (letters.length === 0) console.log('no dead letters');
    else for (const l of letters) console.log([l.recordedAt.toISOString(), l.consumer, l.eventType, l.requestId || '-', l.error.replace(/\s+/g, ' ').slice(0, 160)].join('\t'));
  } finally {
    await db.close();
  }
}

async function configCommand(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values } = parse(rest, CONFIG_OPTION);
  if (action === 'reference' && !values.help) return void process.stdout.write(renderConfigReference());
  if (values.help || action !== 'check') return void console.log(HELP.config);
  readConfig(values.config);
  console.log('configuration is valid');
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  switch (command) {
    case 'start':
      return start(args);
    case 'keys':
      return keys(args);
    case 'config':
      return configCommand(args);
    case 'audit':
      return auditCommand(args);
    case 'dead-letters':
      return deadLettersCommand(args);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      return void console.log(USAGE);
    default:
      throw new Error(`unknown command "${command}"\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err instanceof ConfigError ? err.message : `error: ${(err as Error).message}`);
  process.exitCode = 1;
});
