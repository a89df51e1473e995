/**
 * --alloc-prof: how many bytes each gateway process allocates per request at
 * saturation, and where. Unlike CPU time, this barely depends on how busy the
 * machine is, so it resolves changes too small for the throughput phases; and
 * what is allocated is what garbage collection (and its pauses) must clear.
 * The sampling itself runs in the process, from alloc-sampler.cjs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Proc } from './processes.js';
import { areaOf, frameName, type CallFrame } from './profile.js';

/** The node flag that loads the sampler into a gateway process. */
export const ALLOC_SAMPLER_ARGS = ['--require', fileURLToPath(new URL('./alloc-sampler.cjs', import.meta.url))];

interface SamplingNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SamplingNode[];
}

export interface AllocationSummary {
  file: string;
  /** Sampled bytes allocated during the throughput phase, divided by the requests it answered. */
  bytesPerRequest: number;
  topFunctions: { frame: string; bytesPerRequest: number; percent: number }[];
  byArea: { area: string; bytesPerRequest: number; percent: number }[];
}

/** Starts sampling in every process; `stop` ends it and sums each process's profile. */
export function sampleAllocations(
  procs: readonly Pick<Proc, 'name' | 'pid'>[],
  dir: string,
): { stop(requests: number): Promise<Record<string, AllocationSummary>> } {
  for (const p of procs) process.kill(p.pid, 'SIGUSR2');
  return {
    async stop(requests) {
      for (const p of procs) process.kill(p.pid, 'SIGUSR2');
      const summaries: Record<string, AllocationSummary> = {};
      for (const p of procs) {
        const file = join(dir, `${p.pid}.heapprofile`);
        for (let waited = 0; !existsSync(file); waited += 100) {
          if (waited > 30_000) throw new Error(`${p.name} wrote no allocation profile (${file})`);
          await sleep(100);
        }
        summaries[p.name] = summarizeAllocations(file, requests);
      }
      return summaries;
    },
  };
}

export function summarizeAllocations(file: string, requests: number, top = 15): AllocationSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { head?: SamplingNode; error?: string };
  if (!profile.head) throw new Error(`allocation profile ${file}: ${profile.error ?? 'no samples'}`);
  const byFrame = new Map<string, number>();
  const byArea = new Map<string, number>();
  let total = 0;
  const walk = (node: SamplingNode) => {
    if (node.selfSize > 0) {
      total += node.selfSize;
      const frame = frameName(node.callFrame);
      byFrame.set(frame, (byFrame.get(frame) ?? 0) + node.selfSize);
      const area = areaOf(node.callFrame.url, node.callFrame.functionName);
      byArea.set(area, (byArea.get(area) ?? 0) + node.selfSize);
    }
    node.children.forEach(walk);
  };
  walk(profile.head);
  const perRequest = (bytes: number) => Math.round(bytes / Math.max(1, requests));
  const rank = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, bytes]) => ({ name, bytesPerRequest: perRequest(bytes), percent: Number(((bytes / total) * 100).toFixed(1)) }));
  return {
    file,
    bytesPerRequest: perRequest(total),
    topFunctions: rank(byFrame, top).map(({ name, ...rest }) => ({ frame: name, ...rest })),
    byArea: rank(byArea, 10).map(({ name, ...rest }) => ({ area: name, ...rest })),
  };
}
