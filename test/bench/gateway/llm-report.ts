/**
 * The tables of --scenario llm: each gateway's phase against the floor's
 * phase of the same kind and level (throughput ratio, added latency and time
 * to first chunk), its errors, CPU per answer, memory per 1,000 in flight, and
 * whether every audit and usage row was written.
 */
import type { LlmPhase } from './llm.js';
import { formatProfiles, mb, ms, OUTSIDE, sum, table, type BenchResults } from './report.js';
import type { TargetName } from './targets.js';

const plus = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined ? undefined : `${a - b >= 0 ? '+' : ''}${(a - b).toFixed(0)}`;

/** CPU ms per answer of the target's own processes, and with NATS and PostgreSQL. */
function cpuPerAnswer(p: LlmPhase, name: TargetName): [string | undefined, string | undefined] {
  if (name === 'direct') return [undefined, undefined];
  const own =
    sum(
      Object.entries(p.cpuMs)
        .filter(([proc]) => !OUTSIDE.has(proc))
        .map(([, v]) => v),
    ) / Math.max(1, p.answered);
  const infra = ((p.cpuMs.nats ?? 0) + (p.cpuMs.postgres ?? 0)) / Math.max(1, p.answered);
  return [ms(own), p.consumers ? ms(own + infra) : undefined];
}

/** The load generator's share of one core: near 100% means it, not the target, set the pace. */
const generator = (p: LlmPhase) => `${Math.round(((p.cpuMs.bench ?? 0) / Math.max(1, p.elapsedMs)) * 100)}%`;

const memory = (p: LlmPhase) => [mb(p.rssMb?.peak), p.rssMb ? ((Math.max(0, p.rssMb.peak - p.rssMb.before) * 1000) / p.level).toFixed(1) : undefined];

const rows = (p: LlmPhase) => {
  const c = p.consumers;
  if (!c) return undefined;
  return c.caughtUp ? `yes (${(c.catchUpMs / 1000).toFixed(1)} s)` : `NO (${c.auditRows} audit, ${c.usageRows} usage of ${c.requests})`;
};

export function formatLlm(results: BenchResults, upstreamLatencyMs: number): string {
  const t = results.targets;
  const names = Object.keys(t) as TargetName[];
  const phases = (kind: LlmPhase['kind']) => names.flatMap((n) => (t[n]?.llm ?? []).filter((p) => p.kind === kind).map((p) => ({ n, p })));
  const floorOf = (p: LlmPhase) => t.floor?.llm?.find((f) => f.kind === p.kind && f.level === p.level);
  const out: string[] = [];

  const calls = phases('calls');
  if (calls.length) {
    out.push(
      `Non-streaming calls held in flight, answered after ${upstreamLatencyMs} ms ("of ideal": req/s against in-flight ÷ that delay)`,
      table(
        [
          'calls',
          'in flight',
          'req/s',
          'of ideal',
          'vs floor',
          'p50 ms',
          'p99 ms',
          '+p50 vs floor',
          '+p99 vs floor',
          'errors/non-2xx',
          'CPU ms/req',
          '(+NATS+PG)',
          'generator CPU',
          'RSS MB',
          'MB per 1k in flight',
          'audit+usage rows',
        ],
        calls.map(({ n, p }) => {
          const c = p.calls!;
          const floor = floorOf(p)?.calls;
          const ideal = (p.level * 1000) / upstreamLatencyMs;
          return [
            n,
            p.level,
            c.rps,
            `${((c.rps / ideal) * 100).toFixed(0)}%`,
            floor && n !== 'floor' ? `${(c.rps / Math.max(1, floor.rps)).toFixed(2)}×` : undefined,
            ms(c.latencyMs.p50),
            ms(c.latencyMs.p99),
            n === 'floor' ? undefined : plus(c.latencyMs.p50, floor?.latencyMs.p50),
            n === 'floor' ? undefined : plus(c.latencyMs.p99, floor?.latencyMs.p99),
            `${c.errors}/${c.non2xx}`,
            ...cpuPerAnswer(p, n),
            generator(p),
            ...memory(p),
            rows(p),
          ];
        }),
      ),
    );
  }
  const streams = phases('streams');
  if (streams.length) {
    out.push(
      '',
      'Streams, all open at once (TTFC: from the request to the first byte of the stream)',
      table(
        [
          'streams',
          'count',
          'complete',
          'failed',
          'chunks lost',
          'max open',
          'TTFC p50',
          'TTFC p99',
          '+TTFC p50 vs floor',
          '+TTFC p99 vs floor',
          'length p50 ms',
          'CPU ms/stream',
          '(+NATS+PG)',
          'generator CPU',
          'RSS MB',
          'MB per 1k in flight',
          'audit+usage rows',
        ],
        streams.map(({ n, p }) => {
          const s = p.streams!;
          const floor = floorOf(p)?.streams;
          return [
            n,
            p.level,
            s.complete,
            s.failed,
            s.chunksLost,
            s.maxOpen,
            ms(s.ttfbMs.p50),
            ms(s.ttfbMs.p99),
            n === 'floor' ? undefined : plus(s.ttfbMs.p50, floor?.ttfbMs.p50),
            n === 'floor' ? undefined : plus(s.ttfbMs.p99, floor?.ttfbMs.p99),
            ms(s.durationMs.p50),
            ...cpuPerAnswer(p, n),
            generator(p),
            ...memory(p),
            rows(p),
          ];
        }),
      ),
    );
  }
  const all = [...calls, ...streams];
  if (all.length) {
    const procs = [...new Set(all.flatMap(({ p }) => Object.keys(p.cpuMs)))];
    out.push(
      '',
      table(
        ['CPU ms per answer', 'phase', ...procs],
        all.map(({ n, p }) => [
          n,
          `${p.kind} ${p.level}`,
          ...procs.map((proc) => (p.cpuMs[proc] === undefined ? undefined : (p.cpuMs[proc]! / Math.max(1, p.answered)).toFixed(3))),
        ]),
      ),
    );
  }
  const errors = all.map(({ n, p }) => [n, p, p.calls?.firstError ?? p.streams?.firstError] as const).filter(([, , e]) => e);
  for (const [n, p, e] of errors) out.push(`${n}, ${p.kind} ${p.level}: first error: ${e}`);
  out.push(...formatProfiles(results));
  for (const n of names) if (t[n]?.error) out.push('', `${n} failed: ${t[n]!.error}`);
  return out.join('\n');
}
