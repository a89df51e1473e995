/**
 * Many streaming requests at once (stream: true, usage requested), each on
 * its own connection (an undici Agent with as many connections as streams).
 * Every chunk is checked: the upstream numbers its content chunks ("w0 ",
 * "w1 ", …), so a lost, duplicated or reordered chunk shows, and each stream
 * must end with its usage chunk and `data: [DONE]`.
 */
import { createHistogram } from 'node:perf_hooks';
import { Agent, request } from 'undici';
import { percentilesMs, startAt } from './llm-load.js';
import { requestBody, type Percentiles } from './load.js';
import type { Target } from './targets.js';
import { chunkText } from './upstream.js';

export interface StreamsResult {
  streams: number;
  /** Streams answered 200 whose every chunk arrived in order, with usage and [DONE]. */
  complete: number;
  failed: number;
  /** Content chunks expected and not received, over all streams (must be 0). */
  chunksLost: number;
  chunksReceived: number;
  chunksExpected: number;
  missingUsage: number;
  missingDone: number;
  /** Streams whose content was not exactly the expected chunks in order. */
  outOfOrder: number;
  /** Most streams that had received their first byte and not yet ended, at one time. */
  maxOpen: number;
  /** From sending the request to the first byte of the body, ms. */
  ttfbMs: Percentiles;
  /** From sending the request to the end of the stream, ms. */
  durationMs: Percentiles;
  wallMs: number;
  /** First failure, for the report. */
  firstError?: string;
}

interface One {
  ok: boolean;
  ttfb: number;
  duration: number;
  content: string[];
  usage: boolean;
  done: boolean;
  error?: string;
}

/** `rampMs`: the streams start spread evenly over that time rather than all at once (LLM-shaped load, see llm-load.ts). */
export async function concurrentStreams(target: Target, count: number, chunks: number, rampMs = 0): Promise<StreamsResult> {
  const agent = new Agent({ connections: count, keepAliveTimeout: 1_000, headersTimeout: 60_000, bodyTimeout: 60_000, connectTimeout: 30_000 });
  const headers = { ...target.headers, 'content-type': 'application/json' };
  const body = requestBody(target, true);
  const expected = Array.from({ length: chunks }, (_, i) => chunkText(i)).join('');
  let open = 0;
  let maxOpen = 0;

  const one = async (i: number): Promise<One> => {
    if (rampMs > 0) await new Promise((r) => setTimeout(r, startAt(i, count, rampMs)));
    const t0 = performance.now();
    const result: One = { ok: false, ttfb: 0, duration: 0, content: [], usage: false, done: false };
    let counted = false;
    try {
      const response = await request(target.url, { dispatcher: agent, method: 'POST', headers, body });
      let pending = '';
      for await (const piece of response.body) {
        if (!result.ttfb) {
          result.ttfb = performance.now() - t0;
          open++;
          counted = true;
          maxOpen = Math.max(maxOpen, open);
        }
        pending += (piece as Buffer).toString('utf8');
        let end: number;
        while ((end = pending.indexOf('\n\n')) >= 0) {
          const event = pending.slice(0, end);
          pending = pending.slice(end + 2);
          for (const line of event.split('\n')) {
            if (!line.startsWith('data:')) continue;
            const data = line.slice(5).trim();
            if (data === '[DONE]') {
              result.done = true;
              continue;
            }
            const parsed = JSON.parse(data) as { choices?: { delta?: { content?: string | null } }[]; usage?: unknown };
            const text = parsed.choices?.[0]?.delta?.content;
            if (text) result.content.push(text);
            if (parsed.usage) result.usage = true;
          }
        }
      }
      result.ok = response.statusCode === 200;
      if (!result.ok) result.error = `HTTP ${response.statusCode}`;
    } catch (err) {
      result.error = (err as Error).message;
    } finally {
      if (counted) open--;
      result.duration = performance.now() - t0;
    }
    return result;
  };

  const started = performance.now();
  const results = await Promise.all(Array.from({ length: count }, (_, i) => one(i)));
  const wallMs = performance.now() - started;
  await agent.close();

  const ttfb = createHistogram();
  const duration = createHistogram();
  for (const r of results) {
    if (r.ttfb) ttfb.record(Math.max(1, Math.round(r.ttfb * 1000)));
    duration.record(Math.max(1, Math.round(r.duration * 1000)));
  }
  const received = results.reduce((sum, r) => sum + r.content.length, 0);
  const inOrder = (r: One) => r.content.join('') === expected;
  return {
    streams: count,
    complete: results.filter((r) => r.ok && r.usage && r.done && inOrder(r)).length,
    failed: results.filter((r) => !r.ok).length,
    chunksLost: results.reduce((sum, r) => sum + Math.max(0, chunks - r.content.length), 0),
    chunksReceived: received,
    chunksExpected: count * chunks,
    missingUsage: results.filter((r) => !r.usage).length,
    missingDone: results.filter((r) => !r.done).length,
    outOfOrder: results.filter((r) => r.content.length === chunks && !inOrder(r)).length,
    maxOpen,
    ttfbMs: percentilesMs(ttfb),
    durationMs: percentilesMs(duration),
    wallMs: Math.round(wallMs),
    ...(results.find((r) => r.error) ? { firstError: results.find((r) => r.error)!.error } : {}),
  };
}
