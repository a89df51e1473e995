/**
 * Load on one target: throughput at a fixed number of connections
 * (autocannon, closed loop), and latency at a fixed request rate below
 * saturation (an open-loop generator on undici: requests leave on a fixed
 * schedule whether or not earlier ones have been answered).
 *
 * Why not autocannon's overallRate for the second: autocannon lets each
 * connection send its per-second share back to back at the start of every
 * second, then idle (lib/httpClient.js, reqsMadeThisSecond), so "2,000 req/s"
 * is a burst at full concurrency each second, and its latency histogram
 * keeps whole milliseconds. Here requests are spread evenly (every 0.5 ms at
 * 2,000 req/s) and latencies are kept in microseconds.
 */
import autocannon from 'autocannon';
import { createHistogram } from 'node:perf_hooks';
import { Pool } from 'undici';
import type { Target } from './targets.js';

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface ThroughputResult {
  connections: number;
  durationS: number;
  /** 2xx answers per second. */
  rps: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  /** Latency under saturation, ms (autocannon: whole milliseconds). */
  latencyMs: Percentiles;
}

export interface RateResult {
  targetRps: number;
  durationS: number;
  sent: number;
  /** Answers (any status) per second over the schedule. */
  achievedRps: number;
  non2xx: number;
  /** Requests that failed (connection errors). */
  errors: number;
  /** Requests still unanswered when the bench stopped waiting (a few seconds after the schedule ended): a target that could not keep up. */
  abandoned: number;
  /** Whether the target kept up: at the end of the schedule, less than 100 ms worth of requests were unanswered. */
  sustained: boolean;
  /** Unanswered requests when the last one was sent. */
  backlogAtEnd: number;
  /** From sending a request to the last byte of its answer, ms. */
  latencyMs: Percentiles;
  /** How late the generator sent requests against its schedule, ms (large values: the bench machine itself was starved). */
  generatorLagMs: { p99: number; max: number };
  /** With a cacheable request: answers the gateway served from its cache (x-gateway-cache: hit). */
  cacheHits?: number;
}

/** The bench's request; `cacheable` makes it one a gateway answers from its cache after the first time (temperature 0). */
export function requestBody(target: Target, stream: boolean, cacheable = false): string {
  return JSON.stringify({
    model: target.model,
    max_tokens: 256,
    messages: [{ role: 'user', content: cacheable ? 'Which benchmark is this?' : 'Write one sentence about benchmarks.' }],
    ...(cacheable ? { temperature: 0 } : {}),
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
}

const round = (ms: number, digits = 3) => Number(ms.toFixed(digits));

export async function throughput(target: Target, connections: number, durationS: number): Promise<ThroughputResult> {
  const result = await autocannon({
    url: target.url,
    method: 'POST',
    headers: { ...target.headers, 'content-type': 'application/json' },
    body: requestBody(target, false),
    connections,
    duration: durationS,
    timeout: 30,
  });
  const ok = result['2xx'];
  return {
    connections,
    durationS,
    rps: Math.round(ok / result.duration),
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
  };
}

export async function fixedRate(
  target: Target,
  rate: number,
  durationS: number,
  options: { connections?: number; cacheable?: boolean } = {},
): Promise<RateResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: options.connections ?? 256, keepAliveTimeout: 30_000 });
  const headers = { ...target.headers, 'content-type': 'application/json' };
  const body = requestBody(target, false, options.cacheable);
  let cacheHits = 0;
  const latency = createHistogram();
  const lag = createHistogram();
  const total = Math.round(rate * durationS);
  let sent = 0;
  let answered = 0;
  let non2xx = 0;
  let errors = 0;
  let allAnswered: () => void = () => {};
  const finished = new Promise<void>((resolve) => (allAnswered = resolve));
  const settle = () => {
    if (++answered === total) allAnswered();
  };

  const send = () => {
    const t0 = performance.now();
    pool.request({ path: url.pathname, method: 'POST', headers, body }).then(
      async (response) => {
        await response.body.arrayBuffer();
        if (response.headers['x-gateway-cache'] === 'hit') cacheHits++;
        latency.record(Math.max(1, Math.round((performance.now() - t0) * 1000)));
        if (response.statusCode < 200 || response.statusCode >= 300) non2xx++;
        settle();
      },
      () => {
        errors++;
        settle();
      },
    );
  };

  const start = performance.now();
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
      for (; sent < due; sent++) {
        lag.record(Math.max(1, Math.round((now - (start + (sent * 1000) / rate)) * 1000)));
        send();
      }
      if (sent < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  const scheduleMs = performance.now() - start;
  const answeredInSchedule = answered;
  const backlogAtEnd = sent - answered;
  // A target that fell behind gets a little time to answer, not forever: what is left counts as errors.
  await Promise.race([finished, new Promise((r) => setTimeout(r, Math.min(30_000, Math.max(1_000, durationS * 500))))]);
  const [failed, abandoned] = [errors, total - answered];
  await pool.destroy();
  const us = (v: number) => round(v / 1000);
  return {
    targetRps: rate,
    durationS,
    sent,
    achievedRps: Math.round((answeredInSchedule / scheduleMs) * 1000),
    non2xx,
    errors: failed,
    abandoned,
    sustained: backlogAtEnd < rate * 0.1,
    backlogAtEnd,
    latencyMs: { p50: us(latency.percentile(50)), p90: us(latency.percentile(90)), p99: us(latency.percentile(99)), max: us(latency.max) },
    generatorLagMs: { p99: us(lag.percentile(99)), max: us(lag.max) },
    ...(options.cacheable ? { cacheHits } : {}),
  };
}
