import type { z } from 'zod';
import type { ProviderTypeName } from '../../routing/providers/catalog.js';
import type { providerConfig } from '../../routing/providers/registry.js';
import type { Report } from './report.js';
import { envName, type Values } from './values.js';

/** A provider entry as written in the gateway's YAML (defaults left to the schema). */
export type ProviderEntry = z.input<typeof providerConfig>;

type ImportedType = Exclude<ProviderTypeName, 'mock'>;
type Params = Record<string, unknown>;

export interface Prefix {
  type: ImportedType;
  /** The variable LiteLLM reads the key from when a deployment sets none. */
  keyEnv?: string;
}

/** LiteLLM's provider prefixes (`<prefix>/<model>`) that this gateway has a provider type for. */
const PREFIXES: Record<string, Prefix> = {
  openai: { type: 'openai', keyEnv: 'OPENAI_API_KEY' },
  'text-completion-openai': { type: 'openai', keyEnv: 'OPENAI_API_KEY' },
  azure: { type: 'azure', keyEnv: 'AZURE_API_KEY' },
  anthropic: { type: 'anthropic', keyEnv: 'ANTHROPIC_API_KEY' },
  gemini: { type: 'gemini', keyEnv: 'GEMINI_API_KEY' },
  vertex_ai: { type: 'vertex' },
  bedrock: { type: 'bedrock' },
  cohere: { type: 'cohere', keyEnv: 'COHERE_API_KEY' },
  cohere_chat: { type: 'cohere', keyEnv: 'COHERE_API_KEY' },
  mistral: { type: 'mistral', keyEnv: 'MISTRAL_API_KEY' },
  groq: { type: 'groq', keyEnv: 'GROQ_API_KEY' },
  deepseek: { type: 'deepseek', keyEnv: 'DEEPSEEK_API_KEY' },
  xai: { type: 'xai', keyEnv: 'XAI_API_KEY' },
  openrouter: { type: 'openrouter', keyEnv: 'OPENROUTER_API_KEY' },
  together_ai: { type: 'together', keyEnv: 'TOGETHERAI_API_KEY' },
  fireworks_ai: { type: 'fireworks', keyEnv: 'FIREWORKS_AI_API_KEY' },
  ollama: { type: 'ollama' },
  ollama_chat: { type: 'ollama' },
  hosted_vllm: { type: 'vllm' },
};

/** Models LiteLLM recognises without a prefix, by name. */
const BARE_MODELS: [RegExp, string][] = [
  [/^(gpt-|chatgpt-|o\d|text-embedding-)/, 'openai'],
  [/^claude-/, 'anthropic'],
];

/** Where a LiteLLM model string goes: a provider type and the model name that provider knows. */
export function parseModel(model: string): { prefix: Prefix; model: string } | { unknown: string } {
  const slash = model.indexOf('/');
  const named = slash > 0 ? model.slice(0, slash) : BARE_MODELS.find(([pattern]) => pattern.test(model))?.[1];
  const prefix = named === undefined ? undefined : PREFIXES[named];
  if (!prefix) return { unknown: slash > 0 ? model.slice(0, slash) : model };
  let name = slash > 0 ? model.slice(slash + 1) : model;
  // Bedrock's route prefixes choose LiteLLM's API; this gateway always speaks Converse.
  if (prefix.type === 'bedrock') name = name.replace(/^(converse|invoke)\//, '');
  return { prefix, model: name };
}

export const KNOWN_PREFIXES = Object.keys(PREFIXES);

export interface Context {
  params: Params;
  /** model_list[i].litellm_params */
  path: string;
  /** Words naming a new variable for a secret the file held, e.g. AZURE_GPT_4O. */
  secretName: string;
  values: Values;
  report: Report;
}

/** A base URL without a trailing slash or the given version paths (the gateway's adapters add their own). */
function baseUrl(ctx: Context, strip?: RegExp): string | undefined {
  const url = ctx.values.plain(ctx.params.api_base)?.replace(/\/+$/, '');
  return strip && url ? url.replace(strip, '') : url;
}

function apiKey(ctx: Context, prefix: Prefix): string | undefined {
  return ctx.values.secret(ctx.params.api_key, `${ctx.path}.api_key`, envName(ctx.secretName, 'API_KEY'), prefix.keyEnv);
}

interface Builder {
  /** The litellm_params it reads. */
  uses: readonly string[];
  build(ctx: Context, prefix: Prefix): ProviderEntry;
}

const KEYED = ['api_base', 'api_key'] as const;

const BUILDERS: Partial<Record<ImportedType, Builder>> & { compatible: Builder } = {
  azure: {
    uses: ['api_base', 'api_key', 'api_version'],
    build: (ctx, prefix) => {
      let endpoint = baseUrl(ctx, /\/openai$/);
      if (!endpoint) {
        endpoint = '${AZURE_API_BASE}';
        ctx.report.set(`${ctx.path}.api_base`, 'not set: the endpoint is read from ${AZURE_API_BASE} when the gateway loads, as LiteLLM does');
      }
      return { type: 'azure', endpoint, apiKey: apiKey(ctx, prefix), apiVersion: ctx.values.plain(ctx.params.api_version) };
    },
  },
  anthropic: {
    uses: KEYED,
    build: (ctx, prefix) => ({ type: 'anthropic', apiKey: apiKey(ctx, prefix), baseUrl: baseUrl(ctx, /\/v1(\/messages)?$/) }),
  },
  gemini: {
    uses: KEYED,
    build: (ctx, prefix) => ({ type: 'gemini', apiKey: apiKey(ctx, prefix), baseUrl: baseUrl(ctx, /\/v1\w*$/) }),
  },
  cohere: {
    uses: KEYED,
    build: (ctx, prefix) => ({ type: 'cohere', apiKey: apiKey(ctx, prefix), baseUrl: baseUrl(ctx, /\/v[12]$/) }),
  },
  vertex: {
    uses: ['vertex_project', 'vertex_location', 'vertex_credentials', 'api_base'],
    build: (ctx) => ({
      type: 'vertex',
      project: ctx.values.plain(ctx.params.vertex_project),
      location: ctx.values.plain(ctx.params.vertex_location),
      baseUrl: baseUrl(ctx),
      ...serviceAccount(ctx),
    }),
  },
  bedrock: {
    uses: ['aws_region_name', 'aws_access_key_id', 'aws_secret_access_key', 'aws_session_token', 'api_base', 'aws_bedrock_runtime_endpoint'],
    build: (ctx) => {
      let region = ctx.values.plain(ctx.params.aws_region_name);
      if (!region) {
        region = '${AWS_REGION_NAME}';
        ctx.report.set(`${ctx.path}.aws_region_name`, 'not set: the region is read from ${AWS_REGION_NAME} when the gateway loads, as LiteLLM does');
      }
      const secret = (key: string, fallback?: string) => ctx.values.secret(ctx.params[key], `${ctx.path}.${key}`, envName(ctx.secretName, key), fallback);
      const sessionToken = secret('aws_session_token');
      const credential = {
        accessKeyId: secret('aws_access_key_id', 'AWS_ACCESS_KEY_ID')!,
        secretAccessKey: secret('aws_secret_access_key', 'AWS_SECRET_ACCESS_KEY')!,
        ...(sessionToken ? { sessionToken } : {}),
      };
      return { type: 'bedrock', region, baseUrl: baseUrl(ctx) ?? ctx.values.plain(ctx.params.aws_bedrock_runtime_endpoint), credentials: [credential] };
    },
  },
  ollama: {
    uses: KEYED,
    build: (ctx, prefix) => {
      // LiteLLM calls Ollama's own API at the server's root; the gateway calls its OpenAI-compatible one under /v1.
      const root = baseUrl(ctx, /\/v1$/);
      return { type: 'ollama', apiKey: apiKey(ctx, prefix), baseUrl: root && `${root}/v1` };
    },
  },
  compatible: {
    uses: [...KEYED, 'organization'],
    build: (ctx, prefix) => {
      const organization = ctx.values.plain(ctx.params.organization);
      return {
        type: prefix.type as Exclude<ImportedType, 'azure' | 'anthropic' | 'gemini' | 'cohere' | 'vertex' | 'bedrock'>,
        apiKey: apiKey(ctx, prefix),
        baseUrl: baseUrl(ctx),
        headers: organization ? { 'OpenAI-Organization': organization } : undefined,
      };
    },
  },
};

/** Vertex AI's credentials: a key file's path, or the key's JSON (a secret) written into the file or a variable. */
function serviceAccount(ctx: Context): { serviceAccount?: string; serviceAccountFile?: string } {
  const path = `${ctx.path}.vertex_credentials`;
  const credentials = ctx.params.vertex_credentials;
  if (typeof credentials === 'string' && credentials.trim().startsWith('{'))
    return { serviceAccount: ctx.values.secret(credentials, path, envName(ctx.secretName, 'VERTEX_CREDENTIALS')) };
  if (credentials) {
    if (String(credentials).startsWith('os.environ/'))
      ctx.report.changed(path, 'read as the path of the service account key file; if the variable holds the JSON itself, write serviceAccount: env:<name>');
    return { serviceAccountFile: ctx.values.plain(credentials) };
  }
  ctx.report.set(path, 'not set: the key file is read from ${GOOGLE_APPLICATION_CREDENTIALS}; it must be a service account key');
  return { serviceAccountFile: '${GOOGLE_APPLICATION_CREDENTIALS}' };
}

function builderOf(prefix: Prefix): Builder {
  return BUILDERS[prefix.type] ?? BUILDERS.compatible;
}

/** The litellm_params a provider of this prefix is made of. */
export function providerParams(prefix: Prefix): readonly string[] {
  return builderOf(prefix).uses;
}

/** What tells two deployments' providers apart: the LiteLLM values they are made of, so sharing an endpoint and a key shares an entry. */
export function providerIdentity(prefix: Prefix, params: Params): string {
  return JSON.stringify([prefix.type, ...providerParams(prefix).map((key) => params[key] ?? null)]);
}

/** The provider entry one model_list entry calls, its secrets as references. */
export function buildProvider(prefix: Prefix, ctx: Context): ProviderEntry {
  const entry = builderOf(prefix).build(ctx, prefix);
  return Object.fromEntries(Object.entries(entry).filter(([, value]) => value !== undefined)) as ProviderEntry;
}
