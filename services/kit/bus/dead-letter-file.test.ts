import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEvent, EventType, requestEvent } from '../events.js';
import { DeadLetterFile } from './dead-letter-file.js';

const event = (requestId: string) =>
  requestEvent(
    EventType.requestFailed,
    { service: 'ingress', context: { requestId, traceId: '', actor: undefined, sourceAddress: '' } },
    {
      endpoint: 'chat.completions',
      model: 'gpt-4o-mini',
      served: undefined,
      httpStatus: 502,
      usage: undefined,
      stream: false,
      cacheHit: false,
      durationMs: 1,
      errorCode: 'provider_error',
      errorMessage: 'x'.repeat(500),
      attempts: [],
    },
  );

describe('the dead-letter file', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps each event whole with why, across reopening, and takes no more once at its size', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-dead-letters-'));
    const path = join(dir, 'dead-letters.ndjson');
    const first = event('req_1');
    expect(await (await DeadLetterFile.open(path, 3_000)).add(first, 'message size exceeds maximum allowed')).toBe(true);

    const reopened = await DeadLetterFile.open(path, 3_000);
    expect(await reopened.add(event('req_2'), 'message size exceeds maximum allowed')).toBe(true);
    // Each line is about 1,070 bytes: a third would pass 3,000.
    expect(await reopened.add(event('req_3'), 'message size exceeds maximum allowed')).toBe(false);

    const letters = readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { eventId: string; requestId: string; reason: string; event: string });
    expect(letters.map((letter) => letter.requestId)).toEqual(['req_1', 'req_2']);
    expect(letters[0]).toMatchObject({ eventId: first.id, type: 'request.failed', reason: 'message size exceeds maximum allowed' });
    expect(decodeEvent(Buffer.from(letters[0]!.event, 'base64'))).toEqual(first);
  });
});
