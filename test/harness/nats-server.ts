import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { eventually, freePort } from './infra.js';
import { outputFile } from './leaks.js';

const NATS_SERVER = process.env.NATS_SERVER_BIN ?? '/usr/sbin/nats-server';

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
  const child = spawn(NATS_SERVER, ['-c', configFile, '-p', String(port), '-m', String(await freePort())], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
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
