import { linkSync, mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes a secret the gateway generates (an owner token, a chain key) into its file, mode 0600, unless the file
 * exists: written whole under a name of its own, then linked into place, which fails if the file exists. Processes
 * starting on one data folder at once (workers) all keep the first one's value, and none reads a half-written file.
 * True when this process made it.
 */
export function writeOnce(file: string, content: string): boolean {
  mkdirSync(dirname(file), { recursive: true });
  const draft = `${file}.${process.pid}`;
  writeFileSync(draft, content, { mode: 0o600 });
  try {
    linkSync(draft, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  } finally {
    unlinkSync(draft);
  }
}
