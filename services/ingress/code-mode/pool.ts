import { Worker } from 'node:worker_threads';
import { type Compiled, compileProgram, timeLimitMessage, type RunOutcome, type SandboxLimits, type ToolBridge } from './sandbox.js';

/**
 * Programs run off ingress's event loop, in a small pool of worker threads
 * (one program per thread at a time; the rest wait in a bounded queue). The
 * sandbox stops a program at its time limit itself; a worker still busy
 * `killAfterMs` past it is terminated and replaced, so nothing a program does
 * can hold a thread for good.
 */

export type ToWorker =
  | { type: 'run'; code: string; servers: [string, readonly string[]][]; limits: SandboxLimits }
  | { type: 'answer'; callId: number; value: unknown }
  | { type: 'answer'; callId: number; error: string };

export type FromWorker = { type: 'started' } | { type: 'call'; callId: number; tool: string; argumentsJson: string } | { type: 'done'; outcome: RunOutcome };

export interface PoolOptions {
  /** Worker threads running programs at once. */
  readonly workers: number;
  /** Programs waiting for a worker; past this, a program is refused at once. */
  readonly queueSize: number;
  /** How long past its time limit a program's worker is left before it is terminated. */
  readonly killAfterMs: number;
  /** The worker's module; tests give their own. */
  readonly workerUrl?: URL;
}

interface Job {
  readonly compiled: Promise<Compiled>;
  readonly servers: ReadonlyMap<string, readonly string[]>;
  readonly bridge: ToolBridge;
  readonly limits: SandboxLimits;
  readonly settle: (outcome: RunOutcome) => void;
}

const shuttingDown: RunOutcome = { ok: false, error: 'The gateway is shutting down.', reason: 'busy', logs: '', toolCalls: 0 };

const ownWorker = new URL(`./worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * From source (tests, `npm run dev`) the worker is TypeScript, which Node
 * loads only through tsx; it is registered inside the worker, as worker
 * threads do not take `--import` in their execArgv.
 */
function spawn(url: URL): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url);
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(boot, { eval: true });
}

export class SandboxPool {
  private readonly idle: Worker[] = [];
  private readonly queue: Job[] = [];
  private readonly busy = new Set<Worker>();
  private alive = 0;
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  /**
   * Compiles a program here, then runs it on a worker; tool calls come back here through `bridge`. A program takes its
   * place in the pool as it arrives (compiling goes on meanwhile), so programs are admitted in the order they came.
   */
  run(source: string, servers: ReadonlyMap<string, readonly string[]>, bridge: ToolBridge, limits: SandboxLimits): Promise<RunOutcome> {
    const compiled = compileProgram(source);
    return new Promise<RunOutcome>((settle) => {
      const job: Job = { compiled, servers, bridge, limits, settle };
      const worker = this.idle.pop() ?? (this.alive < this.options.workers ? this.spawn() : undefined);
      if (worker) return this.dispatch(worker, job);
      if (this.closed || this.queue.length >= this.options.queueSize)
        return settle({ ok: false, error: this.busyMessage(), reason: 'busy', logs: '', toolCalls: 0 });
      this.queue.push(job);
    });
  }

  /** Terminates every worker; programs still running end with an error. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.queue.splice(0)) job.settle(shuttingDown);
    await Promise.all([...this.idle.splice(0), ...this.busy].map((worker) => worker.terminate()));
  }

  private busyMessage(): string {
    return `Code mode is busy: ${this.options.workers} programs are running and ${this.queue.length} waiting. Try again shortly.`;
  }

  private spawn(): Worker {
    this.alive++;
    const worker = spawn(this.options.workerUrl ?? ownWorker);
    // An idle worker does not keep the process alive.
    worker.unref();
    return worker;
  }

  private dispatch(worker: Worker, job: Job): void {
    worker.ref();
    this.busy.add(worker);
    void job.compiled.then((compiled) => {
      // close() has already terminated this worker.
      if (this.closed) return job.settle(shuttingDown);
      if (compiled.ok) return this.start(worker, job, compiled.code);
      this.busy.delete(worker);
      job.settle({ ok: false, error: compiled.error, reason: 'program_error', logs: '', toolCalls: 0 });
      this.release(worker);
    });
  }

  private start(worker: Worker, job: Job, code: string): void {
    let toolCalls = 0;
    let finished = false;
    let killer: NodeJS.Timeout | undefined;
    const finish = (outcome: RunOutcome, keep: boolean) => {
      if (finished) return;
      finished = true;
      clearTimeout(killer);
      this.busy.delete(worker);
      worker.off('message', onMessage);
      worker.off('error', onFailure);
      worker.off('exit', onFailure);
      job.settle(outcome);
      if (keep) return this.release(worker);
      this.alive--;
      void worker.terminate();
      const next = this.closed ? undefined : this.queue.shift();
      if (next) this.dispatch(this.spawn(), next);
    };
    const onMessage = (message: FromWorker) => {
      if (message.type === 'done') return finish(message.outcome, true);
      // The clock starts with the program, not with a new thread's start-up. Past its limit and the margin, the sandbox
      // has not stopped the program: the thread goes, and a new one takes its place.
      if (message.type === 'started') {
        killer = setTimeout(
          () => finish({ ok: false, error: timeLimitMessage(job.limits), reason: 'time_limit', logs: '', toolCalls }, false),
          job.limits.timeMs + this.options.killAfterMs,
        );
        return;
      }
      toolCalls++;
      void job.bridge(message.tool, message.argumentsJson).then(
        (value) => !finished && worker.postMessage({ type: 'answer', callId: message.callId, value } satisfies ToWorker),
        (err: unknown) =>
          !finished &&
          worker.postMessage({ type: 'answer', callId: message.callId, error: err instanceof Error ? err.message : String(err) } satisfies ToWorker),
      );
    };
    const onFailure = (err: unknown) =>
      finish(
        {
          ok: false,
          error: `The program's sandbox failed: ${err instanceof Error ? err.message : `exit code ${String(err)}`}`,
          reason: 'sandbox_failed',
          logs: '',
          toolCalls,
        },
        false,
      );
    worker.on('message', onMessage);
    worker.on('error', onFailure);
    worker.on('exit', onFailure);
    worker.postMessage({ type: 'run', code, servers: [...job.servers], limits: job.limits } satisfies ToWorker);
  }

  private release(worker: Worker): void {
    const next = this.queue.shift();
    if (next) return this.dispatch(worker, next);
    worker.unref();
    if (this.closed) {
      this.alive--;
      void worker.terminate();
      return;
    }
    this.idle.push(worker);
  }
}
