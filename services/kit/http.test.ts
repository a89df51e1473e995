import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createHttpServer } from './http.js';
import { createLogger } from './log.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new PassThrough();
  destination.on('data', (chunk: Buffer) =>
    lines.push(
      ...chunk
        .toString()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    ),
  );
  return { lines, log: createLogger({ level: 'warn', destination }) };
}

describe('request logs', () => {
  it('carry the request id, keep the level, and redact, while a request that logs nothing makes no child logger', async () => {
    const { lines, log } = capture();
    const app = createHttpServer({ log, bodyLimit: 1024 });
    app.get('/quiet', async (request) => {
      request.log.info('below the level');
      return { id: request.id };
    });
    app.get('/loud', async (request) => {
      request.log.warn({ authorization: 'Bearer sk-secret', detail: 1 }, 'something to see');
      request.log.debug('below the level');
      return { id: request.id };
    });
    await app.ready();
    const child = vi.spyOn(log, 'child');
    const quiet = (await app.inject({ url: '/quiet' })).json<{ id: string }>();
    expect(child).not.toHaveBeenCalled();
    const loud = (await app.inject({ url: '/loud' })).json<{ id: string }>();
    await app.close();
    await vi.waitFor(() => expect(lines).toHaveLength(1));
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'something to see', requestId: loud.id, detail: 1, authorization: '[redacted]' });
    expect(quiet.id).not.toBe(loud.id);
  });
});
