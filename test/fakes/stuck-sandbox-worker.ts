import { parentPort } from 'node:worker_threads';

/**
 * The code mode sandbox worker, except that a program returning the string
 * "hold the thread" holds its thread, once the run has started, in host code
 * the engine cannot interrupt: what the pool's hard kill is for.
 */
await import('../../services/ingress/code-mode/worker.js');
parentPort?.on('message', (message: { type: string; code?: string }) => {
  if (message.type === 'run' && message.code?.includes('hold the thread')) for (;;);
});
