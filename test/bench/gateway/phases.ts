/**
 * The phases one target goes through, in order: warm-up, concurrent streams,
 * throughput at a fixed number of connections, latency at each fixed rate;
 * after each load phase of a gateway, the wait for its consumers.
 * Memory is sampled throughout, CPU time is taken per phase.
 */
import { sampleAllocations } from './allocations.js';
import type { CatchUp } from './consumers.js';
import { fixedRate, throughput } from './load.js';
import { measureCpu, memoryOf, sampleRss, type Proc } from './processes.js';
import { nowUs, type Window } from './profile.js';
import type { TargetResult } from './report.js';
import { concurrentStreams } from './streams.js';
import type { Target } from './targets.js';

export interface PhaseSettings {
  connections: number;
  durationS: number;
  /** Fixed request rates, each its own phase; the first is the one the goals use. */
  rates: number[];
  rateDurationS: number;
  cacheHitsDurationS: number;
  warmupS: number;
  /** Concurrent streams (0: none). */
  streams: number;
  /** Content chunks of each streamed answer. */
  chunks: number;
  /** --alloc-prof: sample the target's allocations in the throughput phase (its processes load alloc-sampler.cjs). */
  allocDir?: string;
}

const caughtUp = (c: CatchUp) => (c.caughtUp ? `consumers caught up in ${c.catchUpMs} ms` : `consumers NOT caught up after ${c.catchUpMs} ms`);

/** Runs the phases; returns when the request phases (throughput and fixed rates) ran, for CPU profiles. */
export async function measureTarget(
  target: Target,
  result: TargetResult,
  upstream: Proc,
  settings: PhaseSettings,
  progress: (line: string) => void,
): Promise<Window> {
  const { name, processes: procs } = target;
  const cpuOf = () => measureCpu([...procs, upstream], target.database);
  const consumers: Record<string, CatchUp> = {};
  const catchUp = async (phase: string) => {
    if (!target.consumers) return;
    consumers[phase] = await target.consumers.waitCaughtUp();
    progress(`  ${caughtUp(consumers[phase])}`);
  };

  if (settings.warmupS > 0) {
    progress(`warm-up: ${name} ${settings.warmupS} s…`);
    await throughput(target, settings.connections, settings.warmupS);
    if (target.consumers) await target.consumers.waitCaughtUp();
  }
  // Streams come first, while the processes are fresh: their memory is then theirs, not what an overloaded phase left behind.
  let streamPeaks: Record<string, number> = {};
  let streamBase: Record<string, number> = {};
  if (settings.streams > 0) {
    const before = Object.fromEntries(procs.map((p) => [p.name, memoryOf(p.pid).rssMb]));
    const sampler = sampleRss(procs);
    progress(`streams: ${name} ${settings.streams} concurrent…`);
    result.streams = await concurrentStreams(target, settings.streams, settings.chunks);
    streamPeaks = sampler.stop();
    streamBase = before;
    const s = result.streams;
    progress(
      `  ${s.complete}/${s.streams} complete, ${s.chunksLost} chunks lost, at most ${s.maxOpen} open at once, TTFB p50 ${s.ttfbMs.p50} ms p99 ${s.ttfbMs.p99} ms`,
    );
    await catchUp('afterStreams');
  }

  const load = sampleRss(procs);
  const fromUs = nowUs();

  progress(`load: ${name} ${settings.durationS} s at ${settings.connections} connections…`);
  let cpu = cpuOf();
  const allocations = settings.allocDir ? sampleAllocations(procs, settings.allocDir) : undefined;
  const run = await throughput(target, settings.connections, settings.durationS);
  result.throughput = run;
  const saturated = cpu.stop();
  if (allocations) result.allocations = await allocations.stop(run.requests);
  result.cpu = {
    msPerRequestAtSaturation: Object.fromEntries(Object.entries(saturated).map(([p, ms]) => [p, Number((ms / Math.max(1, run.requests)).toFixed(3))])),
    percentOfCoreAtRate: {},
  };
  const others = Math.round((saturated.other! / (settings.durationS * 1000)) * 100);
  progress(
    `  ${run.rps} req/s, ${run.errors} errors, ${run.non2xx} non-2xx${others >= 10 ? ` (other processes on this machine used ${others}% of a core meanwhile)` : ''}`,
  );
  await catchUp('afterThroughput');

  result.rates = [];
  for (const rate of settings.rates) {
    progress(`load: ${name} ${rate} req/s for ${settings.rateDurationS} s…`);
    cpu = cpuOf();
    const started = performance.now();
    const measured = await fixedRate(target, rate, settings.rateDurationS);
    const elapsed = performance.now() - started;
    result.rates.push(measured);
    result.cpu.percentOfCoreAtRate[rate] = Object.fromEntries(Object.entries(cpu.stop()).map(([p, ms]) => [p, Math.round((ms / elapsed) * 100)]));
    progress(
      `  p50 ${measured.latencyMs.p50} ms, p99 ${measured.latencyMs.p99} ms${measured.sustained ? '' : ` — NOT sustained (${measured.achievedRps} req/s)`}`,
    );
    await catchUp(`afterRate${rate}`);
  }
  // A gateway answering from its cache: the same temperature-0 question at the last rate (the first answer is stored).
  if (target.consumers && settings.rates.length) {
    const rate = settings.rates.at(-1)!;
    progress(`cache hits: ${name} ${rate} req/s for ${settings.cacheHitsDurationS} s…`);
    result.cacheHits = await fixedRate(target, rate, settings.cacheHitsDurationS, { cacheable: true });
    progress(
      `  p50 ${result.cacheHits.latencyMs.p50} ms, p99 ${result.cacheHits.latencyMs.p99} ms, ${result.cacheHits.cacheHits} of ${result.cacheHits.sent} from the cache`,
    );
    await catchUp('afterCacheHits');
  }
  const loadPeaks = load.stop();
  const window = { fromUs, toUs: nowUs() };

  if (target.consumers) result.consumers = consumers;
  if (procs.length) {
    result.rssMb = Object.fromEntries(
      procs.map((p) => [
        p.name,
        {
          load: Math.round(loadPeaks[p.name] ?? 0),
          ...(streamPeaks[p.name] ? { beforeStreams: Math.round(streamBase[p.name] ?? 0), streams: Math.round(streamPeaks[p.name]!) } : {}),
          lifetimePeak: Math.round(memoryOf(p.pid).peakMb),
        },
      ]),
    );
  }
  return window;
}

/** One round of the paired throughput: the floor, then the gateway, each for the same seconds. */
export interface PairedRound {
  floorRps: number;
  targetRps: number;
  ratio: number;
}

export interface PairedThroughput {
  durationS: number;
  rounds: PairedRound[];
  /** The median of the rounds' ratios. */
  ratio: number;
}

/**
 * Throughput against the floor's, in alternating slices: this machine's speed
 * swings by up to 2× within minutes, so a ratio of two phases measured minutes
 * apart says as much about the machine as about the gateway. Each round runs
 * the floor, then the target, back to back (and waits for the target's
 * consumers, so their catching up does not run during the floor's next slice).
 */
export async function pairedThroughput(
  target: Target,
  floor: Target,
  connections: number,
  rounds: number,
  durationS: number,
  progress: (line: string) => void,
): Promise<PairedThroughput> {
  progress(`paired throughput: floor and ${target.name}, ${rounds} rounds of ${durationS} s each…`);
  const measured: PairedRound[] = [];
  for (let i = 0; i < rounds; i++) {
    const floorRun = await throughput(floor, connections, durationS);
    const targetRun = await throughput(target, connections, durationS);
    if (target.consumers) await target.consumers.waitCaughtUp();
    measured.push({ floorRps: floorRun.rps, targetRps: targetRun.rps, ratio: Number((targetRun.rps / Math.max(1, floorRun.rps)).toFixed(3)) });
  }
  const ratios = measured.map((r) => r.ratio).sort((a, b) => a - b);
  const middle = ratios.length >> 1;
  const ratio = ratios.length % 2 ? ratios[middle]! : Number(((ratios[middle - 1]! + ratios[middle]!) / 2).toFixed(3));
  progress(`  ${measured.map((r) => `${r.targetRps}/${r.floorRps}`).join(', ')} req/s: ${ratio.toFixed(2)}× the floor (median)`);
  return { durationS, rounds: measured, ratio };
}
