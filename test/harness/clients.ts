import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { admin } from './gateway.js';
import { eventually } from './infra.js';
import { type LedgerRow, usageRowsOf } from './records.js';

const BIN = fileURLToPath(new URL('../../node_modules/.bin/', import.meta.url));

/**
 * Runs a coding agent's CLI (node_modules/.bin/<name>) to its end, with nothing on stdin and only the given
 * environment (no variable of the test process leaks into it but PATH). Rejects when it exits non-zero or is still
 * running after `timeoutMs` (then it is killed), with everything it printed in the message.
 */
export async function runAgent(
  name: string,
  args: string[],
  options: { cwd: string; env: Record<string, string>; timeoutMs: number },
): Promise<{ stdout: string; stderr: string }> {
  // Its own process group, so that a timeout kills the native binary an npm wrapper script started too.
  const child = spawn(`${BIN}${name}`, args, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    process.kill(-child.pid!, 'SIGKILL');
  }, options.timeoutMs);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
  }).finally(() => clearTimeout(timer));
  if (code !== 0) {
    const why = timedOut ? `still running after ${options.timeoutMs} ms` : `exited with ${code ?? signal}`;
    throw new Error(`${name} ${args.join(' ')} ${why}\n--- stdout ---\n${stdout}\n--- stderr ---\n${stderr}`);
  }
  return { stdout, stderr };
}

/**
 * The audit rows (request.*) and usage ledger rows of a key, once `calls` of each are written: a client that made
 * that many model calls must leave exactly that many of each, so the test asserts the lengths it gets back.
 */
export async function recordsOfKey(
  adminUrl: string,
  keyId: string,
  calls: number,
): Promise<{ audit: { event_type: string; request_id: string }[]; usage: LedgerRow[] }> {
  const audit = await eventually(`${calls} audit rows`, async () => {
    const page = await admin<{ data: { event_type: string; request_id: string }[] }>(adminUrl, 'GET', `/admin/audit/events?key=${keyId}&type=request.*`);
    return page.data.length >= calls ? page.data : undefined;
  });
  return { audit, usage: await usageRowsOf(adminUrl, keyId, calls) };
}
