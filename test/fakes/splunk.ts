import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { keep } from '../harness/leaks.js';
import { listenLocally, readBody, writeJson } from './local-server.js';

/**
 * A local stand-in for Splunk's HTTP Event Collector, the event endpoint
 * (https://docs.splunk.com/Documentation/Splunk/latest/Data/HECRESTendpoints,
 * "Troubleshoot HTTP Event Collector" for the status codes):
 * POST /services/collector/event (and /services/collector, /event/1.0) with
 * `Authorization: Splunk <token>`; the body is JSON event envelopes one after
 * another (whitespace between them optional), each with a non-blank `event`
 * and optional time, host, source, sourcetype, index, fields. Answers as HEC
 * does: 200 {"text":"Success","code":0}; 401 code 2 (token missing) or 3
 * (not "Splunk <token>"); 403 code 4 (unknown token); 400 code 5 (no data),
 * 6 (invalid data format), 12/13 (event missing/blank), each with
 * "invalid-event-number"; 503 code 9 while busy; 413 for a body longer than
 * `maxContentLength` (HEC's max_content_length in limits.conf; splunkd's own
 * wording of that answer is not JSON, and the sink reads only its status). A
 * batch is taken whole or not at all (real HEC may index the envelopes before
 * a bad one).
 */
export interface HecEnvelope {
  time?: number | string;
  host?: string;
  source?: string;
  sourcetype?: string;
  index?: string;
  fields?: Record<string, unknown>;
  event: unknown;
}

export interface FakeSplunk {
  readonly url: string;
  readonly token: string;
  /** Envelopes accepted, in the order they arrived. */
  readonly received: HecEnvelope[];
  /** Every request: its Authorization header and answer status. */
  readonly requests: Array<{ authorization: string | undefined; status: number }>;
  /** While true, every request is answered 503 "Server is busy". */
  busy: boolean;
  /** Longest body taken, in bytes; longer ones are answered 413. */
  maxContentLength: number;
  close(): Promise<void>;
}

const PATHS = new Set(['/services/collector/event', '/services/collector', '/services/collector/event/1.0']);

/** Splits concatenated JSON values; throws with the index of the first one that does not parse. */
export function splitConcatenatedJson(text: string): unknown[] {
  const values: unknown[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
      continue;
    }
    if (start < 0) {
      if (/\s/.test(c)) continue;
      if (c !== '{') throw Object.assign(new Error('expected an object'), { index: values.length });
      start = i;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) {
        try {
          values.push(JSON.parse(text.slice(start, i + 1)));
        } catch {
          throw Object.assign(new Error('invalid JSON'), { index: values.length });
        }
        start = -1;
      }
    }
  }
  if (start >= 0) throw Object.assign(new Error('unterminated object'), { index: values.length });
  return values;
}

export async function startFakeSplunk(options: { token?: string; maxContentLength?: number } = {}): Promise<FakeSplunk> {
  const token = options.token ?? randomBytes(16).toString('hex');
  const received: HecEnvelope[] = [];
  const requests: FakeSplunk['requests'] = [];
  const state = { busy: false, maxContentLength: options.maxContentLength ?? 1_000_000 };

  const server = createServer((req, res) => void handle(req, res));
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const body = raw.toString('utf8');
    const answer = (status: number, reply: Record<string, unknown>) => {
      requests.push({ authorization: req.headers.authorization, status });
      writeJson(res, status, reply);
    };
    const path = (req.url ?? '').split('?')[0]!;
    if (req.method !== 'POST' || !PATHS.has(path)) return answer(404, { text: 'The requested URL was not found on this server.', code: 404 });
    const authorization = req.headers.authorization;
    if (!authorization) return answer(401, { text: 'Token is required', code: 2 });
    const match = /^Splunk (\S+)$/.exec(authorization);
    if (!match) return answer(401, { text: 'Invalid authorization', code: 3 });
    if (match[1] !== token) return answer(403, { text: 'Invalid token', code: 4 });
    if (state.busy) return answer(503, { text: 'Server is busy', code: 9 });
    if (raw.length > state.maxContentLength) {
      requests.push({ authorization, status: 413 });
      res.writeHead(413, { 'content-type': 'text/xml; charset=UTF-8' });
      res.end(
        `<?xml version="1.0" encoding="UTF-8"?>\n<response>\n  <messages>\n    <msg type="ERROR">Content-Length of ${raw.length} too large (maximum is ${state.maxContentLength})</msg>\n  </messages>\n</response>\n`,
      );
      return;
    }
    if (!body.trim()) return answer(400, { text: 'No data', code: 5 });
    let values: unknown[];
    try {
      values = splitConcatenatedJson(body);
    } catch (err) {
      return answer(400, { text: 'Invalid data format', code: 6, 'invalid-event-number': (err as { index: number }).index });
    }
    const batch: HecEnvelope[] = [];
    for (const [i, value] of values.entries()) {
      const envelope = value as Partial<HecEnvelope>;
      if (!('event' in envelope)) return answer(400, { text: 'Event field is required', code: 12, 'invalid-event-number': i });
      if (envelope.event === '' || envelope.event === null) return answer(400, { text: 'Event field cannot be blank', code: 13, 'invalid-event-number': i });
      if (envelope.time !== undefined && !Number.isFinite(Number(envelope.time)))
        return answer(400, { text: 'Invalid data format', code: 6, 'invalid-event-number': i });
      batch.push(envelope as HecEnvelope);
    }
    received.push(...batch);
    // What the SIEM indexed, for the suite's leak scan.
    keep('siem', body);
    answer(200, { text: 'Success', code: 0 });
  }

  const local = await listenLocally(server);
  return {
    url: local.url,
    token,
    received,
    requests,
    get busy() {
      return state.busy;
    },
    set busy(value: boolean) {
      state.busy = value;
    },
    get maxContentLength() {
      return state.maxContentLength;
    },
    set maxContentLength(value: number) {
      state.maxContentLength = value;
    },
    close: () => local.close(),
  };
}
