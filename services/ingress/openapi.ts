import swagger from '@fastify/swagger';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { PASSTHROUGH_APIS } from '../kit/passthrough.js';
import type { Schema } from './schemas/common.js';
import { responsesOf } from './schemas/responses.js';

/** Where the client API's OpenAPI document is served. */
export const OPENAPI_PATH = '/openapi.json';

/** The methods an OpenAPI path item has fields for; a route with another (WebDAV's) is left out. */
const OPENAPI_METHODS = new Set(['GET', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'TRACE']);

/** A multipart route's form as the OpenAPI document shows it: the fields its reader checks, and its files. */
export interface FormDoc {
  fields: Schema;
  files: string[];
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** A multipart route's form, checked by its reader rather than fastify's validator, for the OpenAPI document. */
    form?: FormDoc;
  }
}

/**
 * The client API's OpenAPI 3.1 document, made by @fastify/swagger from the routes as ingress registers them, with
 * the body schemas the validator checks: it cannot drift from what is served. Registered before any route, since it
 * collects them as they are added. Served without a key: it holds the public API's shape and the configured limits,
 * nothing a key or tenant owns (docs/routing.md, "The client API's OpenAPI document").
 */
export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'AI gateway API',
        version: '1',
        description:
          'OpenAI-, Anthropic- and Cohere-compatible model APIs, the Batch and Files APIs, provider-native passthrough and MCP. ' +
          'Every /v1 route is also served without the /v1 prefix. Send a virtual key as Authorization: Bearer <key>, x-api-key, ' +
          'api-key, x-goog-api-key or x-litellm-api-key.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transform: ({ schema, url, route }) => {
      // The prefix-less aliases would only repeat the /v1 routes, which the description says they have.
      const alias = !/^\/v[12]\//.test(url) && url !== '/mcp' && !url.endsWith('/*');
      const hide = Boolean(schema?.hide) || alias || ![route.method].flat().every((method) => OPENAPI_METHODS.has(method));
      if (url.endsWith('/*')) return passthroughDoc(url, schema, hide);
      const form = route.config?.form;
      // Documented only: a route's own schema.response would make fastify serialize its answers through it.
      const response = responsesOf(route.config?.endpoint, route.config?.family ?? 'openai');
      return { schema: { ...schema, hide, ...(form ? formBody(form) : {}), ...(response ? { response } : {}) }, url };
    },
  });
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => withFormEncoding(app.swagger() as unknown as OpenApiDocument));
}

type MediaType = { schema?: { properties?: Record<string, { type?: unknown }> }; encoding?: Record<string, unknown> };
type OpenApiDocument = { paths: Record<string, Record<string, { requestBody?: { content: Record<string, MediaType> } }>> };

/** A form's object fields go as `name[field]` parts, as OpenAI's SDK sends them (uploads.ts): deepObject, in OpenAPI's words. */
function withFormEncoding(document: OpenApiDocument): OpenApiDocument {
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      const form = operation.requestBody?.content['multipart/form-data'];
      const objects = Object.entries(form?.schema?.properties ?? {}).filter(([, property]) => property.type === 'object');
      if (form && objects.length > 0) form.encoding = Object.fromEntries(objects.map(([name]) => [name, { style: 'deepObject', explode: true }]));
    }
  }
  return document;
}

/** A multipart form as a request body: its checked fields, and its files as binary strings. */
function formBody({ fields, files }: FormDoc) {
  const properties = { ...(fields.properties as Schema), ...Object.fromEntries(files.map((file) => [file, { type: 'string', format: 'binary' }])) };
  return { consumes: ['multipart/form-data'], body: { ...fields, required: [...((fields.required as string[]) ?? []), files[0]], properties } };
}

/** `/<api>/*`: the provider's own path as a parameter, described with the paths that pass through. */
function passthroughDoc(url: string, schema: RouteOptions['schema'], hide: boolean) {
  const api = url.slice(1, -2);
  const paths = Object.keys(PASSTHROUGH_APIS[api]?.paths ?? {});
  const description = `The provider's own path; passed through (POST): ${paths.join(', ')}. Any other path is 404.`;
  const params = { type: 'object', required: ['path'], properties: { path: { type: 'string', description } } };
  return { schema: { ...schema, hide, params, description: `Provider-native passthrough to the ${api} API.` }, url: `/${api}/{path}` };
}
