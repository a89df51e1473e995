import { createHmac } from 'node:crypto';
import type { Actor } from '../../gen/gateway/v1/common.js';
import type { Secret } from '../secrets/store.js';
import { customDetectors, type CustomDetectorConfig } from './custom.js';
import { PERSONAL_DATA_DETECTORS } from './detectors.js';
import { type CallerScope, DATA_CLASSES, type DataClass, DETECTOR_GROUPS, policiesFor, type StorageConfig, type Treatment } from './policy.js';
import { scan, type Detector } from './scan.js';
import { SECRET_DETECTORS } from './secrets.js';

/**
 * The redaction policy for what the gateway keeps or sends on (events, and so
 * audit rows and SIEM output; cache entries): per data class, keep, redact,
 * hash or drop, per tenant. Applied where the content enters a record, so
 * everything downstream (the bus, the audit chain, metering, SIEM sinks)
 * only ever holds the stored form. docs/guardrails.md, "What the gateway keeps".
 */

/** From least to most withheld: where policies disagree, the later wins. */
const TREATMENTS: readonly Treatment[] = ['keep', 'redact', 'hash', 'drop'];

/** A value as stored when its class is hashed; also what an auditor asks for to find it (POST /admin/audit/hash). */
export const hashedValue = (key: Secret, text: string) => `hmac-sha256:${createHmac('sha256', key.value).update(text).digest('hex')}`;

/** What a caller's storage policies do to each data class. */
export class StorageRule {
  constructor(
    /** The policies that applied, in attachment order: an audit row says which. */
    readonly policies: readonly string[],
    private readonly treatments: Readonly<Record<DataClass, Treatment>>,
    private readonly detectors: readonly Detector[],
    private readonly hashKey: Secret | undefined,
  ) {}

  treatmentOf(dataClass: DataClass): Treatment {
    return this.treatments[dataClass];
  }

  /** A text as it may be stored ('' when dropped; an empty text stays empty). */
  text(dataClass: DataClass, text: string): string {
    if (text === '') return text;
    switch (this.treatments[dataClass]) {
      case 'keep':
        return text;
      case 'drop':
        return '';
      case 'hash':
        return hashedValue(this.hashKey!, text);
      case 'redact':
        return this.redact(text);
    }
  }

  /** A JSON text as it may be stored: redacting replaces values inside its strings, so it stays JSON. */
  json(dataClass: DataClass, json: string): string {
    if (json === '' || this.treatments[dataClass] !== 'redact') return this.text(dataClass, json);
    try {
      return JSON.stringify(this.redactTree(JSON.parse(json)));
    } catch {
      return this.redact(json);
    }
  }

  private redact(text: string): string {
    let out = '';
    let at = 0;
    for (const { detector, start, end } of scan(text, this.detectors)) {
      out += `${text.slice(at, start)}[REDACTED:${detector}]`;
      at = end;
    }
    return out + text.slice(at);
  }

  private redactTree(value: unknown): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (Array.isArray(value)) return value.map((item) => this.redactTree(item));
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactTree(v)]));
    return value;
  }
}

/** Every caller's storage rule, from the configured policies and attachments. */
export class StoragePolicies {
  private readonly rules = new Map<string, StorageRule | undefined>();
  private readonly detectors: ReadonlyMap<string, Detector>;
  private readonly groups: Record<string, readonly string[]>;
  private readonly none: boolean;

  constructor(
    private readonly config: StorageConfig,
    custom: readonly CustomDetectorConfig[],
    private readonly hashKey: Secret | undefined,
  ) {
    const own = customDetectors(custom);
    this.detectors = new Map([...PERSONAL_DATA_DETECTORS, ...SECRET_DETECTORS, ...own].map((d) => [d.id, d]));
    this.groups = { ...DETECTOR_GROUPS, custom: own.map((d) => d.id) };
    // The config is checked: no policy, nothing can be attached.
    this.none = Object.keys(config.policies).length === 0;
  }

  /** The rule of a request's caller (its key, team and customer). */
  forActor(actor: Actor | undefined): StorageRule | undefined {
    return this.forCaller({ keyId: actor?.keyId ?? '', teamId: actor?.teamId ?? '', customerId: actor?.customerId ?? '' });
  }

  /** The caller's rule; undefined when no storage policy applies (everything is kept as it came). */
  forCaller(scope: CallerScope): StorageRule | undefined {
    // Every request asks: without any policy (the default) it costs nothing more.
    if (this.none) return undefined;
    const names = policiesFor(this.config.attach, scope);
    const key = names.join('\n');
    if (!this.rules.has(key)) this.rules.set(key, names.length > 0 ? this.build(names) : undefined);
    return this.rules.get(key);
  }

  private build(names: string[]): StorageRule {
    const policies = names.map((name) => this.config.policies[name]!);
    const strictest = (dataClass: DataClass) =>
      policies.map((p) => p[dataClass]).reduce((a, b) => (TREATMENTS.indexOf(b) > TREATMENTS.indexOf(a) ? b : a), 'keep' as Treatment);
    const treatments = Object.fromEntries(DATA_CLASSES.map((c) => [c, strictest(c)])) as Record<DataClass, Treatment>;
    const ids = new Set(policies.flatMap((p) => p.detectors.flatMap((id) => this.groups[id] ?? [id])));
    return new StorageRule(
      names,
      treatments,
      [...ids].map((id) => this.detectors.get(id)!),
      this.hashKey,
    );
  }
}
