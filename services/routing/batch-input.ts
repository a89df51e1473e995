/**
 * A batch's input file read and checked before anything runs, as OpenAI does
 * (https://platform.openai.com/docs/guides/batch): one JSON object a line with
 * `custom_id` (unique), `method` POST, `url` the batch's endpoint and `body`.
 * Any line that is not is a batch error in OpenAI's shape, and the batch fails whole.
 */

export interface InputLine {
  /** Its number in the file, from 1. */
  line: number;
  customId: string;
  body: Record<string, unknown>;
}

export interface BatchError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** The most errors one failed batch lists; the rest are left out (the first are enough to fix the file). */
const MAX_ERRORS = 100;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export function readBatchInput(content: Buffer, endpoint: string, maxLines: number): { lines: InputLine[] } | { errors: BatchError[] } {
  const lines: InputLine[] = [];
  const errors: BatchError[] = [];
  const seen = new Set<string>();
  const fail = (code: string, message: string, line: number | null, param: string | null = null) => errors.push({ code, message, param, line });
  const texts = content.toString('utf8').split('\n');
  for (const [index, raw] of texts.entries()) {
    const line = index + 1;
    const text = raw.trim();
    if (text === '') continue;
    if (errors.length >= MAX_ERRORS) break;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      fail('invalid_json_line', `Line ${line} is not valid JSON.`, line);
      continue;
    }
    if (!isObject(parsed)) {
      fail('invalid_json_line', `Line ${line} is not a JSON object.`, line);
      continue;
    }
    const { custom_id: customId, method, url, body } = parsed;
    if (typeof customId !== 'string' || customId === '') fail('missing_required_parameter', `Line ${line} has no custom_id.`, line, 'custom_id');
    else if (seen.has(customId)) fail('duplicate_custom_id', `The custom_id '${customId}' of line ${line} is used by an earlier line.`, line, 'custom_id');
    else if (method !== 'POST') fail('invalid_method', `Line ${line}: method must be POST.`, line, 'method');
    else if (url !== endpoint) fail('invalid_url', `Line ${line}: url must be the batch's endpoint, ${endpoint}.`, line, 'url');
    else if (!isObject(body)) fail('missing_required_parameter', `Line ${line} has no body object.`, line, 'body');
    else if (body.stream === true) fail('invalid_request', `Line ${line}: a batch's requests are not streamed (stream: true).`, line, 'body.stream');
    else lines.push({ line, customId, body });
    if (typeof customId === 'string') seen.add(customId);
  }
  if (errors.length === 0 && lines.length === 0) fail('empty_file', 'The input file has no requests.', null, 'input_file_id');
  if (lines.length > maxLines) fail('too_many_tasks', `The input file has ${lines.length} requests; a batch takes at most ${maxLines}.`, null, 'input_file_id');
  return errors.length ? { errors } : { lines };
}
