import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './pool.js';
import { runCompiled } from './sandbox.js';

/**
 * A sandbox worker thread: runs one program at a time, so a program that
 * spins only ever holds this thread, never ingress's event loop. Each tool
 * call the program makes goes back to the main thread, which runs it through
 * the key's ToolAccess and posts the answer.
 */

const port = parentPort;
if (!port) throw new Error('The code mode sandbox runs as a worker thread.');
const post = (message: FromWorker): void => port.postMessage(message);

const waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
let nextCall = 0;

port.on('message', (message: ToWorker) => {
  if (message.type === 'answer') {
    const call = waiting.get(message.callId);
    waiting.delete(message.callId);
    if ('error' in message) call?.reject(new Error(message.error));
    else call?.resolve(message.value);
    return;
  }
  post({ type: 'started' });
  const bridge = (tool: string, argumentsJson: string) =>
    new Promise<unknown>((resolve, reject) => {
      const callId = nextCall++;
      waiting.set(callId, { resolve, reject });
      post({ type: 'call', callId, tool, argumentsJson });
    });
  void runCompiled(message.code, new Map(message.servers), bridge, message.limits).then((outcome) => {
    // Calls a stopped program left in flight are answered to nobody.
    waiting.clear();
    post({ type: 'done', outcome });
  });
});
