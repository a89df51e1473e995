/**
 * Reads a V8 CPU profile (node --cpu-prof) and sums self time by function and
 * by where the code lives (a package in node_modules, a service, Node.js
 * internals, garbage collection), for a quick look at where a process spends
 * its time without opening a flame graph.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds on the monotonic clock process.hrtime() reads too. */
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A part of a profile to sum, in microseconds of process.hrtime(): a load phase, not start-up or a catch-up. */
export interface Window {
  fromUs: number;
  toUs: number;
}

export const nowUs = () => Number(process.hrtime.bigint() / 1000n);

export interface ProfileSummary {
  file: string;
  /** Length of the windows summed (the load phases), ms. */
  windowMs?: number;
  totalMs: number;
  /** Share of samples not idle. */
  busyMs: number;
  topFunctions: { frame: string; selfMs: number; percentOfBusy: number }[];
  byArea: { area: string; selfMs: number; percentOfBusy: number }[];
  /**
   * The same time by the deepest gateway function on each sample's stack: its own time and the library and
   * Node.js work it called ("(under no gateway function)" for the rest: sockets, timers, GC).
   */
  byGatewayFunction: { frame: string; selfMs: number; percentOfBusy: number }[];
  /** The same time by whose code it is: the gateway's (services/), libraries (node_modules), Node.js, V8. */
  byOwner: { owner: string; selfMs: number; percentOfBusy: number }[];
}

/** Whose code an area is: ours, a library's, Node.js's, or V8's own (garbage collection, program, native). */
const OURS = 'gateway (services/)';

export function ownerOf(area: string): string {
  if (area.startsWith('services/')) return OURS;
  if (area === 'node (internals)') return 'Node.js internals';
  if (area.startsWith('(')) return 'V8 (gc, program, native)';
  return area.includes('/') && !area.startsWith('@') ? 'other' : 'libraries (node_modules)';
}

/** Where the code of a frame lives: node_modules/<package>, services/<service>, node:internal, or V8's own (gc, program). */
export function areaOf(url: string, name: string): string {
  if (!url) return `(${name.replace(/[()]/g, '') || 'native'})`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  const service = /\/services\/([^/]+)\//.exec(url);
  if (service) return `services/${service[1]}`;
  if (url.startsWith('node:')) return 'node (internals)';
  return url.split('/').slice(-2).join('/');
}

const maps = new Map<string, SourceMap | undefined>();

/** The TypeScript line of a frame in the benchmark's build of services/ (0-based in, 1-based out), from its source map. */
function sourceLine(url: string, line: number, column: number): number | undefined {
  if (!url.startsWith('file://') || !url.includes('/gw-bench-build-')) return undefined;
  const path = `${fileURLToPath(url)}.map`;
  if (!maps.has(path))
    maps.set(path, existsSync(path) ? new SourceMap(JSON.parse(readFileSync(path, 'utf8')) as ConstructorParameters<typeof SourceMap>[0]) : undefined);
  const entry = maps.get(path)?.findEntry(line, column) as { originalLine?: number } | undefined;
  return entry?.originalLine === undefined ? undefined : entry.originalLine + 1;
}

/** "name file:line", the file relative to node_modules or to the repository (TypeScript lines for services/). */
export function frameName(callFrame: CallFrame): string {
  const { functionName, url, lineNumber, columnNumber } = callFrame;
  const tsLine = sourceLine(url, lineNumber, columnNumber);
  const file = url
    .replace(/^file:\/\//, '')
    .replace(/^.*\/node_modules\//, '')
    .replace(/^.*\/(services\/)/, '$1');
  const where = tsLine === undefined ? `${file}:${lineNumber + 1}` : `${file.replace(/\.js$/, '.ts')}:${tsLine}`;
  return `${functionName || '(anonymous)'}${file ? ` ${where}` : ''}`;
}

export function summarizeProfile(file: string, windows?: readonly Window[], top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  /** The deepest frame of services/ on a node's stack. */
  const gatewayFrame = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const { callFrame } = byId.get(at)!;
      if (ownerOf(areaOf(callFrame.url, callFrame.functionName)) === OURS) return frameName(callFrame);
    }
    return '(under no gateway function)';
  };
  const self = new Map<number, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (!windows || windows.some((w) => at >= w.fromUs && at <= w.toUs)) self.set(id, (self.get(id) ?? 0) + delta);
  });
  const byFrame = new Map<string, number>();
  const byArea = new Map<string, number>();
  const byOwner = new Map<string, number>();
  const byGatewayFunction = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    total += us;
    if (node.callFrame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const frame = frameName(node.callFrame);
    byFrame.set(frame, (byFrame.get(frame) ?? 0) + us);
    const area = areaOf(node.callFrame.url, node.callFrame.functionName);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
    const owner = ownerOf(area);
    byOwner.set(owner, (byOwner.get(owner) ?? 0) + us);
    const caller = gatewayFrame(id);
    byGatewayFunction.set(caller, (byGatewayFunction.get(caller) ?? 0) + us);
  }
  const busy = total - idle;
  const rank = (map: Map<string, number>, n: number) =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => ({ name, selfMs: Math.round(us / 1000), percentOfBusy: Number(((us / busy) * 100).toFixed(1)) }));
  return {
    file,
    ...(windows ? { windowMs: Math.round(windows.reduce((ms, w) => ms + (w.toUs - w.fromUs) / 1000, 0)) } : {}),
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    topFunctions: rank(byFrame, top).map(({ name, ...rest }) => ({ frame: name, ...rest })),
    byArea: rank(byArea, 15).map(({ name, ...rest }) => ({ area: name, ...rest })),
    byOwner: rank(byOwner, 5).map(({ name, ...rest }) => ({ owner: name, ...rest })),
    byGatewayFunction: rank(byGatewayFunction, top).map(({ name, ...rest }) => ({ frame: name, ...rest })),
  };
}

/** The newest .cpuprofile in a folder. */
export function newestProfile(dir: string): string | undefined {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort();
  return files.length ? join(dir, files.at(-1)!) : undefined;
}
