import type { Database } from '../../kit/db/types.js';
import { asBuffer, asDate, asNumber, Table, type Column } from './table.js';
import type { Budget, Customer, RateLimits, Team, VirtualKey } from './entities.js';

const json = { toDb: (value: object) => JSON.stringify(value) };
const MISS_TTL_MS = 5_000;
const MAX_LOOKUPS_PER_SECOND = 50;
const hexOf = (hash: Uint8Array) => Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex');

const rateColumns = <T extends RateLimits>(): Column<T>[] => [
  { field: 'rpmLimit', column: 'rpm_limit' },
  { field: 'tpmLimit', column: 'tpm_limit' },
  { field: 'maxParallel', column: 'max_parallel' },
  { field: 'rateWindowSeconds', column: 'rate_window_seconds' },
];

/**
 * Every governance entity, in memory and in PostgreSQL. The request path only
 * reads memory; admin changes write through and, by event, make every other
 * replica reload what changed.
 */
export class Directory {
  readonly customers: Table<Customer>;
  readonly teams: Table<Team>;
  readonly keys: Table<VirtualKey>;
  readonly budgets: Table<Budget>;
  private readonly byHash = new Map<string, VirtualKey>();
  private readonly misses = new Map<string, number>();
  private lookupWindow = { start: 0, count: 0 };

  constructor(db: Database) {
    this.customers = new Table<Customer>(db, 'customers', [
      { field: 'id', column: 'id' },
      { field: 'name', column: 'name' },
      { field: 'metadata', column: 'metadata', ...json },
      { field: 'createdAt', column: 'created_at', fromDb: asDate },
    ]);
    this.teams = new Table<Team>(db, 'teams', [
      { field: 'id', column: 'id' },
      { field: 'name', column: 'name' },
      { field: 'customerId', column: 'customer_id' },
      { field: 'metadata', column: 'metadata', ...json },
      { field: 'createdAt', column: 'created_at', fromDb: asDate },
      ...rateColumns<Team>(),
    ]);
    this.keys = new Table<VirtualKey>(
      db,
      'virtual_keys',
      [
        { field: 'id', column: 'id' },
        { field: 'name', column: 'name' },
        { field: 'keyHash', column: 'key_hash', fromDb: asBuffer },
        { field: 'teamId', column: 'team_id' },
        { field: 'customerId', column: 'customer_id' },
        { field: 'allowedModels', column: 'allowed_models' },
        { field: 'allowedTools', column: 'allowed_tools' },
        { field: 'metadata', column: 'metadata', ...json },
        { field: 'contentLogging', column: 'content_logging' },
        { field: 'cacheScope', column: 'cache_scope' },
        { field: 'toolMode', column: 'tool_mode' },
        { field: 'toolCallLimit', column: 'tool_call_limit' },
        { field: 'codeLimits', column: 'code_limits', ...json },
        { field: 'createdAt', column: 'created_at', fromDb: asDate },
        { field: 'expiresAt', column: 'expires_at', fromDb: asDate },
        { field: 'revokedAt', column: 'revoked_at', fromDb: asDate },
        ...rateColumns<VirtualKey>(),
      ],
      (before, after) => {
        if (before) this.byHash.delete(before.keyHash.toString('hex'));
        if (after) this.byHash.set(after.keyHash.toString('hex'), after);
      },
    );
    this.budgets = new Table<Budget>(db, 'budgets', [
      { field: 'id', column: 'id' },
      { field: 'scope', column: 'scope' },
      { field: 'scopeId', column: 'scope_id' },
      { field: 'limitUsd', column: 'limit_usd', fromDb: asNumber },
      { field: 'period', column: 'period' },
      { field: 'alignment', column: 'alignment' },
      { field: 'anchor', column: 'anchor', fromDb: asDate },
      { field: 'createdAt', column: 'created_at', fromDb: asDate },
    ]);
  }

  async loadAll(): Promise<void> {
    await Promise.all([this.customers.loadAll(), this.teams.loadAll(), this.keys.loadAll(), this.budgets.loadAll()]);
  }

  /** Table by the resource name used in admin events. */
  table(resource: string): { reload(id: string): Promise<void> } | undefined {
    switch (resource) {
      case 'customer':
        return this.customers;
      case 'team':
        return this.teams;
      case 'virtual_key':
        return this.keys;
      case 'budget':
        return this.budgets;
      default:
        return undefined;
    }
  }

  keyByHash(hash: Uint8Array): VirtualKey | undefined {
    return this.byHash.get(hexOf(hash));
  }

  /**
   * A key this replica has not heard of yet (made on another replica a moment
   * ago) is looked up in the database. Misses are remembered for a few seconds
   * and lookups are rationed, so random keys cannot turn into a database load.
   */
  async findNewKey(hash: Uint8Array): Promise<VirtualKey | undefined> {
    const hex = hexOf(hash);
    const now = Date.now();
    if ((this.misses.get(hex) ?? 0) > now) return undefined;
    if (now - this.lookupWindow.start >= 1000) this.lookupWindow = { start: now, count: 0 };
    if (++this.lookupWindow.count > MAX_LOOKUPS_PER_SECOND) return undefined;
    const key = await this.keys.fetchBy('key_hash', Buffer.from(hash));
    if (!key) {
      if (this.misses.size > 100_000) this.misses.clear();
      this.misses.set(hex, now + MISS_TTL_MS);
    }
    return key;
  }

  /** The customer a key answers to: its own, or its team's. */
  customerOf(key: VirtualKey): string | null {
    return key.customerId ?? (key.teamId ? (this.teams.get(key.teamId)?.customerId ?? null) : null);
  }

  budgetsFor(scope: Budget['scope'], scopeId: string | null): Budget[] {
    if (!scopeId) return [];
    return this.budgets.all().filter((b) => b.scope === scope && b.scopeId === scopeId);
  }
}
