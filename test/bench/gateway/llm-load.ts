/**
 * LLM-shaped load (issue 24): a fixed number of non-streaming calls in flight
 * at all times (a closed loop: each of `inFlight` callers sends its next call
 * as soon as its previous one is answered) against an upstream that takes a
 * second to answer, so a target's throughput is bounded by in-flight / delay
 * and what it adds shows as latency, errors, CPU and memory.
 *
 * One undici Pool with a connection per caller: the generator must hold
 * thousands of idle connections cheaply, which autocannon does too but with
 * latencies in whole milliseconds and no start-up spread.
 */
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { Pool } from 'undici';
import { requestBody, type Percentiles } from './load.js';
import type { Target } from './targets.js';

export interface CallsResult {
  inFlight: number;
  durationS: number;
  /** 2xx answers per second, counted after the callers' start-up spread. */
  rps: number;
  /** Calls answered 2xx in all (including the ones started before the end and answered after it). */
  ok: number;
  non2xx: number;
  /** Calls that failed without an answer (connection refused or reset, timeouts). */
  errors: number;
  /** Most calls waiting for their answer at one time. */
  maxInFlight: number;
  /** From sending a call to the last byte of its answer, ms. */
  latencyMs: Percentiles;
  /** Wall time until the last call was answered, ms. */
  wallMs: number;
  firstError?: string;
}

/** Histogram in microseconds to percentiles in milliseconds. */
export function percentilesMs(h: RecordableHistogram): Percentiles {
  const ms = (us: number) => Number((us / 1000).toFixed(2));
  return { p50: ms(h.percentile(50)), p90: ms(h.percentile(90)), p99: ms(h.percentile(99)), max: ms(h.max) };
}

/** When the i-th of `count` callers or streams starts, spread evenly over `rampMs`. */
export const startAt = (i: number, count: number, rampMs: number) => (i * rampMs) / count;

/**
 * `inFlight` callers for `durationS` seconds. Callers start spread over
 * `rampMs` (thousands of connects at once would overflow the listen backlog
 * and measure the kernel's SYN retries); throughput counts the answers after it.
 */
export async function callsInFlight(target: Target, inFlight: number, durationS: number, rampMs: number): Promise<CallsResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: inFlight, keepAliveTimeout: 60_000, headersTimeout: 120_000, bodyTimeout: 120_000, connectTimeout: 30_000 });
  const headers = { ...target.headers, 'content-type': 'application/json' };
  const body = requestBody(target, false);
  const latency = createHistogram();
  let [ok, okInWindow, non2xx, errors, open, maxOpen] = [0, 0, 0, 0, 0, 0];
  let firstError: string | undefined;
  const start = performance.now();
  const end = start + durationS * 1000;
  const windowStart = start + Math.min(rampMs, durationS * 500);

  const caller = async (i: number) => {
    await new Promise((r) => setTimeout(r, startAt(i, inFlight, rampMs)));
    while (performance.now() < end) {
      const t0 = performance.now();
      open++;
      maxOpen = Math.max(maxOpen, open);
      try {
        const response = await pool.request({ path: url.pathname, method: 'POST', headers, body });
        await response.body.arrayBuffer();
        const now = performance.now();
        latency.record(Math.max(1, Math.round((now - t0) * 1000)));
        if (response.statusCode >= 200 && response.statusCode < 300) {
          ok++;
          if (now >= windowStart && now <= end) okInWindow++;
        } else {
          non2xx++;
          firstError ??= `HTTP ${response.statusCode}`;
        }
      } catch (err) {
        errors++;
        firstError ??= (err as Error).message;
        // A refused or reset connection fails at once: without a pause the caller would spin.
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        open--;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, (_, i) => caller(i)));
  const wallMs = Math.round(performance.now() - start);
  await pool.destroy();
  return {
    inFlight,
    durationS,
    rps: Math.round(okInWindow / ((end - windowStart) / 1000)),
    ok,
    non2xx,
    errors,
    maxInFlight: maxOpen,
    latencyMs: percentilesMs(latency),
    wallMs,
    ...(firstError ? { firstError } : {}),
  };
}
