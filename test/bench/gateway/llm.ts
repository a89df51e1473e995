/**
 * npm run bench -- --scenario llm (issue 24): the load a gateway sees in front
 * of LLM providers, thousands of calls waiting on answers that take seconds.
 * Per target, one phase per level, smallest first: non-streaming calls held
 * in flight against an upstream that answers in a second, then streams that
 * all run at once. After each phase of a gateway, the wait for its audit and
 * usage rows. See docs/performance.md.
 */
import { readFileSync } from 'node:fs';
import type { CatchUp } from './consumers.js';
import { callsInFlight, type CallsResult } from './llm-load.js';
import { measureCpu, memoryOf, sampleRss, type Proc } from './processes.js';
import { nowUs, type Window } from './profile.js';
import { concurrentStreams, type StreamsResult } from './streams.js';
import type { Target } from './targets.js';
import type { UpstreamOptions } from './upstream.js';

/** A second before the answer, or before a stream's first chunk; streams then send a chunk every 100 ms, 10 s in all. */
export const LLM_UPSTREAM: UpstreamOptions = { latencyMs: 1_000, responseBytes: 200, chunks: 90, chunkIntervalMs: 100 };
/** --quick: the same upstream, streams of 2 s. */
export const LLM_UPSTREAM_QUICK: UpstreamOptions = { ...LLM_UPSTREAM, chunks: 10 };

export interface LlmSettings {
  /** Non-streaming calls held in flight, one phase each. */
  calls: number[];
  /** How long each calls phase keeps its callers calling. */
  durationS: number;
  /** Concurrent streams, one phase each. */
  streams: number[];
  chunks: number;
  /** Callers and streams start spread over this (the upstream's delay: one round of calls). */
  rampMs: number;
  warmupS: number;
}

export interface LlmPhase {
  kind: 'calls' | 'streams';
  /** Calls held in flight, or streams started. */
  level: number;
  calls?: CallsResult;
  streams?: StreamsResult;
  elapsedMs: number;
  /** Answers (2xx calls, complete streams) the CPU and memory are divided by. */
  answered: number;
  /** CPU time during the phase by process (see measureCpu), ms. */
  cpuMs: Record<string, number>;
  /** Resident memory of the target's processes, summed: before the phase, and the sum of each one's peak during it. */
  rssMb?: { before: number; peak: number };
  /** Gateways: whether every audit and usage row was written after the phase. */
  consumers?: CatchUp;
}

/** Rows of a phase of 5,000 calls a second take a while to drain on a busy 2-core machine. */
const CATCH_UP_TIMEOUT_MS = 180_000;
/** Descriptors a proxy holds per call in flight (its client's connection and its upstream's), and some to spare. */
export const fdsNeeded = (level: number) => 2 * level + 1_000;

/** This process's open-files limit (children inherit it); undefined off Linux. */
export function openFilesLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    return line === undefined ? undefined : line === 'unlimited' ? Infinity : Number(line);
  } catch {
    return undefined;
  }
}

const rssOf = (procs: readonly Proc[]) => procs.reduce((sum, p) => sum + memoryOf(p.pid).rssMb, 0);

/** Runs the phases; returns them, and when each calls phase ran (for CPU profiles: the cost per call, not per stream). */
export async function measureLlm(
  target: Target,
  upstream: Proc,
  settings: LlmSettings,
  progress: (line: string) => void,
): Promise<{ phases: LlmPhase[]; callWindows: Window[] }> {
  const { name, processes: procs } = target;
  if (settings.warmupS > 0) {
    progress(`warm-up: ${name} 100 calls in flight for ${settings.warmupS} s…`);
    await callsInFlight(target, 100, settings.warmupS, 0);
    if (target.consumers) await target.consumers.waitCaughtUp(CATCH_UP_TIMEOUT_MS);
  }
  const phases: LlmPhase[] = [];
  const callWindows: Window[] = [];
  const run = async (kind: LlmPhase['kind'], level: number, load: () => Promise<Pick<LlmPhase, 'calls' | 'streams' | 'answered'>>) => {
    const before = rssOf(procs);
    const rss = sampleRss(procs);
    const cpu = measureCpu([...procs, upstream], target.database);
    const t0 = performance.now();
    const fromUs = nowUs();
    const measured = await load();
    if (kind === 'calls') callWindows.push({ fromUs, toUs: nowUs() });
    const elapsedMs = Math.round(performance.now() - t0);
    const cpuMs = cpu.stop();
    const peaks = rss.stop();
    const phase: LlmPhase = {
      kind,
      level,
      ...measured,
      elapsedMs,
      cpuMs,
      ...(procs.length ? { rssMb: { before: Math.round(before), peak: Math.round(Object.values(peaks).reduce((a, b) => a + b, 0)) } } : {}),
    };
    phases.push(phase);
    if (target.consumers) {
      phase.consumers = await target.consumers.waitCaughtUp(CATCH_UP_TIMEOUT_MS);
      progress(
        `  ${phase.consumers.caughtUp ? `every audit and usage row written ${phase.consumers.catchUpMs} ms after the load` : `audit and usage rows NOT all written after ${phase.consumers.catchUpMs} ms`}`,
      );
    }
  };

  for (const level of settings.calls) {
    progress(`calls: ${name} ${level} in flight for ${settings.durationS} s…`);
    await run('calls', level, async () => {
      const calls = await callsInFlight(target, level, settings.durationS, settings.rampMs);
      progress(
        `  ${calls.rps} req/s, p50 ${calls.latencyMs.p50} ms, p99 ${calls.latencyMs.p99} ms, ${calls.errors} errors, ${calls.non2xx} non-2xx${calls.firstError ? ` (${calls.firstError})` : ''}`,
      );
      return { calls, answered: calls.ok };
    });
  }
  for (const level of settings.streams) {
    progress(`streams: ${name} ${level} at once…`);
    await run('streams', level, async () => {
      const s = await concurrentStreams(target, level, settings.chunks, settings.rampMs);
      progress(
        `  ${s.complete}/${s.streams} complete, ${s.chunksLost} chunks lost, at most ${s.maxOpen} open at once, TTFC p50 ${s.ttfbMs.p50} ms p99 ${s.ttfbMs.p99} ms${s.firstError ? ` (${s.firstError})` : ''}`,
      );
      return { streams: s, answered: s.complete };
    });
  }
  return { phases, callWindows };
}
