import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BUF = join(REPO, 'node_modules', '.bin', 'buf');

function files(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else found.set(relative(dir, path), readFileSync(path, 'utf8'));
    }
  };
  walk(dir);
  return found;
}

// services/gen is generated from proto/ by `npm run proto`; a change to either
// alone must fail CI.
describe('contracts in proto/', () => {
  it('pass buf lint', async () => {
    await promisify(execFile)(BUF, ['lint', 'proto'], { cwd: REPO });
  });

  it('match the committed generated code exactly', async () => {
    const out = mkdtempSync(join(tmpdir(), 'gw-proto-'));
    await promisify(execFile)(BUF, ['generate', 'proto', '--template', 'proto/buf.gen.yaml', '-o', out], { cwd: REPO });
    const fresh = files(join(out, 'services', 'gen'));
    const committed = files(join(REPO, 'services', 'gen'));
    expect([...committed.keys()].sort()).toEqual([...fresh.keys()].sort());
    for (const [path, text] of fresh) expect(committed.get(path), `services/gen/${path} is stale: run npm run proto`).toBe(text);
  });
});
