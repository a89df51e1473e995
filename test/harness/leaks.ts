import { appendFileSync, createWriteStream, mkdirSync, readdirSync, readFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { inject } from 'vitest';

/**
 * Everything gateways print during the suite is kept in one folder, with every
 * secret the tests hand them (virtual keys, admin tokens, provider keys); when
 * the suite ends, global setup fails the run if any secret appears in any output.
 */

const SECRET_FIELD = /key|token|secret/i;
let files = 0;

function folder(): string {
  const dir = inject('outputDir');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function recordSecret(value: string): void {
  if (value.length >= 12 && !/^(env|file|vault):/.test(value)) appendFileSync(join(folder(), `secrets-${process.pid}.txt`), `${value}\n`);
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

/** The secrets found in the outputs, as "<first 6 characters>… in <file>". */
export function findLeaks(dir: string): string[] {
  const names = readdirSync(dir);
  const secrets = new Set(names.filter((n) => n.startsWith('secrets-')).flatMap((n) => readFileSync(join(dir, n), 'utf8').split('\n').filter(Boolean)));
  const leaks: string[] = [];
  for (const name of names.filter((n) => n.endsWith('.log'))) {
    const text = readFileSync(join(dir, name), 'utf8');
    for (const secret of secrets) if (text.includes(secret)) leaks.push(`${secret.slice(0, 6)}… in ${name}`);
  }
  return leaks;
}
