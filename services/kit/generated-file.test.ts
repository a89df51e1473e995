import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('./generated-file.ts', import.meta.url));

// Workers start on one data folder at once: each must end with the same whole secret, as a real race has them.
describe('a generated secret written once', () => {
  it('gives processes racing to make it one whole value, readable by its owner only', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'gw-once-')), 'nested', 'secret');
    const script = `import { writeOnce } from ${JSON.stringify(MODULE)}; import { readFileSync } from 'node:fs';
      const made = writeOnce(${JSON.stringify(file)}, 'value-' + process.pid + '-' + 'x'.repeat(100000) + '\\n');
      process.stdout.write(JSON.stringify({ made, read: readFileSync(${JSON.stringify(file)}, 'utf8').length }));`;
    const runs = await Promise.all(
      Array.from({ length: 6 }, () =>
        promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]).then(
          (r) => JSON.parse(r.stdout) as { made: boolean; read: number },
        ),
      ),
    );
    const whole = readFileSync(file, 'utf8');
    expect(runs.filter((r) => r.made)).toHaveLength(1);
    expect(runs.every((r) => r.read === whole.length)).toBe(true);
    expect(whole).toMatch(/^value-\d+-x{100000}\n$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(file, '..'))).toEqual(['secret']);
  });
});
