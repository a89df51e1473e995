import cluster, { type Worker } from 'node:cluster';
import type { Server } from 'node:http';
import { AggregatorRegistry, Counter, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';
import type { Logger } from '../kit/log.js';
import { createMetricsRegistry } from '../kit/metrics.js';
import { processPorts } from '../kit/ports.js';
import { startOpsServer, type OpsSource } from '../kit/ops-server.js';
import type { ServiceName } from '../kit/service.js';
import type { GatewayConfig } from './config.js';
import { checkDeployment } from './deployment.js';

/**
 * server.workers > 1: the first process (the primary) forks that many
 * workers, each running the configured services as a full replica, all
 * sharing the listening ports (node:cluster hands each connection to one
 * worker). The primary serves no requests: it restarts a worker that dies and
 * serves the operations endpoints for all of them, metrics summed over the
 * workers. Workers reach it over the cluster's IPC channel.
 */

/** The environment variable that tells a worker its slot (1..workers); a restarted worker keeps its slot, and so its spool. */
export const WORKER_SLOT_ENV = 'GATEWAY_WORKER_SLOT';

type Metrics = MetricObjectWithValues<MetricValue<string>>[];
type Ask = { type: 'gateway:ask'; id: number; what: 'metrics' | 'readiness' | 'view'; path?: string };
type Answer = { type: 'gateway:answer'; id: number; value?: unknown; error?: string };
type Ready = { type: 'gateway:ready'; endpoints: Record<string, string> };
type Stop = { type: 'gateway:stop' };

const ASK_TIMEOUT_MS = 5_000;
const RESTART_DELAY_MS = 1_000;

/** The slot of this process when it is a worker, else undefined. */
export function workerSlot(): number | undefined {
  return cluster.isWorker ? Number(process.env[WORKER_SLOT_ENV]) : undefined;
}

/** In a worker: answers the primary's questions from this process's own metrics, readiness and views. */
export function answerPrimary(metrics: Registry, local: OpsSource): void {
  process.on('message', (message: Ask) => {
    if (message?.type !== 'gateway:ask') return;
    const work = message.what === 'metrics' ? metrics.getMetricsAsJSON() : message.what === 'readiness' ? local.readiness() : local.view(message.path ?? '');
    work.then(
      (value) => process.send?.({ type: 'gateway:answer', id: message.id, value } satisfies Answer),
      (err: unknown) => process.send?.({ type: 'gateway:answer', id: message.id, error: (err as Error).message } satisfies Answer),
    );
  });
}

/** In a worker: tells the primary it serves, and calls `stop` when the primary asks it to stop or goes away. */
export function reportToPrimary(endpoints: Record<string, string>, stop: (reason: string) => void): void {
  process.send?.({ type: 'gateway:ready', endpoints } satisfies Ready);
  process.on('message', (message: Stop) => {
    if (message?.type === 'gateway:stop') stop('primary asked');
  });
  process.on('disconnect', () => stop('primary gone'));
}

/** What the primary counts itself, beside its workers' metrics (the metrics reference lists these too). */
export function primaryMetrics(metrics: Registry) {
  return {
    restarts: new Counter({
      name: 'gateway_worker_restarts_total',
      help: 'Workers the primary started again after one exited unasked.',
      registers: [metrics],
    }),
  };
}

interface Slot {
  worker: Worker | undefined;
  ready: boolean;
}

export interface RunningWorkers {
  readonly endpoints: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

/** In the primary: forks server.workers workers and waits until every one is ready; fails if one exits before it is. */
export async function startWorkers(config: GatewayConfig, services: ServiceName[], log: Logger): Promise<RunningWorkers> {
  checkDeployment(config, services);
  const metrics = createMetricsRegistry();
  const { restarts } = primaryMetrics(metrics);
  const slots = new Map<number, Slot>();
  const waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  let asks = 0;
  let stopping = false;
  let endpoints: Record<string, string> = {};
  let startup: { resolve(): void; reject(err: Error): void } | undefined;
  const started = new Promise<void>((resolve, reject) => (startup = { resolve, reject }));

  const ask = (worker: Worker, what: Ask['what'], path?: string): Promise<unknown> => {
    const id = asks++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`worker ${worker.id} did not answer within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      waiting.set(id, { resolve, reject, timer });
      worker.send({ type: 'gateway:ask', id, what, path } satisfies Ask);
    });
  };

  const fork = (slot: number) => {
    const worker = cluster.fork({ [WORKER_SLOT_ENV]: String(slot) });
    const state: Slot = { worker, ready: false };
    slots.set(slot, state);
    worker.on('message', (message: Ready | Answer) => {
      if (message?.type === 'gateway:ready') {
        state.ready = true;
        endpoints = message.endpoints;
        log.info({ worker: slot, pid: worker.process.pid }, 'worker ready');
        if ([...slots.values()].every((s) => s.ready)) startup?.resolve();
      } else if (message?.type === 'gateway:answer') {
        const pending = waiting.get(message.id);
        if (!pending) return;
        waiting.delete(message.id);
        clearTimeout(pending.timer);
        if (message.error) pending.reject(new Error(message.error));
        else pending.resolve(message.value);
      }
    });
    worker.on('exit', (code, signal) => {
      state.worker = undefined;
      state.ready = false;
      if (stopping) return;
      if (startup) {
        startup.reject(new Error(`worker ${slot} exited (${signal ?? `code ${code}`}) before it was ready; its log above says why`));
        return;
      }
      log.error({ worker: slot, code, signal }, `worker exited; starting it again in ${RESTART_DELAY_MS} ms`);
      restarts.inc();
      setTimeout(() => !stopping && fork(slot), RESTART_DELAY_MS).unref();
    });
  };

  const live = () => [...slots.entries()].filter(([, s]) => s.ready && s.worker) as [number, Slot & { worker: Worker }][];
  const source: OpsSource = {
    metricsContentType: metrics.contentType,
    metrics: async () => {
      const each = await Promise.all(live().map(([, s]) => ask(s.worker, 'metrics') as Promise<Metrics>));
      return AggregatorRegistry.aggregate([await metrics.getMetricsAsJSON(), ...each]).metrics();
    },
    readiness: async () => {
      const merged: Record<string, boolean> = {};
      for (const [slot, state] of slots) {
        const services = state.ready && state.worker ? ((await ask(state.worker, 'readiness').catch(() => ({}))) as Record<string, boolean>) : {};
        merged[`worker${slot}`] = Object.keys(services).length > 0;
        for (const [name, ready] of Object.entries(services)) merged[`worker${slot}.${name}`] = ready;
      }
      return merged;
    },
    view: async (path) => {
      const first = live()[0];
      return first ? ask(first[1].worker, 'view', path) : undefined;
    },
  };

  const stopWorkers = async () => {
    stopping = true;
    const exits = [...slots.values()].flatMap(({ worker }) =>
      worker && !worker.isDead() ? [new Promise<void>((resolve) => worker.once('exit', () => resolve()))] : [],
    );
    for (const { worker } of slots.values()) if (worker?.isConnected()) worker.send({ type: 'gateway:stop' } satisfies Stop);
    const forced = setTimeout(() => {
      log.warn('workers did not stop in time; killing them');
      for (const { worker } of slots.values()) worker?.kill('SIGKILL');
    }, config.server.shutdownTimeoutMs + 5_000);
    await Promise.all(exits);
    clearTimeout(forced);
  };

  let ops: Server | undefined;
  try {
    for (let slot = 1; slot <= config.server.workers; slot++) fork(slot);
    await started;
    startup = undefined;
    const opened = await startOpsServer({ ...config.server, opsPort: processPorts(config.server, services).opsPort }, source);
    ops = opened.server;
    endpoints = { ...endpoints, ops: opened.url };
  } catch (err) {
    await stopWorkers();
    throw err;
  }
  return {
    endpoints,
    stop: async () => {
      await stopWorkers();
      await new Promise((done) => ops!.close(done));
    },
  };
}
