import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

/**
 * Configuration loading: one YAML file, `${VAR}` / `${VAR:-default}` substitution
 * inside string values, then `GATEWAY_<SECTION>__<KEY>` (and `GATEWAY_<KEY>` for
 * a top-level value such as dataDir) environment overrides,
 * then validation against the schema. Any problem stops start-up with a
 * ConfigError naming the key, the value and what was expected.
 */

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Tree = Record<string, unknown>;

export interface LoadOptions {
  /** Path of the YAML file; absent means schema defaults only. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Values set by command-line flags; they win over everything. */
  overrides?: Tree;
}

export const ENV_PREFIX = 'GATEWAY_';

export function loadConfig<S extends z.ZodType>(schema: S, options: LoadOptions = {}): z.infer<S> {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  let tree: Tree = {};
  if (options.file) {
    let text: string;
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new ConfigError([`config file ${options.file} cannot be read: ${(err as Error).message}`]);
    }
    try {
      const parsed: unknown = parseYaml(text) ?? {};
      if (!isTree(parsed)) throw new Error('the top level must be a mapping of sections');
      tree = parsed;
    } catch (err) {
      throw new ConfigError([`config file ${options.file} is not valid YAML: ${(err as Error).message}`]);
    }
  }
  tree = substituteEnv(tree, env, [], problems) as Tree;
  applyEnvOverrides(tree, env, topLevelValues(schema));
  if (options.overrides) mergeInto(tree, options.overrides);
  if (problems.length > 0) throw new ConfigError(problems);

  const result = schema.safeParse(tree);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((issue) => describeIssue(issue, tree)));
  }
  return deepFreeze(result.data);
}

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

const WHOLE_PLACEHOLDER = /^\$\{[^}]+\}$/;

function substituteEnv(value: unknown, env: NodeJS.ProcessEnv, path: string[], problems: string[]): unknown {
  if (typeof value === 'string') {
    const replaced = value.replace(PLACEHOLDER, (_match, name: string, fallback: string | undefined) => {
      const found = env[name];
      if (found !== undefined) return found;
      if (fallback !== undefined) return fallback;
      problems.push(`${path.join('.')}: refers to \${${name}}, but environment variable ${name} is not set (use \${${name}:-default} for an optional value)`);
      return '';
    });
    // `port: ${PORT}` should give a number, as if the value had been written in the file.
    return WHOLE_PLACEHOLDER.test(value) ? readScalar(replaced) : replaced;
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, [...path, String(i)], problems));
  if (isTree(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteEnv(v, env, [...path, k], problems)]));
  }
  return value;
}

/**
 * GATEWAY_SERVER__OPS_PORT=9091 sets server.opsPort; GATEWAY_DATA_DIR=/var/lib/gw
 * sets dataDir, one of `topLevel`. Other names without `__` (GATEWAY_CONFIG,
 * GATEWAY_ADMIN_URL) belong to the CLI. Values are read as YAML scalars.
 */
function applyEnvOverrides(tree: Tree, env: NodeJS.ProcessEnv, topLevel: ReadonlySet<string>): void {
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const rest = name.slice(ENV_PREFIX.length);
    if (rest.includes('__')) setPath(tree, rest.split('__').map(camelCase), readScalar(raw));
    else if (topLevel.has(camelCase(rest))) tree[camelCase(rest)] = readScalar(raw);
  }
}

/** The keys of an object schema whose values are not sections (objects), e.g. dataDir. */
function topLevelValues(schema: z.ZodType): ReadonlySet<string> {
  const shape = (schema as { shape?: Record<string, z.ZodType> }).shape ?? {};
  const isSection = (field: z.ZodType): boolean => {
    const def = field.def as { type: string; innerType?: z.ZodType };
    return def.type === 'object' || (def.innerType !== undefined && isSection(def.innerType));
  };
  return new Set(Object.keys(shape).filter((key) => !isSection(shape[key]!)));
}

/** Reads an environment value the way YAML would read it in the file: "8080" is a number, "true" a boolean. */
function readScalar(raw: string): unknown {
  if (raw === '') return '';
  try {
    const value: unknown = parseYaml(raw);
    return typeof value === 'number' || typeof value === 'boolean' ? value : raw;
  } catch {
    return raw;
  }
}

function camelCase(segment: string): string {
  return segment.toLowerCase().replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

function setPath(tree: Tree, path: string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    if (!isTree(node[key])) node[key] = {};
    node = node[key] as Tree;
  }
  node[path[path.length - 1]!] = value;
}

function mergeInto(target: Tree, source: Tree): void {
  for (const [key, value] of Object.entries(source)) {
    if (isTree(value) && isTree(target[key])) mergeInto(target[key] as Tree, value);
    else target[key] = value;
  }
}

/** Keys whose values are secrets: a problem with one names the key and never shows the value. */
function describeIssue(issue: z.core.$ZodIssue, tree: Tree): string {
  const key = issue.path.map(String).join('.') || '(top level)';
  let value: unknown = tree;
  for (const segment of issue.path) value = isTree(value) || Array.isArray(value) ? (value as Tree)[String(segment)] : undefined;
  const got = value === undefined ? 'nothing' : holdsSecret(issue.path) ? secretDescription(value) : JSON.stringify(value);
  if (issue.code === 'unrecognized_keys') {
    return `${key}: unknown key(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}; check the spelling against docs/configuration.md`;
  }
  return `${key}: got ${got}; ${issue.message}`;
}

/** Whether a key holds a secret by its name (the last named segment: apiKeys.0 is one), so an error never quotes it into a log. */
/** A secret's length at most: enough to see it is too short, nothing of what it is. */
function secretDescription(value: unknown): string {
  return typeof value === 'string' ? `a ${value.length}-character value (not shown: secret)` : 'a value (not shown: secret)';
}

function holdsSecret(path: readonly PropertyKey[]): boolean {
  const named = path.filter((segment) => typeof segment === 'string');
  return /key|token|secret|password/i.test(String(named.at(-1) ?? ''));
}

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
