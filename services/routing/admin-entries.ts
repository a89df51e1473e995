import type {
  AdminEntry,
  ListAdminEntriesRequest,
  ListAdminEntriesResponse,
  PutAdminEntryRequest,
  PutAdminEntryResponse,
  RemoveAdminEntryRequest,
  RemoveAdminEntryResponse,
} from '../gen/gateway/v1/admin_entries.js';
import type { Database, Queryable } from '../kit/db/types.js';
import { GatewayError } from '../kit/errors.js';
import type { AdminGuardrails } from '../kit/guardrails/index.js';
import type { RoutingGuardrails } from './guardrails.js';
import type { AdminEntries, LiveRouting } from './live.js';
import type { McpPins } from './mcp/hub.js';

const KINDS = ['provider', 'model', 'mcp', 'guardrail_policy', 'guardrail_attachment', 'guardrail_storage_policy', 'guardrail_storage_attachment'] as const;

/** What ingress reads (StorageEntries): it applies the storage policies where content enters a record. */
export const STORAGE_KINDS = ['guardrail_storage_policy', 'guardrail_storage_attachment'] as const;
type Kind = (typeof KINDS)[number];

interface Row {
  kind: Kind;
  name: string;
  entry: unknown;
  updated_at: Date | string;
}

const SELECT = 'SELECT kind, name, entry, updated_at FROM routing_admin_entries';

const entryOf = (row: Row): AdminEntry => ({
  kind: row.kind,
  name: row.name,
  entryJson: JSON.stringify(row.entry),
  updatedAtMs: new Date(row.updated_at).getTime(),
});

function kindOf(kind: string): Kind {
  if (!KINDS.includes(kind as Kind)) throw new GatewayError('invalid_request', `No admin-managed entries of kind "${kind}": ${KINDS.join(', ')}.`);
  return kind as Kind;
}

/** What routing applies of the stored rows, each kind keyed by name: providers and models, MCP servers' pinned tool hashes, guardrails. */
interface Applicable {
  entries: AdminEntries;
  pins: McpPins;
  guardrails: AdminGuardrails;
}

function applicable(rows: Row[]): Applicable {
  const named = (kind: Kind) => Object.fromEntries(rows.filter((r) => r.kind === kind).map((r) => [r.name, r.entry]));
  const approvals = named('mcp') as Record<string, { pins: Record<string, string> }>;
  return {
    entries: { providers: named('provider'), models: named('model') },
    pins: Object.fromEntries(Object.entries(approvals).map(([server, approval]) => [server, approval.pins])),
    guardrails: {
      policies: named('guardrail_policy'),
      attachments: named('guardrail_attachment'),
      storage: { policies: named('guardrail_storage_policy'), attachments: named('guardrail_storage_attachment') },
    },
  };
}

/**
 * Providers, models, MCP approvals and guardrails added through the admin
 * API, in routing's own table. A provider, model or guardrail change is checked with the rest
 * against the config file before it is stored, and writes take turns (a lock
 * of the table), so two admins' changes cannot together make a set no
 * replica could apply. Replicas apply what is stored when they hear the
 * change's admin event (load()).
 */
export class AdminEntryStore {
  constructor(
    private readonly db: Database,
    private readonly live: LiveRouting,
    private readonly guardrails: RoutingGuardrails,
  ) {}

  async load(): Promise<Applicable> {
    return applicable((await this.db.query<Row>(SELECT)).rows);
  }

  async list(request: ListAdminEntriesRequest): Promise<ListAdminEntriesResponse> {
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE kind = $1 ORDER BY name`, [kindOf(request.kind)]);
    return { entries: rows.map(entryOf) };
  }

  /** The storage policies and attachments, for ingress (StorageEntries). */
  async storage(): Promise<ListAdminEntriesResponse> {
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE kind = ANY($1) ORDER BY kind, name`, [STORAGE_KINDS]);
    return { entries: rows.map(entryOf) };
  }

  async put(request: PutAdminEntryRequest): Promise<PutAdminEntryResponse> {
    const kind = kindOf(request.kind);
    let entry: unknown;
    try {
      entry = JSON.parse(request.entryJson);
    } catch {
      throw new GatewayError('invalid_request', `The ${kind} is not valid JSON.`);
    }
    return this.db.transaction(async (tx) => {
      const before = await this.checked(tx, kind, request.name, entry);
      const { rows } = await tx.query<Row>(
        `INSERT INTO routing_admin_entries (kind, name, entry, updated_at) VALUES ($1, $2, $3::jsonb, now())
         ON CONFLICT (kind, name) DO UPDATE SET entry = EXCLUDED.entry, updated_at = EXCLUDED.updated_at
         RETURNING kind, name, entry, updated_at`,
        [kind, request.name, request.entryJson],
      );
      return { before: before && entryOf(before), after: entryOf(rows[0]!) };
    });
  }

  async remove(request: RemoveAdminEntryRequest): Promise<RemoveAdminEntryResponse> {
    const kind = kindOf(request.kind);
    return this.db.transaction(async (tx) => {
      if (!(await this.checked(tx, kind, request.name, undefined))) return { removed: undefined };
      const { rows } = await tx.query<Row>('DELETE FROM routing_admin_entries WHERE kind = $1 AND name = $2 RETURNING kind, name, entry, updated_at', [
        kind,
        request.name,
      ]);
      return { removed: rows[0] && entryOf(rows[0]) };
    });
  }

  /**
   * Takes the table's write turn, then runs the set the change would leave
   * (`entry` undefined: without the named one) past the config file; refuses
   * it with every problem named. Returns the entry as it is now.
   */
  private async checked(tx: Queryable, kind: Kind, name: string, entry: unknown): Promise<Row | undefined> {
    await tx.query('LOCK TABLE routing_admin_entries IN SHARE ROW EXCLUSIVE MODE');
    const { rows } = await tx.query<Row>(SELECT);
    const current = rows.find((r) => r.kind === kind && r.name === name);
    if (kind === 'mcp' || (entry === undefined && !current)) return current;
    const others = rows.filter((r) => r.kind !== kind || r.name !== name);
    const after = applicable(entry === undefined ? others : [...others, { kind, name, entry, updated_at: new Date() }]);
    const problems = kind.startsWith('guardrail_') ? this.guardrails.check(after.guardrails) : await this.live.check(after.entries);
    if (problems.length > 0)
      throw new GatewayError(
        'invalid_request',
        `The ${kind.replaceAll('_', ' ')} cannot be ${entry === undefined ? 'removed' : 'saved'}: ${problems.join('; ')}`,
      );
    return current;
  }
}
