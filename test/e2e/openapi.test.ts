import { Ajv2020 } from 'ajv/dist/2020.js';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayConfig } from '../../services/gateway/config.js';
import type { BatchRunner } from '../../services/ingress/batch-runner.js';
import type { PipelineDeps } from '../../services/ingress/pipeline.js';
import { buildIngressApp } from '../../services/ingress/server.js';
import { bodySchemas } from '../../services/ingress/validation.js';
import { loadConfig } from '../../services/kit/config.js';
import { createLogger } from '../../services/kit/log.js';
import { PASSTHROUGH_APIS } from '../../services/kit/passthrough.js';
import { startInProcess } from '../harness/gateway.js';

type Schema = Record<string, unknown>;
type Content = Record<string, { schema: Schema }>;
type Operation = {
  requestBody?: { content: Content };
  responses: Record<string, { content?: Content }>;
  parameters?: { in: string; name: string; required?: boolean }[];
};
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> };

/**
 * The OpenAPI 3.1 object, transcribed strictly from https://spec.openapis.org/oas/v3.1.0 for the fields a document
 * has (no validator of OpenAPI documents is in node_modules): a field the specification does not define fails.
 * Schema objects are checked apart, as JSON Schema 2020-12 (OpenAPI 3.1's dialect), by compiling each.
 */
const str = { type: 'string' };
const obj = (properties: Schema, required: string[] = []) => ({ type: 'object', properties, required, additionalProperties: false });
const map = (values: Schema) => ({ type: 'object', additionalProperties: values });
const parameter = obj({ in: { enum: ['path', 'query', 'header', 'cookie'] }, name: str, required: { type: 'boolean' }, description: str, schema: map({}) }, [
  'in',
  'name',
]);
const encoding = obj({ contentType: str, style: { enum: ['form', 'spaceDelimited', 'pipeDelimited', 'deepObject'] }, explode: { type: 'boolean' } });
const operation = obj(
  {
    summary: str,
    description: str,
    operationId: str,
    tags: { type: 'array', items: str },
    parameters: { type: 'array', items: parameter },
    requestBody: obj({ description: str, required: { type: 'boolean' }, content: map(obj({ schema: map({}), encoding: map(encoding) })) }, ['content']),
    responses: { ...map(obj({ description: str, content: map(obj({ schema: map({}) })) }, ['description'])), minProperties: 1 },
    security: { type: 'array', items: map({ type: 'array', items: str }) },
  },
  ['responses'],
);
const pathItem = obj(Object.fromEntries(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'].map((m) => [m, operation])));
const openApiObject = obj(
  {
    openapi: { type: 'string', pattern: '^3\\.1\\.\\d+$' },
    info: obj({ title: str, version: str, description: str }, ['title', 'version']),
    paths: { type: 'object', propertyNames: { pattern: '^/' }, additionalProperties: pathItem },
    components: obj({
      schemas: map({}),
      securitySchemes: map(obj({ type: { enum: ['apiKey', 'http', 'oauth2', 'openIdConnect', 'mutualTLS'] }, scheme: str, in: str, name: str }, ['type'])),
    }),
    security: { type: 'array', items: map({ type: 'array', items: str }) },
  },
  ['openapi', 'info'],
);

describe("the client API's OpenAPI document", () => {
  const config = loadConfig(gatewayConfig, { env: {} });
  let app: FastifyInstance;
  let doc: Document;

  beforeAll(async () => {
    // The routes are what is checked here, not what they do: no request reaches a handler.
    const deps = { clients: { routing: {} }, log: createLogger({ level: 'silent' }) } as unknown as PipelineDeps;
    app = await buildIngressApp({ ...config.ingress, consoleOrigins: [] }, {} as BatchRunner, deps);
    const answer = await app.inject({ url: '/openapi.json' });
    expect(answer.statusCode).toBe(200);
    doc = answer.json();
  });
  afterAll(() => app?.close());

  it('is served by a running gateway without a key, as JSON, the same document', async () => {
    const gateway = await startInProcess({ routing: { providers: { mock: { type: 'mock', models: ['echo'] } } } });
    try {
      const answer = await fetch(gateway.baseURL.replace(/\/v1$/, '/openapi.json'));
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await answer.json()).toEqual(doc);
    } finally {
      await gateway.stop();
    }
  });

  it('lists every route ingress serves under /v1, /v2, /mcp and the passthrough prefixes, with its method, and no other', () => {
    const apis = Object.keys(PASSTHROUGH_APIS).join('|');
    const served = registeredRoutes(app)
      .filter(({ method, path }) => method !== 'HEAD' && method !== 'OPTIONS' && new RegExp(`^/(v1/|v2/|mcp$|(${apis})/)`).test(path))
      // Passthrough answers only POST; its other methods are its 404.
      .filter(({ method, path }) => !path.endsWith('/*') || method === 'POST')
      .map(({ method, path }) => `${method} ${path.replace(/:(\w+)/g, '{$1}').replace(/\*$/, '{path}')}`);
    const documented = Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`));
    expect(served).toContain('POST /v1/chat/completions');
    expect(served).toContain('POST /v1/messages/count_tokens');
    expect(served).toContain('POST /v2/rerank');
    expect(served).toContain('DELETE /v1/responses/{id}');
    expect(served).toContain('POST /anthropic/{path}');
    expect(documented.sort()).toEqual([...new Set(served)].sort());
  });

  it('is an OpenAPI 3.1 document, each of its schemas valid JSON Schema 2020-12', () => {
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(openApiObject);
    expect(validate(doc), ajv.errorsText(validate.errors)).toBe(true);
    // Formats are open in OpenAPI (model-name is the gateway's own); every other keyword must be JSON Schema's.
    const schemas = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, validateFormats: false });
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const bodies = [op.requestBody?.content, ...Object.values(op.responses).map((response) => response.content)];
        for (const { schema } of bodies.flatMap((content) => Object.values(content ?? {}))) {
          expect(() => schemas.compile(schema), `${method} ${path}`).not.toThrow();
        }
        // Every templated segment is a required path parameter.
        const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path' && p.required).map((p) => p.name);
        expect(declared.sort(), `${method} ${path}`).toEqual(templated.sort());
      }
    }
  });

  it('gives each JSON body the schema ingress validates it with, and each upload its form', () => {
    const schemas = bodySchemas(config.ingress.limits);
    for (const [endpoint, schema] of Object.entries(schemas)) {
      const content = doc.paths[`/v1/${endpoint.replace(/\./g, '/')}`]?.post?.requestBody?.content;
      const json = content?.['application/json']?.schema;
      const form = content?.['multipart/form-data']?.schema as { required: string[]; properties: Record<string, Schema> } | undefined;
      // A form's schema is its checked fields and its files, binary strings.
      const files = Object.keys(form?.properties ?? {}).filter((name) => form?.properties[name]?.format === 'binary');
      const fields = form && {
        ...form,
        required: form.required.filter((name) => !files.includes(name)),
        properties: Object.fromEntries(Object.entries(form.properties).filter(([name]) => !files.includes(name))),
      };
      expect(json ?? fields, endpoint).toEqual(asDocumented(schema));
    }
    const upload = doc.paths['/v1/audio/transcriptions']!.post!.requestBody!.content['multipart/form-data']!.schema;
    expect(upload.properties).toMatchObject({ file: { type: 'string', format: 'binary' }, model: (schemas['chat.completions']!.properties as Schema).model });
    expect(upload.required).toEqual(['model', 'file']);
    // expires_after goes as expires_after[anchor] and expires_after[seconds], as OpenAI's SDK sends it.
    const files = doc.paths['/v1/files']!.post!.requestBody!.content['multipart/form-data'] as { encoding?: unknown };
    expect(files.encoding).toEqual({ expires_after: { style: 'deepObject', explode: true } });
    const batch = doc.paths['/v1/batches']!.post!.requestBody!.content['application/json']!.schema;
    expect(batch.required).toEqual(['input_file_id', 'endpoint', 'completion_window']);
  });
});

/** A schema as @fastify/swagger writes it: `const` as the one-value `enum` it means (OpenAPI 3.0 has no const). */
function asDocumented(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(asDocumented);
  if (!schema || typeof schema !== 'object') return schema;
  return Object.fromEntries(Object.entries(schema).map(([key, value]) => (key === 'const' ? ['enum', [value]] : [key, asDocumented(value)])));
}

/** The routes fastify's router holds, read from its printed tree (each line a part of the path, below its parent's). */
function registeredRoutes(app: FastifyInstance): { method: string; path: string }[] {
  const routes: { method: string; path: string }[] = [];
  const parents: string[] = [];
  for (const line of app.printRoutes().split('\n')) {
    const match = /^([│ ]*)[├└]── (\S*)(?: \(([A-Z, ]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const path = (parents[depth - 1] ?? '') + match[2]!;
    parents[depth] = path;
    for (const method of match[3]?.split(', ') ?? []) routes.push({ method, path });
  }
  return routes;
}
