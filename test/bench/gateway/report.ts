/**
 * The benchmark's results: one object (written as JSON), the ratios against
 * the floor, the issue's goals with pass or fail, and the tables printed at the end.
 */
import type { CatchUp } from './consumers.js';
import type { LlmPhase } from './llm.js';
import type { RateResult, ThroughputResult } from './load.js';
import type { PairedThroughput } from './phases.js';
import type { ProfileSummary } from './profile.js';
import type { StreamsResult } from './streams.js';
import type { AllocationSummary } from './allocations.js';
import { BENCH_WORKERS, type TargetName } from './targets.js';

export interface TargetResult {
  notes: Record<string, string | number | boolean>;
  startMs?: number;
  /** Embedded: resident memory once started, one request answered, before any load. */
  idleRssMb?: number;
  throughput?: ThroughputResult;
  /** Gateways: throughput in slices alternating with the floor's; its ratio is the one the goals use. */
  paired?: PairedThroughput;
  /** One per fixed rate, in the order given; the first is the one the goals use. */
  rates?: RateResult[];
  /** Gateways: latency of requests answered from the cache, at the last fixed rate. */
  cacheHits?: RateResult;
  streams?: StreamsResult;
  /** Fixed-rate latency minus direct's at the same rate, by rate. */
  addedLatencyMs?: Record<string, { p50: number; p99: number }>;
  /** Resident memory of each process (MB): highest during the request phases, before and during the streams, and over its life (VmHWM). */
  rssMb?: Record<string, { load: number; beforeStreams?: number; streams?: number; lifetimePeak: number }>;
  /**
   * CPU time by process ("upstream": the fake upstream, "bench": the load generator, "nats", "postgres",
   * "other": the rest of the machine): ms per request in the throughput phase, and share of one core during each fixed-rate phase.
   */
  cpu?: { msPerRequestAtSaturation: Record<string, number>; percentOfCoreAtRate: Record<string, Record<string, number>> };
  /** --alloc-prof: what each process allocated per request in the throughput phase, and where. */
  allocations?: Record<string, AllocationSummary>;
  /** --scenario llm: its phases, in the order they ran. */
  llm?: LlmPhase[];
  /** After each load phase: "afterThroughput", "afterRate<n>", "afterStreams". */
  consumers?: Record<string, CatchUp>;
  error?: string;
}

export interface Goal {
  goal: string;
  value: string;
  pass: boolean | null;
}

export interface BenchResults {
  meta: { date: string; command: string; node: string; cpus: number; cpuModel: string; memoryGb: number; quick: boolean; wallSeconds?: number };
  settings: Record<string, unknown>;
  targets: Partial<Record<TargetName, TargetResult>>;
  ratios: {
    /** Throughput phases of the two targets, minutes apart. */
    embeddedToFloorThroughput?: number;
    /** Embedded with gateway start --workers (BENCH_WORKERS). */
    workersToFloorThroughput?: number;
    splitToFloorThroughput?: number;
    /** The median of the paired rounds (the goals use these when measured). */
    embeddedToFloorPaired?: number;
    workersToFloorPaired?: number;
    splitToFloorPaired?: number;
    /** At the first rate. */
    embeddedMinusFloorP99Ms?: number;
    splitMinusFloorP99Ms?: number;
    floorToDirectThroughput?: number;
  };
  goals: Goal[];
  /** With --cpu-prof: "embedded", and "split/<service>" for each split process. */
  profiles?: Record<string, ProfileSummary>;
}

const r2 = (v: number) => Number(v.toFixed(2));
/** The process that takes the clients' connections. */
const FRONT: Record<TargetName, string> = { direct: '', floor: 'floor', embedded: 'all', workers: 'worker1', split: 'ingress' };

export function computeRatios(results: BenchResults): void {
  const t = results.targets;
  const direct = new Map((t.direct?.rates ?? []).map((r) => [r.targetRps, r.latencyMs]));
  for (const name of ['floor', 'embedded', 'workers', 'split'] as const) {
    for (const rate of t[name]?.rates ?? []) {
      const base = direct.get(rate.targetRps);
      if (base) (t[name]!.addedLatencyMs ??= {})[rate.targetRps] = { p50: r2(rate.latencyMs.p50 - base.p50), p99: r2(rate.latencyMs.p99 - base.p99) };
    }
  }
  const rps = (name: TargetName) => t[name]?.throughput?.rps;
  const p99 = (name: TargetName) => t[name]?.rates?.[0]?.latencyMs.p99;
  const ratio = (a?: number, b?: number) => (a !== undefined && b ? r2(a / b) : undefined);
  const diff = (a?: number, b?: number) => (a !== undefined && b !== undefined ? r2(a - b) : undefined);
  results.ratios = {
    embeddedToFloorThroughput: ratio(rps('embedded'), rps('floor')),
    workersToFloorThroughput: ratio(rps('workers'), rps('floor')),
    splitToFloorThroughput: ratio(rps('split'), rps('floor')),
    embeddedToFloorPaired: t.embedded?.paired?.ratio,
    workersToFloorPaired: t.workers?.paired?.ratio,
    splitToFloorPaired: t.split?.paired?.ratio,
    embeddedMinusFloorP99Ms: diff(p99('embedded'), p99('floor')),
    splitMinusFloorP99Ms: diff(p99('split'), p99('floor')),
    floorToDirectThroughput: ratio(rps('floor'), rps('direct')),
  };
  results.goals = goals(results);
}

function goals(results: BenchResults): Goal[] {
  const { ratios, targets: t } = results;
  const out: Goal[] = [];
  const add = (goal: string, value: string | undefined, pass: boolean | undefined) => out.push({ goal, value: value ?? 'not measured', pass: pass ?? null });
  // The paired ratio when measured: the two phases' ratio also measures how the machine's speed changed between them.
  const throughputGoal = (goal: string, paired: number | undefined, phases: number | undefined, min: number) => {
    const value = paired ?? phases;
    add(
      goal,
      value === undefined ? undefined : `${value.toFixed(2)}×${paired === undefined ? '' : ' (paired)'}`,
      value === undefined ? undefined : value >= min,
    );
  };
  throughputGoal('embedded throughput ≥ 0.5× floor', ratios.embeddedToFloorPaired, ratios.embeddedToFloorThroughput, 0.5);
  const rate = t.embedded?.rates?.[0];
  const p99 = ratios.embeddedMinusFloorP99Ms;
  add(
    `embedded p99 at ${rate?.targetRps ?? '?'} req/s within 1 ms of floor's`,
    p99 === undefined ? undefined : `${p99 >= 0 ? '+' : ''}${p99} ms${rate && !rate.sustained ? ` (not sustained: ${rate.achievedRps} req/s)` : ''}`,
    p99 === undefined ? undefined : p99 <= 1 && rate!.sustained,
  );
  throughputGoal(`embedded, ${BENCH_WORKERS} workers: throughput ≥ 0.5× floor`, ratios.workersToFloorPaired, ratios.workersToFloorThroughput, 0.5);
  throughputGoal('split throughput ≥ 0.25× floor', ratios.splitToFloorPaired, ratios.splitToFloorThroughput, 0.25);
  const idle = t.embedded?.idleRssMb;
  add('embedded idle RSS < 150 MB', idle === undefined ? undefined : `${Math.round(idle)} MB`, idle === undefined ? undefined : idle < 150);
  for (const name of ['embedded', 'split'] as const) {
    const target = t[name];
    const streams = target?.streams;
    const rss = target?.rssMb?.[FRONT[name]]?.streams;
    const few = streams && streams.streams < 1000 ? `, only ${streams.streams} streams` : '';
    const open = streams ? ` (at most ${streams.maxOpen} open at once${few})` : '';
    add(
      `${name}: 1000 concurrent streams, ingress RSS < 300 MB`,
      rss === undefined ? undefined : `${Math.round(rss)} MB${open}`,
      rss === undefined ? undefined : rss < 300,
    );
    if (streams)
      add(
        `${name}: stream chunks lost = 0`,
        `${streams.chunksLost} lost, ${streams.failed} failed`,
        streams.chunksLost === 0 && streams.failed === 0 && streams.complete === streams.streams,
      );
    const first = target?.rates?.[0];
    const lag = first ? target?.consumers?.[`afterRate${first.targetRps}`] : undefined;
    add(
      `${name}: consumers keep up (every row ≤ 2 s after the ${first?.targetRps ?? '?'} req/s phase)`,
      lag ? (lag.caughtUp ? `${(lag.catchUpMs / 1000).toFixed(1)} s` : `not caught up after ${(lag.catchUpMs / 1000).toFixed(0)} s`) : undefined,
      lag ? lag.caughtUp && lag.catchUpMs <= 2_000 : undefined,
    );
  }
  return out;
}

type Cell = string | number | undefined;

export function table(header: string[], rows: Cell[][]): string {
  const cells = [header, ...rows.map((row) => row.map((c) => (c === undefined ? '—' : String(c))))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

export const ms = (v: number | undefined) => (v === undefined ? undefined : v.toFixed(2));
export const mb = (v: number | undefined) => (v === undefined ? undefined : Math.round(v));
export const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
/** CPU of the target's own processes (not the upstream, the bench, NATS, PostgreSQL or other). */
export const OUTSIDE = new Set(['upstream', 'bench', 'nats', 'postgres', 'other']);

export function formatResults(results: BenchResults): string {
  const t = results.targets;
  const names = Object.keys(t) as TargetName[];
  const out: string[] = [];
  const floorRps = t.floor?.throughput?.rps;
  const conns = names.map((n) => t[n]?.throughput?.connections).find(Boolean);
  out.push(
    table(
      [
        'target',
        `req/s @${conns ?? '?'} conns`,
        'vs floor',
        'paired vs floor',
        'errors/non-2xx',
        'CPU ms/req (target)',
        '(+NATS+PG)',
        'peak RSS MB (all procs)',
      ],
      names.map((n) => {
        const r = t[n]!;
        const cpu = r.cpu?.msPerRequestAtSaturation;
        const own = cpu
          ? sum(
              Object.entries(cpu)
                .filter(([p]) => !OUTSIDE.has(p))
                .map(([, v]) => v),
            )
          : undefined;
        const infra = cpu ? (cpu.nats ?? 0) + (cpu.postgres ?? 0) : 0;
        const rss = r.rssMb ? sum(Object.values(r.rssMb).map((p) => p.load)) : undefined;
        const paired = r.paired ? `${r.paired.ratio.toFixed(2)}× (${r.paired.rounds.map((x) => x.ratio.toFixed(2)).join(', ')})` : undefined;
        return [
          n,
          r.throughput?.rps,
          r.throughput && floorRps ? `${(r.throughput.rps / floorRps).toFixed(2)}×` : undefined,
          paired,
          r.throughput ? `${r.throughput.errors}/${r.throughput.non2xx}` : undefined,
          n === 'direct' ? undefined : ms(own),
          r.consumers ? ms((own ?? 0) + infra) : undefined,
          mb(rss),
        ];
      }),
    ),
  );
  const withRates = names.filter((n) => t[n]?.rates?.length);
  if (withRates.length) {
    out.push(
      '',
      table(
        [
          'fixed rate',
          'req/s',
          'sustained',
          'p50 ms',
          'p90 ms',
          'p99 ms',
          'max ms',
          '+p50 vs direct',
          '+p99 vs direct',
          'errors/non-2xx',
          'CPU % of a core (target)',
        ],
        withRates.flatMap((n) =>
          t[n]!.rates!.map((r) => {
            const added = t[n]!.addedLatencyMs?.[r.targetRps];
            const cpu = t[n]!.cpu?.percentOfCoreAtRate[r.targetRps];
            const own = cpu
              ? sum(
                  Object.entries(cpu)
                    .filter(([p]) => !OUTSIDE.has(p))
                    .map(([, v]) => v),
                )
              : undefined;
            const sustained = r.sustained ? 'yes' : `no: ${r.achievedRps}/s${r.abandoned ? `, ${r.abandoned} unanswered` : ''}`;
            return [
              n,
              r.targetRps,
              sustained,
              ms(r.latencyMs.p50),
              ms(r.latencyMs.p90),
              ms(r.latencyMs.p99),
              ms(r.latencyMs.max),
              ms(added?.p50),
              ms(added?.p99),
              `${r.errors}/${r.non2xx}`,
              n === 'direct' ? undefined : own,
            ];
          }),
        ),
      ),
    );
  }
  const withHits = names.filter((n) => t[n]?.cacheHits);
  if (withHits.length) {
    out.push(
      '',
      table(
        ['cache hits', 'req/s', 'from cache', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'errors/non-2xx'],
        withHits.map((n) => {
          const r = t[n]!.cacheHits!;
          return [
            n,
            r.targetRps,
            `${r.cacheHits}/${r.sent}`,
            ms(r.latencyMs.p50),
            ms(r.latencyMs.p90),
            ms(r.latencyMs.p99),
            ms(r.latencyMs.max),
            `${r.errors}/${r.non2xx}`,
          ];
        }),
      ),
    );
  }
  const withStreams = names.filter((n) => t[n]?.streams);
  if (withStreams.length) {
    const direct = t.direct?.streams?.ttfbMs;
    out.push(
      '',
      table(
        ['streams', 'count', 'complete', 'chunks lost', 'max open', 'TTFB p50', 'TTFB p99', '+TTFB p50 vs direct', '+TTFB p99 vs direct', 'front RSS MB'],
        withStreams.map((n) => {
          const s = t[n]!.streams!;
          const vs = (a: number, b?: number) => (b === undefined || n === 'direct' ? undefined : ms(a - b));
          return [
            n,
            s.streams,
            s.complete,
            s.chunksLost,
            s.maxOpen,
            ms(s.ttfbMs.p50),
            ms(s.ttfbMs.p99),
            vs(s.ttfbMs.p50, direct?.p50),
            vs(s.ttfbMs.p99, direct?.p99),
            mb(t[n]!.rssMb?.[FRONT[n]]?.streams),
          ];
        }),
      ),
    );
  }
  const withRss = names.filter((n) => t[n]?.rssMb);
  if (withRss.length) {
    out.push(
      '',
      table(
        ['memory (RSS)', 'idle MB', 'before streams MB', 'peak with streams MB', 'peak under request load MB', 'lifetime peak MB'],
        withRss.flatMap((n) =>
          Object.entries(t[n]!.rssMb!).map(([p, m]) => [
            `${n}/${p}`,
            p === 'all' ? mb(t[n]!.idleRssMb) : undefined,
            mb(m.beforeStreams),
            mb(m.streams),
            mb(m.load),
            mb(m.lifetimePeak),
          ]),
        ),
      ),
    );
  }
  const withCpu = names.filter((n) => t[n]?.cpu);
  if (withCpu.length) {
    const rates = [...new Set(withCpu.flatMap((n) => Object.keys(t[n]!.cpu!.percentOfCoreAtRate)))];
    out.push(
      '',
      table(
        ['cpu', 'process', 'ms per request (throughput)', ...rates.map((r) => `% of a core at ${r}/s`)],
        withCpu.flatMap((n) =>
          Object.entries(t[n]!.cpu!.msPerRequestAtSaturation).map(([p, perRequest]) => [
            n,
            p,
            perRequest.toFixed(3),
            ...rates.map((r) => t[n]!.cpu!.percentOfCoreAtRate[r]?.[p]),
          ]),
        ),
      ),
    );
  }
  const withConsumers = names.filter((n) => t[n]?.consumers);
  if (withConsumers.length) {
    out.push(
      '',
      table(
        ['consumers', 'after', 'rows behind at end (audit/usage)', 'caught up after', 'requests so far', 'audit rows', 'usage rows'],
        withConsumers.flatMap((n) =>
          Object.entries(t[n]!.consumers!).map(([phase, c]) => [
            n,
            phase
              .replace(/^after/, '')
              .replace(/^Rate/, 'rate ')
              .toLowerCase(),
            `${c.backlogAtEnd.audit}/${c.backlogAtEnd.metering}`,
            c.caughtUp ? `${(c.catchUpMs / 1000).toFixed(2)} s` : 'NOT caught up',
            c.requests,
            c.auditRows,
            c.usageRows,
          ]),
        ),
      ),
    );
  }
  out.push(
    '',
    table(
      ['goal (issue 7)', 'measured', 'result'],
      results.goals.map((g) => [g.goal, g.value, g.pass === null ? 'n/a' : g.pass ? 'PASS' : 'FAIL']),
    ),
  );
  out.push(...formatProfiles(results));
  for (const n of names) {
    for (const [proc, a] of Object.entries(t[n]?.allocations ?? {})) {
      out.push('', `Allocations of ${n}/${proc} at saturation: ${(a.bytesPerRequest / 1024).toFixed(1)} KB per request (${a.file})`);
      out.push(
        table(
          ['area', 'bytes/request', '%'],
          a.byArea.map((x) => [x.area, x.bytesPerRequest, x.percent]),
        ),
      );
      if (n === 'embedded' || proc === 'ingress')
        out.push(
          '',
          table(
            ['function', 'bytes/request', '%'],
            a.topFunctions.map((f) => [f.frame, f.bytesPerRequest, f.percent]),
          ),
        );
    }
  }
  for (const n of names) if (t[n]?.error) out.push('', `${n} failed: ${t[n]!.error}`);
  return out.join('\n');
}

/** The CPU profiles (--cpu-prof): self time by owner and area, and the top functions of the process a request enters. */
export function formatProfiles(results: BenchResults): string[] {
  const out: string[] = [];
  for (const [name, profile] of Object.entries(results.profiles ?? {})) {
    const span = profile.windowMs ? `the ${(profile.windowMs / 1000).toFixed(0)} s of request load: ` : '';
    out.push('', `CPU profile of ${name} (${span}${profile.busyMs} ms busy of ${profile.totalMs} ms sampled; ${profile.file})`);
    out.push(
      table(
        ['whose code', 'self ms', '% of busy'],
        profile.byOwner.map((o) => [o.owner, o.selfMs, o.percentOfBusy]),
      ),
      '',
      table(
        ['area', 'self ms', '% of busy'],
        profile.byArea.slice(0, 10).map((a) => [a.area, a.selfMs, a.percentOfBusy]),
      ),
    );
    if (name === 'embedded' || name === 'split/ingress')
      out.push(
        '',
        table(
          ['function', 'self ms', '% of busy'],
          profile.topFunctions.slice(0, 15).map((f) => [f.frame, f.selfMs, f.percentOfBusy]),
        ),
        '',
        table(
          ['gateway function (with what it called)', 'ms', '% of busy'],
          profile.byGatewayFunction.slice(0, 15).map((f) => [f.frame, f.selfMs, f.percentOfBusy]),
        ),
      );
  }
  return out;
}
