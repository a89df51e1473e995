import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parse as fromYaml, stringify as toYaml } from 'yaml';
import { eventually, freePort } from '../harness/infra.js';

/** Debian's `prometheus` and `promtool`, or an error that says how to get them: these checks are never skipped. */
export function requirePrometheus(): void {
  for (const tool of ['prometheus', 'promtool']) {
    if (spawnSync(tool, ['--version']).error) {
      throw new Error(`${tool} is not installed: apt-get install prometheus (Debian's package has both; .ci/run installs it in CI)`);
    }
  }
}

/** Runs promtool; its exit code and everything it printed. */
export function promtool(...args: string[]): { code: number | null; out: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8' });
  return { code: run.status, out: run.stdout + run.stderr };
}

export interface QueryAnswer {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: unknown[] };
}

export interface RunningPrometheus {
  query(expr: string): Promise<QueryAnswer>;
  /** The rule groups Prometheus loaded, with each rule's health. */
  rules(): Promise<{ name: string; rules: { name: string; health: string; lastError?: string }[] }[]>;
  stop(): Promise<void>;
}

/** A Prometheus of its own (temporary config and storage, a free port) scraping `target` every second, with `ruleFiles` loaded. */
export async function startPrometheus(target: string, ruleFiles: string[]): Promise<RunningPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'gw-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    toYaml({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: ruleFiles,
      scrape_configs: [{ job_name: 'gateway', static_configs: [{ targets: [target] }] }],
    }),
  );
  const url = `http://127.0.0.1:${await freePort()}`;
  const child = spawn(
    'prometheus',
    [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=${new URL(url).host}`, '--log.level=warn'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const api = async <T>(path: string): Promise<T> => (await fetch(`${url}${path}`)).json() as Promise<T>;
  try {
    await eventually('Prometheus to be ready', async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${output}`);
      const ready = await fetch(`${url}/-/ready`).catch(() => undefined);
      return ready?.ok ? true : undefined;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    query: (expr) => api(`/api/v1/query?query=${encodeURIComponent(expr)}`),
    rules: async () => (await api<{ data: { groups: Awaited<ReturnType<RunningPrometheus['rules']>> } }>('/api/v1/rules')).data.groups,
    stop,
  };
}

/** One PromQL expression and where it comes from, for the failure message. */
export interface Query {
  where: string;
  expr: string;
}

/** What Grafana puts for its built-in variables when it runs a panel's query; any value of a dashboard's own variables. */
const GRAFANA_BUILT_INS: Record<string, string> = { __rate_interval: '1m', __interval: '15s', __range: '1h' };

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

interface Dashboard {
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

/**
 * Every query of a Grafana dashboard, as Prometheus would get it: its panels' targets, and each query variable's
 * series (`label_values(<series>, <label>)`), with variables replaced by a value that selects everything.
 */
export function dashboardQueries(file: string): Query[] {
  const dashboard = JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
  const own = new Set(dashboard.templating.list.map((v) => v.name));
  const resolve = (expr: string, where: string) =>
    expr.replace(/\$\{?(\w+)\}?/g, (_, name: string) => {
      if (own.has(name)) return '.*';
      const value = GRAFANA_BUILT_INS[name];
      if (value === undefined) throw new Error(`${where} uses $${name}, which is neither a variable of the dashboard nor one of Grafana's`);
      return value;
    });
  const queries: Query[] = [];
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) {
        const where = `${basename(file)} panel "${panel.title}"`;
        queries.push({ where, expr: resolve(target.expr, where) });
      }
      walk(panel.panels ?? []);
    }
  };
  walk(dashboard.panels);
  for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
    const where = `${basename(file)} variable $${variable.name}`;
    const query = typeof variable.query === 'string' ? variable.query : variable.query.query;
    const series = /^label_values\((.+),\s*\w+\)$/.exec(query)?.[1];
    if (!series) throw new Error(`${where}: expected label_values(<series>, <label>), got ${query}`);
    queries.push({ where, expr: resolve(series, where) });
  }
  return queries;
}

interface RuleFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string }[] }[];
}

/** An alert's expression is `<signal> <comparison> <threshold>`: the signal is what must have data while all is well. */
const THRESHOLD = /\s*(==|!=|>=|<=|>|<)\s*-?[\d.]+\s*$/;

/** Every rule's expression: a recording rule's whole, an alert's signal (its threshold cut off). */
export function ruleQueries(file: string): Query[] {
  const { groups } = fromYaml(readFileSync(file, 'utf8')) as RuleFile;
  return groups.flatMap((group) =>
    group.rules.map((rule) => {
      const where = `${basename(file)} ${rule.record ? `record ${rule.record}` : `alert ${rule.alert}`}`;
      if (rule.record) return { where, expr: rule.expr };
      if (!THRESHOLD.test(rule.expr)) throw new Error(`${where}: expected <signal> <comparison> <threshold>, got ${rule.expr}`);
      return { where, expr: rule.expr.replace(THRESHOLD, '') };
    }),
  );
}
