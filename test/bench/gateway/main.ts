/**
 * npm run bench: the gateway's own cost, measured against a fake upstream
 * called directly and through the thinnest possible proxy, in one run on one
 * machine (issue 7). See docs/performance.md.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ALLOC_SAMPLER_ARGS } from './allocations.js';
import { buildGateway } from './build.js';
import { fdsNeeded, LLM_UPSTREAM, LLM_UPSTREAM_QUICK, measureLlm, openFilesLimit } from './llm.js';
import { formatLlm } from './llm-report.js';
import { measureTarget, pairedThroughput } from './phases.js';
import { forkScript, REPO } from './processes.js';
import { newestProfile, summarizeProfile, type Window } from './profile.js';
import { computeRatios, formatResults, type BenchResults, type TargetResult } from './report.js';
import { BENCH_WORKERS, infraFromEnv, startDirect, startEmbedded, startFloor, startSplit, TARGETS, type Target, type TargetName } from './targets.js';
import { DEFAULT_UPSTREAM, type UpstreamOptions } from './upstream.js';

const HELP = `npm run bench -- [options]

Measures, one after another on this machine, against a fast fake OpenAI upstream:
  direct    the load generator against the upstream itself
  floor     the thinnest proxy (fastify + undici Pool), the cost of one hop in Node.js
  embedded  the gateway, all services in one process (gateway start --services all)
  split     the gateway, each service its own process, talking gRPC
Gateways use NATS JetStream and PostgreSQL (NATS_URL, DATABASE_URL; defaults
nats://127.0.0.1:4222 and postgres://postgres@127.0.0.1:5432/test), a fresh
database and stream each, and a virtual key with a rate limit and a budget.

Scenarios (--scenario):
  throughput (default)     a fast upstream: throughput at 50 connections, latency at fixed rates, 1,000 streams
  llm                      LLM-shaped load against an upstream that answers in 1 s: non-streaming calls held in
                           flight (--in-flight, default 2000,5000), then streams of 10 s (a chunk every 100 ms after
                           the first second) all open at once (--llm-streams, default 2000,10000); per target:
                           throughput and added latency against the floor, time to first chunk, errors, CPU per
                           request, memory per 1,000 in flight, and whether every audit and usage row was written.
                           About 3 minutes per target; --quick: 200 calls for 3 s, 200 streams of 2 s (< 2 minutes).
                           Each proxy holds two descriptors per call in flight: 10,000 streams need ulimit -n > 21,000

Options:
  --scenario <name>        throughput or llm (default throughput)
  --quick                  short run (< 1 minute): 2 s phases, one rate, 200 one-second streams, split without
                           streams, no workers target
  --in-flight <n>[,<n>…]   llm: non-streaming calls in flight, one phase each (default 2000,5000, quick 200)
  --llm-streams <n>[,<n>…] llm: concurrent streams, one phase each (default 2000,10000, quick 200)
  --only <list>            targets to run, comma-separated (default: ${TARGETS.join(',')})
  --out <file>             JSON results (default: bench-results.json)
  --connections <n>        connections of the throughput phase (default 50)
  --duration <s>           throughput phase (default 10, quick 2); llm: each calls phase (default 10, quick 3)
  --rate <n>[,<n>…]        requests per second of the latency phases (default 2000,500; quick 2000);
                           the first is the one the goals use
  --rate-duration <s>      latency phase (default 10, quick 2)
  --warmup <s>             load before measuring (default 3, quick 1)
  --paired-rounds <n>      rounds of floor and gateway throughput, alternating, for the ratios the goals
                           use (default 3, quick 2; 0 skips; needs the floor among the targets)
  --paired-duration <s>    each slice of a paired round (default 3, quick 1)
  --streams <n>            concurrent streams (default 1000, quick 200; 0 skips)
  --latency-ms <ms>        upstream delay before answering (default ${DEFAULT_UPSTREAM.latencyMs})
  --response-bytes <n>     upstream answer content size (default ${DEFAULT_UPSTREAM.responseBytes})
  --chunks <n>             content chunks per streamed answer (default ${DEFAULT_UPSTREAM.chunks})
  --chunk-interval-ms <ms> delay between streamed chunks (default ${DEFAULT_UPSTREAM.chunkIntervalMs}, quick 40)
  --log-level <level>      gateway log level (default warn)
  --cpu-prof               profile the gateway processes (node --cpu-prof) and print where they spend their time
                           in the request phases (llm: the calls phases)
  --alloc-prof             sample what the gateway processes allocate in the throughput phase: bytes per request,
                           and which functions allocate them
  --guarantee <durable|best-effort>
                           events.guarantee of the gateways (default durable: an answer ends once its event is
                           acknowledged by JetStream); best-effort measures what that wait costs
  --split-tls <on|off>     mutual TLS between the split gateway's processes, as deployments run it (default on);
                           off measures what TLS costs
  --tsx                    run the gateway through tsx instead of transpiling services/ first
  --help                   this text`;

const { values } = parseArgs({
  options: {
    help: { type: 'boolean' },
    quick: { type: 'boolean' },
    scenario: { type: 'string', default: 'throughput' },
    'in-flight': { type: 'string' },
    'llm-streams': { type: 'string' },
    only: { type: 'string' },
    out: { type: 'string', default: 'bench-results.json' },
    connections: { type: 'string' },
    duration: { type: 'string' },
    rate: { type: 'string' },
    'rate-duration': { type: 'string' },
    warmup: { type: 'string' },
    'paired-rounds': { type: 'string' },
    'paired-duration': { type: 'string' },
    streams: { type: 'string' },
    'latency-ms': { type: 'string' },
    'response-bytes': { type: 'string' },
    chunks: { type: 'string' },
    'chunk-interval-ms': { type: 'string' },
    'log-level': { type: 'string', default: 'warn' },
    'cpu-prof': { type: 'boolean' },
    'alloc-prof': { type: 'boolean' },
    tsx: { type: 'boolean' },
    'split-tls': { type: 'string', default: 'on' },
    guarantee: { type: 'string', default: 'durable' },
  },
});
if (values.guarantee !== 'durable' && values.guarantee !== 'best-effort')
  throw new Error(`--guarantee: expected durable or best-effort, got "${values.guarantee}"`);
if (values['split-tls'] !== 'on' && values['split-tls'] !== 'off') throw new Error(`--split-tls: expected on or off, got "${values['split-tls']}"`);
if (values.scenario !== 'throughput' && values.scenario !== 'llm') throw new Error(`--scenario: expected throughput or llm, got "${values.scenario}"`);
if (values.help) {
  console.log(HELP);
  process.exit(0);
}

const quick = values.quick ?? false;
const num = (value: string | undefined, fallback: number, name: string): number => {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number ≥ 0, got ${value}`);
  return n;
};
const llm = values.scenario === 'llm';
const levels = (value: string, name: string) =>
  value
    .split(',')
    .map((n) => num(n, 0, name))
    .filter((n) => n > 0);
const settings = {
  connections: num(values.connections, 50, 'connections'),
  durationS: num(values.duration, quick ? (llm ? 3 : 2) : 10, 'duration'),
  rates: levels(values.rate ?? (quick ? '2000' : '2000,500'), 'rate'),
  rateDurationS: num(values['rate-duration'], quick ? 2 : 10, 'rate-duration'),
  /** The cache-hit phase: as long as a rate phase, but 1 s in quick mode. */
  cacheHitsDurationS: quick ? 1 : num(values['rate-duration'], 10, 'rate-duration'),
  warmupS: num(values.warmup, quick ? 1 : 3, 'warmup'),
  pairedRounds: num(values['paired-rounds'], quick ? 2 : 3, 'paired-rounds'),
  pairedDurationS: num(values['paired-duration'], quick ? 1 : 3, 'paired-duration'),
  streams: num(values.streams, quick ? 200 : 1000, 'streams'),
  logLevel: values['log-level'],
  llmCalls: llm ? levels(values['in-flight'] ?? (quick ? '200' : '2000,5000'), 'in-flight') : [],
  llmStreams: llm ? levels(values['llm-streams'] ?? (quick ? '200' : '2000,10000'), 'llm-streams') : [],
};
const upstreamDefaults = llm ? (quick ? LLM_UPSTREAM_QUICK : LLM_UPSTREAM) : { ...DEFAULT_UPSTREAM, ...(quick ? { chunkIntervalMs: 40 } : {}) };
const upstreamOptions: UpstreamOptions = {
  latencyMs: num(values['latency-ms'], upstreamDefaults.latencyMs, 'latency-ms'),
  responseBytes: num(values['response-bytes'], upstreamDefaults.responseBytes, 'response-bytes'),
  chunks: num(values.chunks, upstreamDefaults.chunks, 'chunks'),
  chunkIntervalMs: num(values['chunk-interval-ms'], upstreamDefaults.chunkIntervalMs, 'chunk-interval-ms'),
};
/** Quick mode leaves out workers unless asked for: it runs the same code as embedded, and the quick look must stay under a minute. */
const selected = (values.only ? values.only.split(',').map((s) => s.trim()) : TARGETS.filter((t) => !(quick && t === 'workers'))) as TargetName[];
for (const name of selected) if (!TARGETS.includes(name)) throw new Error(`--only: unknown target ${name} (known: ${TARGETS.join(', ')})`);
/** Quick mode leaves out split mode's streams, the slowest part to tear down. */
const streamsFor = (name: TargetName) => settings.streams > 0 && !(quick && name === 'split') && name !== 'workers';
/** Connections to the upstream, in the floor and the gateway's provider alike: enough for every stream or call at once. */
const upstreamConnections = Math.max(256, settings.streams, ...settings.llmCalls, ...settings.llmStreams);

const began = performance.now();
const progress = (line: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${line}`);

const results: BenchResults = {
  meta: {
    date: new Date().toISOString(),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    node: process.version,
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    quick,
  },
  settings: {
    ...settings,
    upstream: upstreamOptions,
    upstreamConnections,
    openFilesLimit: openFilesLimit(),
    gatewayRuntime: values.tsx ? 'tsx' : 'transpiled JavaScript (node)',
  },
  targets: {},
  ratios: {},
  goals: [],
};

/** What to stop at the end, newest last; also run on Ctrl-C (a second one exits at once; children are killed on exit anyway). */
const stops: (() => Promise<void>)[] = [];
let interrupted = false;
const interrupt = () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  console.log('\ninterrupted: stopping everything…');
  void Promise.allSettled(stops.reverse().map((stop) => stop())).then(() => process.exit(130));
};
process.on('SIGINT', interrupt);
process.on('SIGTERM', interrupt);

let failed = false;
const profileDir = values['cpu-prof'] ? mkdtempSync(join(tmpdir(), 'gw-bench-prof-')) : undefined;
/** With --alloc-prof, where each gateway process writes what it allocated (read by the sampler it loads). */
const allocDir = values['alloc-prof'] ? mkdtempSync(join(tmpdir(), 'gw-bench-alloc-')) : undefined;
if (allocDir) process.env.GATEWAY_BENCH_ALLOC_DIR = allocDir;
try {
  const infra = infraFromEnv();
  let cli = join(REPO, 'services', 'gateway', 'cli.ts');
  if (!values.tsx && selected.some((n) => n !== 'direct' && n !== 'floor')) {
    progress('transpiling services/ for the gateway processes…');
    const build = buildGateway();
    stops.push(async () => build.remove());
    cli = build.cli;
  }
  const openFiles = openFilesLimit();
  if (llm && openFiles !== undefined && openFiles < fdsNeeded(upstreamConnections)) {
    progress(
      `WARNING: ulimit -n is ${openFiles}; a proxy needs about ${fdsNeeded(upstreamConnections)} for ${upstreamConnections} in flight, so the largest phases will fail for lack of descriptors`,
    );
  }
  progress(`starting the fake upstream (${JSON.stringify(upstreamOptions)})…`);
  const upstream = await forkScript('upstream', './upstream.ts', upstreamOptions);
  stops.push(() => upstream.proc.stop(2_000));
  /** With --cpu-prof, each gateway process writes its profile into <profileDir>/<target>-<services> when it exits. */
  const profileArgs = (target: string) => (services: string) => [
    ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', join(profileDir, `${target}-${services}`)] : []),
    ...(allocDir ? ALLOC_SAMPLER_ARGS : []),
  ];
  const gatewayOptions = {
    cli,
    upstream: upstream.url,
    infra,
    upstreamConnections,
    logLevel: settings.logLevel,
    guarantee: values.guarantee as 'durable' | 'best-effort',
  };

  /** Kept running after its own phases when gateways follow, for the paired rounds. */
  let floor: Target | undefined;
  const gatewaysAfter = (name: TargetName) => selected.slice(selected.indexOf(name) + 1).some((n) => n !== 'direct' && n !== 'floor');
  for (const name of selected) {
    progress(`starting ${name}${name === 'split' ? ' mode (six processes)' : ''}…`);
    const result: TargetResult = { notes: {} };
    results.targets[name] = result;
    let target: Target | undefined;
    /** The request phases, which the CPU profiles are summed over. */
    let windows: Window[] | undefined;
    const t0 = performance.now();
    try {
      if (name === 'direct') target = startDirect(upstream.url);
      else if (name === 'floor') target = await startFloor(upstream.url, upstreamConnections);
      else if (name === 'embedded' || name === 'workers') {
        const workers = name === 'workers' ? BENCH_WORKERS : 1;
        const embedded = await startEmbedded({ ...gatewayOptions, nodeArgs: profileArgs(name) }, quick ? 1_000 : 2_000, workers);
        result.idleRssMb = Math.round(embedded.idleRssMb);
        target = embedded;
      } else target = await startSplit({ ...gatewayOptions, nodeArgs: profileArgs('split') }, values['split-tls'] === 'on', progress);
      stops.push(target.stop);
      result.startMs = Math.round(performance.now() - t0);
      result.notes = target.notes;
      if (result.idleRssMb !== undefined) progress(`  idle RSS ${result.idleRssMb} MB`);
      if (llm) {
        const llmSettings = {
          calls: settings.llmCalls,
          durationS: settings.durationS,
          streams: settings.llmStreams,
          chunks: upstreamOptions.chunks,
          rampMs: Math.max(1_000, upstreamOptions.latencyMs),
          warmupS: settings.warmupS,
        };
        const measured = await measureLlm(target, upstream.proc, llmSettings, progress);
        result.llm = measured.phases;
        windows = measured.callWindows;
      } else {
        const phases = {
          ...settings,
          streams: streamsFor(name) ? settings.streams : 0,
          chunks: upstreamOptions.chunks,
          allocDir: target.consumers ? allocDir : undefined,
        };
        windows = [await measureTarget(target, result, upstream.proc, phases, progress)];
        if (floor && target.consumers && settings.pairedRounds > 0) {
          result.paired = await pairedThroughput(target, floor, settings.connections, settings.pairedRounds, settings.pairedDurationS, progress);
        }
        if (name === 'floor' && settings.pairedRounds > 0 && gatewaysAfter(name)) floor = target;
      }
    } catch (err) {
      failed = true;
      result.error = (err as Error).stack ?? String(err);
      progress(`${name} FAILED: ${(err as Error).message}`);
    } finally {
      if (target && target !== floor) {
        progress(`stopping ${name}…`);
        stops.splice(stops.indexOf(target.stop), 1);
        await target.stop().catch((err: unknown) => progress(`stopping ${name} failed: ${String(err)}`));
      }
    }
    if (profileDir && (name === 'embedded' || name === 'split')) {
      for (const dir of readdirSync(profileDir).filter((d) => d.startsWith(`${name}-`))) {
        const file = newestProfile(join(profileDir, dir));
        const label = name === 'embedded' ? 'embedded' : `split/${dir.slice('split-'.length)}`;
        if (file) (results.profiles ??= {})[label] = summarizeProfile(file, windows);
      }
    }
  }
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
}

results.meta.wallSeconds = Math.round((performance.now() - began) / 1000);
if (!llm) computeRatios(results);
console.log(`\n${llm ? formatLlm(results, upstreamOptions.latencyMs) : formatResults(results)}\n`);
const out = resolve(values.out);
writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
progress(`results written to ${out} (${results.meta.wallSeconds} s in all)`);
process.exit(failed ? 1 : 0);
