import fc from 'fast-check';

/*
 * Generated requests for the fuzzing suite: each inbound API's well-formed
 * body with a few of its fields (or fields no API has) set to hostile values,
 * raw bodies that are not JSON or nest too deep, and hostile headers.
 */

export type Family = 'openai' | 'anthropic' | 'mcp';

export interface FuzzRequest {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  headers: Record<string, string>;
  body?: string;
  family: Family;
  /** Whether the request must leave exactly one request.* row in the audit log (model endpoints, /models, unknown URLs). */
  recorded: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = (string | number)[];

const message = { role: 'user', content: 'fuzz' };

/** Each model endpoint: a well-formed body, and the fields worth breaking. */
const ENDPOINTS: { path: string; family: Family; body: () => Json; fields: Path[] }[] = [
  {
    path: '/v1/chat/completions',
    family: 'openai',
    body: () => ({ model: 'mock/echo', messages: [message] }),
    fields: [
      ['model'],
      ['messages'],
      ['messages', 0],
      ['messages', 0, 'role'],
      ['messages', 0, 'content'],
      ['messages', 0, 'content', 0],
      ['messages', 0, 'name'],
      ['max_tokens'],
      ['max_completion_tokens'],
      ['temperature'],
      ['top_p'],
      ['n'],
      ['stop'],
      ['stream'],
      ['stream_options'],
      ['tools'],
      ['tools', 0],
      ['tools', 0, 'function'],
      ['tools', 0, 'function', 'name'],
      ['tool_choice'],
      ['response_format'],
      ['logit_bias'],
      ['seed'],
      ['user'],
    ],
  },
  {
    path: '/v1/completions',
    family: 'openai',
    body: () => ({ model: 'mock/echo', prompt: 'fuzz' }),
    fields: [['model'], ['prompt'], ['prompt', 0], ['max_tokens'], ['temperature'], ['n'], ['logprobs'], ['echo'], ['stream'], ['suffix']],
  },
  {
    path: '/v1/embeddings',
    family: 'openai',
    body: () => ({ model: 'mock/embed', input: 'fuzz' }),
    fields: [['model'], ['input'], ['input', 0], ['encoding_format'], ['dimensions'], ['user']],
  },
  {
    path: '/v1/responses',
    family: 'openai',
    body: () => ({ model: 'mock/echo', input: 'fuzz' }),
    fields: [
      ['model'],
      ['input'],
      ['input', 0],
      ['input', 0, 'role'],
      ['input', 0, 'content'],
      ['input', 0, 'type'],
      ['instructions'],
      ['max_output_tokens'],
      ['temperature'],
      ['tools'],
      ['tools', 0],
      ['tools', 0, 'name'],
      ['stream'],
      ['previous_response_id'],
    ],
  },
  {
    path: '/v1/messages',
    family: 'anthropic',
    body: () => ({ model: 'mock/echo', max_tokens: 64, messages: [message] }),
    fields: [
      ['model'],
      ['max_tokens'],
      ['messages'],
      ['messages', 0],
      ['messages', 0, 'role'],
      ['messages', 0, 'content'],
      ['messages', 0, 'content', 0],
      ['system'],
      ['temperature'],
      ['top_k'],
      ['stop_sequences'],
      ['stream'],
      ['tools'],
      ['tools', 0, 'name'],
      ['tool_choice'],
      ['thinking'],
    ],
  },
];

/** Values that break a field: wrong types, out of range, too long, control characters, broken UTF-16, any JSON. */
const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom<Json>(
    4_294_967_296,
    1e300,
    -1e300,
    -1,
    0,
    1.5,
    2 ** 53 + 1,
    '',
    'hot',
    true,
    false,
    null,
    [],
    {},
    'mock/a/../b',
    'mock/\u0000',
    '\ud800',
    'x'.repeat(5_000),
  ),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>,
  fc.array(fc.constantFrom<Json>(null, 1, 'a', {}, [], { type: 'text' }, { role: 'user' }), { maxLength: 5 }),
);

function setAt(target: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) return value ?? null;
  const [head, ...rest] = path;
  const container: Json =
    typeof head === 'number' ? (Array.isArray(target) ? [...target] : []) : target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  const current = (container as Record<string | number, Json>)[head!];
  if (value === undefined && rest.length === 0) {
    if (Array.isArray(container)) container.splice(head as number, 1);
    else delete (container as Record<string, Json>)[head as string];
    return container;
  }
  (container as Record<string | number, Json>)[head!] = setAt(current ?? null, rest, value);
  return container;
}

/** A body of the endpoint with up to three fields set to hostile values or removed. */
function mutatedBody(endpoint: (typeof ENDPOINTS)[number]): fc.Arbitrary<string> {
  const field = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...endpoint.fields) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((name): Path => [name]) },
  );
  const change = fc.tuple(field, fc.option(hostileValue, { freq: 6, nil: undefined }));
  return fc
    .array(change, { maxLength: 3 })
    .map((changes) => JSON.stringify(changes.reduce((body, [path, value]) => setAt(body, path, value), endpoint.body())));
}

/** Bodies that are not what any API takes, whole. */
const rawBody: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.constantFrom(
    '',
    '{',
    '{"model": "mock/echo", "messages": [',
    'null',
    '[]',
    '"a string"',
    '{"__proto__": {"admin": true}, "model": "mock/echo", "messages": [{"role": "user", "content": "x"}]}',
    `{"model":"mock/echo","messages":[{"role":"user","content":"x"}],"deep":${'['.repeat(100)}${']'.repeat(100)}}`,
    `{"model":"mock/echo","messages":[{"role":"user","content":"x"}],"deep":${'['.repeat(20_000)}${']'.repeat(20_000)}}`,
  ),
  fc.jsonValue({ maxDepth: 5 }).map((value) => JSON.stringify(value)),
);

const headerValue = fc.oneof(
  fc.constantFrom('', 'true', '0', '-1', '1e9', 'nan', 'a'.repeat(2_000), 'least-in-flight', 'mock/echo', 'no-cache', 'only-if-cached', 'max-age=abc'),
  fc.string({ maxLength: 20 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
);

/** Hostile headers beside the key; `key` is the fuzzing key, sometimes left out or replaced. */
function headers(key: string): fc.Arbitrary<Record<string, string>> {
  const authorization = fc.constantFrom(`Bearer ${key}`, `Bearer ${key}`, `Bearer ${key}`, '', 'Bearer ', 'Bearer sk-gw-unknown', 'Basic Zm9vOmJhcg==');
  const contentType = fc.constantFrom(
    'application/json',
    'application/json',
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    '',
  );
  const extra = fc.dictionary(
    fc.constantFrom(
      'x-gateway-strategy',
      'x-gateway-deployment',
      'x-gateway-no-fallbacks',
      'x-gateway-cache-ttl',
      'x-gateway-cache-namespace',
      'x-gateway-cache-threshold',
      'cache-control',
      'traceparent',
      'x-api-key',
    ),
    headerValue,
    { maxKeys: 3 },
  );
  return fc.tuple(authorization, contentType, extra).map(([auth, type, rest]) => ({
    ...rest,
    ...(auth ? { authorization: auth } : {}),
    ...(type ? { 'content-type': type } : {}),
  }));
}

/** One request to the public API: any endpoint, hostile body and headers, now and then an unknown URL or method. */
export function inboundRequest(key: string): fc.Arbitrary<FuzzRequest> {
  const modelCall = fc
    .tuple(fc.constantFrom(...ENDPOINTS), headers(key), fc.boolean())
    .chain(([endpoint, sent, raw]) =>
      (raw ? rawBody : mutatedBody(endpoint)).map(
        (body): FuzzRequest => ({ method: 'POST', path: endpoint.path, headers: sent, body, family: endpoint.family, recorded: true }),
      ),
    );
  const other = fc
    .tuple(
      headers(key),
      rawBody,
      fc.constantFrom<[FuzzRequest['method'], string, Family, boolean]>(
        ['GET', '/v1/models', 'openai', true],
        ['GET', '/v1/nope', 'openai', true],
        ['DELETE', '/v1/chat/completions', 'openai', true],
        ['GET', '/v1/responses/resp_%00%27%3B--', 'openai', true],
        ['DELETE', `/v1/responses/resp_${'9'.repeat(300)}`, 'openai', true],
        ['GET', '/v1/responses/resp_x/input_items?limit=-1&order=sideways', 'openai', true],
        ['GET', '/v1/files/file_%00%27%3B--/content', 'openai', true],
        ['GET', '/v1/files?limit=0&order=sideways&after=%27', 'openai', true],
        ['POST', '/v1/files', 'openai', true],
        ['POST', '/v1/batches', 'openai', true],
        ['GET', '/v1/batches?limit=1000', 'openai', true],
        ['POST', `/v1/batches/batch_${'9'.repeat(300)}/cancel`, 'openai', true],
        ['POST', '/v1/mcp/tools/execute', 'openai', false],
        ['POST', '/mcp', 'mcp', false],
      ),
    )
    .map(
      ([sent, body, [method, path, family, recorded]]): FuzzRequest => ({
        method,
        path,
        headers: sent,
        body: method === 'POST' ? body : undefined,
        family,
        recorded,
      }),
    );
  return fc.oneof({ weight: 6, arbitrary: modelCall }, { weight: 1, arbitrary: other });
}

/** One admin API call as the owner, with a hostile body or query, on ids that exist (a team and key set aside for it) or not. */
export function adminRequest(ids: { key: string; team: string }): fc.Arbitrary<{ method: string; path: string; body?: string }> {
  const id = fc.oneof(fc.constantFrom(ids.key, ids.team, 'nope', '..', '%2e%2e', 'a'.repeat(300)), fc.string({ maxLength: 10 }).map(encodeURIComponent));
  const body = fc.oneof(
    fc
      .record(
        { name: hostileValue, team: hostileValue, allowed_models: hostileValue, max_parallel: hostileValue, metadata: hostileValue },
        { requiredKeys: [] },
      )
      .map((b) => JSON.stringify(b)),
    fc
      .record(
        {
          scope: fc.constantFrom<Json>('team', 'key', 'customer', 'x', 1),
          scope_id: fc.constantFrom<Json>(ids.team, 'nope', null),
          limit_usd: hostileValue,
          period: hostileValue,
        },
        { requiredKeys: [] },
      )
      .map((b) => JSON.stringify(b)),
    rawBody,
  );
  const query = fc
    .dictionary(
      fc.constantFrom('limit', 'from', 'to', 'group_by', 'key', 'team', 'model', 'cursor', 'type'),
      fc.oneof(headerValue, fc.constantFrom('-1', '1e99', '2026-13-45', 'day', '')),
      { maxKeys: 3 },
    )
    .map((params) => new URLSearchParams(params).toString());
  return fc.oneof(
    fc
      .tuple(fc.constantFrom('/admin/keys', '/admin/teams', '/admin/customers', '/admin/budgets'), body)
      .map(([path, b]) => ({ method: 'POST', path, body: b })),
    fc
      .tuple(fc.constantFrom('keys', 'teams', 'customers', 'budgets'), id, body)
      .map(([kind, which, b]) => ({ method: 'PATCH', path: `/admin/${kind}/${which}`, body: b })),
    fc
      .tuple(
        fc.constantFrom(
          '/admin/audit/events',
          '/admin/spend',
          '/admin/usage/export',
          '/admin/tool-calls',
          '/admin/cache/entries',
          '/admin/keys',
          '/admin/budgets',
        ),
        query,
      )
      .map(([path, q]) => ({ method: 'GET', path: `${path}?${q}` })),
    fc.tuple(fc.constantFrom('providers', 'models'), id, body).map(([kind, which, b]) => ({ method: 'PUT', path: `/admin/${kind}/${which}`, body: b })),
    fc.tuple(fc.constantFrom('budgets', 'customers'), id).map(([kind, which]) => ({ method: 'DELETE', path: `/admin/${kind}/${which}` })),
  );
}
