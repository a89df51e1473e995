import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import type { Upload } from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import type { IngressConfig } from './config.js';
import { directEndpoint, type ReadForm } from './direct.js';
import type { PipelineDeps } from './pipeline.js';
import type { Schema } from './schemas/common.js';
import { storedEndpoint } from './stored.js';
import { validationError } from './validation.js';

/** The audio APIs that take an upload (multipart/form-data): path → endpoint name. */
const UPLOAD_ENDPOINTS = [
  { path: '/audio/transcriptions', endpoint: 'audio.transcriptions' },
  { path: '/audio/translations', endpoint: 'audio.translations' },
];

/** Form fields that are numbers on the wire of OpenAI's SDK (sent as text, as every form field is). */
const NUMBERS = new Set(['temperature']);

/** The form of POST /v1/files (https://platform.openai.com/docs/api-reference/files/create) besides its file; routing checks the purpose. */
const FILE_FORM: Schema = { type: 'object', required: ['purpose'], additionalProperties: false, properties: { purpose: { type: 'string', maxLength: 64 } } };

/**
 * The routes that take an upload, in a scope of their own so only they parse multipart: one file (`file`, at most
 * maxUploadBytes) and a few short fields. The audio APIs are direct endpoints (direct.ts); a file for batches is
 * kept by routing (batches.ts).
 */
export function registerUploads(app: FastifyInstance, config: IngressConfig, deps: PipelineDeps, schemas: Record<string, Schema>): void {
  void app.register(async (scope) => {
    await scope.register(multipart, { limits: { fileSize: config.maxUploadBytes, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 21 } });
    const readFile = formReader(FILE_FORM, config.maxUploadBytes);
    for (const prefix of ['/v1', '']) {
      for (const { path, endpoint } of UPLOAD_ENDPOINTS) {
        scope.post(
          `${prefix}${path}`,
          { config: { family: 'openai', endpoint } },
          directEndpoint(deps, endpoint, formReader(schemas[endpoint]!, config.maxUploadBytes)),
        );
      }
      scope.post(
        `${prefix}/files`,
        { config: { family: 'openai', endpoint: 'files.create' } },
        storedEndpoint(deps, 'files.create', async (request, { context }) => {
          const { body, upload } = await readFile(request);
          const purpose = String(body.purpose);
          return deps.clients.routing.files({ context, action: 'create', id: '', upload, purpose, after: '', limit: 0, order: '' });
        }),
      );
    }
  });
}

/** Reads the form: its fields checked against the endpoint's schema, and the file, which it must have. */
function formReader(schema: Schema, maxBytes: number): ReadForm {
  return async (request) => {
    if (!request.isMultipart()) throw new GatewayError('invalid_request', 'Send the file as multipart/form-data, in the field `file`.');
    const fields: Record<string, unknown> = {};
    let upload: Upload | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          if (part.fieldname !== 'file')
            throw new GatewayError('invalid_request', `Unexpected file field '${part.fieldname}': send the file as \`file\`.`, { param: part.fieldname });
          upload = { data: await part.toBuffer(), filename: part.filename, contentType: part.mimetype };
        } else if (part.valueTruncated) {
          throw new GatewayError('request_too_large', `The form field '${part.fieldname}' is longer than this gateway accepts (64 KiB).`, {
            param: part.fieldname,
          });
        } else if (part.fieldname.endsWith('[]')) {
          const name = part.fieldname.slice(0, -2);
          fields[name] = [...((fields[name] as unknown[] | undefined) ?? []), part.value];
        } else {
          fields[part.fieldname] = NUMBERS.has(part.fieldname) && part.value !== '' ? Number(part.value) : part.value;
        }
      }
    } catch (err) {
      throw formError(err, maxBytes);
    }
    // As a JSON body is: so a refusal below is recorded with the model it named.
    request.body = fields;
    const validate = request.compileValidationSchema(schema);
    if (!validate(fields)) throw validationError(validate.errors ?? [], 'openai');
    if (!upload || upload.data.length === 0) throw new GatewayError('invalid_request', "Missing required parameter: 'file'.", { param: 'file' });
    return { body: fields as Record<string, unknown> & { model: string }, upload };
  };
}

/** A form over its limits is 413, naming the limit; one that cannot be read is 400. */
function formError(err: unknown, maxBytes: number): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: unknown }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') {
    return new GatewayError('request_too_large', `The uploaded file is larger than this gateway accepts (${maxBytes} bytes).`, { param: 'file' });
  }
  if (code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
    return new GatewayError('request_too_large', 'The form has more parts than this gateway accepts: one file and at most 20 fields.');
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new GatewayError('invalid_request', `The multipart form could not be read: ${reason}`);
}
