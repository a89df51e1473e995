/**
 * Child processes of the benchmark: the fake upstream and the floor proxy
 * (forked scripts that report their port over IPC), and gateway processes
 * (`services/gateway/cli.ts start`). Every process started here is
 * registered, so the benchmark can stop them all, even when it fails.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../harness/infra.js';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));

export interface Proc {
  readonly name: string;
  readonly pid: number;
  /** The last 64 KB the process printed. */
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

const running = new Set<ChildProcess>();

/** Last resort: nothing started here may outlive the benchmark. */
process.on('exit', () => {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

function track(name: string, child: ChildProcess): Proc {
  running.add(child);
  let output = '';
  const keep = (d: Buffer) => {
    output = (output + d.toString()).slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  void exited.then(() => running.delete(child));
  return {
    name,
    pid: child.pid!,
    output: () => output,
    stop: async (graceMs = 10_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Forks one of the benchmark's own scripts (run through tsx) and waits for its `{ port }` message. */
export async function forkScript(name: string, script: string, options: object, execArgv: string[] = []): Promise<{ proc: Proc; url: string }> {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [JSON.stringify(options)], {
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const proc = track(name, child);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s:\n${proc.output()}`)), 30_000);
    child.once('message', (message: { port?: number }) => {
      clearTimeout(timer);
      resolve(message.port ?? 0);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code}:\n${proc.output()}`));
    });
  });
  child.disconnect();
  return { proc, url: `http://127.0.0.1:${port}` };
}

export interface GatewayProc extends Proc {
  readonly opsUrl: string;
}

/**
 * Starts `gateway start --services <services>` in its own process and waits
 * until /readyz answers 200. `cli` is the built cli.js, or services/gateway/cli.ts (run through tsx).
 */
export async function spawnGateway(
  cli: string,
  configFile: string,
  services: string,
  env: Record<string, string>,
  nodeArgs: string[] = [],
): Promise<GatewayProc> {
  const opsPort = await freePort();
  const loader = cli.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...nodeArgs, ...loader, cli, 'start', '--services', services, '--config', configFile], {
    cwd: REPO,
    env: { ...process.env, ...env, GATEWAY_SERVER__OPS_PORT: String(opsPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track(services, child);
  const opsUrl = `http://127.0.0.1:${opsPort}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`gateway ${services} exited with ${child.exitCode}:\n${proc.output()}`);
    const status = await fetch(`${opsUrl}/readyz`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) {
      await proc.stop(0);
      throw new Error(`gateway ${services} was not ready within 60 s:\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...proc, opsUrl };
}

export interface Memory {
  /** Resident set size now, in MB. */
  rssMb: number;
  /** Highest resident set size since the process started (VmHWM), in MB. */
  peakMb: number;
}

/** The process's memory from /proc/<pid>/status (Linux), or zeros when it cannot be read. */
export function memoryOf(pid: number): Memory {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: 0, peakMb: 0 };
  }
}

/** Samples the resident set size of processes while a phase runs; stop() gives each one's highest sample in MB. */
export function sampleRss(procs: readonly { name: string; pid: number }[], intervalMs = 50): { stop(): Record<string, number> } {
  const peaks: Record<string, number> = {};
  const sample = () => {
    for (const p of procs) peaks[p.name] = Math.max(peaks[p.name] ?? 0, memoryOf(p.pid).rssMb);
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

/** CPU time (user + system) the process has used so far, in ms (Linux), or 0 when it cannot be read. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the command: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Linux's USER_HZ: 100 on every mainstream architecture. */
const CLOCK_TICKS = 100;

/** Busy CPU time of the whole machine so far (all cores, from /proc/stat), in ms. */
function machineBusyMs(): number {
  try {
    const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * The NATS server's and PostgreSQL's processes (the gateway's work includes
 * theirs): the server's own and the backends connected to `database`, not
 * those of other databases (other work on the machine).
 */
function infraPids(database: string | undefined): Map<number, 'nats' | 'postgres'> {
  const pids = new Map<number, 'nats' | 'postgres'>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm === 'nats-server') pids.set(Number(entry), 'nats');
      else if (comm === 'postgres') {
        // A backend's title: "postgres: 15/main: <user> <database> <address>(<port>) <state>".
        const backendOf = /^postgres: \S+: \S+ (\S+) [\d.:a-f]+\(\d+\)/.exec(readFileSync(`/proc/${entry}/cmdline`, 'utf8'))?.[1];
        if (backendOf === undefined || backendOf === database) pids.set(Number(entry), 'postgres');
      }
    } catch {
      // gone already
    }
  }
  return pids;
}

/**
 * CPU time used between start() and stop(), in ms: by each given process,
 * by this process ("bench": the load generator), by NATS and PostgreSQL, and
 * by everything else on the machine ("other": a busy machine makes every number worse).
 */
export function measureCpu(procs: readonly { name: string; pid: number }[], database?: string): { stop(): Record<string, number> } {
  const infra = infraPids(database);
  const before = new Map(procs.map((p) => [p.name, cpuMsOf(p.pid)]));
  const infraBefore = new Map([...infra.keys()].map((pid) => [pid, cpuMsOf(pid)]));
  const machineBefore = machineBusyMs();
  const self = process.cpuUsage();
  return {
    stop: () => {
      const used = process.cpuUsage(self);
      const out: Record<string, number> = Object.fromEntries(procs.map((p) => [p.name, Math.round(cpuMsOf(p.pid) - before.get(p.name)!)]));
      out.bench = Math.round((used.user + used.system) / 1000);
      out.nats = 0;
      out.postgres = 0;
      for (const [pid, kind] of infra) out[kind] = out[kind]! + Math.max(0, Math.round(cpuMsOf(pid) - infraBefore.get(pid)!));
      const ours = Object.values(out).reduce((sum, ms) => sum + ms, 0);
      out.other = Math.max(0, Math.round(machineBusyMs() - machineBefore - ours));
      return out;
    },
  };
}
