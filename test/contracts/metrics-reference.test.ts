import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Every gateway_* metric the services register: `name: 'gateway_…'` in a metric's options, or readOnScrape's name. */
function registeredMetrics(): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) {
        if (entry !== 'gen') walk(path);
      } else if (path.endsWith('.ts') && !path.endsWith('.test.ts')) {
        const source = readFileSync(path, 'utf8');
        for (const m of source.matchAll(/name:\s*'(gateway_[a-z_]+)'/g)) names.add(m[1]!);
        for (const m of source.matchAll(/readOnScrape\(\s*[^,]+,\s*'(gateway_[a-z_]+)'/g)) names.add(m[1]!);
      }
    }
  };
  walk(join(REPO, 'services'));
  return names;
}

/** The names in the first column of the metrics table of docs/metrics.md. */
function documentedMetrics(): Set<string> {
  const text = readFileSync(join(REPO, 'docs', 'metrics.md'), 'utf8');
  return new Set([...text.matchAll(/^\| `(gateway_[a-z_]+)` \|/gm)].map((m) => m[1]!));
}

// Operators alert on these names. docs/metrics.md is generated from a running gateway's registry; this reads the
// source, so a metric registered only in some configuration (SIEM sinks, MCP, workers) is not left out of it either.
describe('the metrics reference in docs/metrics.md', () => {
  it('lists every metric the services register, and only those', () => {
    const registered = registeredMetrics();
    expect(registered.size).toBeGreaterThan(30);
    expect([...registered].filter((name) => !documentedMetrics().has(name)).sort()).toEqual([]);
    expect([...documentedMetrics()].filter((name) => !registered.has(name)).sort()).toEqual([]);
  });
});
