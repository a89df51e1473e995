import { createHash } from 'node:crypto';
import { z } from 'zod';
import { LITERAL_SECRETS, type Secret, type SecretLookup } from '../../kit/secrets/store.js';

/** Fields every provider entry has. */
export const providerBase = {
  models: z.array(z.string().min(1)).default([]).describe('Models listed by /v1/models as <provider>/<model>; any model name is forwarded.'),
  maxConnections: z
    .number()
    .int()
    .positive()
    .optional()
    .describe(
      'A cap on connections to this provider per routing process, so on calls in flight (one per connection): calls past it wait in the gateway, counted in gateway_provider_calls{state="queued"}. Unset: no cap, as many keep-alive connections as calls in flight.',
    ),
};

/** One API key, or several to rotate through when one is rate limited (429) or refused (401, 402). */
export const credentialSchema = {
  apiKey: z.string().default('').describe('API key (secret): the value, or a reference env:NAME, file:/path or vault:<mount>/<path>#<field>.'),
  apiKeys: z.array(z.string().min(1)).default([]).describe('Several API keys (secret), tried in turn on 401, 402 and 429.'),
};

/**
 * A provider's API keys, read at each request, so a key rotated in its secret
 * store is used without a restart. A provider with no key has one empty key.
 */
export class KeyRing {
  private readonly secrets: Secret[];

  constructor(values: string[], lookup: SecretLookup) {
    this.secrets = values.length > 0 ? values.map((v) => lookup.get(v)) : [{ value: '' }];
  }

  get size(): number {
    return this.secrets.length;
  }

  /** The last fingerprint made of each credential, and of which value: a request takes one, and values seldom change. */
  private readonly stamps: ({ value: string; stamp: string } | undefined)[] = [];

  /** A fingerprint of credential i's current value (not the value). */
  stamp(credential: number): string {
    const index = credential % this.secrets.length;
    const value = this.secrets[index]!.value;
    const last = this.stamps[index];
    if (last?.value === value) return last.stamp;
    const stamp = createHash('sha256').update(value).digest('base64url').slice(0, 16);
    this.stamps[index] = { value, stamp };
    return stamp;
  }

  /** The current value of credential i (wrapping around). */
  at(credential: number): string {
    return this.secrets[credential % this.secrets.length]!.value;
  }
}

/** What adapters keyed by API keys share: rotation through the ring, and the fingerprints routing reads. */
export abstract class KeyedAdapter {
  protected constructor(protected readonly keys: KeyRing) {}

  get credentialCount(): number {
    return this.keys.size;
  }

  credentialStamp(credential: number): string {
    return this.keys.stamp(credential);
  }

  /** Headers carrying credential i's current key (none when the provider takes no key). */
  protected keyHeaders(credential: number, auth: (key: string) => Record<string, string>): Record<string, string> {
    const key = this.keys.at(credential);
    return key ? auth(key) : {};
  }
}

export function credentialsOf(config: { apiKey: string; apiKeys: string[] }, lookup: SecretLookup = LITERAL_SECRETS): KeyRing {
  return new KeyRing([...(config.apiKey ? [config.apiKey] : []), ...config.apiKeys], lookup);
}
