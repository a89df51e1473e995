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

/** The names in the first column of the metrics table of docs/operations.md. */
function documentedMetrics(): Set<string> {
  const text = readFileSync(join(REPO, 'docs', 'operations.md'), 'utf8');
  const section = text.slice(text.indexOf('## Metrics'), text.indexOf('\n## ', text.indexOf('## Metrics') + 1));
  return new Set([...section.matchAll(/^\| `(gateway_[a-z_]+)` \|/gm)].map((m) => m[1]!));
}

// Operators alert on these names: the reference must list each one the gateway can expose, and no other.
describe('the metrics reference in docs/operations.md', () => {
  it('lists every metric the services register, and only those', () => {
    const registered = registeredMetrics();
    expect(registered.size).toBeGreaterThan(30);
    expect([...registered].filter((name) => !documentedMetrics().has(name)).sort()).toEqual([]);
    expect([...documentedMetrics()].filter((name) => !registered.has(name)).sort()).toEqual([]);
  });
});
