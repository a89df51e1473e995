import { readFile, rename, writeFile } from 'node:fs/promises';
import type { Logger } from '../log.js';
import { VaultClient, type VaultSettings } from './vault.js';

/** A secret's current value; a watched one changes when its source does. */
export interface Secret {
  readonly value: string;
}

/** What adapters need of a secret store: the current secret for a config value. */
export interface SecretLookup {
  get(value: string): Secret;
}

/** Secrets the gateway itself keeps (e.g. OAuth tokens it obtained), at a file: or vault: reference. */
export interface SecretKeeper {
  /** The stored value, or undefined when there is none yet. */
  load(reference: string): Promise<string | undefined>;
  save(reference: string, value: string): Promise<void>;
}

/** Config values taken as they are (tests, and configs without references). */
export const LITERAL_SECRETS: SecretLookup = { get: (value) => ({ value }) };

export interface SecretsSettings {
  refreshSeconds: number;
  vault: VaultSettings;
}

const REFERENCE = /^(env|file|vault):(.+)$/;

/** Whether a config value names a secret source rather than being the secret itself. */
export function isSecretReference(value: string): boolean {
  return REFERENCE.test(value);
}

/**
 * Secrets in config are either the value itself or a reference resolved here:
 * `env:NAME`, `file:/path/to/file` (trimmed), or `vault:<mount>/<path>#<field>`
 * (HashiCorp Vault KV v2). References are read at start and again every
 * refreshSeconds, so a rotated secret is used without a restart. One interface,
 * so other stores (AWS Secrets Manager, Google Secret Manager, Azure Key Vault)
 * can be added as further schemes.
 */
export class SecretStore implements SecretLookup, SecretKeeper {
  private readonly watched = new Map<string, { value: string }>();
  private readonly vault: VaultClient | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: SecretsSettings,
    private readonly log: Logger,
  ) {
    this.vault = settings.vault.address ? new VaultClient(settings.vault) : undefined;
  }

  /** Reads every reference once, failing with the reference named when one cannot be read. */
  async prepare(values: Iterable<string>): Promise<void> {
    for (const value of values) {
      if (!isSecretReference(value) || this.watched.has(value)) continue;
      try {
        this.watched.set(value, { value: await this.read(value) });
      } catch (err) {
        throw new Error(`secret ${value} cannot be read: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!this.timer && this.watched.size > 0) {
      this.timer = setInterval(() => void this.refresh(), this.settings.refreshSeconds * 1000);
      this.timer.unref();
    }
  }

  /** The secret for a config value: a literal is itself; a reference must have been prepared. */
  get(value: string): Secret {
    if (!isSecretReference(value)) return { value };
    const watched = this.watched.get(value);
    if (!watched) throw new Error(`secret ${value} was not prepared`);
    return watched;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Re-reads every reference; a source that fails keeps the last value (and says so). */
  async refresh(): Promise<void> {
    for (const [reference, holder] of this.watched) {
      try {
        const value = await this.read(reference);
        if (value !== holder.value) {
          holder.value = value;
          this.log.info({ secret: reference }, 'secret rotated');
        }
      } catch (err) {
        this.log.warn({ secret: reference, reason: (err as Error).message }, 'secret refresh failed; keeping the last value');
      }
    }
  }

  async load(reference: string): Promise<string | undefined> {
    try {
      return await this.read(reference);
    } catch (err) {
      // Nothing stored yet is normal before the first save; any other failure is the caller's to report.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || /answered 404/.test((err as Error).message)) return undefined;
      throw err;
    }
  }

  async save(reference: string, value: string): Promise<void> {
    const [, scheme, rest] = REFERENCE.exec(reference) ?? [];
    if (scheme === 'file') {
      // Written beside and renamed over, so a reader never sees half a secret; readable by the gateway's user only.
      await writeFile(`${rest}.tmp`, value, { mode: 0o600 });
      await rename(`${rest}.tmp`, rest!);
      return;
    }
    if (scheme !== 'vault' || !this.vault)
      throw new Error(`cannot write a secret to ${reference}: use file:<path> or vault:<mount>/<path>#<field> (with secrets.vault set)`);
    const { mount, path, field } = vaultPath(rest!);
    await this.vault.write(mount, path, field, value);
  }

  private async read(reference: string): Promise<string> {
    const [, scheme, rest] = REFERENCE.exec(reference)!;
    if (scheme === 'env') {
      const value = process.env[rest!];
      if (value === undefined) throw new Error(`environment variable ${rest} is not set`);
      return value;
    }
    if (scheme === 'file') return (await readFile(rest!, 'utf8')).trim();
    if (!this.vault) throw new Error('secrets.vault.address is not set');
    const { mount, path, field } = vaultPath(rest!);
    return this.vault.read(mount, path, field);
  }
}

function vaultPath(rest: string): { mount: string; path: string; field: string } {
  const hash = rest.lastIndexOf('#');
  const slash = rest.indexOf('/');
  if (hash < 0 || slash < 0) throw new Error('expected vault:<mount>/<path>#<field>');
  return { mount: rest.slice(0, slash), path: rest.slice(slash + 1, hash), field: rest.slice(hash + 1) };
}

/** A secret reference's value, or an error that names the config key it came from. */
export async function secretOf(secrets: SecretStore, value: string, key: string): Promise<string> {
  try {
    await secrets.prepare([value]);
    return secrets.get(value).value;
  } catch (err) {
    throw new Error(`${key}: ${(err as Error).message}`, { cause: err });
  }
}

/** Every string in a config tree, to find the secret references in it. */
export function stringsIn(tree: unknown): string[] {
  if (typeof tree === 'string') return [tree];
  if (Array.isArray(tree)) return tree.flatMap(stringsIn);
  if (tree && typeof tree === 'object') return Object.values(tree).flatMap(stringsIn);
  return [];
}
