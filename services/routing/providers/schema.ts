import { z } from 'zod';

/** Fields every provider entry has. */
export const providerBase = {
  models: z.array(z.string().min(1)).default([]).describe('Models listed by /v1/models as <provider>/<model>; any model name is forwarded.'),
  maxConnections: z.number().int().positive().default(256).describe('Keep-alive connections to this provider.'),
};

/** One API key, or several to rotate through when one is rate limited (429) or refused (401, 402). */
export const credentialSchema = {
  apiKey: z.string().default('').describe('API key (secret); use ${ENV_VAR} substitution.'),
  apiKeys: z.array(z.string().min(1)).default([]).describe('Several API keys (secret), tried in turn on 401, 402 and 429.'),
};

export function credentialsOf(config: { apiKey: string; apiKeys: string[] }): string[] {
  return [...(config.apiKey ? [config.apiKey] : []), ...config.apiKeys];
}
