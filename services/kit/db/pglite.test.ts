import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PGliteDatabase } from './pglite.js';

describe('embedded database (PGlite)', () => {
  let dir: string | undefined;
  afterEach(() => dir && rmSync(dir, { recursive: true, force: true }));

  it('is made with small shared buffers and keeps its data and settings across opens', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-pglite-'));
    const path = join(dir, 'pg');
    const first = await PGliteDatabase.open(path);
    const shown = async (db: PGliteDatabase) =>
      (
        await db.query<{ shared_buffers: string; TimeZone: string }>('SELECT current_setting($1) AS shared_buffers, current_setting($2) AS "TimeZone"', [
          'shared_buffers',
          'TimeZone',
        ])
      ).rows[0];
    expect(await shown(first)).toEqual({ shared_buffers: '16MB', TimeZone: 'UTC' });
    await first.exec('CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$here$$)');
    await first.close();
    const again = await PGliteDatabase.open(path);
    expect(await shown(again)).toEqual({ shared_buffers: '16MB', TimeZone: 'UTC' });
    expect((await again.query<{ v: string }>('SELECT v FROM kept')).rows).toEqual([{ v: 'here' }]);
    await again.close();
  });

  it('opens in one process at a time: a second opening names the process that holds it, and succeeds once it closed', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-pglite-'));
    const path = join(dir, 'pg');
    const first = await PGliteDatabase.open(path);
    await expect(PGliteDatabase.open(path)).rejects.toThrow(`the embedded database at ${path} is in use by process ${process.pid}`);
    await first.close();
    const again = await PGliteDatabase.open(path);
    await again.close();
  });

  it('takes over the lock of a process that ended without closing it (a crash)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'gw-pglite-'));
    const path = join(dir, 'pg');
    const gone = spawnSync(process.execPath, ['-e', '0']).pid;
    writeFileSync(`${path}.lock`, String(gone));
    const db = await PGliteDatabase.open(path);
    expect(readFileSync(`${path}.lock`, 'utf8')).toBe(String(process.pid));
    await db.close();
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});
