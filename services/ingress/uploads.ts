import multipart from '@fastify/multipart';
import type { FastifyInstance } from 'fastify';
import type { Upload } from '../gen/gateway/v1/routing.js';
import { GatewayError } from '../kit/errors.js';
import type { IngressConfig } from './config.js';
import { directEndpoint, type ReadForm } from './direct.js';
import type { PipelineDeps } from './pipeline.js';
import { fileExpiry, type Schema } from './schemas/common.js';
import { storedEndpoint } from './stored.js';
import { validationError } from './validation.js';

/** Most images one edit takes: gpt-image-1's limit, the most of OpenAI's image models. */
const MAX_EDIT_IMAGES = 16;

/**
 * Which files a form carries: the field (`image` also as `image[]`, as OpenAI's SDK sends a list), how many, and which
 * of them it must have.
 */
interface FileFields {
  /** The field the form must have a file in, as its error names it. */
  required: string;
  /** Most files in each field; a field named `x` takes `x[]` too, counted with it. */
  most: Record<string, number>;
}

const ONE_FILE: FileFields = { required: 'file', most: { file: 1 } };

/**
 * The form of POST /v1/files (https://platform.openai.com/docs/api-reference/files/create) besides its file; routing
 * checks the purpose. `expires_after` comes as OpenAI's SDK sends an object in a form: `expires_after[anchor]`,
 * `expires_after[seconds]`.
 */
const FILE_FORM: Schema = {
  type: 'object',
  required: ['purpose'],
  additionalProperties: false,
  properties: {
    purpose: { type: 'string', maxLength: 64 },
    expires_after: fileExpiry,
  },
};

/** Form fields sent as `name[field]` that are read as one object `name` (only these: any other name stays flat). */
const OBJECT_FIELDS = new Set(['expires_after']);

/** The APIs that take an upload (multipart/form-data): path, endpoint name, and the files of its form. */
const UPLOAD_ENDPOINTS: { path: string; endpoint: string; files: FileFields }[] = [
  { path: '/audio/transcriptions', endpoint: 'audio.transcriptions', files: ONE_FILE },
  { path: '/audio/translations', endpoint: 'audio.translations', files: ONE_FILE },
  { path: '/images/edits', endpoint: 'images.edits', files: { required: 'image', most: { image: MAX_EDIT_IMAGES, mask: 1 } } },
  { path: '/images/variations', endpoint: 'images.variations', files: { required: 'image', most: { image: 1 } } },
];

/** Form fields that are numbers on the wire of OpenAI's SDK (sent as text, as every form field is); an object's as `name.field`. */
const NUMBERS = new Set(['temperature', 'n', 'output_compression', 'partial_images', 'expires_after.seconds']);

/** Most text fields a form may have, and the longest each may be. */
const MAX_FIELDS = 20;
const MAX_FIELD_BYTES = 64 * 1024;

/**
 * The upload routes, in a scope of their own so only they parse multipart: the endpoint's files (together at most
 * maxUploadBytes) and a few short fields. The audio and image APIs are direct endpoints (direct.ts); a file for
 * batches is kept by routing (batches.ts).
 */
export function registerUploads(app: FastifyInstance, config: IngressConfig, deps: PipelineDeps, schemas: Record<string, Schema>): void {
  void app.register(async (scope) => {
    const files = Math.max(...UPLOAD_ENDPOINTS.flatMap((e) => Object.values(e.files.most).reduce((sum, most) => sum + most, 0)));
    await scope.register(multipart, {
      limits: { fileSize: config.maxUploadBytes, files, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES, parts: files + MAX_FIELDS },
    });
    const readFile = formReader(FILE_FORM, ONE_FILE, config.maxUploadBytes);
    for (const prefix of ['/v1', '']) {
      scope.post(
        `${prefix}/files`,
        { config: { family: 'openai', endpoint: 'files.create', form: { fields: FILE_FORM, files: ['file'] } } },
        storedEndpoint(deps, 'files.create', async (request, { context }) => {
          const { body, uploads } = await readFile(request);
          const purpose = String(body.purpose);
          const expiresAfterSeconds = (body.expires_after as { seconds?: number } | undefined)?.seconds ?? 0;
          return deps.clients.routing.files({
            context,
            action: 'create',
            id: '',
            upload: uploads[0],
            purpose,
            after: '',
            limit: 0,
            order: '',
            expiresAfterSeconds,
          });
        }),
      );
      for (const { path, endpoint, files } of UPLOAD_ENDPOINTS) {
        scope.post(
          `${prefix}${path}`,
          { config: { family: 'openai', endpoint, form: { fields: schemas[endpoint]!, files: Object.keys(files.most) } } },
          directEndpoint(deps, endpoint, formReader(schemas[endpoint]!, files, config.maxUploadBytes)),
        );
      }
    }
  });
}

/** Reads the form: its fields checked against the endpoint's schema, and its files, of which it must have the required one. */
function formReader(schema: Schema, files: FileFields, maxBytes: number): ReadForm {
  return async (request) => {
    if (!request.isMultipart()) {
      throw new GatewayError('invalid_request', `Send the request as multipart/form-data, with the file in the field \`${files.required}\`.`);
    }
    const fields: Record<string, unknown> = {};
    const uploads: Upload[] = [];
    let bytes = 0;
    // The file being read, which a refusal for its size names.
    let reading = files.required;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'file') {
          const name = part.fieldname.replace(/\[\]$/, '');
          const most = files.most[name];
          if (most === undefined) {
            const expected = Object.keys(files.most)
              .map((field) => `\`${field}\``)
              .join(' or ');
            throw new GatewayError('invalid_request', `Unexpected file field '${part.fieldname}': send the file as ${expected}.`, { param: part.fieldname });
          }
          if (uploads.filter((u) => u.field.replace(/\[\]$/, '') === name).length >= most)
            throw new GatewayError('invalid_request', `Too many files in '${name}': at most ${most}.`, { param: name });
          reading = name;
          const data = await part.toBuffer();
          // Each file is capped by the parser; all of them together by the same limit.
          bytes += data.length;
          if (bytes > maxBytes) throw tooLarge(maxBytes, name);
          uploads.push({ data, filename: part.filename, contentType: part.mimetype, field: part.fieldname });
        } else if (part.valueTruncated) {
          throw new GatewayError('request_too_large', `The form field '${part.fieldname}' is longer than this gateway accepts (64 KiB).`, {
            param: part.fieldname,
          });
        } else if (part.fieldname.endsWith('[]')) {
          const name = part.fieldname.slice(0, -2);
          fields[name] = [...((fields[name] as unknown[] | undefined) ?? []), part.value];
        } else {
          const [, outer = '', inner = ''] = /^(\w+)\[(\w+)\]$/.exec(part.fieldname) ?? [];
          if (OBJECT_FIELDS.has(outer)) {
            const object = (fields[outer] ??= {}) as Record<string, unknown>;
            object[inner] = formValue(`${outer}.${inner}`, part.value);
          } else {
            fields[part.fieldname] = formValue(part.fieldname, part.value);
          }
        }
      }
    } catch (err) {
      throw formError(err, maxBytes, reading);
    }
    // As a JSON body is: so a refusal below is recorded with the model it named.
    request.body = fields;
    const validate = request.compileValidationSchema(schema);
    if (!validate(fields)) throw validationError(validate.errors ?? [], 'openai');
    const required = uploads.filter((u) => u.field.replace(/\[\]$/, '') === files.required);
    if (required.length === 0 || required.some((u) => u.data.length === 0)) {
      throw new GatewayError('invalid_request', `Missing required parameter: '${files.required}'.`, { param: files.required });
    }
    return { body: fields as Record<string, unknown> & { model: string }, uploads };
  };
}

/** A text field's value, as a number where the API types it so. */
const formValue = (name: string, value: unknown) => (NUMBERS.has(name) && value !== '' ? Number(value) : value);

const tooLarge = (maxBytes: number, param: string) =>
  new GatewayError('request_too_large', `The upload is larger than this gateway accepts (${maxBytes} bytes) for all its files together.`, { param });

/** A form over its limits is 413, naming the limit; one that cannot be read is 400. */
function formError(err: unknown, maxBytes: number, reading: string): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as { code?: unknown }).code;
  if (code === 'FST_REQ_FILE_TOO_LARGE') return tooLarge(maxBytes, reading);
  if (code === 'FST_FILES_LIMIT' || code === 'FST_FIELDS_LIMIT' || code === 'FST_PARTS_LIMIT') {
    return new GatewayError('request_too_large', `The form has more parts than this gateway accepts: its files and at most ${MAX_FIELDS} fields.`);
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new GatewayError('invalid_request', `The multipart form could not be read: ${reason}`);
}
