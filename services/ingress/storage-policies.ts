import type { AdminEntry } from '../gen/gateway/v1/admin_entries.js';
import type { Actor } from '../gen/gateway/v1/common.js';
import {
  type GuardrailsConfig,
  NO_ADMIN_POLICIES,
  type StorageConfig,
  StoragePolicies,
  type StorageRule,
  withAdminGuardrails,
} from '../kit/guardrails/index.js';
import type { Logger } from '../kit/log.js';
import type { Secret } from '../kit/secrets/store.js';

/**
 * An error message as records may keep it. A provider's can quote
 * what the caller sent (a refused value, part of a prompt), so it is stored as
 * the caller's prompts are; a record cannot tell it from the gateway's own,
 * which hold no values (docs/guardrails.md, "What the gateway keeps").
 */
export const storedErrorMessage = (rule: StorageRule | undefined, message: string) => (rule && message ? rule.text('prompt', message) : message);

/** The policy every caller's records are kept under until the admin API's policies have been read: nothing kept. */
export const UNREAD_POLICY = 'storage-policies-unread';
const WITHHOLD_ALL: StorageConfig = {
  policies: { [UNREAD_POLICY]: { detectors: ['personal_data'], prompt: 'drop', completion: 'drop', toolArguments: 'drop', metadata: 'drop' } },
  attach: { global: [UNREAD_POLICY], customers: {}, teams: {}, keys: {} },
};

/**
 * What records keep of each caller's content (guardrails.storage): the config
 * file's storage policies with those of the admin API, swapped in as one when
 * they change. Ingress reads the admin API's from routing (StorageEntries),
 * which checked them against the same config file before it stored them, and
 * reads them again on each of their admin events (docs/guardrails.md). Until
 * the first read succeeds (routing not yet reachable) nothing is kept: a policy
 * of the admin API may withhold what the file's would keep.
 */
export class IngressStoragePolicies {
  private current: StoragePolicies;
  private read = false;

  constructor(
    private readonly file: GuardrailsConfig,
    private readonly hashKey: Secret | undefined,
    private readonly log: Logger,
  ) {
    this.current = new StoragePolicies(WITHHOLD_ALL, [], undefined);
  }

  /** Whether the admin API's policies have been read once (ingress is ready only then). */
  get known(): boolean {
    return this.read;
  }

  /** The rule of a request's caller; undefined when no storage policy applies. */
  forActor(actor: Actor | undefined): StorageRule | undefined {
    return this.current.forActor(actor);
  }

  /** Makes the admin API's storage policies and attachments apply with the file's; throws, keeping the current ones, if they cannot. */
  apply(entries: readonly AdminEntry[]): void {
    const named = (kind: string) => Object.fromEntries(entries.filter((e) => e.kind === kind).map((e) => [e.name, JSON.parse(e.entryJson) as unknown]));
    const storage = { policies: named('guardrail_storage_policy'), attachments: named('guardrail_storage_attachment') };
    const { config, problems } = withAdminGuardrails(this.file, { ...NO_ADMIN_POLICIES, storage });
    if (!config) throw new Error(`storage policies from the admin API were not applied: ${problems.join('; ')}`);
    this.current = new StoragePolicies(config.storage, config.custom, this.hashKey);
    this.read = true;
    this.log.info({ policies: Object.keys(storage.policies), attachments: Object.keys(storage.attachments) }, 'applied storage policies from the admin API');
  }
}
