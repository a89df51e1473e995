import { appendFileSync, createWriteStream, mkdirSync, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * The suite's leak scan. Every secret the tests hand a gateway (strings under
 * config fields named like key, token or secret; the virtual keys it issues)
 * is recorded, whatever its length, and what the gateways say is kept: their
 * logs, the HTTP response bodies the tests receive from them, the rows of
 * every test database before it is dropped (the audit log holds every event),
 * and what the fake SIEM receives. When the suite ends, global setup fails the
 * run if any secret appears in any of it. So that a hit means a leak, tests
 * give secrets that no output holds by chance (testToken, sk-fake-…).
 */

const SECRET_FIELD = /key|token|secret/i;
const SECRETS_FILE = /^secrets-/;
let files = 0;

function folder(): string {
  const dir = inject('outputDir');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function recordSecret(value: string): void {
  if (value !== '' && !/^(env|file|vault):/.test(value)) appendFileSync(join(folder(), `secrets-${process.pid}.txt`), `${value}\n`);
}

/** Records the secrets in a config tree: strings under fields named like key, token or secret. */
export function recordSecretsIn(tree: unknown, field = ''): void {
  if (typeof tree === 'string' && SECRET_FIELD.test(field)) recordSecret(tree);
  else if (Array.isArray(tree)) tree.forEach((item) => recordSecretsIn(item, field));
  else if (tree && typeof tree === 'object') for (const [k, v] of Object.entries(tree)) recordSecretsIn(v, k);
}

/** A file that keeps one gateway's output for the end-of-suite check. */
export function outputFile(name: string): WriteStream {
  return createWriteStream(join(folder(), `${process.pid}-${++files}-${name.replace(/[^\w-]/g, '_')}.log`));
}

/** This process's file of one kind of kept output: responses, databases, siem. */
export function keptFile(kind: string): string {
  return join(folder(), `${process.pid}-${kind}.log`);
}

/** Adds to this process's file of one kind; synchronously, so nothing is lost when a worker exits. */
export function keep(kind: string, text: string): void {
  appendFileSync(keptFile(kind), text.endsWith('\n') ? text : `${text}\n`);
}

/** Keeps every row of a test database's tables (bytea as Latin-1, so text inside protobuf shows), before it is dropped. */
export async function keepDatabaseRows(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: tables } = await client.query<{ name: string }>(
      "SELECT quote_ident(table_name) AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    const database = new URL(url).pathname.slice(1);
    for (const { name } of tables) {
      const { rows } = await client.query<Record<string, unknown>>(`SELECT * FROM ${name}`);
      const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString('latin1') : typeof value === 'string' ? value : JSON.stringify(value));
      if (rows.length > 0) keep('databases', rows.map((row) => `${database}.${name}: ${Object.values(row).map(text).join(' ')}`).join('\n'));
    }
  } finally {
    await client.end();
  }
}

/** The secrets found in the outputs, as "<first 6 characters>… in <file>:<line>". */
export function findLeaks(dir: string): string[] {
  const names = readdirSync(dir);
  const secrets = new Set(names.filter((n) => SECRETS_FILE.test(n)).flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter(Boolean)));
  if (secrets.size === 0) return [];
  // One pattern of every secret, longest first: one pass over each output, however many secrets.
  const pattern = new RegExp(
    [...secrets]
      .sort((a, b) => b.length - a.length)
      .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
      .join('|'),
    'g',
  );
  const leaks: string[] = [];
  for (const name of names.filter((n) => !SECRETS_FILE.test(n))) {
    const text = readFileSync(join(dir, name), 'utf8');
    for (const match of text.matchAll(pattern)) {
      const line = text.slice(0, match.index).split('\n').length;
      leaks.push(`${match[0].slice(0, 6)}… in ${name}:${line}`);
    }
  }
  return leaks;
}
