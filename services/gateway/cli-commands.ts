import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GENERATED_KEY_FILE, loadChainKeys } from '../audit/keys.js';
import { signedHead, verifyWithCheckpoints, type Verdict } from '../audit/verify.js';
import { listDeadLetters } from '../kit/bus/dead-letters.js';
import { loadConfig } from '../kit/config.js';
import { PGliteDatabase } from '../kit/db/pglite.js';
import { connectPostgres } from '../kit/db/postgres.js';
import type { Database } from '../kit/db/types.js';
import { Event } from '../kit/events.js';
import { SecretStore } from '../kit/secrets/store.js';
import { createLogger } from '../kit/log.js';
import { adminCall, adminTarget } from './cli-admin.js';
import { gatewayConfig, type GatewayConfig } from './config.js';
import { renderConfigReference } from './config-reference.js';
import { renderEventsReference } from './events-reference.js';
import { renderNatsUsers } from './nats-config.js';
import { parseServiceList } from './service-list.js';
import { reportToPrimary, startWorkers, workerSlot } from './workers.js';
import { HELP } from './cli-help.js';

/** The CLI's commands (cli.ts dispatches to them), loaded only when one runs. */

const CONFIG_OPTION = { config: { type: 'string', short: 'c' } } as const;
const ADMIN_OPTIONS = { ...CONFIG_OPTION, 'admin-url': { type: 'string' }, 'admin-token': { type: 'string' } } as const;

function resolveConfigFile(flag: string | undefined): string | undefined {
  if (flag) return flag;
  if (process.env.GATEWAY_CONFIG) return process.env.GATEWAY_CONFIG;
  return existsSync('gateway.yaml') ? 'gateway.yaml' : undefined;
}

function readConfig(flag: string | undefined): GatewayConfig {
  return loadConfig(gatewayConfig, { file: resolveConfigFile(flag) });
}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  return parseArgs({ args, options, allowPositionals: true, strict: true });
}

async function start(args: string[]): Promise<void> {
  const { values } = parse(args, { ...CONFIG_OPTION, services: { type: 'string', short: 's', default: 'all' }, workers: { type: 'string' } });
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
    // What did start (a bus connection, a database pool, timers) would keep a half-started process alive: a supervisor must see it exit.
    console.error(`error: ${(err as Error).message}`);
    process.exit(1);
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
  if (!action) return void console.log(HELP.keys);
  const target = adminTarget(readConfig(values.config), values);
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
  const { values } = parse(rest, {
    ...CONFIG_OPTION,
    'sign-key': { type: 'string' },
    json: { type: 'boolean' },
    checkpoints: { type: 'string' },
    'archive-dir': { type: 'string' },
  });
  if (action === 'events') return void process.stdout.write(renderEventsReference());
  if (action !== 'verify' && action !== 'head') return void console.log(HELP.audit);
  const config = readConfig(values.config);
  const log = createLogger({ level: 'warn', destination: process.stderr });
  const secrets = new SecretStore(config.secrets, log);
  const db = await openDatabase(config, log);
  try {
    if (action === 'verify') {
      const dataDir = resolve(config.dataDir);
      const keys = await loadChainKeys(config.audit, dataDir, secrets, false);
      if (!keys) throw new Error(`no audit chain key: set audit.chainKey, or dataDir to the gateway's folder that holds ${GENERATED_KEY_FILE}`);
      const dir = values.checkpoints ?? (config.audit.checkpoints.dir || join(dataDir, 'audit-checkpoints'));
      const verdict: Verdict = await verifyWithCheckpoints(db, keys, dir, values['archive-dir']);
      if (values.json) console.log(JSON.stringify(verdict, null, 2));
      else if (verdict.ok) {
        console.log(
          `audit log intact: ${verdict.rows} rows (${verdict.archives} archives), ${verdict.checkpoints} checkpoints from ${dir} matched, head ${verdict.head.seq} ${verdict.head.hash}`,
        );
        for (const u of verdict.unchecked)
          console.error(
            `rows ${u.firstSeq} to ${u.upToSeq} (${u.rows}) were archived to ${u.file}, not found here: verified from the archive's checkpoint on (give --archive-dir to walk them too)`,
          );
        if (verdict.checkpoints === 0) console.error(`no checkpoints in ${dir}: rows removed from the log's end would go unnoticed (see docs/audit.md)`);
      } else {
        const event = verdict.eventId ? ` (event ${verdict.eventId})` : '';
        console.error(`audit log BROKEN at row ${verdict.seq}${event}: ${verdict.problem}; ${verdict.rows} rows before it are intact`);
      }
      if (!verdict.ok) process.exitCode = 1;
    } else {
      const configured = config.audit.signingKey;
      if (configured) await secrets.prepare([configured]);
      const key = values['sign-key'] ? readFileSync(values['sign-key'], 'utf8') : configured ? secrets.get(configured).value : undefined;
      console.log(JSON.stringify(await signedHead(db, key), null, 2));
    }
  } finally {
    secrets.stop();
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
    if (values.json)
      console.log(
        JSON.stringify(
          letters.map((l) => ({ ...l, event: Event.toJSON(l.event) })),
          null,
          2,
        ),
      );
    else if (letters.length === 0) console.log('no dead letters');
    else
      for (const l of letters)
        console.log([l.recordedAt.toISOString(), l.consumer, l.eventType, l.requestId || '-', l.error.replace(/\s+/g, ' ').slice(0, 160)].join('\t'));
  } finally {
    await db.close();
  }
}

async function configCommand(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values } = parse(rest, CONFIG_OPTION);
  if (action === 'reference') return void process.stdout.write(renderConfigReference());
  if (action !== 'check') return void console.log(HELP.config);
  readConfig(values.config);
  console.log('configuration is valid');
}

async function certsCommand(args: string[]): Promise<void> {
  const [action, dir, ...rest] = args;
  if (action !== 'init' || !dir) throw new Error(`expected: gateway certs init <dir>\n\n${HELP.certs}`);
  const { values } = parse(rest, {
    hosts: { type: 'string', default: '' },
    group: { type: 'string', multiple: true, default: [] },
    days: { type: 'string', default: '365' },
  });
  const days = Number(values.days);
  if (!Number.isInteger(days) || days < 1) throw new Error(`--days: expected a whole number from 1, got "${values.days}"`);
  const groups = values.group.map((entry) => {
    const [name = '', list = ''] = entry.split('=');
    if (!/^[\w-]+$/.test(name) || !list) throw new Error(`--group: expected <name>=<service>,<service>, got "${entry}"`);
    return { name, services: parseServiceList(list) };
  });
  const { initCertificates } = await import('./certs.js');
  for (const file of initCertificates(dir, { hosts: values.hosts.split(',').filter(Boolean), groups, days })) console.log(`wrote ${file}`);
}

async function natsCommand(args: string[]): Promise<void> {
  const [action, ...rest] = args;
  const { values } = parse(rest, { ...CONFIG_OPTION, user: { type: 'string', multiple: true } });
  if (action !== 'config') return void console.log(HELP.nats);
  const processes = values.user?.map(parseServiceList);
  process.stdout.write(renderNatsUsers(readConfig(values.config), processes));
}

/** Applies every service's migrations, roles and role passwords as the owner, so no running service needs the owner's credentials. */
async function migrateCommand(args: string[]): Promise<void> {
  const { values } = parse(args, CONFIG_OPTION);
  const config = readConfig(values.config);
  if (!config.database.url)
    throw new Error('gateway migrate needs database.url (the owner of a PostgreSQL database); the embedded database migrates itself at start');
  const { MODULES } = await import('./modules.js');
  const { migrateAsOwner, rolePasswords } = await import('./databases.js');
  const log = createLogger({ level: config.log.level, destination: process.stderr });
  const secrets = new SecretStore(config.secrets, log);
  try {
    const services = Object.values(MODULES).flatMap(({ name, database }) => (database ? [{ name, plan: database }] : []));
    const plans = await Promise.all(services.map(async ({ plan }) => ({ plan, passwords: await rolePasswords(plan, config.database, secrets) })));
    await migrateAsOwner(config.database, plans, log, (plan) => {
      const { name } = services.find((service) => service.plan === plan)!;
      console.log(`${name}: migrated; roles ${Object.keys(plan.roles).join(', ')} granted`);
    });
  } finally {
    secrets.stop();
  }
}

/**
 * Brings LiteLLM over: its config.yaml into this gateway's configuration (YAML on stdout or --out, what did not carry
 * over on stderr), or its database's keys, teams and budgets into the running gateway through the admin API.
 */
async function importCommand(args: string[]): Promise<void> {
  const [source, ...rest] = args;
  const usage = 'gateway import litellm --config <config.yaml> | --database <postgres url>';
  if (source !== 'litellm') throw new Error(`expected: ${usage}\n\n${HELP.import}`);
  const { values } = parse(rest, {
    ...ADMIN_OPTIONS,
    out: { type: 'string', short: 'o' },
    database: { type: 'string' },
    schema: { type: 'string', default: 'public' },
    'dry-run': { type: 'boolean' },
  });
  if (values.config && values.database) throw new Error(`import litellm: give --config or --database, one at a time: ${usage}`);
  if (values.database) return importDatabase(values.database, values.schema!, values['dry-run'] ?? false, values);
  if (!values.config)
    throw new Error(`import litellm: give LiteLLM's proxy config with --config <config.yaml>, or its database with --database <postgres url>`);
  let text: string;
  try {
    text = readFileSync(values.config, 'utf8');
  } catch (err) {
    throw new Error(
      `import litellm: cannot read ${values.config} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the path of LiteLLM's config.yaml`,
    );
  }
  const { convertLiteLLM, ImportFailed, parseLiteLLM, renderImport } = await import('./import-litellm/convert.js');
  const imported = (() => {
    try {
      return convertLiteLLM(parseLiteLLM(text, values.config));
    } catch (err) {
      if (err instanceof ImportFailed) for (const line of err.report.lines()) console.error(line);
      throw err;
    }
  })();
  const yaml = renderImport(imported, values.config);
  for (const line of imported.report.lines()) console.error(line);
  if (!values.out) return void process.stdout.write(yaml);
  writeFileSync(values.out, yaml);
  console.error(`wrote ${values.out}; check it with: gateway config check --config ${values.out}`);
}

/** LiteLLM's keys, teams, organizations and budgets into the running gateway, through its admin API as the owner. */
async function importDatabase(url: string, schema: string, dryRun: boolean, flags: { 'admin-url'?: string; 'admin-token'?: string }): Promise<void> {
  const { readLiteLLM } = await import('./import-litellm/database.js');
  const { planImport } = await import('./import-litellm/accounts.js');
  const { stepsTo } = await import('./import-litellm/apply.js');
  const { Report } = await import('./import-litellm/report.js');
  const tables = await readLiteLLM(url, schema);
  const report = new Report();
  const plan = planImport(tables, report);
  for (const line of report.lines()) console.error(line);
  const target = adminTarget(readConfig(undefined), flags);
  const steps = await stepsTo(plan, (method, path, body) => adminCall(target, method, path, body));
  const found = `${plan.customers.length} organizations, ${plan.teams.length} teams, ${plan.keys.length} keys, ${plan.budgets.length} budgets`;
  if (steps.length === 0) return console.log(`import litellm: nothing to change (${found} already here)`);
  for (const step of steps) {
    console.log(`${dryRun ? 'would ' : ''}${step.line}`);
    if (!dryRun) await step.run();
  }
  console.log(`import litellm: ${steps.length} change${steps.length === 1 ? '' : 's'} ${dryRun ? 'planned, none made (--dry-run)' : 'made'} for ${found}`);
}

export const COMMANDS: Record<string, (args: string[]) => Promise<void>> = {
  start,
  certs: certsCommand,
  keys,
  audit: auditCommand,
  'dead-letters': deadLettersCommand,
  config: configCommand,
  nats: natsCommand,
  migrate: migrateCommand,
  import: importCommand,
};
