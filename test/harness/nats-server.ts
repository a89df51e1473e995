import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually, freePort } from './infra.js';
import { outputFile, recordSecret } from './leaks.js';

const DEPLOY = fileURLToPath(new URL('../../deploy/nats/', import.meta.url));
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

export interface SecuredNats {
  /** nats://127.0.0.1:<port>: TLS is required all the same. */
  readonly url: string;
  /** The CA certificate that signed the server's, as each service's folder holds it. */
  readonly caFile: string;
  /** The file holding a service's password (deploy/nats/setup.sh made it). */
  passwordFile(service: string): string;
  password(service: string): string;
  /** What the server printed so far. */
  output(): string;
  stop(): Promise<void>;
}

export interface RunningNats {
  readonly port: number;
  /** What the server printed so far. */
  output(): string;
  /** Ends the server and removes its folder. */
  stop(): Promise<void>;
}

/**
 * The machine's nats-server with a configuration file and environment, on a
 * port of its own, ready; `dir` (its store, secrets) is removed at stop().
 */
export async function runNatsServer(configFile: string, env: Record<string, string>, dir: string): Promise<RunningNats> {
  const port = await freePort();
  const child = spawn(NATS_SERVER, ['-c', configFile, '-p', String(port), '-m', String(await freePort())], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const file = outputFile('nats-server');
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on('data', (d: Buffer) => {
      output += d.toString();
      file.write(d);
    });
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    file.end();
    rmSync(dir, { recursive: true, force: true });
  };
  await eventually('nats-server to be ready', async () => {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}:\n${output}`);
    return output.includes('Server is ready') ? true : undefined;
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { port, output: () => output, stop };
}

/**
 * nats-server run with the shipped configuration (deploy/nats/nats.conf and
 * users.conf), with certificates and passwords made by the shipped
 * deploy/nats/setup.sh, as docker-compose.yml runs it.
 */
export async function startSecuredNats(): Promise<SecuredNats> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-nats-'));
  const secrets = join(dir, 'secrets');
  execFileSync('sh', [join(DEPLOY, 'setup.sh'), secrets]);
  const passwords = Object.fromEntries(
    readFileSync(join(secrets, 'server', 'passwords.env'), 'utf8')
      .trim()
      .split('\n')
      .map((line) => line.split('=') as [string, string]),
  );
  Object.values(passwords).forEach(recordSecret);
  const server = await runNatsServer(
    join(DEPLOY, 'nats.conf'),
    {
      ...passwords,
      NATS_STORE_DIR: join(dir, 'store'),
      NATS_TLS_CERT: join(secrets, 'server', 'server.pem'),
      NATS_TLS_KEY: join(secrets, 'server', 'server-key.pem'),
    },
    dir,
  );
  const passwordFile = (service: string) => join(secrets, service, 'password');
  return {
    url: `nats://127.0.0.1:${server.port}`,
    caFile: join(secrets, 'ingress', 'ca.pem'),
    passwordFile,
    password: (service) => readFileSync(passwordFile(service), 'utf8').trim(),
    output: server.output,
    stop: server.stop,
  };
}
