import { parse as parseYaml, stringify } from 'yaml';
import type { z } from 'zod';
import type { gatewayConfig } from '../config.js';
import { buildProvider, KNOWN_PREFIXES, parseModel, providerIdentity, providerParams, type ProviderEntry } from './providers.js';
import { Report } from './report.js';
import { convertSettings, FALLBACK_KINDS, type Settings } from './settings.js';
import { envName, referencedEnv, Values } from './values.js';

/** The gateway's configuration as written in YAML, defaults left to the schema. */
export type GatewayInput = z.input<typeof gatewayConfig>;
type RoutingInput = NonNullable<GatewayInput['routing']>;
type GroupInput = Exclude<NonNullable<RoutingInput['models']>[string], string>;
type DeploymentInput = GroupInput['deployments'][number];

type Tree = Record<string, unknown>;

export interface Imported {
  config: GatewayInput;
  report: Report;
}

const SECTIONS = ['model_list', 'router_settings', 'litellm_settings', 'general_settings', 'environment_variables'];

/** litellm_params read for the deployment itself, whatever its provider. */
const DEPLOYMENT_PARAMS = ['model', 'rpm', 'tpm', 'weight', 'input_cost_per_token', 'output_cost_per_token'];

const PARAM_REASONS: Record<string, string> = {
  timeout: 'no timeout per deployment: routing.timeouts bounds every provider call',
  stream_timeout: 'no timeout per deployment: routing.timeouts bounds every provider call',
  max_retries: 'no retries per deployment: routing.retry.attemptsPerDeployment applies to all',
  order: "no order of preference: the group's strategy orders its deployments, x-gateway-deployment pins one",
  aws_profile_name: 'AWS profiles and roles are not read: Bedrock takes key pairs (routing.providers.<name>.credentials)',
  aws_role_name: 'AWS profiles and roles are not read: Bedrock takes key pairs (routing.providers.<name>.credentials)',
};
const RATE_LIMIT = 'no rate limit per deployment here; limit callers with rpm_limit and tpm_limit on keys and teams (docs/governance.md)';

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const perMillion = (perToken: unknown) => (typeof perToken === 'number' ? Number((perToken * 1e6).toPrecision(12)) : undefined);

/** A deployment of a group, with the rate limits LiteLLM may weight it by. */
interface Member {
  deployment: DeploymentInput;
  weight?: number;
  rpm?: number;
  tpm?: number;
}

/** Reads a LiteLLM proxy config.yaml; fails, saying what was expected, on anything else. */
export function parseLiteLLM(text: string, file: string): Tree {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new Error(`${file} is not valid YAML: ${(err as Error).message}`);
  }
  const expected = `expected LiteLLM's proxy config.yaml, with a model_list of {model_name, litellm_params: {model: <provider>/<model>}}`;
  if (!isTree(doc)) throw new Error(`${file} is not a LiteLLM config: ${expected}`);
  if ('routing' in doc || 'ingress' in doc) throw new Error(`${file} looks like this gateway's own configuration, not LiteLLM's: ${expected}`);
  if (!Array.isArray(doc.model_list) || doc.model_list.length === 0) {
    const found = Object.keys(doc).filter((key) => SECTIONS.includes(key));
    throw new Error(`${file} has no model_list${found.length ? ` (only ${found.join(', ')})` : ''}, so there is nothing to import: ${expected}`);
  }
  return doc;
}

/** Turns a LiteLLM proxy config into this gateway's configuration and a report of what did not carry over as it was. */
export function convertLiteLLM(doc: Tree): Imported {
  const report = new Report();
  const values = new Values(report, referencedEnv(doc));
  const providers: Record<string, ProviderEntry> = {};
  const byIdentity = new Map<string, string>();
  const groups = new Map<string, Member[]>();
  const named = new Set<string>();

  (doc.model_list as unknown[]).forEach((item, i) => {
    const path = `model_list[${i}]`;
    const params = isTree(item) && isTree(item.litellm_params) ? item.litellm_params : undefined;
    if (!isTree(item) || typeof item.model_name !== 'string' || !params || typeof params.model !== 'string') {
      report.dropped(path, 'left out: expected model_name and litellm_params.model, both strings');
      return;
    }
    named.add(item.model_name);
    const target = parseModel(params.model);
    if ('unknown' in target) {
      report.dropped(`${path}.litellm_params.model`, `left out: no provider type here for "${target.unknown}" (known prefixes: ${KNOWN_PREFIXES.join(', ')})`);
      return;
    }
    const identity = providerIdentity(target.prefix, params);
    let provider = byIdentity.get(identity);
    if (!provider) {
      provider = freeName(providers, target.prefix.type);
      const ctx = { params, path: `${path}.litellm_params`, secretName: envName(target.prefix.type, item.model_name), values, report };
      providers[provider] = buildProvider(target.prefix, ctx);
      byIdentity.set(identity, provider);
    }
    const info = isTree(item.model_info) ? item.model_info : {};
    const deployment: DeploymentInput = {
      ...(typeof info.id === 'string' ? { id: info.id } : {}),
      provider,
      model: target.model,
    };
    const input = perMillion(params.input_cost_per_token ?? info.input_cost_per_token);
    const output = perMillion(params.output_cost_per_token ?? info.output_cost_per_token);
    if (input !== undefined) deployment.inputCostPerMillion = input;
    if (output !== undefined) deployment.outputCostPerMillion = output;
    const member: Member = { deployment };
    for (const key of ['weight', 'rpm', 'tpm'] as const) if (typeof params[key] === 'number' && params[key] > 0) member[key] = params[key];
    groups.set(item.model_name, [...(groups.get(item.model_name) ?? []), member]);

    const read = new Set([...DEPLOYMENT_PARAMS, ...providerParams(target.prefix)]);
    for (const key of ['rpm', 'tpm']) if (key in params) report.dropped(`${path}.litellm_params.${key}`, RATE_LIMIT);
    for (const key of Object.keys(params)) if (!read.has(key)) report.dropped(`${path}.litellm_params.${key}`, PARAM_REASONS[key] ?? 'no equivalent here');
    for (const key of Object.keys(info))
      if (!['id', 'input_cost_per_token', 'output_cost_per_token'].includes(key))
        report.dropped(`${path}.model_info.${key}`, "no equivalent: what a model supports comes from its provider's type");
  });
  if (groups.size === 0) throw new ImportFailed(report, 'none of model_list could be imported: each entry is listed above with why');

  const leftOut = new Set([...named].filter((name) => !groups.has(name)));
  const settings = convertSettings(doc, new Set(groups.keys()), leftOut, report);
  for (const key of Object.keys(doc)) if (!SECTIONS.includes(key)) report.dropped(key, "not a section of LiteLLM's proxy config that this import knows");
  if (isTree(doc.environment_variables))
    for (const name of Object.keys(doc.environment_variables))
      report.set(`environment_variables.${name}`, "LiteLLM set it at start: set it in the gateway's environment where the output refers to it");
  return { config: gatewayInput(providers, groups, settings), report };
}

/** A model list that yields nothing, with what was found along the way. */
export class ImportFailed extends Error {
  constructor(
    readonly report: Report,
    reason: string,
  ) {
    super(reason);
  }
}

function freeName(taken: Record<string, unknown>, base: string): string {
  let name = base;
  for (let n = 2; name in taken; n++) name = `${base}-${n}`;
  return name;
}

/** The weight of each member: LiteLLM's weight, else (for the strategies that use them) its rpm or tpm share. */
function weigh(members: Member[], settings: Settings): void {
  const keys: ('weight' | 'rpm' | 'tpm')[] = settings.strategy === 'weighted' ? ['weight', 'rpm', 'tpm'] : ['weight'];
  const by = keys.find((key) => members.some((m) => m[key] !== undefined));
  // A member without the value LiteLLM weights by is one it would rarely pick: the least weight the others have.
  const least = by && Math.min(...members.flatMap((m) => (m[by] === undefined ? [] : [m[by]])));
  if (by && members.length > 1) for (const m of members) m.deployment.weight = m[by] ?? least;
}

function gatewayInput(providers: Record<string, ProviderEntry>, groups: Map<string, Member[]>, settings: Settings): GatewayInput {
  const models: Record<string, GroupInput | string> = {};
  for (const [name, members] of groups) {
    weigh(members, settings);
    const group: GroupInput = { deployments: members.map((m) => m.deployment), strategy: settings.strategy };
    for (const kind of Object.values(FALLBACK_KINDS)) {
      const list = settings.fallbacks[kind].get(name);
      if (list?.length) group[kind] = list;
    }
    models[name] = group;
  }
  Object.assign(models, settings.aliases);
  const routing: RoutingInput = { providers, models };
  if (Object.keys(settings.retry).length) routing.retry = settings.retry;
  if (Object.keys(settings.circuitBreaker).length) routing.circuitBreaker = settings.circuitBreaker;
  if (Object.keys(settings.timeouts).length) routing.timeouts = settings.timeouts;
  return { ...(settings.logLevel ? { log: { level: settings.logLevel } } : {}), routing };
}

/** The output file: a header that says where it came from and what did not carry over, then the configuration. */
export function renderImport(imported: Imported, file: string): string {
  const header = [
    `Generated by \`gateway import litellm\` from ${file}.`,
    'No secret was copied: keys are env:NAME references, read when the gateway starts. See docs/migrating-from-litellm.md.',
    ...(imported.report.findings.length ? ['', ...imported.report.lines()] : []),
  ];
  return `${header.map((line) => `#${line ? ` ${line}` : ''}`).join('\n')}\n${stringify(imported.config, { lineWidth: 0 })}`;
}
